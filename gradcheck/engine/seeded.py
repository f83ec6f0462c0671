"""Seeded random draws: the same numbers for the same seed and shape, in every run.

Steps are jittered (stencil.initial_steps), the batching probe nudged
(evaluator.py) and fast mode's directions drawn (fast.py) from seeded
generators, so that a check repeats exactly. Making a generator costs about
25 us and drawing a few thousand numbers as much again, three times an input:
a tenth of a small input's fast check. Draws of up to KEPT numbers are
therefore kept, read-only; larger ones are drawn anew each time.
"""

from __future__ import annotations

import functools
import math

import numpy as np

KEPT = 2**18  # numbers: a kept draw holds at most 2 MB, and 32 are kept


def uniform(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Numbers in [0, 1): np.random.default_rng(seed).random(shape)."""
    return _draw(_uniform, seed, tuple(shape))


def random_signs(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Random signs times magnitudes in [1, 1.5): a direction that leaves no element out."""
    return _draw(_random_signs, seed, tuple(shape))


def _uniform(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).random(shape)


def _random_signs(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=shape)
    return signs * (1.0 + 0.5 * rng.random(shape))


def _draw(draw, seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return _kept(draw, seed, shape) if math.prod(shape) <= KEPT else draw(seed, shape)


@functools.lru_cache(maxsize=32)
def _kept(draw, seed: int, shape: tuple[int, ...]) -> np.ndarray:
    drawn = draw(seed, shape)
    drawn.flags.writeable = False
    return drawn
