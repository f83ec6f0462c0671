"""Input specs -> arrays: literals, and seeded draws from the generators of a case file.

    normal     rng.normal(mean, std)
    uniform    rng.uniform(low, high)
    integers   rng.integers(low, high): int64, passed through and never differentiated
    symmetric  (A + A^T) / 2 of a standard normal A
    spd        Q diag(λ) Q^T with Q a random orthogonal matrix (QR of a normal matrix) and
               λ in [0.5, 2] (log-uniform), or λ spread geometrically over [1, cond] when
               `cond` sets the condition number; positive definite whatever the rounding
               to a float32 case dtype does to it (λ_min >= 0.5 >> float32 eps).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from gradcheck.cases.schema import Case, Generator, InputSpec

DEFAULT_MAX_ELEMENTS = 10_000_000


class CaseError(Exception):
    """This case cannot be checked; the message says why."""


def stable_seed(*parts: str) -> int:
    """A seed from text that is the same in every process (unlike hash())."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def build_array(spec: InputSpec, case: Case, what: str, *, shape: tuple[int, ...] | None = None,
                max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
    """A literal as an array (float64, or its own integer dtype), or a generator's draw; the
    budget is checked first."""
    if spec.generator is None:
        return np.array(spec.literal, dtype=spec.dtype or np.float64)
    generator = spec.generator
    shape = generator.shape if generator.shape is not None else shape
    size = math.prod(shape)  # Python ints: no overflow before the check
    if size > max_elements:
        raise CaseError(
            f"{case.file}:{spec.line}: {what} has shape {list(shape)} = {size:,} elements, over the "
            f"budget of {max_elements:,} (raise it with --max-elements)"
        )
    seed = generator.seed if generator.seed is not None else stable_seed(case.name, what)
    return draw(generator, tuple(shape), np.random.default_rng(seed))


def draw(generator: Generator, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    args = dict(generator.args)
    match generator.dist:
        case "normal":
            return rng.normal(args["mean"], args["std"], size=shape)
        case "uniform":
            return rng.uniform(args["low"], args["high"], size=shape)
        case "integers":
            return rng.integers(int(args["low"]), int(args["high"]), size=shape, dtype=np.int64)
        case "symmetric":
            a = rng.standard_normal(shape)
            return (a + np.swapaxes(a, -1, -2)) / 2
        case "spd":
            return spd(shape, args["cond"], rng)
    raise ValueError(f"unknown dist {generator.dist!r}")


def spd(shape: tuple[int, ...], cond: float, rng: np.random.Generator) -> np.ndarray:
    """Symmetric positive-definite matrices Q diag(λ) Q^T of shape [..., n, n]."""
    *batch, n, _ = shape
    q, r = np.linalg.qr(rng.standard_normal((*batch, n, n)))
    # Sign-fix the columns so Q is Haar-distributed rather than biased by QR's convention.
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    if cond:
        eigenvalues = np.broadcast_to(np.geomspace(1.0, cond, n), (*batch, n))
    else:
        eigenvalues = np.exp(rng.uniform(np.log(0.5), np.log(2.0), size=(*batch, n)))
    matrix = (q * eigenvalues[..., None, :]) @ np.swapaxes(q, -1, -2)
    return (matrix + np.swapaxes(matrix, -1, -2)) / 2  # exactly symmetric after rounding
