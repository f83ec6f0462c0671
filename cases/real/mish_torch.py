"""Mish, x * tanh(softplus(x)), as the memory-efficient torch.autograd.Function of timm
(it saves only x and recomputes in backward), inside a small torch.nn.Module.

d/dx [x tanh(sp(x))] = tanh(sp(x)) + x * sigmoid(x) * (1 - tanh(sp(x))^2).
"""

import torch
import torch.nn.functional as F


class MishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.tanh(F.softplus(x))

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        tanh_sp = torch.tanh(F.softplus(x))
        return grad_output * (tanh_sp + x * torch.sigmoid(x) * (1 - tanh_sp * tanh_sp))


class MishLinear(torch.nn.Module):
    """Linear, then Mish: the parameters `weight` and `bias` are checked with the input."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = torch.nn.Linear(in_features, out_features)

    def forward(self, x):
        return MishFunction.apply(self.linear(x))
