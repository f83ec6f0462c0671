"""The finite-difference engine against torch, TensorFlow and numdifftools, in one run.

    PYTHONPATH=. python benchmarks/bench_engine.py            # everything (15-25 minutes)
    PYTHONPATH=. python benchmarks/bench_engine.py --quick    # gradcheck and torch's fast mode only
    PYTHONPATH=. python benchmarks/bench_engine.py --threads 0  # each library's default threading
    PYTHONPATH=. python benchmarks/bench_engine.py --quick --who torch-full --old ../engine-old --repeat 3
        # beside torch's full check and an older checkout of gradcheck, fastest of 3 (interleaved) each

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

Evaluations (gradcheck's full reference, every input): the forward evaluations
spent on differences (the central differences, their retries, the complex step,
the baseline) and, beside them, those spent proving which elements may move
together (sparsity.py's probes and the sample re-done alone). The grouped floor
is 2 x groups x levels per input: central differences at every level of the
stencil, once per group of elements moved together (groups of one included).

--old PATH measures a checkout of an older gradcheck in the same run: its
workers run this file with PYTHONPATH=PATH, so both engines see the same cases,
points and timer. --repeat N runs every gradcheck measurement N times,
interleaving new and old, and keeps the fastest: on a shared machine the
fastest run is the one least disturbed by others. Rows under 0.1 s get 21 runs
whatever --repeat says, and are shown in milliseconds: there a few milliseconds
of scheduling are a large share. With --old every row gets at least 5 runs, and
"slower" means a one-sided sign test over the interleaved pairs (run i of the
new engine against run i of the old, moments apart, so the machine's drift
cancels) at 5%: the fastest runs alone differ by a few per cent between two runs
of the same engine here, so they cannot tell a slower engine from a level one.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
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
    "softmax n=1,000": ("softmax", [(1_000,)]),
    "matmul 128x128 (x and y)": ("matmul", [(128, 128), (128, 128)]),
    "matmul 32x32 (x and y)": ("matmul", [(32, 32), (32, 32)]),
    "conv2d 128x128 by 5x5 (x and w)": ("conv2d", [(1, 1, 128, 128), (1, 1, 5, 5)]),
    "conv2d 32x32 by 3x3 (x and w)": ("conv2d", [(1, 1, 32, 32), (1, 1, 3, 3)]),
}
FLOOR_CASES = ("matmul 128x128 (x and y)", "conv2d 128x128 by 5x5 (x and w)")  # held within FLOOR_RATIO
FLOOR_RATIO = 1.5
SPEEDUP = 10  # every anchor at least this many times faster than torch's full gradcheck
OLD = {"gradcheck-full": "old-full", "gradcheck-fast": "old-fast"}  # --old's rows, measured as these
WHO = ("gradcheck-full", "gradcheck-fast", "torch-full", "torch-fast", "tensorflow", "numdifftools")
SLOW = ("torch-full", "tensorflow", "numdifftools")
NEEDLE_N, NEEDLE_AT = 100_000, 31_415
SHORT_S, SHORT_REPEAT = 0.1, 21  # --repeat's rows under SHORT_S seconds get SHORT_REPEAT runs each
MIN_PAIRS = 5  # with --old, runs of each gradcheck row at least: 5 of 5 is the fewest a sign test calls slower
TIMED = ("seconds", "bad_seconds")  # what a run's `runs` entry keeps (the needle times two checks)


# ---------------------------------------------------------------- worker side


class Timeout(BaseException):
    """Not an Exception: the runner turns exceptions inside a case into error rows."""


def raise_timeout(_signum, _frame):
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
    signal.signal(signal.SIGALRM, raise_timeout)
    signal.setitimer(signal.ITIMER_REAL, LIMIT_S)
    start = time.perf_counter()
    try:
        value = run()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return time.perf_counter() - start, value


def engine_api():
    """(Mode, RunOptions, reference_vjp) from this gradcheck, or from an older layout (--old)."""
    import gradcheck
    import gradcheck.api  # noqa: F401  imported before timing, as the frameworks are

    try:
        import gradcheck.engine.complexstep  # noqa: F401
        import gradcheck.engine.fast  # noqa: F401
        import gradcheck.engine.ties  # noqa: F401
        from gradcheck.engine.reference import reference_vjp
        from gradcheck.methods import Mode
        from gradcheck.run.runner import RunOptions
    except ImportError:  # the layout before the engine/ and run/ folders (535dcba and earlier)
        from gradcheck.numeric import reference_vjp
        from gradcheck.runner import Mode, RunOptions
    return Mode, RunOptions, reference_vjp


def evaluations(refs) -> dict:
    """Forward evaluations of the full references: all, on differences, on proofs, and the grouped floor."""
    total = sum(r.evaluations for r in refs)
    found = {"evaluations": total, "methods": sorted({getattr(r, "method", "central differences") for r in refs})}
    if all(hasattr(r, "proof_evaluations") and hasattr(r, "colours") for r in refs):  # engines that count them
        proof = sum(r.proof_evaluations for r in refs)
        found.update(proof=proof, differences=total - proof, floor=sum(2 * r.colours * 4 for r in refs))
    return found


def worker(case: str, who: str) -> dict:
    op, inputs, dz = problem(case)
    truth = closed_form(op, inputs, dz)
    result: dict = {}
    if who in ("gradcheck-full", "gradcheck-fast"):
        import gradcheck
        import gradcheck.backends.numpy_vjp  # noqa: F401
        from gradcheck.ops import OPS

        Mode, RunOptions, reference_vjp = engine_api()
        mode = Mode.FULL if who == "gradcheck-full" else Mode.FAST
        names = list(OPS[op].inputs)
        check = gradcheck.check  # resolved before the clock starts (the package imports it on first use)
        seconds, outcome = timed(lambda: check(
            OPS[op].forward, dict(zip(names, inputs)), vjp=OPS[op].vjp, cotangent=dz,
            methods=["numeric", "vjp"], options=RunOptions(mode=mode)))
        result["passed"] = outcome.passed
        if who == "gradcheck-full":
            refs = [reference_vjp(OPS[op].forward, inputs, dz, i) for i in range(len(inputs))]
            result["rel_err"] = max_relative([r.value for r in refs], truth)
            errors = np.concatenate([np.abs(r.value - t).ravel() for r, t in zip(refs, truth)])
            estimates = np.concatenate([r.error.ravel() for r in refs])
            result["coverage"] = float(np.mean(estimates >= errors))
            result.update(evaluations(refs))
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

    return {"sigmoid": torch.sigmoid, "softmax": lambda x: torch.softmax(x, dim=-1), "matmul": torch.matmul,
            "conv2d": lambda x, w: torch.nn.functional.conv2d(x, w)}[op]


def _tf_function(op: str):
    """The TF function, and NCHW/OIHW <-> NHWC/HWIO conversions of inputs (by position) and output ("z")."""
    import tensorflow as tf

    if op != "conv2d":
        function = {"sigmoid": tf.sigmoid, "softmax": tf.nn.softmax, "matmul": tf.matmul}[op]
        return function, (lambda i, a: a), (lambda i, a: a)
    layout = {0: (0, 2, 3, 1), 1: (2, 3, 1, 0), "z": (0, 2, 3, 1)}
    back = {0: (0, 3, 1, 2), 1: (3, 2, 0, 1)}
    return ((lambda x, w: tf.nn.conv2d(x, w, strides=1, padding="VALID")),
            (lambda i, a: np.transpose(a, layout[i])), (lambda i, a: np.transpose(a, back[i])))


def needle_worker() -> dict:
    """Fast mode on 100,000 elements: a correct gradient passes, one element off by 1e-4 is named."""
    import gradcheck
    from gradcheck.ops import OPS

    Mode, RunOptions, _ = engine_api()
    rng = np.random.default_rng(5)
    x, dz = rng.normal(size=NEEDLE_N), rng.normal(size=NEEDLE_N)
    sigmoid, vjp = OPS["sigmoid"].forward, OPS["sigmoid"].vjp

    def needle_vjp(x, dz):
        (g,) = vjp(x, dz)
        g = g.copy()
        g[NEEDLE_AT] *= 1 + 1e-4
        return (g,)

    options = RunOptions(mode=Mode.FAST)
    check = gradcheck.check
    seconds, good = timed(lambda: check(sigmoid, {"x": x}, vjp=vjp, cotangent=dz, options=options,
                                        methods=["numeric", "vjp"]))
    bad_seconds, bad = timed(lambda: check(sigmoid, {"x": x}, vjp=needle_vjp, cotangent=dz, options=options,
                                           methods=["numeric", "vjp"]))
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


def measure(*worker_args: str, threads: int = 1, root: Path = ROOT) -> dict:
    """One worker's result; `root` is the gradcheck checkout it imports (this one, or --old's)."""
    environment = dict(os.environ, PYTHONPATH=str(root), TF_CPP_MIN_LOG_LEVEL="3")
    if threads:
        environment.update({name: str(threads) for name in THREAD_VARIABLES})
    try:
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", *worker_args],
                              capture_output=True, text=True, timeout=3 * LIMIT_S + 60, env=environment, cwd=root)
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
    return {"ok": lambda: seconds_figure(r["seconds"]), "timeout": lambda: f"> {LIMIT_S} s",
            "oom": lambda: "out of memory"}.get(r["status"], lambda: "error")()


def seconds_figure(seconds: float) -> str:
    if seconds < SHORT_S:
        return f"{1000 * seconds:.1f} ms"
    return f"{seconds:.{2 if seconds >= 1 else 3}f} s"


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
    parser.add_argument("--who", default="", help="comma-separated contestants to add to --quick's, e.g. torch-full")
    parser.add_argument("--old", type=Path, help="a checkout of an older gradcheck, measured beside this one")
    parser.add_argument("--repeat", type=int, default=1, help="keep the fastest of N runs of each gradcheck worker")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/OpenMP/TF threads for every contestant (0: each library's default). One by "
                             "default: on a shared machine, threads spinning over thousands of small calls "
                             "make timings meaningless")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)
    extra = {w.strip() for w in args.who.split(",") if w.strip()}
    who = [w for w in WHO if available(w) and (w in extra or not (args.quick and w in SLOW))]
    old = args.old.resolve() if args.old else None
    results: dict[tuple[str, str], dict] = {}
    for case in [*CASES, "needle"]:
        for w in who if case != "needle" else ["needle"]:
            if w in OLD or w == "needle":  # new and old interleaved, the fastest of --repeat each
                args_of = (case, w) if w != "needle" else ("needle",)
                runs = max(args.repeat, MIN_PAIRS if old else 1)
                for run in range(max(runs, SHORT_REPEAT)):
                    if run >= runs and not short(results, case, w):
                        break
                    keep(results, case, w, measure(*args_of, threads=args.threads))
                    if old:
                        keep(results, case, OLD.get(w, "old"), measure(*args_of, threads=args.threads, root=old))
            else:
                results[case, w] = measure(case, w, threads=args.threads)
            for name in [w, OLD.get(w, "old")] if old and (w in OLD or w == "needle") else [w]:
                print(f"  {case:34} {name:15} {seconds_text(results[case, name]):>14}", file=sys.stderr, flush=True)
    print(report(results, who, args))


def short(results: dict, case: str, who: str) -> bool:
    """Whether the row is under SHORT_S so far: a few milliseconds of scheduling on a shared machine
    is then a large share of it, and more runs (SHORT_REPEAT in all, still cheap) find its floor."""
    held = results.get((case, who))
    return bool(held and held.get("status") == "ok" and held["seconds"] < SHORT_S)


def keep(results: dict, case: str, who: str, found: dict) -> None:
    """Keep the faster of `found` and what is already there (a failed run never displaces a good one),
    and every good run's times in order (`runs`): the paired comparison reads them."""
    held = results.get((case, who))
    runs = [*(held or {}).get("runs", []), *([{k: found[k] for k in TIMED if k in found}]
                                             if found.get("status") == "ok" else [])]
    if held is None or (found.get("status") == "ok" and (held.get("status") != "ok"
                                                         or found["seconds"] < held["seconds"])):
        results[case, who] = held = found
    held["runs"] = runs


