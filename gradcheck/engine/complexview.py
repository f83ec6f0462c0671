"""Complex inputs and outputs as real arrays: the engine differentiates real functions of real arrays.

A complex array z of shape S is seen as the real array r of shape S + (2,), r[..., 0] = Re z and
r[..., 1] = Im z (`view`, undone by `unview`). Since Re(conj(a) b) = Re a Re b + Im a Im b,

    phi = Re sum conj(dz) f(z) = sum view(dz) * view(f(z)),

the very scalar the real engine differentiates, once the forward is wrapped to take r and return
view(f). Its gradient with respect to r holds (d phi / d Re z, d phi / d Im z) per element, which
gradcheck's one convention (DESIGN section 2) packs as

    g = d phi / d Re z + i d phi / d Im z      (= 2 d phi / d conj(z), in Wirtinger terms).

So a complex element costs two real elements: the stencil perturbs its real and its imaginary
part, each by its own step (central differences, Richardson-extrapolated, as for any real input).
The complex step (Im f(x + ih) / h) is never used here: it needs a real-analytic function of a
real input, and the imaginary direction is now an input of its own.

The error estimate of g is |(e_re, e_im)| (the distance in the plane), and a kink in either
part makes the accepted set a rectangle [lower, upper] in the plane (lower = lo_re + i lo_im).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from gradcheck.dtypes import as_float64
from gradcheck.engine.estimates import Reference

NOTE = ("complex input: real and imaginary parts differenced separately, "
        "gradient d phi/d Re z + i d phi/d Im z")


def view(z) -> np.ndarray:
    """Shape S complex (or real) -> shape S + (2,) float64: real and imaginary parts."""
    z = np.asarray(z)
    return np.stack([np.real(z), np.imag(z)], axis=-1).astype(np.float64)


def unview(r) -> np.ndarray:
    """Shape S + (2,) real -> shape S complex128: the inverse of `view`."""
    r = np.asarray(r, dtype=np.float64)
    return r[..., 0] + 1j * r[..., 1]


def flat_real(array) -> np.ndarray:
    """A gradient as the flat real vector that pairs with real-view directions: view(g) for a complex
    g (so that <view(g), view(u)> = Re sum conj(g) u), g itself otherwise."""
    array = np.asarray(array)
    return (view(array) if np.iscomplexobj(array) else array.astype(np.float64)).reshape(-1)


@dataclass(frozen=True)
class RealForm:
    """A forward of one input made real: `forward` takes inputs[index] as a real view (where it is
    complex) and returns view(f) (where f is complex)."""

    forward: Callable
    inputs: list
    complex_input: bool
    complex_output: bool

    def cotangent(self, dz) -> np.ndarray:
        return view(dz) if self.complex_output else np.asarray(dz, dtype=np.float64)

    def tangent(self, u) -> np.ndarray:
        return view(u) if self.complex_input else np.asarray(u, dtype=np.float64)



def real_form(forward: Callable, inputs: Sequence, index: int, output) -> RealForm | None:
    """The real form of `forward` in inputs[index], or None when that input and `output` (the forward's
    at `inputs`) are real."""
    inputs = [as_float64(a) for a in inputs]
    complex_output = bool(np.iscomplexobj(output))
    complex_input = bool(np.iscomplexobj(inputs[index]))
    if not (complex_input or complex_output):
        return None

    def real_forward(*args):
        args = list(args)
        if complex_input:
            args[index] = unview(args[index])  # (..., 2) -> complex; a leading batch axis stays
        output = forward(*args)
        return view(output) if complex_output else output

    if complex_input:
        inputs[index] = view(inputs[index])
    return RealForm(real_forward, inputs, complex_input, complex_output)


def complex_reference(reference: Reference, note: str = NOTE) -> Reference:
    """A reference over a real view (shape S + (2,)) as one over the complex values (shape S): those
    of a complex input (J^T dz), or of a complex output (J u)."""
    lower, upper = unview(reference.lower), unview(reference.upper)
    notes = [note] if note else []
    if reference.ties:
        notes.append(f"{len(reference.ties)} tied kink(s) of the real and imaginary parts were not checked as sums")
    return replace(
        reference, value=unview(reference.value),
        error=np.hypot(reference.error[..., 0], reference.error[..., 1]), lower=lower, upper=upper,
        kinks=int(np.count_nonzero(lower != upper)), ties=(), notes=(*reference.notes, *notes),
    )
