"""The `torch` and `torch-jvp` methods: PyTorch autograd, reverse and forward mode.

    reverse:  torch.autograd.grad(f(x), x, grad_outputs=dz)     (what x.grad holds after z.backward(dz);
              computed as the gradient of Re sum(conj(dz) f(x)), the same seed: see _paired)
    forward:  f(make_dual(x, u)), its tangent     (torch.autograd.forward_ad; torch.func.jvp is built on it)

Complex values need no conversion: for a real L = Re sum conj(dz) f(z), torch's backward
seeded with grad_outputs=dz gives the conjugate Wirtinger derivative 2 dL/d conj(z) =
dL/d Re z + i dL/d Im z (torch's "Autograd for Complex Numbers"), which is gradcheck's
convention as it stands; its forward mode is the derivative of f(z + t u) in real t.

torch is imported on first use, never when this module is imported.
"""

from __future__ import annotations

import numpy as np

from gradcheck.backends import BackendSkip, Task
from gradcheck.backends.framework import (
    ForwardMode,
    ReverseMode,
    check_output,
    is_floating,
)

FRAMEWORK = "torch"


def _torch():
    import torch

    return torch


def _device(torch, name: str):
    if name == "cuda" and not torch.cuda.is_available():
        raise BackendSkip("no CUDA device for torch (torch.cuda.is_available() is False)")
    return torch.device(name)


def _dtype(torch, name: str):
    return {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
            "bfloat16": torch.bfloat16, "complex64": torch.complex64, "complex128": torch.complex128}[name]


def _to_numpy(tensor) -> np.ndarray:
    torch = _torch()
    # resolve_conj: torch.conj is lazy (a conjugate bit), which .numpy() refuses to read.
    tensor = tensor.detach().resolve_conj().resolve_neg()
    return tensor.to("cpu", dtype=torch.complex128 if tensor.is_complex() else torch.float64).numpy()


def _refuses_second_pass(grads, limit: int = 100_000) -> bool:
    """Whether the graph of the first-order gradients holds the Error node that @once_differentiable
    puts there (torch raises only when a backward pass reaches it, which a pass over the inputs alone
    may not: the node hangs off the cotangent)."""
    seen, stack = set(), [g.grad_fn for g in grads if g is not None and g.grad_fn is not None]
    while stack and len(seen) < limit:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if node.name() == "torch::autograd::Error":
            return True
        stack.extend(function for function, _ in node.next_functions)
    return False


def _paired(torch, output, cotangent):
    """Re sum(conj(dz) f): differentiated, it seeds the backward with exactly what grad_outputs=dz would
    (one times dz, the real part's and the sum's backward giving ones), so the gradients are the same bits.

    torch.autograd.grad(f, x, grad_outputs=dz) checks dz's shape with torch.fx's symbolic shapes, whose
    first use imports sympy: about a CPU second of every run that checks torch gradients. A scalar output
    needs no grad_outputs, and no such check."""
    if output.is_complex():
        return torch.real(torch.sum(output * cotangent.conj()))
    return torch.sum(output * cotangent)


class TorchAdapter:
    framework = FRAMEWORK

    def _setup(self, task: Task):
        """torch, the native forward, and the inputs as tensors in the case dtype on the device.

        The inputs were rounded through the case dtype already, so the cast is exact.
        """
        torch = _torch()
        device, dtype = _device(torch, task.device), _dtype(torch, task.dtype)
        forward = task.native(torch)
        tensors = [torch.as_tensor(value).to(device=device, dtype=dtype if is_floating(value) else None)
                   for value in task.inputs]
        return torch, forward, tensors

    def vjp(self, task: Task) -> dict[str, np.ndarray | None]:
        torch, forward, tensors = self._setup(task)
        wrt = [tensors[task.names.index(name)].requires_grad_(True) for name in task.wrt]
        output = forward(*tensors)
        check_output(output, task, FRAMEWORK)
        if not output.requires_grad:
            raise ValueError("the torch forward's output does not require grad: it is detached from the inputs")
        cotangent = torch.as_tensor(task.cotangent).to(device=output.device, dtype=output.dtype)
        # allow_unused: an input the graph never reached comes back None, which the runner reports.
        grads = torch.autograd.grad(_paired(torch, output, cotangent), wrt, allow_unused=True)
        return {name: None if grad is None else _to_numpy(grad) for name, grad in zip(task.wrt, grads)}

    def jvp(self, task: Task, index: int, tangent: np.ndarray) -> np.ndarray:
        """J u by torch's forward-mode AD itself (torch.autograd.forward_ad, the dual tensors that
        torch.func.jvp is built on): the input made dual with tangent u, the forward run once, the
        output's tangent read back. torch.func.jvp costs about 15 ms more a call on small inputs (its
        functional wrapping, Python decompositions of layer_norm and batch_norm) and its first call
        imports torch's decomposition tables (half a CPU second). An output that does not depend on
        the input has no tangent: J u = 0, as torch.func.jvp says."""
        from torch.autograd import forward_ad

        torch, forward, tensors = self._setup(task)
        along = torch.as_tensor(tangent).to(device=tensors[index].device, dtype=tensors[index].dtype)
        with forward_ad.dual_level():
            args = list(tensors)
            args[index] = forward_ad.make_dual(tensors[index], along)
            output = forward(*args)
            check_output(output, task, FRAMEWORK)
            derivative = forward_ad.unpack_dual(output).tangent
            if derivative is None:
                derivative = torch.zeros_like(output)
            return _to_numpy(derivative)

    def hvp(self, task: Task, tangents: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """∇_x <V, J^T dz>: the backward differentiated once more (create_graph=True, then grad again).

        A first-order gradient that does not require grad (a backward built from detached
        tensors) is disconnected from the inputs: its second derivative is zero, as is that of an
        input the second pass does not reach (allow_unused). A Function marked once_differentiable
        refuses the second pass: a skip, not an error.
        """
        torch, forward, tensors = self._setup(task)
        wrt = [tensors[task.names.index(name)].requires_grad_(True) for name in task.wrt]
        output = forward(*tensors)
        check_output(output, task, FRAMEWORK)
        # A cotangent that requires grad, as gradgradcheck's does: a once_differentiable backward then
        # leaves its mark in the graph (an Error node) instead of a result that does not require grad.
        cotangent = torch.as_tensor(task.cotangent).to(device=output.device, dtype=output.dtype).requires_grad_(True)
        grads = torch.autograd.grad(output, wrt, grad_outputs=cotangent, create_graph=True, allow_unused=True)
        if _refuses_second_pass(grads):
            raise BackendSkip("its backward is marked @once_differentiable: torch refuses to differentiate "
                              "it again, so it has no second order to check")
        terms = [(grad * torch.as_tensor(tangents[name]).to(grad)).sum()
                 for name, grad in zip(task.wrt, grads) if grad is not None and grad.requires_grad]
        zeros = {name: np.zeros(np.shape(tangents[name])) for name in task.wrt}
        if not terms:
            return zeros
        second = torch.autograd.grad(sum(terms), wrt, allow_unused=True)
        return {name: zeros[name] if grad is None else _to_numpy(grad) for name, grad in zip(task.wrt, second)}


BACKEND = ReverseMode("torch", TorchAdapter())
JVP_BACKEND = ForwardMode("torch-jvp", TorchAdapter())