def paired(new: dict, old: dict, key: str) -> tuple[int, int, str]:
    """(pairs in which the new engine was slower, pairs, "slower" / "faster" / "level"): a one-sided
    sign test at 5% over the interleaved runs, run i of each."""
    pairs = [(a[key], b[key]) for a, b in zip(new.get("runs", []), old.get("runs", []))]
    slower = sum(a > b for a, b in pairs)

    def tail(k: int) -> float:  # P(at least k of the pairs by chance), each pair a fair coin
        return sum(math.comb(len(pairs), j) for j in range(k, len(pairs) + 1)) / 2 ** len(pairs)
    verdict = "slower" if tail(slower) < 0.05 else "faster" if tail(len(pairs) - slower) < 0.05 else "level"
    return slower, len(pairs), verdict


def report(results, who, args) -> str:
    get = results.get
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    threading = f"{args.threads} thread(s) per library for every contestant" if args.threads else "default threads"
    shown = [*who, *([OLD[w] for w in who if w in OLD] if args.old else [])]
    runs = max(args.repeat, MIN_PAIRS if args.old else 1)
    fastest = (f", the fastest of {runs} interleaved runs of each gradcheck row ({SHORT_REPEAT} under "
               f"{SHORT_S} s)" if runs > 1 else f", rows under {SHORT_S} s the fastest of {SHORT_REPEAT} runs")
    lines = [f"Benchmark of {datetime.date.today().isoformat()} on {machine()}; {threading}{fastest}; "
             f"load average at the end {load}." + (f" old-*: the checkout at {args.old}." if args.old else ""), "",
             "Time for a full element-wise check of the gradient (both inputs where two), float64; "
             "speed-up of gradcheck's full check over each anchor:", ""]
    anchors = ["torch-full", "tensorflow", "numdifftools", *(["old-full"] if args.old else [])]
    lines += ["| case | " + " | ".join(shown) + " | " + " | ".join(f"vs {a}" for a in anchors) + " |",
              "|---" * (len(shown) + len(anchors) + 1) + "|"]
    for case in CASES:
        ours = get((case, "gradcheck-full"))
        lines.append(f"| {case} | " + " | ".join(seconds_text(get((case, w))) for w in shown) + " | "
                     + " | ".join(ratio_text(get((case, a)), ours) for a in anchors) + " |")
    lines += ["", "Peak memory of the measuring process (MB; frameworks include their own import) and accuracy "
              "(max element-wise relative error of the numerical VJP against the closed form):", ""]
    accurate = [w for w in who if w in ("gradcheck-full", "torch-full", "tensorflow", "numdifftools")]
    lines += ["| case | " + " | ".join(f"{w} MB" for w in who) + " | " + " | ".join(f"{w} rel err" for w in accurate)
              + " | gradcheck error-estimate coverage |", "|---" * (len(who) + len(accurate) + 2) + "|"]
    for case in CASES:
        ours = get((case, "gradcheck-full"))
        lines.append(f"| {case} | " + " | ".join(number(get((case, w)), "maxrss_mb", ".0f") for w in who) + " | "
                     + " | ".join(number(get((case, w)), "rel_err", ".1e") for w in accurate) + " | "
                     + (f"{100 * ours['coverage']:.2f}%" if ours and "coverage" in ours else "-") + " |")
    lines += ["", "Forward evaluations of gradcheck's full reference (every input): on differences, on proofs of "
              "the groups, and the grouped floor (2 x groups x 4 levels per input):", ""]
    lines += ["| case | method | evaluations | on differences | on proofs | grouped floor | differences / floor |"
              + (" old engine's evaluations |" if args.old else ""), "|---" * (7 + bool(args.old)) + "|"]
    for case in CASES:
        ours = get((case, "gradcheck-full")) or {}
        ratio = f"{ours['differences'] / ours['floor']:.2f}" if ours.get("floor") else "-"
        lines.append(f"| {case} | {', '.join(ours.get('methods', [])) or '-'} | {number(ours, 'evaluations', ',')} | "
                     f"{number(ours, 'differences', ',')} | {number(ours, 'proof', ',')} | {number(ours, 'floor', ',')} "
                     f"| {ratio} |" + (f" {number(get((case, 'old-full')), 'evaluations', ',')} |" if args.old else ""))
    lines += [""] + [needle_line(get(("needle", name)), label) for name, label in
                     (("needle", "this engine"), *((("old", "old engine"),) if args.old else ()))]
    lines += ["", *goals(results, args)]
    return "\n".join(lines)


