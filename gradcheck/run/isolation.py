"""Cases in worker processes that can be killed: a timeout per case, and a crash costs one case.

A forward stuck in C code (an XLA while-loop that never ends, a BLAS call on a
huge matrix) ignores signals and exceptions alike; only killing its process
stops it. So each case runs in a worker process, reused from case to case. A
case past its timeout has its worker killed and replaced; its rows are errors
naming the phase it was in (run/phase.py), and the next case runs.

How workers start: from a fork server that imported the frameworks once.
Importing them is most of a small suite's time (TensorFlow alone takes about
5 s), and a worker started with "spawn" imports them again: two such workers
cost two imports, which is why `--jobs 2` used to be slower than serial. A
plain fork of this process is unsafe (its threads, a framework's started
runtime, would not survive it), but multiprocessing's "forkserver" forks each
worker from a clean server process started with "spawn", in which
`preload(frameworks)` imported gradcheck and the frameworks the run's cases
need, and ran nothing else. Importing torch, TensorFlow and JAX starts no
thread (a server holds the same two threads as after `import numpy`: the main
one and OpenBLAS's, which handles fork itself), creates no TensorFlow eager
context and no XLA backend (JAX warns about os.fork only once a backend
exists), so the forked workers start each framework fresh, with the imports
already done, in milliseconds; a worker killed at its timeout is replaced as
fast. The server outlives one run (multiprocessing keeps one per process and
its preload is fixed once started): a later run needing another framework
imports it in its workers, as before. A worker takes on the directory,
environment, sys.path and hidden modules of the process that asks for it,
not the server's. Where there is no fork server (Windows), workers are spawned.

Threads: several workers share the CPUs out for NumPy's BLAS, which computes
the finite-difference reference (threads_per_worker: 2 workers on 2 CPUs, one
BLAS thread each, through OPENBLAS_NUM_THREADS, unless the user set it); two
workers of two BLAS threads each on two cores made each other wait. A lone
worker keeps the libraries' own threading. torch computes with one thread in
every worker, lone or not (one_torch_thread): its thread count moves the last
bits of some gradients (layer_norm, batch_norm), and the JSON of `--jobs 2` must
be the serial one, byte for byte; TensorFlow keeps its own pools (they do not
wait on each other).

Messages from a worker:  ("ready",) once started, ("phase", text) as a case
goes on, ("rows", comparisons) when it is done.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import pickle
import sys
import time
from collections import deque
from multiprocessing.connection import Connection, wait
from types import MappingProxyType
from typing import Callable, Iterable, Sequence

from gradcheck.backends.framework import installed
from gradcheck.cases.schema import Case
from gradcheck.compare.comparison import Comparison, Status
from gradcheck.methods import FRAMEWORK_OF
from gradcheck.ops import FRAMEWORKS
from gradcheck.run import phase
from gradcheck.run.runner import RunOptions, error_rows, reported_methods, run_case

DEFAULT_TIMEOUT = 600.0  # seconds: far beyond any honest case, so CI never meets it
START_TIMEOUT = 300.0  # seconds for a fresh worker to import gradcheck (a loaded CI machine)
OnCaseDone = Callable[[Case], None]


def case_timeout(case: Case, options: RunOptions) -> float:
    """--timeout, else the case's `timeout:`, else DEFAULT_TIMEOUT."""
    for seconds in (options.timeout, case.timeout):
        if seconds is not None:
            return seconds
    return DEFAULT_TIMEOUT


# ---------------------------------------------------------------- pickling


def portable(case: Case) -> bytes | None:
    """The case pickled with its read-only mappings as dicts, or None if it cannot be (a lambda)."""
    thawed = {f.name: dict(value) for f in dataclasses.fields(case)
              if isinstance(value := getattr(case, f.name), MappingProxyType)}
    try:
        return pickle.dumps((dataclasses.replace(case, **thawed), tuple(thawed)))
    except Exception:  # noqa: BLE001 - pickle raises PicklingError, TypeError or AttributeError
        return None


def unpack(data: bytes) -> Case:
    case, thawed = pickle.loads(data)
    return dataclasses.replace(case, **{name: MappingProxyType(getattr(case, name)) for name in thawed})


# ---------------------------------------------------------------- the worker process


