"""Running many cases, each in a worker process (run/isolation.py), one or several at a time.

`--jobs N` starts min(N, cases) workers, all forked from one server that
imported the frameworks the cases need (isolation.py says why that is safe),
so N workers cost one import, not N. Work is handed out largest predicted cost
first (the cost `--shard` splits by: run/shards.py), each idle worker taking
the next: the longest case starts first instead of last, and the workers
finish together (the longest-processing-time rule). A serial run keeps suite order.

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
from gradcheck.run.isolation import frameworks_needed, portable, preload, run_isolated
from gradcheck.run.runner import RunOptions, reported_methods, run_case
from gradcheck.run.shards import largest_first, predicted_cost

OnCaseDone = Callable[[Case], None]
_portable = portable  # the name the tests and older callers know


def resolve_jobs(jobs: int) -> int:
    """0 means one worker per CPU."""
    return jobs if jobs > 0 else max(os.cpu_count() or 1, 1)


def work_order(cases: Sequence[Case], options: RunOptions) -> list[int]:
    """The indices of `cases` in the order workers take them: largest predicted cost first."""
    return largest_first([predicted_cost(case, len(reported_methods(case, options))) for case in cases])


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
        workers = min(resolve_jobs(jobs), len(isolated))
        if workers > 1:
            isolated = [isolated[i] for i in work_order([case for _, _, case in isolated], options)]
        preload(frameworks_needed([case for _, _, case in isolated], options))
        results.update(run_isolated(isolated, options, workers, done))
    return [row for index in range(len(cases)) for row in results[index]]
