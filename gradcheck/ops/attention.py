"""Scaled dot-product attention, as a registry entry.

    attention(q, k, v) = softmax(q k^T / sqrt(d) + mask) v

q (..., L, d) holds the queries, k (..., S, d) the keys, v (..., S, dv) the values; the batch
axes broadcast. With causal=True, query i attends to keys j <= i only (mask -inf above the
diagonal of the L x S score matrix, aligned top-left, as torch's is_causal).
"""

import numpy as np

from gradcheck.ops.arrays import as_float, finish_grad
from gradcheck.ops.reductions import softmax, softmax_vjp
from gradcheck.ops.registry import Op, register


def _causal(value, key):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"param {key!r}: expected true or false, got {value!r}")  # noqa: TRY004
    return bool(value)


def causal_mask(length: int, source: int) -> np.ndarray:
    """(L, S) booleans: True where query i may attend to key j, i.e. j <= i."""
    return np.tril(np.ones((length, source), dtype=bool))


def _checked(q, k, v):
    q, k, v = as_float(q), as_float(k), as_float(v)
    if min(q.ndim, k.ndim, v.ndim) < 2:
        raise ValueError(f"attention: q, k, v must be (..., L, d), (..., S, d), (..., S, dv), got shapes "
                         f"{q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"attention: q {q.shape} and k {k.shape} must share d, k and v {v.shape} must "
                         f"share S")
    return q, k, v


def _masked_scores(q, k, causal):
    """q k^T / sqrt(d), with -inf where causal attention forbids a key (softmax gives it weight 0)."""
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) / np.sqrt(q.shape[-1])
    if causal:
        scores = np.where(causal_mask(*scores.shape[-2:]), scores, -np.inf)
    return scores


def attention(q, k, v, causal=False):
    q, k, v = _checked(q, k, v)
    weights = softmax(_masked_scores(q, k, causal), axis=-1)
    return np.asarray(np.matmul(weights, v), dtype=np.result_type(q.dtype, k.dtype, v.dtype))


def attention_vjp(q, k, v, cotangent, causal=False):
    # out = P v with P = softmax(S), S = q k^T / sqrt(d) (+ mask, a constant). Backwards:
    #   dv = P^T dout,  dP = dout v^T                      (the matmul rule),
    #   dS = P * (dP - rowsum(dP * P))                     (softmax's Jacobian, row by row;
    #                                                       masked entries have P = 0, so dS = 0),
    #   dq = dS k / sqrt(d),  dk = dS^T q / sqrt(d)        (the matmul rule again).
    q, k, v = _checked(q, k, v)
    scores = _masked_scores(q, k, causal)
    weights = softmax(scores, axis=-1)
    dout = np.asarray(cotangent)
    dv = np.matmul(np.swapaxes(weights, -1, -2), dout)
    (dscores,) = softmax_vjp(scores, np.matmul(dout, np.swapaxes(v, -1, -2)), axis=-1)
    dscores = dscores / np.sqrt(q.shape[-1])
    dq = np.matmul(dscores, k)
    dk = np.matmul(np.swapaxes(dscores, -1, -2), q)
    return finish_grad(dq, q), finish_grad(dk, k), finish_grad(dv, v)


# ---------------------------------------------------------------------------
# framework lowerings: the same composition in each framework's own ops. torch's fused
# scaled_dot_product_attention is not used: on 4-D CPU inputs it dispatches to
# _scaled_dot_product_flash_attention_for_cpu, which has no forward-mode rule (torch 2.13), so
# torch-jvp could not run. tests/ops/test_attention.py checks the forward against it instead.
# ---------------------------------------------------------------------------

def _torch_attention(torch, q, k, v, causal=False):
    scores = torch.matmul(q, k.transpose(-1, -2)) / q.shape[-1] ** 0.5
    if causal:
        allowed = torch.from_numpy(causal_mask(*scores.shape[-2:]))
        scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def _tensorflow_attention(tf, q, k, v, causal=False):
    scores = tf.matmul(q, k, transpose_b=True) / q.shape[-1] ** 0.5
    if causal:
        scores = tf.where(causal_mask(*scores.shape[-2:]), scores, tf.constant(-np.inf, scores.dtype))
    return tf.matmul(tf.nn.softmax(scores, axis=-1), v)


def _jax_attention(jax, q, k, v, causal=False):
    jnp = jax.numpy
    scores = jnp.matmul(q, jnp.swapaxes(k, -1, -2)) / q.shape[-1] ** 0.5
    if causal:
        scores = jnp.where(causal_mask(*scores.shape[-2:]), scores, -jnp.inf)
    return jnp.matmul(jax.nn.softmax(scores, axis=-1), v)


ATTENTION = register(Op(
    "attention", ("q", "k", "v"), attention, attention_vjp, {"causal": False},
    "attention softmax(q k^T / sqrt(d) + causal mask) v",
    validators={"causal": _causal},
    torch=_torch_attention, tensorflow=_tensorflow_attention, jax=_jax_attention))