def needle_line(needle: dict | None, label: str) -> str:
    if not needle or needle.get("status") != "ok":
        return f"Fast mode ({label}), sigmoid n = {NEEDLE_N:,}: not measured ({(needle or {}).get('status')})."
    return (f"Fast mode ({label}), sigmoid n = {NEEDLE_N:,}: correct gradient "
            f"{'passes' if needle['passed'] else 'FAILS'} in {needle['seconds']:.2f} s; one element off by a "
            f"relative 1e-4 is {'caught' if needle['caught'] else 'MISSED'} and "
            f"{'named' if needle['named'] else 'NOT named'} by the full fallback in {needle['bad_seconds']:.2f} s.")


def goals(results, args) -> list[str]:
    """One line per goal: met, NOT met, or not measured, with the numbers it was judged on."""
    get = results.get
    ours = {case: get((case, "gradcheck-full")) or {} for case in CASES}
    done = all(r.get("status") == "ok" for r in ours.values())

    def each(key: str, fmt: str) -> str:
        return ", ".join(f"{case} {number(r, key, fmt)}" for case, r in ours.items())

    floor = {case: ours[case] for case in FLOOR_CASES}
    speed, verdicts = [], []
    for case, r in ours.items():
        anchor = get((case, "torch-full"))
        if anchor is None or r.get("status") != "ok" or anchor.get("status") not in ("ok", "timeout", "oom"):
            verdicts.append(None if anchor is None else False)
            continue
        if anchor["status"] == "oom":  # torch cannot do this check at all in 16 GiB; gradcheck did it
            speed.append(f"{case} torch out of memory, gradcheck {r['seconds']:.2f} s")
            verdicts.append(True)
            continue
        speed.append(f"{case} {ratio_text(anchor, r)}")
        if anchor["status"] == "ok":
            verdicts.append(anchor["seconds"] >= SPEEDUP * r["seconds"])
        else:  # torch ran past the limit: met if even the limit is SPEEDUP times ours, else undecided
            verdicts.append(True if LIMIT_S >= SPEEDUP * r["seconds"] else None)
    speed_met = False if False in verdicts else (None if None in verdicts else True)
    parity, parity_met = [], None
    if args.old:
        parity_met = True
        for case, w in [(case, w) for case in CASES for w in OLD] + [("needle", "needle")]:
            new, old = get((case, w)), get((case, OLD.get(w, "old")))
            if not new or not old or new.get("status") != "ok" or old.get("status") != "ok":
                parity_met = False
                continue
            for key in TIMED if w == "needle" else ("seconds",):
                label = f"{case} {w}" + (" fallback" if key == "bad_seconds" else "")
                slower, pairs, verdict = paired(new, old, key)
                parity.append(f"{label} {seconds_figure(old[key])} -> {seconds_figure(new[key])} ({verdict}: "
                              f"slower in {slower} of {pairs} pairs)")
                parity_met = parity_met and verdict != "slower"
    needle = get(("needle", "needle")) or {}
    checks = [
        ("every full check under 10 s", done and all(r["seconds"] < 10 for r in ours.values()), each("seconds", ".2f")),
        ("peak memory under 1 GB", done and all(r["maxrss_mb"] < 1024 for r in ours.values()),
         each("maxrss_mb", ".0f")),
        ("reference relative error <= 1e-10", done and all(r["rel_err"] <= 1e-10 for r in ours.values()),
         each("rel_err", ".1e")),
        ("error estimate covers the truth on >= 99% of elements",
         done and all(r["coverage"] >= 0.99 for r in ours.values()), each("coverage", ".4f")),
        ("all gradients pass", done and all(r["passed"] for r in ours.values()), ""),
        (f"difference evaluations within {FLOOR_RATIO}x of the grouped floor on matmul 128 and conv2d 128",
         all(r.get("floor") for r in floor.values())
         and all(r["differences"] <= FLOOR_RATIO * r["floor"] for r in floor.values()),
         "; ".join(f"{case} {number(r, 'differences', ',')} against a floor of {number(r, 'floor', ',')}, "
                   f"and {number(r, 'proof', ',')} on proofs" for case, r in floor.items())),
        (f"every anchor >= {SPEEDUP}x faster than torch's full gradcheck", speed_met, "; ".join(speed)),
        ("no row slower than the old engine (sign test over interleaved runs, 5%)", parity_met, "; ".join(parity)),
        ("fast mode catches and names a 1e-4 needle in 100,000 elements",
         needle.get("status") == "ok" and needle["passed"] and needle["caught"] and needle["named"], ""),
    ]
    verdict = {True: "met", False: "NOT met", None: "not measured"}
    return [f"GOAL {name}: {verdict[met]}" + (f" ({numbers})" if numbers else "") + "."
            for name, met, numbers in checks]


if __name__ == "__main__":
    main()
