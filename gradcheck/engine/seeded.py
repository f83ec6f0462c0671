"""Seeded random draws: the same numbers for the same seed and shape, in every run.

Steps are jittered (stencil.initial_steps), the batching probe nudged
(evaluator.py) and fast mode's directions drawn (fast.py) from seeded
generators, so that a check repeats exactly. Making a generator costs about
25 us (several times that the first time in a process) and drawing a few
thousand numbers as much again: the jitter and the nudges share one draw, and
draws of up to KEPT numbers are kept, read-only; larger ones are drawn anew
each time.
"""

from __future__ import annotations

import functools
import math

import numpy as np

KEPT = 2**18  # numbers: a kept draw holds at most 2 MB, and 32 are kept


def jitter(size: int) -> np.ndarray:
    """(size,) numbers in [0, 1) for an input of `size` elements: the steps' jitter, and the batching
    probe's nudges, share one draw."""
    return uniform(size, (size,))


def uniform(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Numbers in [0, 1): np.random.default_rng(seed).random(shape)."""
    return _draw(_uniform, seed, tuple(shape))


def random_signs(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Random signs times magnitudes in [1, 1.5): a direction that leaves no element out."""
    return _draw(_random_signs, seed, tuple(shape))


def _uniform(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).random(shape)


def _random_signs(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Both from one uniform draw u: the sign is u >= 1/2, the magnitude 1 + (2u mod 1) / 2. Given
    either half, 2u mod 1 is uniform on [0, 1), so the two are independent (half the cost of a
    choice() of signs and a second draw)."""
    twice = 2.0 * np.random.default_rng(seed).random(shape)  # [0, 2): exact, a power of two
    high = twice >= 1.0
    return np.copysign(1.0 + 0.5 * (twice - high), twice - 1.0)  # u = 1/2: +0.0, a plus sign as `high` says


def _draw(draw, seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return _kept(draw, seed, shape) if math.prod(shape) <= KEPT else draw(seed, shape)


@functools.lru_cache(maxsize=32)
def _kept(draw, seed: int, shape: tuple[int, ...]) -> np.ndarray:
    drawn = draw(seed, shape)
    drawn.flags.writeable = False
    return drawn