def serve(connection: Connection, surroundings: dict | Sequence[str] = ()) -> None:
    """A worker's life: run the cases it is sent until told to stop (None) or its parent goes.

    `surroundings` are those of the process that started it (its `surroundings()`): the worker
    works in the same directory, with the same environment and sys.path, and sees the same
    frameworks missing (a test hides one with sys.modules[name] = None), whatever the fork
    server it came from was started with. A plain sequence is the hidden modules alone.
    """
    if not isinstance(surroundings, dict):
        surroundings = {"blocked": list(surroundings)}
    for name in surroundings.get("blocked", ()):
        sys.modules[name] = None
    if "cwd" in surroundings:
        os.chdir(surroundings["cwd"])
        sys.path[:] = surroundings["path"]
        os.environ.clear()
        os.environ.update(surroundings["environ"])
    if surroundings.get("threads") is not None:
        _limit_threads(surroundings["threads"])
    one_torch_thread()
    connection.send(("ready",))
    with phase.listening(lambda text: connection.send(("phase", text))):
        while True:
            try:
                message = connection.recv()
            except EOFError:
                return
            if message is None:
                return
            data, options = message
            connection.send(("rows", run_case(unpack(data), options)))


def surroundings(threads: int | None = None) -> dict:
    """What a worker takes on from this process (see serve), and its share of the CPUs."""
    return {"blocked": [name for name, module in sys.modules.items() if module is None],
            "cwd": os.getcwd(), "path": list(sys.path), "environ": dict(os.environ), "threads": threads}


# ---------------------------------------------------------------- threads

# NumPy's BLAS only: torch's and TensorFlow's thread counts move the last bits of their
# layer_norm and batch_norm gradients, and the reports must not depend on --jobs (torch: one
# thread in every worker, one_torch_thread).
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS",)


def threads_per_worker(workers: int) -> int | None:
    """Each of several workers computes with its share of the CPUs (at least one thread), so that
    N workers do not start N times the threads the machine has; one worker: the libraries' choice."""
    return None if workers <= 1 else max(1, (os.cpu_count() or 1) // workers)


@contextlib.contextmanager
def _thread_variables(threads: int | None):
    """The thread variables set, unless the user set them, while a worker (or the fork server, whose
    OpenBLAS then starts with that many threads) is started."""
    added = [] if threads is None else [name for name in THREAD_VARIABLES if name not in os.environ]
    os.environ.update({name: str(threads) for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _limit_threads(threads: int) -> None:
    """In a worker: the thread variables, for what it loads (the user's own settings win)."""
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))


def one_torch_thread() -> None:
    """torch's intra-op pool at one thread in every worker, lone or one of several, unless the user set
    OMP_NUM_THREADS: its count then never depends on --jobs (it moves the last bits of layer_norm and
    batch_norm gradients), and workers' OpenMP pools do not wait on each other or on whatever else
    runs: on a busy 2-core machine a 2 x 3 x 4 x 4 batch_norm took 22 ms a call with two OpenMP threads
    and 11 us with one.
    torch is there if the run's cases need it (preload); a gradient's own cost is the framework's call,
    the finite-difference reference's is NumPy's BLAS (threads_per_worker)."""
    torch = sys.modules.get("torch")
    if torch is not None and "OMP_NUM_THREADS" not in os.environ and hasattr(torch, "set_num_threads"):
        torch.set_num_threads(1)


# ---------------------------------------------------------------- starting workers


def start_method() -> str:
    """"forkserver" where there is one (Linux, macOS), else "spawn"."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def frameworks_needed(cases: Iterable[Case], options: RunOptions) -> list[str]:
    """The frameworks the cases' methods and references use, that are installed and not hidden."""
    needed = set()
    for case in cases:
        if case.skip:
            continue
        needed.update(FRAMEWORK_OF.get(method) for method in reported_methods(case, options))
        needed.add(case.reference_framework)
    return [name for name in FRAMEWORKS if name in needed and installed(name)]


def preload(frameworks: Sequence[str]) -> None:
    """Have the fork server, when it starts, import gradcheck and these frameworks (quietly)."""
    if start_method() != "forkserver":
        return
    from gradcheck.backends.tensorflow_backend import quiet_environment

    quiet_environment()  # the server imports TensorFlow with this process's environment
    # TensorFlow as gradcheck imports it (without Keras: about 2 CPU seconds less), not `import tensorflow`.
    modules = [PRELOAD_MODULE.get(name, name) for name in frameworks]
    multiprocessing.get_context("forkserver").set_forkserver_preload([__name__, *modules])


PRELOAD_MODULE = {"tensorflow": "gradcheck.backends.tensorflow_preload"}


class Worker:
    """One worker process and its end of the pipe; started on first use."""

    def __init__(self, threads: int | None = None):
        self.threads = threads  # its share of the CPUs (threads_per_worker); None: the libraries' choice
        self.process: multiprocessing.process.BaseProcess | None = None
        self.connection: Connection | None = None
        self.job: tuple[int, Case, float] | None = None  # (index, case, deadline) while busy
        self.phase = "starting"

    def start(self) -> None:
        context = multiprocessing.get_context(start_method())
        self.connection, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, surroundings(self.threads)), daemon=True,
                                       name="gradcheck-worker")
        with _thread_variables(self.threads):
            self.process.start()
        child.close()
        if not self.connection.poll(START_TIMEOUT):
            self.kill()
            raise RuntimeError(f"a gradcheck worker process did not start within {START_TIMEOUT:g} s")
        self.connection.recv()  # ("ready",)

    def submit(self, index: int, data: bytes, case: Case, options: RunOptions) -> None:
        if self.process is None:
            self.start()
        self.connection.send((data, options))
        self.job, self.phase = (index, case, time.monotonic() + case_timeout(case, options)), "starting the case"

    def kill(self) -> None:
        """Stop the process however stuck it is (SIGKILL), and forget it: the next submit starts another."""
        if self.process is not None:
            self.process.kill()
            self.process.join()
            self.connection.close()
        self.process = self.connection = None

    def stop(self) -> None:
        if self.process is not None:
            try:
                self.connection.send(None)
                self.process.join(timeout=5)
            except (OSError, ValueError):
                pass
            self.kill()


