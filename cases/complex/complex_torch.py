"""The complex functions in PyTorch, z*z as a torch.autograd.Function with a hand-written backward.

torch's backward of a complex function takes grad = dz and returns conj(f'(z)) * grad (the
conjugate Wirtinger derivative, torch's "Autograd for Complex Numbers"): gradcheck's convention.
"""

import torch


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return z * z

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        return grad * torch.conj(2 * z)


def abs2(z):
    return (z * torch.conj(z)).real


def z_conj_w(z, w):
    return z * torch.conj(w)
