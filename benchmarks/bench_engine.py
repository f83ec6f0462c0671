"""The finite-difference engine against torch, TensorFlow and numdifftools, in one run.

    PYTHONPATH=. python benchmarks/bench_engine.py            # everything (15-25 minutes)
    PYTHONPATH=. python benchmarks/bench_engine.py --quick    # gradcheck and torch's fast mode only
    PYTHONPATH=. python benchmarks/bench_engine.py --threads 0  # each library's default threading

Each measurement runs in its own process (`--worker CASE WHO`), so that peak
memory (ru_maxrss) is that measurement's alone and a framework cannot warm
another's caches. The check itself gets 60 s (then "> 60 s") under a 16 GiB
address-space limit (then "out of memory"), as in the issue. Every contestant
checks the full gradient of the same function at the same point, element by
element (fast modes excepted): for gradcheck that is `gradcheck.check` with
the reference and the NumPy VJP in full mode.

Accuracy is the largest element-wise relative error of each tool's numerical
VJP, J^T dz, against the op's closed-form VJP evaluated in long double.
Coverage is the fraction of elements where gradcheck's error estimate is at
least its true error. This is a benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 60
MEMORY_LIMIT = 16 * 2**30
CASES = {
    "sigmoid n=10,000": ("sigmoid", [(10_000,)]),
    "matmul 128x128 (x and y)": ("matmul", [(128, 128), (128, 128)]),
    "conv2d 128x128 by 5x5 (x and w)": ("conv2d", [(1, 1, 128, 128), (1, 1, 5, 5)]),
    "conv2d 32x32 by 3x3 (x and w)": ("conv2d", [(1, 1, 32, 32), (1, 1, 3, 3)]),
}
WHO = ("gradcheck-full", "gradcheck-fast", "torch-full", "torch-fast", "tensorflow", "numdifftools")
SLOW = ("torch-full", "tensorflow", "numdifftools")
NEEDLE_N, NEEDLE_AT = 100_000, 31_415


# ---------------------------------------------------------------- worker side


class Timeout(BaseException):
    """Not an Exception: the runner turns exceptions inside a case into error rows."""


def _alarm(_signum, _frame):
    raise Timeout


def problem(case: str):
    op, shapes = CASES[case]
    rng = np.random.default_rng(sum(case.encode()))  # stable across processes, unlike hash()
    inputs = [rng.normal(size=shape) for shape in shapes]
    from gradcheck.ops import OPS

    output = OPS[op].forward(*inputs)
    return op, inputs, rng.normal(size=output.shape)


def closed_form(op: str, inputs, dz) -> list[np.ndarray]:
    from gradcheck.ops import OPS

    grads = OPS[op].vjp(*[np.asarray(a, np.longdouble) for a in inputs], np.asarray(dz, np.longdouble))
    return [np.asarray(g).astype(np.float64) for g in grads]


def max_relative(numerical: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return float(max(np.max(np.abs(n - t) / np.abs(t)) for n, t in zip(numerical, truth)))


def timed(run):
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, LIMIT_S)
    start = time.perf_counter()
    try:
        value = run()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return time.perf_counter() - start, value


def worker(case: str, who: str) -> dict:
    op, inputs, dz = problem(case)
    truth = closed_form(op, inputs, dz)
    result: dict = {}
    if who in ("gradcheck-full", "gradcheck-fast"):
        import gradcheck
        import gradcheck.api  # noqa: F401  imported before timing, as the frameworks are
        import gradcheck.backends.numpy_vjp  # noqa: F401
        import gradcheck.engine.complexstep  # noqa: F401
        import gradcheck.engine.fast  # noqa: F401
        import gradcheck.engine.ties  # noqa: F401
        from gradcheck.ops import OPS
        from gradcheck.methods import Mode
        from gradcheck.run.runner import RunOptions

        mode = Mode.FULL if who == "gradcheck-full" else Mode.FAST
        names = list(OPS[op].inputs)
        seconds, outcome = timed(lambda: gradcheck.check(
            OPS[op].forward, dict(zip(names, inputs)), vjp=OPS[op].vjp, cotangent=dz,
            methods=["numeric", "vjp"], options=RunOptions(mode=mode)))
        result["passed"] = outcome.passed
        if who == "gradcheck-full":
            from gradcheck.engine.reference import reference_vjp

            refs = [reference_vjp(OPS[op].forward, inputs, dz, i) for i in range(len(inputs))]
            result["rel_err"] = max_relative([r.value for r in refs], truth)
            errors = np.concatenate([np.abs(r.value - t).ravel() for r, t in zip(refs, truth)])
            estimates = np.concatenate([r.error.ravel() for r in refs])
            result["coverage"] = float(np.mean(estimates >= errors))
            result["evaluations"] = sum(r.evaluations for r in refs)
    elif who in ("torch-full", "torch-fast"):
        import importlib

        import torch

        torch_gradcheck = importlib.import_module("torch.autograd.gradcheck")  # the module, not the function

        function = _torch_function(op)
        tensors = [torch.tensor(a, requires_grad=True) for a in inputs]
        seconds, passed = timed(lambda: torch_gradcheck.gradcheck(function, tuple(tensors), eps=1e-6, atol=1e-5,
                                                                   rtol=1e-3, fast_mode=who == "torch-fast",
                                                                   raise_exception=False))
        result["passed"] = bool(passed)
        if who == "torch-full":
            try:
                _, jacobians = timed(lambda: torch_gradcheck._get_numerical_jacobian(function, tuple(tensors),
                                                                                     eps=1e-6))
                flat_dz = torch.tensor(dz.reshape(-1))
                vjps = [(j[0] @ flat_dz).numpy().reshape(a.shape) for j, a in zip(jacobians, inputs)]
                result["rel_err"] = max_relative(vjps, truth)
            except Timeout:
                pass
    elif who == "tensorflow":
        import tensorflow as tf

        function, to_tf, from_tf = _tf_function(op)
        seconds, (_, numerical) = timed(lambda: tf.test.compute_gradient(function, [to_tf(i, a) for i, a in
                                                                                    enumerate(inputs)]))
        flat_dz = to_tf("z", dz).reshape(-1)
        vjps = [from_tf(i, (flat_dz @ jacobian).reshape(to_tf(i, a).shape))
                for i, (jacobian, a) in enumerate(zip(numerical, inputs))]
        result["rel_err"] = max_relative(vjps, truth)
    elif who == "numdifftools":
        import numdifftools as nd

        from gradcheck.ops import OPS

        def gradients():
            found = []
            for i, a in enumerate(inputs):
                def phi(flat, i=i):
                    args = list(inputs)
                    args[i] = flat.reshape(a.shape)
                    return float(np.sum(dz * OPS[op].forward(*args)))
                found.append(nd.Gradient(phi)(a.reshape(-1)).reshape(a.shape))
            return found

        seconds, vjps = timed(gradients)
        result["rel_err"] = max_relative(vjps, truth)
    else:
        raise SystemExit(f"unknown contestant {who!r}")
    result["seconds"] = seconds
    return result


def _torch_function(op: str):
    import torch

    return {"sigmoid": torch.sigmoid, "matmul": torch.matmul,
            "conv2d": lambda x, w: torch.nn.functional.conv2d(x, w)}[op]


def _tf_function(op: str):
    """The TF function, and NCHW/OIHW <-> NHWC/HWIO conversions of inputs (by position) and output ("z")."""
    import tensorflow as tf

    if op != "conv2d":
        function = {"sigmoid": tf.sigmoid, "matmul": tf.matmul}[op]
        return function, (lambda i, a: a), (lambda i, a: a)
    layout = {0: (0, 2, 3, 1), 1: (2, 3, 1, 0), "z": (0, 2, 3, 1)}
    back = {0: (0, 3, 1, 2), 1: (3, 2, 0, 1)}
    return ((lambda x, w: tf.nn.conv2d(x, w, strides=1, padding="VALID")),
            (lambda i, a: np.transpose(a, layout[i])), (lambda i, a: np.transpose(a, back[i])))


def needle_worker() -> dict:
    """Fast mode on 100,000 elements: a correct gradient passes, one element off by 1e-4 is named."""
    import gradcheck
    from gradcheck.ops import OPS
    from gradcheck.methods import Mode
    from gradcheck.run.runner import RunOptions

    rng = np.random.default_rng(5)
    x, dz = rng.normal(size=NEEDLE_N), rng.normal(size=NEEDLE_N)
    sigmoid, vjp = OPS["sigmoid"].forward, OPS["sigmoid"].vjp

    def needle_vjp(x, dz):
        (g,) = vjp(x, dz)
        g = g.copy()
        g[NEEDLE_AT] *= 1 + 1e-4
        return (g,)

    options = RunOptions(mode=Mode.FAST)
    seconds, good = timed(lambda: gradcheck.check(sigmoid, {"x": x}, vjp=vjp, cotangent=dz, options=options,
                                                  methods=["numeric", "vjp"]))
    bad_seconds, bad = timed(lambda: gradcheck.check(sigmoid, {"x": x}, vjp=needle_vjp, cotangent=dz,
                                                     options=options, methods=["numeric", "vjp"]))
    row = next(c for c in bad.comparisons if c.method == "vjp")
    return {"seconds": seconds, "passed": good.passed, "bad_seconds": bad_seconds,
            "caught": row.status.value == "fail", "named": list(row.worst_index or ()) == [NEEDLE_AT]}


def run_worker(args) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    try:
        result = needle_worker() if args.worker[0] == "needle" else worker(*args.worker)
        result["status"] = "ok"
    except Timeout:
        result = {"status": "timeout"}
    except MemoryError:
        result = {"status": "oom"}
    except RuntimeError as exc:
        out_of_memory = "alloc" in str(exc).lower() or "memory" in str(exc).lower()
        result = {"status": "oom" if out_of_memory else "error", "detail": str(exc)[:200]}
    result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


# ---------------------------------------------------------------- parent side


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS")


def measure(*worker_args: str, threads: int = 1) -> dict:
    environment = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    if threads:
        environment.update({name: str(threads) for name in THREAD_VARIABLES})
    try:
        done = subprocess.run([sys.executable, __file__, "--worker", *worker_args], capture_output=True,
                              text=True, timeout=3 * LIMIT_S + 60, env=environment, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"status": "timeout"}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    crashed = "bad_alloc" in done.stderr or "memory" in done.stderr.lower()
    return {"status": "oom" if crashed else "error", "detail": done.stderr.strip()[-300:]}


def available(who: str) -> bool:
    module = {"torch-full": "torch", "torch-fast": "torch", "tensorflow": "tensorflow",
              "numdifftools": "numdifftools"}.get(who)
    if module is None:
        return True
    import importlib.util

    return importlib.util.find_spec(module) is not None


def seconds_text(r: dict | None) -> str:
    if r is None:
        return "not run"
    return {"ok": lambda: f"{r['seconds']:.2f} s", "timeout": lambda: f"> {LIMIT_S} s",
            "oom": lambda: "out of memory"}.get(r["status"], lambda: "error")()


def ratio_text(anchor: dict | None, ours: dict | None) -> str:
    if not anchor or not ours or ours.get("status") != "ok":
        return "-"
    if anchor["status"] == "ok":
        return f"{anchor['seconds'] / ours['seconds']:.0f}x"
    if anchor["status"] == "timeout":
        return f"> {LIMIT_S / ours['seconds']:.0f}x"
    return "-"


def number(r: dict | None, key: str, fmt: str) -> str:
    return format(r[key], fmt) if r and r.get(key) is not None else "-"


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}, NumPy {np.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the slow anchors (torch full, TF, numdifftools)")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/OpenMP/TF threads for every contestant (0: each library's default). One by "
                             "default: on a shared machine, threads spinning over thousands of small calls "
                             "make timings meaningless")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)
    who = [w for w in WHO if available(w) and not (args.quick and w in SLOW)]
    results: dict[tuple[str, str], dict] = {}
    for case in CASES:
        for w in who:
            results[case, w] = r = measure(case, w, threads=args.threads)
            print(f"  {case:34} {w:15} {seconds_text(r):>14}", file=sys.stderr, flush=True)
    needle = measure("needle", threads=args.threads)
    print(report(results, who, needle, args.threads))


def report(results, who, needle, threads: int) -> str:
    get = results.get
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    threading = f"{threads} thread(s) per library for every contestant" if threads else "default threads"
    lines = [f"Benchmark of {datetime.date.today().isoformat()} on {machine()}; {threading}; "
             f"load average at the end {load}.", "",
             "Time for a full element-wise check of the gradient (both inputs where two), float64; "
             "speed-up of gradcheck's full check over each anchor:", ""]
    lines += ["| case | " + " | ".join(who) + " | vs torch full | vs tf | vs numdifftools |",
              "|---" * (len(who) + 4) + "|"]
    for case in CASES:
        ours = get((case, "gradcheck-full"))
        lines.append(f"| {case} | " + " | ".join(seconds_text(get((case, w))) for w in who) + " | "
                     + " | ".join(ratio_text(get((case, a)), ours) for a in ("torch-full", "tensorflow",
                                                                             "numdifftools")) + " |")
    lines += ["", "Peak memory of the measuring process (MB; frameworks include their own import) and accuracy "
              "(max element-wise relative error of the numerical VJP against the closed form):", ""]
    accurate = [w for w in who if w in ("gradcheck-full", "torch-full", "tensorflow", "numdifftools")]
    lines += ["| case | " + " | ".join(f"{w} MB" for w in who) + " | " + " | ".join(f"{w} rel err" for w in accurate)
              + " | gradcheck error-estimate coverage | gradcheck evaluations |",
              "|---" * (len(who) + len(accurate) + 3) + "|"]
    for case in CASES:
        ours = get((case, "gradcheck-full"))
        lines.append(f"| {case} | " + " | ".join(number(get((case, w)), "maxrss_mb", ".0f") for w in who) + " | "
                     + " | ".join(number(get((case, w)), "rel_err", ".1e") for w in accurate) + " | "
                     + (f"{100 * ours['coverage']:.2f}%" if ours and "coverage" in ours else "-") + " | "
                     + number(ours, "evaluations", ",") + " |")
    ok = needle.get("status") == "ok"
    lines += ["", f"Fast mode, sigmoid n = {NEEDLE_N:,}: correct gradient "
              + (f"{'passes' if needle['passed'] else 'FAILS'} in {needle['seconds']:.2f} s; one element off by a "
                 f"relative 1e-4 is {'caught' if needle['caught'] else 'MISSED'} and "
                 f"{'named' if needle['named'] else 'NOT named'} by the full fallback in "
                 f"{needle['bad_seconds']:.2f} s." if ok else f"not measured ({needle.get('status')})."), ""]
    lines += goals(results, needle)
    return "\n".join(lines)


def goals(results, needle) -> list[str]:
    ours = [results.get((case, "gradcheck-full")) for case in CASES]
    done = [r for r in ours if r and r.get("status") == "ok"]
    torch_small = results.get((list(CASES)[-1], "torch-full"))
    small = ours[-1]
    checks = [
        ("every full check under 10 s", len(done) == len(ours) and all(r["seconds"] < 10 for r in done)),
        ("peak memory under 1 GB", len(done) == len(ours) and all(r["maxrss_mb"] < 1024 for r in done)),
        ("reference relative error <= 1e-10", len(done) == len(ours) and all(r["rel_err"] <= 1e-10 for r in done)),
        ("error estimate covers the truth on >= 99% of elements",
         len(done) == len(ours) and all(r["coverage"] >= 0.99 for r in done)),
        ("all gradients pass", len(done) == len(ours) and all(r["passed"] for r in done)),
        (">= 10x faster than torch's full check on conv2d 32x32 by 3x3",
         None if torch_small is None else bool(small and torch_small.get("status") == "ok"
                                               and small.get("status") == "ok"
                                               and torch_small["seconds"] >= 10 * small["seconds"])),
        ("fast mode catches and names a 1e-4 needle in 100,000 elements",
         needle.get("status") == "ok" and needle["passed"] and needle["caught"] and needle["named"]),
    ]
    verdict = {True: "met", False: "NOT met", None: "not measured"}
    return ["Goals: " + "; ".join(f"{name}: {verdict[met]}" for name, met in checks) + "."]


if __name__ == "__main__":
    main()
