"""The full reference of some elements of an input only: a partial check that fits a budget.

The chosen elements become an input of their own, a vector, and every other
element stays where it is: the forward of that vector is the forward with
those elements put back in place, so reference_vjp (its steps, retries,
grouping, complex step) runs on it unchanged and its derivatives are the
chosen elements' derivatives of phi. Only the step floors differ: an element
near zero moves relative to the chosen elements' typical size, not the whole
input's (stencil.scales).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from gradcheck.dtypes import as_float64
from gradcheck.engine.estimates import Reference
from gradcheck.engine.reference import reference_vjp


def partial_reference(forward: Callable, inputs: Sequence[np.ndarray], cotangent: np.ndarray, index: int,
                      elements: np.ndarray, *, step_scale: float = 1.0) -> Reference:
    """reference_vjp of inputs[index] at the flat `elements` only; its arrays have shape (len(elements),)."""
    inputs = [as_float64(a) for a in inputs]
    shape, flat = inputs[index].shape, inputs[index].reshape(-1)
    elements = np.asarray(elements, dtype=np.intp)

    def of_chosen(*args):
        chosen = np.asarray(args[index])
        batch = chosen.shape[:-1]  # the evaluator may stack points along a leading axis
        whole = np.empty((*batch, flat.size), dtype=np.result_type(chosen, flat))  # complex for a complex step
        whole[...] = flat
        whole[..., elements] = chosen
        placed = list(args)
        placed[index] = whole.reshape(*batch, *shape)
        return forward(*placed)

    chosen_inputs = list(inputs)
    chosen_inputs[index] = flat[elements]
    return reference_vjp(of_chosen, chosen_inputs, cotangent, index, step_scale=step_scale)
