"""A Keras layer with a hand-written gradient inside: Dense followed by swish, whose
derivative sigmoid(x) (1 + x (1 - sigmoid(x))) is given by tf.custom_gradient."""

import keras
import tensorflow as tf


@tf.custom_gradient
def swish(x):
    s = tf.sigmoid(x)

    def grad(upstream):
        return upstream * s * (1 + x * (1 - s))

    return x * s, grad


class SwishDense(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform",
                                      name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="random_normal", name="bias")

    def call(self, x):
        return swish(x @ self.kernel + self.bias)
