"""Every benchmark in one run, and one table of every goal they judge (issue 14's "in one run").

    PYTHONPATH=. python benchmarks/run_all.py                    # about 30-40 minutes on 2 cores
    PYTHONPATH=. python benchmarks/run_all.py --old ../engine-old  # with the engine parity rows
    PYTHONPATH=. python benchmarks/run_all.py --only engine,suite  # some of them

Runs, one after another, each as its own process (so that one's imports and caches never
help another), with the anchors each measures beside gradcheck in the same run:

- bench_engine.py --quick --who torch-full: the engine against torch's full gradcheck
  (the 10x anchors) and, with --old, against an older checkout;
- bench_second_order.py: order 2 against gradgradcheck and JAX;
- bench_auto.py: auto mode's choices, predicted against measured;
- bench_small_rows.py: 100 small cases x 8 methods;
- bench_suite.py: serial against --jobs 2 and pytest -n 2.

Each benchmark's own output goes to stdout as it comes (and to --logs, one file each), then
a table of every line in which a benchmark judged a goal, as "met", "NOT met" or "not
measured", and the load average before and after: on a shared machine a loaded run's
seconds say little. This is a benchmark, not a test: exit status 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = {  # name: the script and its arguments
    "engine": ["bench_engine.py", "--quick", "--who", "torch-full", "--repeat", "3"],
    "second_order": ["bench_second_order.py"],
    "auto": ["bench_auto.py"],
    "small_rows": ["bench_small_rows.py", "--only", "all"],
    "suite": ["bench_suite.py", "--rounds", "1"],
}
VERDICT = re.compile(r"goal:?\s*(NOT met|not met|met|not measured)|:\s*(NOT met|not met|met|not measured)\b", re.I)


def judged(line: str) -> list[tuple[str, str]]:
    """(verdict, the goal as the benchmark wrote it) for each goal a line judges; none if it judges none.

    The benchmarks word their goal lines a little differently ("GOAL x: met (...)", "goal met  x",
    "x: goal met; y: goal NOT met"); what they share is the word goal and a verdict.
    """
    if not re.search(r"\bgoal\b", line, re.I):
        return []
    parts = line.split("; ") if len(re.findall(r"goal:?\s*(?:NOT )?met", line, re.I)) > 1 else [line]
    found = []
    for part in parts:
        match = VERDICT.search(part)
        if match:
            word = (match.group(1) or match.group(2)).lower()
            found.append(({"met": "met", "not met": "NOT met", "not measured": "not measured"}[word], part.strip()))
    return found


def load() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated, of {', '.join(BENCHMARKS)}")
    parser.add_argument("--old", type=Path, help="an older checkout for bench_engine's parity rows")
    parser.add_argument("--logs", type=Path, default=Path("reports/benchmarks"), help="one log file per benchmark")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    args.logs.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                             os.environ.get("PYTHONPATH")]))}
    print(f"# run_all {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load()} at start",
          flush=True)
    table: list[tuple[str, str, str]] = []
    for name in chosen:
        script, *extra = BENCHMARKS[name]
        if name == "engine" and args.old:
            extra += ["--old", str(args.old.resolve())]
        command = [sys.executable, str(ROOT / "benchmarks" / script), *extra]
        print(f"\n## {name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        with open(args.logs / f"{name}.log", "w") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
            for line in process.stdout:
                sys.stdout.write(line)
                log.write(line)
                table += [(name, verdict, goal) for verdict, goal in judged(line)]
            process.wait()
        print(f"## {name}: exit {process.returncode} after {time.perf_counter() - started:.0f} s", flush=True)
        if process.returncode:
            table.append((name, "not measured", f"{script} exited {process.returncode}"))
    print(f"\n# every goal, as judged above (load average {load()} at the end)")
    for name, verdict, goal in table:
        print(f"{name:13} {verdict:13} {goal}")


if __name__ == "__main__":
    main()
