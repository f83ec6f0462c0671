"""Per-row cost on small cases (issue 14): 100 small op cases, serial, all eight methods and each alone.

    PYTHONPATH=. python benchmarks/bench_small_rows.py               # all methods, then each alone
    PYTHONPATH=. python benchmarks/bench_small_rows.py --only all jax  # some configurations
    PYTHONPATH=. python benchmarks/bench_small_rows.py --repeat 3    # best of three (a loaded machine)

The cases are generated into a temporary folder: built-in ops over many shapes, every input at
most 5 x 5 (most 1-D or 2-D; conv, pooling and attention need 3 or 4 axes of size <= 5), so that
the framework's own calls cost microseconds and what is measured is the per-row overhead around
them (tracing, compiling, graph building, conversions) plus the finite-difference reference.
Every op here has all three lowerings, so each case gets all eight methods: numeric, vjp, torch,
tensorflow, jax, torch-jvp, tensorflow-jvp, jax-jvp.

Each configuration is one `gradcheck run --jobs 1` subprocess, timed from start to exit, imports
included; its CPU seconds (user + system) and peak memory are that process tree's own (os.wait4:
the run, and its fork server and case worker, adopted as orphans where Linux allows). On a shared
machine the CPU seconds are the steadier figure; the goal is stated in wall seconds. Its rows are
counted from its JSON report, so that a fast configuration whose rows error out is visible as such. This is a benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("numeric", "vjp", "torch", "tensorflow", "jax", "torch-jvp", "tensorflow-jvp", "jax-jvp")
GOAL_S = 10.0
N_CASES = 100

# Shapes of a single input, all small: the elementwise and reduction ops cycle through them, so that
# consecutive cases rarely share a shape (a per-shape cache must not be what makes this fast).
SHAPES = ([3], [2, 3], [5], [4, 4], [1], [3, 5], [2, 2], [5, 4], [4], [3, 3], [2, 5], [5, 5], [2], [4, 2])
NORMAL = {"dist": "normal"}
POSITIVE = {"dist": "uniform", "low": 0.5, "high": 2.0}


def _unary(op: str, dist: dict = NORMAL, params: dict | None = None):
    return lambda shape: (op, {"x": {"shape": shape, **dist}}, params or {})


def _binary(op: str, y_dist: dict = NORMAL, x_dist: dict = NORMAL):
    return lambda shape: (op, {"x": {"shape": shape, **x_dist}, "y": {"shape": shape, **y_dist}}, {})


def _fixed(op: str, inputs: dict, params: dict | None = None):
    return lambda shape: (op, {n: {"shape": s, **d} for n, (s, d) in inputs.items()}, params or {})


def _rows(op: str, params: dict | None = None):
    """An op along the last axis: at least two elements there."""
    return lambda shape: (op, {"x": {"shape": shape if shape[-1] > 1 else [*shape[:-1], 3], **NORMAL}},
                          params or {})


TEMPLATES = [
    _unary("sigmoid"), _unary("tanh"), _unary("exp"), _unary("sin"), _unary("cos"), _unary("tan",
    {"dist": "uniform", "low": -1.0, "high": 1.0}), _unary("log", POSITIVE), _unary("sqrt", POSITIVE),
    _unary("log1p", POSITIVE), _unary("expm1"), _unary("softplus"), _unary("silu"), _unary("gelu"),
    _unary("gelu_tanh"), _unary("elu"), _unary("leaky_relu"), _unary("relu"), _unary("abs"),
    _unary("clip", params={"low": -0.5, "high": 0.5}), _unary("sum"), _unary("mean"), _unary("norm"),
    _unary("logsumexp"), _unary("max"), _unary("min"), _rows("softmax"), _rows("log_softmax"),
    _unary("cumsum"), _unary("reshape"), _unary("transpose"),
    _binary("divide", POSITIVE), _binary("maximum"), _binary("minimum"), _binary("power", NORMAL, POSITIVE),
    _binary("mse_loss"),
    _fixed("matmul", {"x": ([3, 4], NORMAL), "y": ([4, 2], NORMAL)}),
    _fixed("concat", {"x": ([2, 3], NORMAL), "y": ([1, 3], NORMAL)}),
    _fixed("layer_norm", {"x": ([3, 4], NORMAL), "weight": ([4], NORMAL), "bias": ([4], NORMAL)}),
    _fixed("batch_norm", {"x": ([5, 3], NORMAL), "weight": ([3], NORMAL), "bias": ([3], NORMAL)}),
    _fixed("attention", {"q": ([2, 3, 2], NORMAL), "k": ([2, 4, 2], NORMAL), "v": ([2, 4, 3], NORMAL)}),
    _fixed("conv1d", {"x": ([1, 2, 5], NORMAL), "w": ([2, 2, 3], NORMAL)}),
    _fixed("conv2d", {"x": ([1, 1, 5, 5], NORMAL), "w": ([2, 1, 2, 2], NORMAL)}),
    _fixed("conv_transpose2d", {"x": ([1, 2, 3, 3], NORMAL), "w": ([2, 1, 2, 2], NORMAL)}),
    _fixed("avgpool2d", {"x": ([1, 2, 4, 4], NORMAL)}),
    _fixed("maxpool2d", {"x": ([1, 1, 4, 4], NORMAL)}),
]


def cases(n: int = N_CASES) -> list[dict]:
    """`n` small op cases: template i % len, shape i // len from SHAPES, rotated per template."""
    out = []
    for i in range(n):
        template = TEMPLATES[i % len(TEMPLATES)]
        shape = SHAPES[(i // len(TEMPLATES) * 5 + i) % len(SHAPES)]
        op, inputs, params = template(list(shape))
        case = {"name": f"small-{i:03d}-{op}", "op": op, "inputs": inputs}
        if params:
            case["params"] = params
        out.append(case)
    return out


def write_cases(folder: Path, n: int) -> Path:
    path = folder / "small.yaml"
    # JSON is YAML: no yaml dependency for the benchmark itself.
    path.write_text(json.dumps({"cases": cases(n)}, indent=1))
    return path


def _adopt_orphans() -> None:
    """Linux: become a child subreaper, so that the fork server a run leaves behind is reparented to this
    process when the run exits, and its CPU seconds (its workers' included) can be waited for here."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def run_config(cases_path: Path, methods: tuple[str, ...], report: Path) -> dict:
    """One serial `gradcheck run`: wall seconds (imports included), peak RSS, row counts, exit code."""
    command = [sys.executable, "-m", "gradcheck", "run", str(cases_path), "--jobs", "1", "-q",
               "--json", str(report)]
    for method in methods:
        command += ["--method", method]
    environment = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    maxrss = usage.ru_maxrss
    # The case worker is a child of gradcheck's fork server, not of the run: as this process's orphans
    # (a subreaper, see _adopt_orphans) the server and, through it, its workers are counted here too.
    while True:
        try:
            _, _, orphan = os.wait4(-1, 0)
        except ChildProcessError:
            break
        cpu += orphan.ru_utime + orphan.ru_stime
        maxrss = max(maxrss, orphan.ru_maxrss)
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    counts: Counter = Counter()
    if report.exists():
        counts = Counter(row["status"] for row in json.loads(report.read_text())["results"])
        report.unlink()
    return {"seconds": seconds, "cpu": cpu, "peak_mib": maxrss / 1024,
            "rows": counts,
            "exit": process.returncode, "stderr": stderr.strip()[-400:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=N_CASES, help="how many small cases (default 100)")
    parser.add_argument("--only", nargs="+", metavar="CONFIG",
                        help="'all' and/or method names (default: all, then each method alone)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration; the best is shown")
    args = parser.parse_args()
    configs = args.only or ["all", *METHODS]
    unknown = [c for c in configs if c != "all" and c not in METHODS]
    if unknown:
        parser.error(f"unknown configuration(s): {', '.join(unknown)}")

    print(f"{args.cases} small cases (inputs <= 5 x 5, {len(TEMPLATES)} ops), serial (--jobs 1), "
          f"best of {args.repeat}; seconds include interpreter start and imports")
    print(f"{'configuration':<16}{'seconds':>9}{'CPU s':>8}{'peak MiB':>10}  rows")
    _adopt_orphans()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-small-rows-") as scratch:
        cases_path = write_cases(Path(scratch), args.cases)
        for config in configs:
            methods = METHODS if config == "all" else (config,)
            runs = [run_config(cases_path, methods, Path(scratch) / "report.json") for _ in range(args.repeat)]
            best = min(runs, key=lambda r: r["seconds"])
            results[config] = best
            rows = ", ".join(f"{n} {s}" for s, n in sorted(best["rows"].items())) or "none"
            print(f"{config:<16}{best['seconds']:>9.2f}{best['cpu']:>8.2f}{best['peak_mib']:>10.0f}  {rows}"
                  + (f"  (exit {best['exit']})" if best["exit"] not in (0, None) else ""), flush=True)
            if not best["rows"] and best["stderr"]:
                print(f"    stderr: {best['stderr']}")
    if "all" in results:
        seconds = results["all"]["seconds"]
        met = "met" if seconds < GOAL_S and args.cases >= N_CASES else "not met"
        print(f"goal: {N_CASES} small cases x {len(METHODS)} methods under {GOAL_S:g} s: {met} ({seconds:.2f} s)")


if __name__ == "__main__":
    main()
