"""The reference's forward of a JAX function (backends/bridge.py) over batches of points: eager JAX
compiles every primitive for each new shape, so a batch is padded to a power of two (mlp-params-pytree
in cases/real/real.yaml: ~0.8-1.7 s of compiles at every new batch size, ~7 s a point of explore)."""

import numpy as np
import pytest

from gradcheck.backends.bridge import numpy_function


def _mlp_forward():
    def native(jax):
        jnp = jax.numpy

        def forward(kernel, x):
            return jnp.sum(jnp.tanh(jnp.log1p(jnp.exp(x @ kernel))), axis=-1)
        return forward
    return numpy_function("jax", native, [np.dtype("float64")] * 2, [2, 2])


def test_a_batch_is_what_its_points_give_alone_whatever_its_size():
    pytest.importorskip("jax")
    forward = _mlp_forward()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3))
    for size in (2, 3, 5, 8):
        kernels = rng.normal(size=(size, 3, 4))
        batch = forward(kernels, x)
        assert batch.shape == (size, 5)  # the padding is cut off
        alone = np.stack([forward(k, x) for k in kernels])
        np.testing.assert_allclose(batch, alone, rtol=4 * np.finfo(float).eps)


def test_batch_sizes_up_to_a_power_of_two_share_their_compiles():
    pytest.importorskip("jax")
    from jax import monitoring

    compiles = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)
    monitoring.register_event_duration_secs_listener(listener)
    try:
        forward = _mlp_forward()
        rng = np.random.default_rng(1)
        x = rng.normal(size=(5, 7))  # shapes no other test meets
        forward(rng.normal(size=(9, 7, 4)), x)  # 9 -> 16: compiles each primitive once
        first = len(compiles)
        assert first > 0
        for size in (10, 11, 13, 15, 16):  # all padded to 16: nothing more to compile
            forward(rng.normal(size=(size, 7, 4)), x)
        assert len(compiles) == first
    finally:
        monitoring.unregister_event_duration_listener(listener)
