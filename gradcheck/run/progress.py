"""Progress of long runs: a bar on a terminal, a line every ~10 s when piped.

The bar appears only when both stdout and stderr are terminals and CI is not
"true", and only once the run has taken longer than `delay` seconds: a quick
run never flickers. It draws on stderr and is transient, so the table printed
afterwards is all that stays on the screen. Otherwise (piped, CI) a plain line
goes to stderr every TICK_SECONDS, so a long run in a log is visibly alive;
a run shorter than that prints nothing.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping

DELAY_SECONDS = 1.0
TICK_SECONDS = 10.0


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    if environ.get("CI", "").lower() == "true":
        return False
    return _isatty(sys.stdout) and _isatty(sys.stderr)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


@contextmanager
def progress_bar(total: int, *, delay: float = DELAY_SECONDS,
                 show: bool | None = None) -> Iterator[Callable[[object], None]]:
    """Yield `advance(case)`, to call once per finished case."""
    bar = _DelayedBar(total, delay) if (wanted() if show is None else show) else Ticker(total)
    try:
        yield bar.advance
    finally:
        bar.close()


class _DelayedBar:
    def __init__(self, total: int, delay: float):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(stderr=True), transient=True,
        )
        self._task = self._progress.add_task("checking", total=total)
        self._lock = threading.Lock()
        self._started = self._closed = False
        self._timer = threading.Timer(delay, self._start)
        self._timer.daemon = True
        self._timer.start()

    def _start(self) -> None:
        with self._lock:
            if not self._closed:
                self._progress.start()
                self._started = True

    def advance(self, case: object) -> None:
        self._progress.update(self._task, advance=1)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._closed = True
            if self._started:
                self._progress.stop()


class Ticker:
    """'gradcheck: 12 of 268 cases done (20 s)' on `stream` (stderr) every `interval` seconds."""

    def __init__(self, total: int, interval: float = TICK_SECONDS, stream=None):
        self._total, self._interval, self._stream = total, interval, stream
        self._done, self._start = 0, time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(self._interval):  # a wake-up may come late (an import holding the GIL)
            elapsed = time.monotonic() - self._start
            print(f"gradcheck: {self._done} of {self._total} cases done ({elapsed:.0f} s)",
                  file=self._stream or sys.stderr, flush=True)

    def advance(self, case: object) -> None:
        self._done += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
