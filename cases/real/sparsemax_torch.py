"""Sparsemax (Martins & Astudillo, 2016) as a torch.autograd.Function, as the entmax package writes it.

sparsemax(z) = argmin_p ||p - z||^2 over the simplex = max(z - tau, 0), with tau chosen so the
output sums to 1. On the support S (outputs > 0) the Jacobian is I - 1 1^T / |S|, so the VJP
is  g_i - mean_{j in S}(g_j)  on S and 0 off it.
"""

import torch


def _threshold(z, dim):
    sorted_z, _ = torch.sort(z, dim=dim, descending=True)
    cumsum = sorted_z.cumsum(dim) - 1
    k = torch.arange(1, z.size(dim) + 1, dtype=z.dtype, device=z.device)
    shape = [1] * z.dim()
    shape[dim] = -1
    k = k.view(shape)
    support = (k * sorted_z > cumsum).sum(dim=dim, keepdim=True)
    tau = cumsum.gather(dim, support - 1) / support.to(z.dtype)
    return tau


class SparsemaxFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X, dim=-1):
        dim = dim % X.dim()
        output = torch.clamp(X - _threshold(X, dim), min=0)
        ctx.dim = dim
        ctx.save_for_backward(output)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        (output,) = ctx.saved_tensors
        support = output > 0
        grad = grad_output.masked_fill(~support, 0)
        mean = grad.sum(dim=ctx.dim, keepdim=True) / support.sum(dim=ctx.dim, keepdim=True).to(grad.dtype)
        return torch.where(support, grad - mean, torch.zeros_like(grad)), None


def sparsemax(X, dim=-1):
    return SparsemaxFunction.apply(X, dim)
