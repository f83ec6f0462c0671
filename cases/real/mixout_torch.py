"""A mixout-like stochastic regulariser (Lee et al., 2020): each weight is replaced by its
pretrained value with probability p, the result rescaled so its expectation is w.

out = (mask * target + (1 - mask) * w - p * target) / (1 - p), mask ~ Bernoulli(p), so
d out / d w = (1 - mask) / (1 - p). The mask is drawn once in forward and saved: the
backward must use the same mask, which `rng_seed:` lets the reference see too.
"""

import torch


class MixoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, target, p):
        # Drawn in float64 whatever w's dtype: torch.rand draws a different stream per dtype, and a
        # float32 run must see the mask the float64 reference saw.
        mask = (torch.rand(w.shape, dtype=torch.float64, device=w.device) < p).to(w.dtype)
        ctx.save_for_backward(mask)
        ctx.p = p
        return (mask * target + (1 - mask) * w - p * target) / (1 - p)

    @staticmethod
    def backward(ctx, grad_output):
        (mask,) = ctx.saved_tensors
        return grad_output * (1 - mask) / (1 - ctx.p), None, None


def mixout(w, target, p=0.5):
    return MixoutFunction.apply(w, target, p)
