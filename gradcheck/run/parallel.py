"""Running many cases, in this process or in a pool of worker processes.

`run_cases` returns the comparisons in case order whatever order the workers
finish in, so a parallel run's reports are identical to a serial run's.

Workers are started with "spawn": a forked child would inherit whatever
threads and framework state the parent holds (JAX and TensorFlow warn about
exactly that). A Case crosses to a worker pickled; its read-only mappings
(MappingProxyType, which pickle refuses) travel as dicts and are frozen again
on arrival. A case that cannot be pickled at all (a lambda given to
gradcheck.check) runs here, in this process.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from types import MappingProxyType
from typing import Callable, Sequence

from gradcheck.cases.schema import Case
from gradcheck.compare.comparison import Comparison, Status
from gradcheck.run.runner import RunOptions, error_rows, reported_methods, run_case

OnCaseDone = Callable[[Case], None]


def resolve_jobs(jobs: int) -> int:
    """0 means one worker per CPU."""
    return jobs if jobs > 0 else max(os.cpu_count() or 1, 1)


def run_cases(cases: Sequence[Case], options: RunOptions = RunOptions(), *, jobs: int = 1,
              on_case_done: OnCaseDone | None = None) -> list[Comparison]:
    """Every comparison of every case, in case order."""
    done = on_case_done or (lambda case: None)
    jobs = min(resolve_jobs(jobs), len(cases))
    if jobs <= 1:
        rows = []
        for case in cases:
            rows.extend(run_case(case, options))
            done(case)
        return rows
    return _run_in_pool(cases, options, jobs, done)


def _run_in_pool(cases: Sequence[Case], options: RunOptions, jobs: int,
                 done: OnCaseDone) -> list[Comparison]:
    results: list[list[Comparison] | None] = [None] * len(cases)
    portables = [_portable(case) for case in cases]
    broken = []
    pool = _pool(jobs)
    try:
        futures = {pool.submit(_run_portable, portable, options): index
                   for index, portable in enumerate(portables) if portable is not None}
        for index, portable in enumerate(portables):  # here, while the workers are busy
            if portable is None:
                results[index] = run_case(cases[index], options)
                done(cases[index])
        for future in as_completed(futures):
            index = futures[future]
            try:
                results[index] = future.result()
            except BrokenProcessPool:  # some case killed its worker: find out which, below
                broken.append(index)
                continue
            except Exception as exc:  # a result that could not come back, say
                results[index] = _crashed(cases[index], options, f"{type(exc).__name__}: {exc}")
            done(cases[index])
    except BaseException:  # Ctrl-C: do not wait for the queue to drain
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    _one_at_a_time(sorted(broken), cases, portables, options, results, done)
    return [row for rows in results for row in rows]


def _one_at_a_time(indices: list[int], cases: Sequence[Case], portables: list[bytes | None],
                   options: RunOptions, results: list, done: OnCaseDone) -> None:
    """Rerun the cases of a broken pool one by one, so that only the case that kills
    its worker (a crash in native code, an os._exit) becomes an error."""
    pool = None
    for index in indices:
        pool = pool or _pool(1)
        try:
            results[index] = pool.submit(_run_portable, portables[index], options).result()
        except BrokenProcessPool:
            results[index] = _crashed(cases[index], options,
                                      "the worker process died running this case (a crash in native code?)")
            pool.shutdown(wait=False)
            pool = None
        done(cases[index])
    if pool is not None:
        pool.shutdown()


def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


# ---------------------------------------------------------------- pickling


def _portable(case: Case) -> bytes | None:
    """The case pickled with its read-only mappings as dicts, or None if it cannot be."""
    thawed = {f.name: dict(value) for f in dataclasses.fields(case)
              if isinstance(value := getattr(case, f.name), MappingProxyType)}
    try:
        return pickle.dumps((dataclasses.replace(case, **thawed), tuple(thawed)))
    except Exception:  # pickle raises PicklingError, TypeError or AttributeError
        return None


def _run_portable(portable: bytes, options: RunOptions) -> list[Comparison]:
    case, thawed = pickle.loads(portable)
    frozen = {name: MappingProxyType(getattr(case, name)) for name in thawed}
    return run_case(dataclasses.replace(case, **frozen), options)


def _crashed(case: Case, options: RunOptions, message: str) -> list[Comparison]:
    return error_rows(case, reported_methods(case, options), Status.ERROR, message)
