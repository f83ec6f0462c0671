"""Two outputs: x / ||x|| and ||x||, one torch.autograd.Function whose backward takes both cotangents.

With n = ||x|| and u = x / n:  d<gu, u>/dx = (gu - u <u, gu>) / n  and  d(gn n)/dx = gn u.
A boolean third output (which elements are positive) has no derivative and is passed over.
"""

import torch


class Normalize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        norm = torch.linalg.vector_norm(x)
        unit = x / norm
        positive = x > 0
        ctx.save_for_backward(unit, norm)
        ctx.mark_non_differentiable(positive)
        return unit, norm, positive

    @staticmethod
    def backward(ctx, grad_unit, grad_norm, _grad_positive):
        unit, norm = ctx.saved_tensors
        return (grad_unit - unit * torch.dot(unit, grad_unit)) / norm + grad_norm * unit
