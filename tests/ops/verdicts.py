"""The vjp method's verdict on one op's forward paired with a given VJP: how known-bad VJPs are shown
to fail, beside the registry's own VJP passing on the same inputs."""

import gradcheck
from gradcheck.compare.comparison import Status
from gradcheck.ops import get_op


def vjp_statuses(name: str, inputs: dict, vjp=None, **params) -> dict[str, Status]:
    """input name -> status of the `vjp` row for op `name` (its own VJP when `vjp` is None)."""
    op = get_op(name)
    result = gradcheck.check(op.forward, inputs, vjp=vjp or op.vjp, params=params, methods=["vjp"],
                             name=name)
    return {row.input: row.status for row in result.comparisons if row.method == "vjp"}
