"""Serial against parallel runs of whole suites, in one run (issue 14: "parallelism is slower than serial").

    PYTHONPATH=. python benchmarks/bench_suite.py                 # everything, 2 rounds
    PYTHONPATH=. python benchmarks/bench_suite.py --rounds 3      # more rounds, a better median
    PYTHONPATH=. python benchmarks/bench_suite.py --only heavy    # the generated heavy suite alone
    PYTHONPATH=. python benchmarks/bench_suite.py --no-pytest     # gradcheck run alone

Two suites:

- the shipped one, cases/: `gradcheck run cases/` serial and with `--jobs 2`, and the
  pytest plugin over the same files, `pytest --gradcheck cases/` serial and with `-n 2`;
- a generated one of --heavy-cases heavy cases (default 24: conv2d and matmul of moderate
  size, each checked by numeric, the NumPy VJP and torch; each takes about 1 s serial on an
  idle core), `gradcheck run` serial and with `--jobs 2`.

Each measurement is a fresh process (`gradcheck` and `pytest` as a user runs them), timed
wall clock from start to exit, imports included. The configurations of a suite run back to
back in every round, in turn, so that the load of a shared machine falls on all of them
alike; the median of the rounds is compared, and every round's seconds are printed, so the
spread shows. The JSON reports of `gradcheck run` serial and `--jobs 2` (of each suite) are
compared byte for byte. Then one line per goal says "goal met" or "goal NOT met":

- `--jobs 2` is not slower than serial on the shipped suite (median against median);
- `pytest -n 2` is not slower than serial pytest on the shipped suite;
- `--jobs 2` is at least 1.4 times faster than serial on the heavy suite.

This is a benchmark, not a test: nothing here asserts. Exit status 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY_GOAL = 1.4
CONV = ("  - {{name: conv-{i}, op: conv2d, methods: [numeric, vjp, torch], params: {{stride: 1, padding: same}},\n"
        "     inputs: {{x: {{shape: [2, {c}, 16, 16]}}, w: {{shape: [8, {c}, 3, 3]}}}}}}\n")
MATMUL = ("  - {{name: matmul-{i}, op: matmul, methods: [numeric, vjp, torch],\n"
          "     inputs: {{a: {{shape: [{n}, {n}]}}, b: {{shape: [{n}, {n}]}}}}}}\n")


def heavy_suite(count: int) -> str:
    """`count` cases: two of three conv2d 24 x 24 (4 or 5 input channels), one of three matmul (96 to 112).

    Each takes about a second of CPU on its own (1.0-1.2 s measured, BLAS on one thread), so
    that the cases, not the imports, are what a heavy suite spends its time on."""
    lines = ["cases:\n"]
    for i in range(count):
        lines.append(CONV.format(i=i, c=4 + i % 2) if i % 3 else MATMUL.format(i=i, n=96 + 8 * (i % 3)))
    return "".join(lines)


def _plugin_args() -> list[str]:
    """`-p gradcheck.pytest_plugin` where the plugin is not registered by an installed gradcheck."""
    import importlib.metadata

    installed = any(ep.value == "gradcheck.pytest_plugin"
                    for ep in importlib.metadata.entry_points(group="pytest11"))
    return [] if installed else ["-p", "gradcheck.pytest_plugin"]


def configurations(heavy_file: Path, reports: Path, which: str,
                   with_pytest: bool = True) -> dict[str, list[tuple[str, list[str]]]]:
    """suite -> [(label, command)], the serial one first."""
    python = [sys.executable]
    run = [*python, "-m", "gradcheck", "run", "-q"]
    pytest = [*python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *_plugin_args(), "--gradcheck",
              "-o", "addopts=", "cases"]
    suites = {
        "shipped": [
            ("gradcheck run cases/", [*run, "cases", "--json", str(reports / "serial.json")]),
            ("gradcheck run cases/ --jobs 2", [*run, "cases", "--jobs", "2", "--json", str(reports / "jobs2.json")]),
            *([("pytest --gradcheck cases", pytest),
               ("pytest --gradcheck cases -n 2", [*pytest, "-n", "2"])] if with_pytest else []),
        ],
        "heavy": [
            ("gradcheck run heavy.yaml", [*run, str(heavy_file), "--json", str(reports / "heavy-serial.json")]),
            ("gradcheck run heavy.yaml --jobs 2", [*run, str(heavy_file), "--jobs", "2",
                                                   "--json", str(reports / "heavy-jobs2.json")]),
        ],
    }
    return {name: commands for name, commands in suites.items() if which in ("all", name)}


def timed(command: list[str]) -> tuple[float, int, str]:
    """Wall seconds, exit status and the last line of output of one run."""
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    began = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return seconds, result.returncode, lines[-1] if lines else ""


def goal(met: bool, text: str) -> str:
    return f"{'goal met    ' if met else 'goal NOT met'}  {text}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="runs of each configuration (default 2)")
    parser.add_argument("--heavy-cases", type=int, default=24, help="cases in the generated suite (default 24)")
    parser.add_argument("--only", choices=("all", "shipped", "heavy"), default="all")
    parser.add_argument("--no-pytest", action="store_true", help="leave out the two pytest runs of the shipped suite")
    args = parser.parse_args()

    print(f"# bench_suite {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{platform.python_version()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        heavy_file = folder / "heavy.yaml"
        heavy_file.write_text(heavy_suite(args.heavy_cases))
        seconds: dict[str, list[float]] = {}
        suites = configurations(heavy_file, folder, args.only, with_pytest=not args.no_pytest)
        for suite, commands in suites.items():
            print(f"\n## {suite} suite" + (f" ({args.heavy_cases} cases)" if suite == "heavy" else ""))
            for round_ in range(1, args.rounds + 1):
                for label, command in commands:
                    spent, status, last = timed(command)
                    seconds.setdefault(label, []).append(spent)
                    print(f"round {round_}  {label:36} {spent:7.1f} s  exit {status}  {last[:70]}", flush=True)
            serial = statistics.median(seconds[commands[0][0]])
            print()
            for label, _ in commands:
                runs = seconds[label]
                print(f"{label:36} median {statistics.median(runs):7.1f} s  (runs {', '.join(f'{s:.1f}' for s in runs)})"
                      f"  {serial / statistics.median(runs):5.2f}x serial")
            serial_json, jobs2_json = ("serial.json", "jobs2.json") if suite == "shipped" else (
                "heavy-serial.json", "heavy-jobs2.json")
            same = (folder / serial_json).read_bytes() == (folder / jobs2_json).read_bytes()
            print(f"JSON report of --jobs 2 {'identical to' if same else 'DIFFERS from'} the serial one, byte for byte")
        print("\n## goals")
        median = {label: statistics.median(runs) for label, runs in seconds.items()}
        if "shipped" in suites:
            run1, run2 = median["gradcheck run cases/"], median["gradcheck run cases/ --jobs 2"]
            print(goal(run2 <= run1, f"--jobs 2 not slower than serial on the shipped suite: {run2:.1f} s "
                                     f"against {run1:.1f} s ({run1 / run2:.2f}x)"))
            if not args.no_pytest:
                test1, test2 = median["pytest --gradcheck cases"], median["pytest --gradcheck cases -n 2"]
                print(goal(test2 <= test1, f"pytest -n 2 not slower than serial pytest on the shipped suite: "
                                           f"{test2:.1f} s against {test1:.1f} s ({test1 / test2:.2f}x)"))
        if "heavy" in suites:
            heavy1, heavy2 = median["gradcheck run heavy.yaml"], median["gradcheck run heavy.yaml --jobs 2"]
            print(goal(heavy1 / heavy2 >= HEAVY_GOAL, f"--jobs 2 at least {HEAVY_GOAL}x faster on the heavy suite: "
                                                      f"{heavy1 / heavy2:.2f}x ({heavy2:.1f} s against {heavy1:.1f} s)"))
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
