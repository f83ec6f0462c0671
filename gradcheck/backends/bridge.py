"""A framework function as a NumPy function, in float64 on the CPU: what the reference differentiates
when a case has no NumPy forward.

    numpy_function("torch", native, dtypes, ndims)(*arrays) -> the output(s) as NumPy arrays

Floating leaves go in as float64 tensors, integer and boolean leaves as the framework's
integer tensors. The engine stacks perturbed points of one input along a new leading axis
(an array with one more dimension than its leaf); such a call goes through the framework's
vectorisation (torch.func.vmap, tf.vectorized_map, jax.vmap) over that argument only. The
engine's evaluator trusts a batched call only once three points give, batched, what they
give alone, and loops otherwise: a custom autograd.Function without a vmap rule, a random
op under vmap, or a forward that mixes batch entries all raise or differ, and are looped.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np


def numpy_function(framework: str, native: Callable[[Any], Callable], dtypes: Sequence[np.dtype],
                   ndims: Sequence[int]) -> Callable[..., Any]:
    runner = {"torch": _torch_call, "tensorflow": _tensorflow_call, "jax": _jax_call}[framework]
    cached: list[Callable] = []

    def call(*arrays):
        arrays = [np.asarray(a, dtype=dtype) for a, dtype in zip(arrays, dtypes)]
        batched = [i for i, (a, n) in enumerate(zip(arrays, ndims)) if a.ndim == n + 1]
        if len(batched) > 1:
            raise ValueError("only one input may carry a batch axis")
        return runner(native, cached, arrays, batched[0] if batched else None)
    return call


def map_outputs(convert: Callable, output: Any) -> Any:
    """`convert` applied to each array of a tuple, list or dict of outputs (or to the one output)."""
    if isinstance(output, (tuple, list)):
        return type(output)(convert(value) for value in output)
    if isinstance(output, dict):
        return {key: convert(value) for key, value in output.items()}
    return convert(output)


def _forward(native: Callable, cached: list, module: Any) -> Callable:
    """The native forward, built once: its factory may import the user's module."""
    if not cached:
        cached.append(native(module))
    return cached[0]


def _torch_call(native, cached, arrays, batched: int | None):
    import torch

    forward = _forward(native, cached, torch)
    tensors = [torch.as_tensor(a) for a in arrays]
    if batched is not None:
        in_dims = tuple(0 if i == batched else None for i in range(len(tensors)))
        forward = torch.func.vmap(forward, in_dims=in_dims)
    with torch.no_grad():
        output = forward(*tensors)
    # resolve_conj: a lazily conjugated tensor (torch.conj) cannot be read by .numpy() as it is.
    return map_outputs(lambda t: t.detach().resolve_conj().resolve_neg().cpu().numpy(), output)


def _tensorflow_call(native, cached, arrays, batched: int | None):
    from gradcheck.backends.tensorflow_backend import import_tensorflow

    tf = import_tensorflow()
    forward = _forward(native, cached, tf)
    with tf.device("/CPU:0"):
        tensors = [tf.constant(a) for a in arrays]
        if batched is None:
            output = forward(*tensors)
        else:
            def one_point(x):
                return forward(*[x if i == batched else t for i, t in enumerate(tensors)])
            output = tf.vectorized_map(one_point, tensors[batched], fallback_to_while_loop=False)
    return map_outputs(lambda t: np.asarray(t), output)


def _jax_call(native, cached, arrays, batched: int | None):
    import jax

    from gradcheck.backends.jax_backend import x64_enabled

    with x64_enabled(), jax.default_device(jax.devices("cpu")[0]):
        forward = _forward(native, cached, jax)
        if batched is None:
            return map_outputs(lambda t: np.asarray(t), forward(*[jax.numpy.asarray(a) for a in arrays]))
        # Eager JAX compiles every primitive for each new shape it meets, and under vmap every batch size
        # is a new shape: ~0.1 s per primitive, 0.8-1.7 s per call of a small MLP with a custom_vjp, at
        # each of the ever-different batch sizes of a reference (mlp-params-pytree: ~20 s a point). The
        # batch is padded to a power of two (with copies of its first point) and cut back after: a handful
        # of shapes, each compiled once.
        count = len(arrays[batched])
        padded = 1 << max(0, (count - 1).bit_length())
        if padded != count:
            arrays = list(arrays)
            first = arrays[batched][:1]
            arrays[batched] = np.concatenate([arrays[batched], np.repeat(first, padded - count, axis=0)])
        values = [jax.numpy.asarray(a) for a in arrays]
        forward = jax.vmap(forward, in_axes=tuple(0 if i == batched else None for i in range(len(values))))
        return map_outputs(lambda t: np.asarray(t)[:count], forward(*values))


