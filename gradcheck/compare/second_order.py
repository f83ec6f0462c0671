"""One second-order row (order: 2) from its two comparisons, with what kind of wrong it is.

A method's second order, a = ∇_x <V, VJP(x, dz)>, is compared with two references:

    own     d/dt VJP(x + tV, dz): finite differences of the method's own first-order VJP
    engine  H(x) V, the Hessian-vector product of φ, which uses no method at all

For a correct backward all three agree (H is symmetric). Which comparison fails says
what is wrong:

- a departs from `own`: the backward's derivative is not the derivative of the backward,
  so the backward is not differentiable as written: a term computed from detached tensors
  (.detach(), tf.stop_gradient, lax.stop_gradient) has no derivative. Where a is zero the
  whole backward is cut off from the inputs; elsewhere it misses a term.
- a agrees with `own` but not with `engine`: the first-order VJP itself is wrong near the
  point (its own row usually fails too).

The row carries the numbers of the worse comparison (the engine's when both pass), and,
where the first order passes and the second fails, says so first.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gradcheck.compare.comparison import Comparison, Status

OWN = "against the derivative of its own VJP along the tangent"
ENGINE = "against the Hessian-vector product of the reference"


def _worse(own: Comparison, engine: Comparison) -> tuple[Comparison, str]:
    """The comparison that judges the row, and what it was against."""
    if engine.status is Status.ERROR:
        return own, OWN
    own_bad, engine_bad = own.status is Status.FAIL, engine.status is Status.FAIL
    if own_bad and (not engine_bad or (own.margin or 0.0) >= (engine.margin or 0.0)):
        return own, OWN
    return engine, ENGINE


def _hint(got: np.ndarray, own: Comparison, engine: Comparison, first: Comparison | None) -> str:
    """What kind of second-order failure this is, in words."""
    if first is not None and first.status is Status.FAIL:
        return "the first order fails too: fix the VJP first"
    passes = first is not None and first.status is Status.PASS
    prefix = "the first order passes and the second fails: " if passes else ""
    if own.status is Status.FAIL:
        if got.size and not np.any(got) and own.want:
            return (prefix + "the backward is not differentiable along the tangent: its derivative is zero where "
                    "its own VJP changes (a backward computed from detached tensors: .detach(), stop_gradient, "
                    "torch.no_grad)")
        return (prefix + "the backward's derivative misses a term: it departs from the derivative of its own VJP "
                "(part of the backward computed from detached tensors: .detach(), stop_gradient?)")
    return (prefix + "its derivative agrees with that of its own VJP but not with the Hessian-vector product: "
            "the VJP is right at the point but not around it")


def second_order_row(got: np.ndarray, own: Comparison, engine: Comparison, first: Comparison | None) -> Comparison:
    """The row of one input: failed if `got` departs from either reference, with a diagnosis.

    `first` is the same method's first-order row for that input (None where it has none).
    """
    row, against = _worse(own, engine)
    if row.status is Status.ERROR:
        return row
    failed = engine.status is Status.ERROR
    notes = [f"the Hessian-vector product reference failed: {engine.message}"] if failed else []
    if row.status is Status.FAIL:
        message = f"{_hint(np.asarray(got), own, engine, first)}; {against}: {row.message}"
        return replace(row, message="; ".join([message, *notes]))
    return replace(row, message="; ".join(notes))
