"""Which outputs of a forward are checked, and each one's cotangent.

Every floating output is checked with its own cotangent dz_k: the case's (one spec for a
function of one floating output; a list by position or a mapping by key, `null` leaving an
output out), else a seeded standard normal of its shape, or 1.0 for a scalar output (as
z.backward() and tape.gradient(z, w) seed it). Integer and boolean outputs (a mask, an
argmax) have no derivative and are passed over.

A complex output takes a complex cotangent (the default draws its real and imaginary parts
independently; a scalar's is 1.0), rounded through the complex dtype of the case's
precision; a real output (|z|^2, a loss) takes a real one, and a complex cotangent for it is
refused, never cast to real.
"""

from __future__ import annotations

from typing import Any, Hashable

import numpy as np

from gradcheck.cases.generators import CaseError, build_array, stable_seed
from gradcheck.cases.schema import Case, InputSpec
from gradcheck.dtypes import NEVER_CAST, complex_dtype, is_inexact, numpy_dtype, real_dtype


def checked_outputs(case: Case, entries: list[tuple[Hashable | None, np.ndarray]],
                    max_elements: int) -> list[tuple[Hashable | None, np.ndarray]]:
    """(output key, cotangent) for each checked output, in the forward's order."""
    floating = [(key, value) for key, value in entries if is_inexact(value)]
    if not floating:
        raise CaseError("the forward returned no floating output: nothing to differentiate")
    specs = _specs_by_output(case, [key for key, _ in entries], [key for key, _ in floating])
    checked = []
    for key, value in floating:
        if key in specs and specs[key] is None:
            continue  # `null`: this output is left out
        what = "cotangent" if key is None else f"cotangent[{key}]"
        cotangent = _cotangent(case, specs.get(key), np.shape(value), what, max_elements, np.iscomplexobj(value))
        checked.append((key, cotangent))
    if not checked:
        raise CaseError(f"{case.file}:{case.line_of('cotangent')}: every output is left out (null)")
    return checked


def _specs_by_output(case: Case, keys: list, floating: list) -> dict[Any, InputSpec | None]:
    given, line = case.cotangent, f"{case.file}:{case.line_of('cotangent')}"
    if given is None:
        return {}
    if isinstance(given, InputSpec):
        if len(floating) != 1:
            raise CaseError(f"{line}: the forward returns {len(floating)} floating outputs: give one "
                            "cotangent per output (a list, or a mapping by output key; null leaves one out)")
        return {floating[0]: given}
    if isinstance(given, tuple):
        if len(given) != len(keys):
            raise CaseError(f"{line}: {len(given)} cotangents for {len(keys)} outputs")
        return dict(zip(keys, given))
    unknown = [key for key in given if key not in [str(k) for k in keys]]
    if unknown:
        raise CaseError(f"{line}: cotangent for {unknown[0]!r}, which is not an output "
                        f"({', '.join(str(k) for k in keys)})")
    return {key: given[str(key)] for key in keys if str(key) in given}


def _cotangent(case: Case, spec: InputSpec | None, shape: tuple[int, ...], what: str,
               max_elements: int, complex_output: bool) -> np.ndarray:
    if spec is None:
        rng = np.random.default_rng(stable_seed(case.name, "cotangent" if what == "cotangent" else what))
        if shape == ():
            cotangent = np.array(1.0)
        elif complex_output:
            real = rng.standard_normal(shape)
            cotangent = real + 1j * rng.standard_normal(shape)  # parts drawn independently
        else:
            cotangent = rng.standard_normal(shape)
    else:
        cotangent = build_array(spec, case, what, shape=shape, max_elements=max_elements,
                                complex_values=complex_output)
    if np.iscomplexobj(cotangent) and not complex_output:
        raise CaseError(f"{case.file}:{case.line_of('cotangent')}: {what} is complex but the output is real: "
                        f"{NEVER_CAST}")
    try:
        if complex_output:
            dtype = numpy_dtype(complex_dtype(real_dtype(case.dtype)))
            cotangent = np.asarray(cotangent, dtype=dtype).astype(np.complex128)
        else:
            cotangent = np.asarray(cotangent, dtype=numpy_dtype(real_dtype(case.dtype))).astype(np.float64)
    except ImportError as exc:
        raise CaseError(str(exc)) from None
    if cotangent.shape != tuple(shape):
        raise CaseError(f"{case.file}:{case.line_of('cotangent')}: {what} has shape {list(cotangent.shape)} "
                        f"but the output has shape {list(shape)}")
    return cotangent
