"""The `vjp` method: a hand-written NumPy VJP (a built-in op's, an expr's, or the case's `vjp:`)."""

from __future__ import annotations

import numpy as np

from gradcheck.cases import Case
from gradcheck.problem import numpy_dtype


class NumpyVjp:
    name = "vjp"
    framework = None
    extra = None

    def available(self) -> bool:
        return True

    def applies(self, case: Case) -> bool:
        return case.op is not None or case.expr is not None or case.vjp is not None

    def gradients(self, problem, options) -> dict:
        """Call the VJP in the case dtype: float32 cases check float32 code paths."""
        if problem.numpy_vjp is None:
            raise ValueError("this case has no hand-written VJP (add 'vjp: module:function')")
        dtype = numpy_dtype(problem.dtype)
        inputs = [value.astype(dtype) for value in problem.inputs.values()]
        with np.errstate(all="ignore"):
            grads = problem.numpy_vjp(*inputs, problem.cotangent.astype(dtype))
        if not isinstance(grads, (tuple, list)):
            grads = (grads,)  # a single-input VJP may return its gradient bare
        names = list(problem.inputs)
        if len(grads) != len(names):
            raise ValueError(
                f"the VJP returned {len(grads)} gradient(s) for {len(names)} input(s) "
                f"({', '.join(names)}); return one per input, None where not differentiated"
            )
        return {
            name: None if grad is None else np.asarray(grad, dtype=np.float64)
            for name, grad in zip(names, grads)
        }


BACKEND = NumpyVjp()