# ---------------------------------------------------------------- the scheduler


def run_isolated(jobs: Sequence[tuple[int, bytes, Case]], options: RunOptions, workers: int,
                 done: OnCaseDone) -> dict[int, list[Comparison]]:
    """Run (index, pickled case, case) jobs in `workers` processes; index -> that case's rows."""
    pending, results = deque(jobs), {}
    size = max(1, min(workers, len(jobs)))
    pool = [Worker(threads_per_worker(size)) for _ in range(size)]
    try:
        while pending or any(w.job for w in pool):
            for worker in pool:
                if worker.job is None and pending:
                    index, data, case = pending.popleft()
                    worker.submit(index, data, case, options)
            busy = [w for w in pool if w.job is not None]
            soonest = min(w.job[2] for w in busy)
            ready = wait([w.connection for w in busy], timeout=max(0.0, soonest - time.monotonic()))
            for worker in busy:
                finished = _receive(worker, options) if worker.connection in ready else _expired(worker, options)
                if finished is not None:
                    index, case = worker.job[:2]
                    results[index], worker.job = finished, None
                    done(case)
    finally:
        for worker in pool:
            worker.stop() if worker.job is None else worker.kill()
    return results


def _receive(worker: Worker, options: RunOptions) -> list[Comparison] | None:
    """The worker's next message: the rows when the case is done, else None (a phase)."""
    case = worker.job[1]
    try:
        message = worker.connection.recv()
    except (EOFError, OSError):  # the case killed its worker: a crash in native code, an os._exit
        worker.kill()
        return _errors(case, options, "the worker process died running this case (a crash in native code?) "
                                      f"while in: {worker.phase}")
    if message[0] == "phase":
        worker.phase = message[1]
        return None
    return message[1]


def _expired(worker: Worker, options: RunOptions) -> list[Comparison] | None:
    """Error rows for a case past its deadline, its worker killed; None while it has time left."""
    _, case, deadline = worker.job
    if time.monotonic() < deadline:
        return None
    worker.kill()
    seconds = case_timeout(case, options)
    return _errors(case, options, f"timed out after {seconds:g} s while in: {worker.phase}; the case was stopped "
                                  "(raise the limit with `timeout:` in the case or --timeout)")


def _errors(case: Case, options: RunOptions, message: str) -> list[Comparison]:
    return error_rows(case, reported_methods(case, options), Status.ERROR, message)
