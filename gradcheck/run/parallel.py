"""Running many cases, each in a worker process (run/isolation.py), one or several at a time.

`run_cases` returns the comparisons in case order whatever order the workers
finish in, so a parallel run's reports are identical to a serial run's. A case
that cannot be pickled (a lambda given to gradcheck.check) runs here, in this
process, without a timeout.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

from gradcheck.cases.schema import Case
from gradcheck.compare.comparison import Comparison
from gradcheck.run.isolation import portable, run_isolated
from gradcheck.run.runner import RunOptions, run_case

OnCaseDone = Callable[[Case], None]
_portable = portable  # the name the tests and older callers know


def resolve_jobs(jobs: int) -> int:
    """0 means one worker per CPU."""
    return jobs if jobs > 0 else max(os.cpu_count() or 1, 1)


def run_cases(cases: Sequence[Case], options: RunOptions = RunOptions(), *, jobs: int = 1,
              on_case_done: OnCaseDone | None = None) -> list[Comparison]:
    """Every comparison of every case, in case order."""
    done = on_case_done or (lambda case: None)
    results: dict[int, list[Comparison]] = {}
    isolated = []
    for index, case in enumerate(cases):
        data = portable(case)
        if data is None:
            results[index] = run_case(case, options)
            done(case)
        else:
            isolated.append((index, data, case))
    if isolated:
        results.update(run_isolated(isolated, options, resolve_jobs(jobs), done))
    return [row for index in range(len(cases)) for row in results[index]]
