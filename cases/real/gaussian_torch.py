"""The negative log-likelihood of x under N(0, C), as a torch.autograd.Function of an SPD C.

nll = (x^T C^-1 x + log det C + n log 2 pi) / 2;  with a = C^-1 x:
d nll / dx = a,  d nll / dC = (C^-1 - a a^T) / 2  (C symmetric, so no transpose is needed).
"""

import math

import torch


class GaussianNLL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, cov):
        a = torch.linalg.solve(cov, x)
        _, logdet = torch.linalg.slogdet(cov)
        ctx.save_for_backward(a, cov)
        return (x @ a + logdet + len(x) * math.log(2 * math.pi)) / 2

    @staticmethod
    def backward(ctx, grad_output):
        a, cov = ctx.saved_tensors
        grad_cov = (torch.linalg.inv(cov) - torch.outer(a, a)) / 2
        return grad_output * a, grad_output * grad_cov


def gaussian_nll(x, cov):
    return GaussianNLL.apply(x, cov)
