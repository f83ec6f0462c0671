"""What a case is doing now, for whoever listens: a case stopped by its timeout is reported with the
phase it was stuck in ("the reference for input x", "method torch").

The runner announces; the worker process (run/isolation.py) listens and forwards each phase to the
parent. With no listener an announcement costs one attribute lookup.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

_listeners: list[Callable[[str], None]] = []


def announce(text: str) -> None:
    for listener in _listeners:
        listener(text)


@contextlib.contextmanager
def listening(listener: Callable[[str], None]) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
