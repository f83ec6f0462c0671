"""The complex functions in JAX, z*z as a jax.custom_vjp.

JAX pairs cotangents with tangents without a conjugate: a custom_vjp's bwd returns ct * f'(z)
(no conj), and gradcheck converts (g = conj(vjp(conj(dz)))) when it compares.
"""

import jax
import jax.numpy as jnp


@jax.custom_vjp
def square(z):
    return z * z


def _square_fwd(z):
    return square(z), z


def _square_bwd(z, cotangent):
    return (cotangent * 2 * z,)


square.defvjp(_square_fwd, _square_bwd)


def abs2(z):
    return jnp.real(z * jnp.conj(z))


def z_conj_w(z, w):
    return z * jnp.conj(w)


@jax.custom_vjp
def z_conj_w_custom(z, w):
    return z * jnp.conj(w)


def _z_conj_w_fwd(z, w):
    return z_conj_w_custom(z, w), (z, w)


def _z_conj_w_bwd(residuals, cotangent):
    # JAX's vjp(ct) is the v with Re sum v du = Re sum ct df. f = z conj(w):
    #   along dz, df = conj(w) dz: v_z = ct conj(w);
    #   along dw, df = z conj(dw), Re(ct z conj(dw)) = Re(conj(ct z) dw): v_w = conj(ct z).
    z, w = residuals
    return cotangent * jnp.conj(w), jnp.conj(cotangent * z)


z_conj_w_custom.defvjp(_z_conj_w_fwd, _z_conj_w_bwd)
