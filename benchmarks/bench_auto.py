"""Auto mode's choices: per input, the mode chosen, the full check's predicted and measured seconds.

    PYTHONPATH=. python benchmarks/bench_auto.py             # a few minutes
    PYTHONPATH=. python benchmarks/bench_auto.py --full      # also times the full checks auto declined
                                                             # (those predicted under --full-limit, 600 s)
    PYTHONPATH=. python benchmarks/bench_auto.py --budget 30

Each case is checked as `gradcheck run` checks it by default (auto mode, the
numeric reference and the NumPy VJP), and timed as a whole. Then, per input:

- chosen: the mode auto chose, from the rows;
- predicted (auto): engine/cost.py's prediction as auto mode made it, at the
  budget (it spends at most a share of the budget on predicting, so it may be
  an upper bound, "at most", or a lower bound, "at least");
- predicted (closer): the same, with the groups always found;
- measured: the full reference itself, timed (for inputs auto checked fast,
  only with --full, and only where the closer prediction is under --full-limit).

Issue 14's goal: the 1000 x 1000 by 1000 x 10 matmul in auto mode under 15 s,
saying which mode it chose. This is a benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

import gradcheck
from gradcheck.engine import cost
from gradcheck.engine.reference import reference_vjp
from gradcheck.methods import DEFAULT_BUDGET, Mode
from gradcheck.ops import OPS
from gradcheck.run.runner import RunOptions

GOAL_CASE, GOAL_SECONDS = "matmul 1000x1000 by 1000x10", 15.0
CASES = {
    GOAL_CASE: ("matmul", {"x": (1000, 1000), "y": (1000, 10)}),
    "sigmoid n=10,000": ("sigmoid", {"x": (10_000,)}),
    "conv2d 32x32 by 3x3": ("conv2d", {"x": (1, 1, 32, 32), "w": (1, 1, 3, 3)}),
    "softmax 4x10": ("softmax", {"x": (4, 10)}),
}


FAST_SECONDS: dict[str, float] = {}


def seconds(value: float) -> str:
    return f"{value:.3g} s" if value < 1000 else f"{value:,.0f} s"


def run_case(label: str, budget: float, full: bool, full_limit: float) -> tuple[float, float, list[list[str]]]:
    op_name, shapes = CASES[label]
    op = OPS[op_name]
    rng = np.random.default_rng(sum(label.encode()))
    inputs = {name: rng.normal(size=shape) for name, shape in shapes.items()}
    dz = rng.normal(size=np.shape(op.forward(*inputs.values())))
    start, cpu = time.perf_counter(), time.process_time()
    result = gradcheck.check(op.forward, inputs, vjp=op.vjp, cotangent=dz, methods=["numeric", "vjp"],
                             budget=budget, name=label)
    took = time.perf_counter() - start
    took_cpu = time.process_time() - cpu
    if label == GOAL_CASE:  # beside --mode fast, the same check without predicting
        start = time.perf_counter()
        gradcheck.check(op.forward, inputs, vjp=op.vjp, cotangent=dz, methods=["numeric", "vjp"], name=label,
                        options=RunOptions(mode=Mode.FAST))
        FAST_SECONDS[label] = time.perf_counter() - start
    lines = []
    arrays = list(inputs.values())
    for index, name in enumerate(inputs):
        rows = [c for c in result.comparisons if c.input == name]
        chosen = rows[0].choice.mode.value if rows and rows[0].choice else "?"
        verdict = "/".join(sorted({c.status.value for c in rows}))
        auto = cost.predict_full(op.forward, arrays, index, budget=budget)
        closer = cost.predict_full(op.forward, arrays, index, budget=1e9, closer=True)
        if chosen == "full" or (full and closer.seconds <= full_limit):
            begin = time.perf_counter()
            evaluations = reference_vjp(op.forward, arrays, dz, index).evaluations
            measured = f"{seconds(time.perf_counter() - begin)} ({evaluations:,} evaluations)"
        elif full:
            measured = f"not run (predicted over --full-limit {seconds(full_limit)})"
        else:
            measured = "not run (--full runs it)"
        lines.append([label, name, f"{arrays[index].size:,}", chosen, verdict,
                      f"{seconds(auto.seconds)} ({auto.basis})",
                      f"{seconds(closer.seconds)} ({closer.evaluations:,} evaluations, {closer.basis})", measured])
    return took, took_cpu, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET, help="seconds per input (auto mode)")
    parser.add_argument("--full", action="store_true", help="also time the full checks auto declined")
    parser.add_argument("--full-limit", type=float, default=600.0,
                        help="with --full, skip full checks predicted (closer) to take longer than this")
    args = parser.parse_args()
    print(f"gradcheck auto mode, budget {seconds(args.budget)} per input; {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, NumPy {np.__version__}")
    headers = ["case", "input", "elements", "chosen", "rows", "predicted full (auto)", "predicted full (closer)",
               "measured full"]
    table, totals = [], {}
    for label in CASES:
        took, took_cpu, lines = run_case(label, args.budget, args.full, args.full_limit)
        totals[label] = took, took_cpu
        table.extend(lines)
    widths = [max(len(row[i]) for row in [headers, *table]) for i in range(len(headers))]
    for row in [headers, *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print()
    for label, (took, took_cpu) in totals.items():
        print(f"{label}: the whole check in auto mode (numeric + vjp) took {seconds(took)} "
              f"({seconds(took_cpu)} of CPU)")
    print(f"{GOAL_CASE}: the same check with --mode fast took {seconds(FAST_SECONDS[GOAL_CASE])}")
    took = totals[GOAL_CASE][0]
    met = "goal met" if took < GOAL_SECONDS else "goal NOT met"
    print(f"goal: {GOAL_CASE} in auto mode under {GOAL_SECONDS:.0f} s: {seconds(took)}: {met}")


if __name__ == "__main__":
    main()
