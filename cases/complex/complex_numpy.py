"""Complex functions in NumPy with hand-written VJPs, in gradcheck's convention.

For phi = Re sum conj(dz) f(z), the gradient is g = d phi/d Re z + i d phi/d Im z. Where f is
holomorphic in z (z*z, exp z), d phi = Re sum conj(dz) f'(z) dw = Re sum conj(conj(f'(z)) dz) dw,
so g = conj(f'(z)) dz: the conjugate of the derivative, not the derivative itself.
"""

import numpy as np


def square(z):
    return z * z


def square_vjp(z, cotangent):
    # f' = 2z, so g = conj(2z) dz.
    return (np.conj(2 * z) * cotangent,)


def abs2(z):
    # |z|^2 = a^2 + b^2, a real output of a complex input (a loss, a power).
    return (z * np.conj(z)).real


def abs2_vjp(z, cotangent):
    # d/da = 2a, d/db = 2b: g = dz (2a + 2ib) = 2 z dz (dz real).
    return (2 * z * cotangent,)


def exp(z):
    return np.exp(z)


def exp_vjp(z, cotangent):
    return (np.conj(np.exp(z)) * cotangent,)


def z_conj_w(z, w):
    return z * np.conj(w)


def z_conj_w_vjp(z, w, cotangent):
    # Holomorphic in z with derivative conj(w): g_z = conj(conj(w)) dz = w dz.
    # In w, phi = Re sum conj(dz) z conj(w) = Re sum conj(conj(dz) z) w: g_w = conj(dz) z.
    return cotangent * w, np.conj(cotangent) * z
