"""Input specs -> arrays: literals, and seeded draws from the generators of a case file.

    normal     rng.normal(mean, std)
    uniform    rng.uniform(low, high)
    integers   rng.integers(low, high): int64, passed through and never differentiated
    symmetric  (A + A^T) / 2 of a standard normal A
    spd        Q diag(λ) Q^T with Q a random orthogonal matrix (QR of a normal matrix) and
               λ in [0.5, 2] (log-uniform), or λ spread geometrically over [1, cond] when
               `cond` sets the condition number; positive definite whatever the rounding
               to a float32 case dtype does to it (λ_min >= 0.5 >> float32 eps).

A complex case dtype (complex64, complex128) makes every floating input complex: a
generator draws the real parts, then the imaginary parts, independently from the same
distribution (z = a + ib), and a real literal becomes complex with zero imaginary parts.
`symmetric` and `spd` are real matrices by definition and refuse a complex dtype. A
complex literal ("1+2j") in a real case is an error: it is never cast to real.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from gradcheck.cases.schema import Case, Generator, InputSpec
from gradcheck.dtypes import NEVER_CAST, is_complex_dtype

DEFAULT_MAX_ELEMENTS = 10_000_000


class CaseError(Exception):
    """This case cannot be checked; the message says why."""


def stable_seed(*parts: str) -> int:
    """A seed from text that is the same in every process (unlike hash())."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def build_array(spec: InputSpec, case: Case, what: str, *, shape: tuple[int, ...] | None = None,
                max_elements: int = DEFAULT_MAX_ELEMENTS, complex_values: bool | None = None) -> np.ndarray:
    """A literal as an array (float64 or complex128, or its own integer dtype), or a generator's draw;
    the budget is checked first. complex_values: draw complex values (None: where the case dtype is
    complex)."""
    if complex_values is None:
        complex_values = is_complex_dtype(case.dtype)
    if spec.generator is None:
        return _literal(spec, case, what, complex_values)
    generator = spec.generator
    shape = generator.shape if generator.shape is not None else shape
    size = math.prod(shape)  # Python ints: no overflow before the check
    if size > max_elements:
        raise CaseError(
            f"{case.file}:{spec.line}: {what} has shape {list(shape)} = {size:,} elements, over the "
            f"budget of {max_elements:,} (raise it with --max-elements)"
        )
    seed = generator.seed if generator.seed is not None else stable_seed(case.name, what)
    rng = np.random.default_rng(seed)
    if not complex_values or generator.integer:
        return draw(generator, tuple(shape), rng)
    if generator.dist in ("symmetric", "spd"):
        raise CaseError(f"{case.file}:{spec.line}: {what}: dist {generator.dist!r} draws real matrices; a case of "
                        f"dtype {case.dtype} draws complex values (use normal or uniform)")
    real = draw(generator, tuple(shape), rng)
    return real + 1j * draw(generator, tuple(shape), rng)  # real and imaginary parts drawn independently


def _literal(spec: InputSpec, case: Case, what: str, complex_values: bool) -> np.ndarray:
    if spec.dtype is not None:
        return np.array(spec.literal, dtype=spec.dtype)
    array = np.array(spec.literal)
    if np.iscomplexobj(array) and not complex_values:
        why = ("the output it pairs with is real" if is_complex_dtype(case.dtype)
               else f"the case dtype is {case.dtype} (set dtype: complex128 or complex64)")
        raise CaseError(f"{case.file}:{spec.line}: {what} is complex but {why}; {NEVER_CAST}")
    return array.astype(np.complex128 if complex_values else np.float64)


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
