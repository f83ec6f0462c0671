"""The tf.custom_gradient example from the TensorFlow documentation: log(1 + e^x), whose
autodiff gradient e^x / (1 + e^x) overflows to NaN at x = 100; the hand-written one,
1 - 1/(1 + e^x), does not."""

import tensorflow as tf


@tf.custom_gradient
def log1pexp(x):
    e = tf.exp(x)

    def grad(upstream):
        return upstream * (1 - 1 / (1 + e))

    return tf.math.log(1 + e), grad
