"""The `vjp` method: a hand-written NumPy VJP (a built-in op's, an expr's, or the case's `vjp:`).

A complex input's gradient is complex, in gradcheck's convention (d phi/d Re z + i d phi/d Im z);
a real input's must be real: a complex one is refused, never cast to real."""

from __future__ import annotations

import numpy as np

from gradcheck.backends import BackendSkip, Task
from gradcheck.dtypes import as_float64, complex_dtype, numpy_dtype, real_dtype, refuse_complex


class NumpyVjp:
    name = "vjp"
    framework = None
    extra = None

    def available(self) -> bool:
        return True

    def gradients(self, task: Task) -> dict:
        """Call the VJP in the case dtype: float32 cases check float32 code paths."""
        if task.numpy_vjp is None:
            raise ValueError("this case has no hand-written VJP (add 'vjp: module:function')")
        dtype = numpy_dtype(task.dtype)
        inputs = [value.astype(dtype) for value in task.inputs]
        # A real output's cotangent stays real in a complex case (|z|^2), a complex one complex.
        part = real_dtype(task.dtype)
        cotangent = task.cotangent.astype(numpy_dtype(complex_dtype(part) if task.complex_output else part))
        with np.errstate(all="ignore"):
            grads = task.numpy_vjp(*inputs, cotangent)
        if not isinstance(grads, (tuple, list)):
            grads = (grads,)  # a single-input VJP may return its gradient bare
        if len(grads) != len(task.names):
            raise ValueError(
                f"the VJP returned {len(grads)} gradient(s) for {len(task.names)} input(s) "
                f"({', '.join(task.names)}); return one per input, None where not differentiated"
            )
        for name, value, grad in zip(task.names, task.inputs, grads):
            if not np.iscomplexobj(value):
                refuse_complex(grad, f"the VJP's gradient for {name}", "its input is real")
        return {name: None if grad is None else as_float64(grad) for name, grad in zip(task.names, grads)}

    def second_order(self, task: Task, tangents: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The case's `hvp(*inputs, cotangent, v)`, v one tangent per input (zeros where one does not move),
        returning one array per input: the derivative of x -> <v, VJP(x, dz)>."""
        if task.numpy_hvp is None:
            raise BackendSkip("a hand-written VJP has a second order only with 'hvp: module:function'")
        dtype = numpy_dtype(task.dtype)
        inputs = [value.astype(dtype) for value in task.inputs]
        v = tuple(tangents[name].astype(dtype) if name in tangents else np.zeros(value.shape, dtype)
                  for name, value in zip(task.names, inputs))
        with np.errstate(all="ignore"):
            result = task.numpy_hvp(*inputs, task.cotangent.astype(dtype), v)
        if not isinstance(result, (tuple, list)):
            result = (result,)
        if len(result) != len(task.names):
            raise ValueError(f"the hvp returned {len(result)} array(s) for {len(task.names)} input(s) "
                             f"({', '.join(task.names)}); return one per input")
        return {name: None if value is None else np.asarray(value, dtype=np.float64)
                for name, value in zip(task.names, result) if name in task.wrt}


BACKEND = NumpyVjp()
