"""JAX custom_vjp examples from the JAX documentation ("Custom derivative rules").

clip_gradient(lo, hi, x) is the identity whose backward clips the cotangent to [lo, hi]:
it equals the true gradient only while the cotangent stays inside the bounds.
softplus uses the stable form log1p(exp(-|x|)) + max(x, 0); its derivative is sigmoid(x).
"""

from functools import partial

import jax
import jax.numpy as jnp


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def clip_gradient(lo, hi, x):
    return x


def _clip_fwd(lo, hi, x):
    return x, None


def _clip_bwd(lo, hi, _, g):
    return (jnp.clip(g, lo, hi),)


clip_gradient.defvjp(_clip_fwd, _clip_bwd)


@jax.custom_vjp
def softplus(x):
    return jnp.log1p(jnp.exp(-jnp.abs(x))) + jnp.maximum(x, 0.0)


def _softplus_fwd(x):
    return softplus(x), x


def _softplus_bwd(x, g):
    return (g * jax.nn.sigmoid(x),)


softplus.defvjp(_softplus_fwd, _softplus_bwd)


def mlp(params, x):
    """A two-layer perceptron over a nested params dict, with the custom softplus between."""
    hidden = softplus(x @ params["dense"]["kernel"] + params["dense"]["bias"])
    return jnp.sum(jnp.tanh(hidden @ params["out"]["kernel"]))
