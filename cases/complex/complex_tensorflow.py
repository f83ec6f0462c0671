"""The complex functions in TensorFlow, z*z with a @tf.custom_gradient.

TensorFlow's gradient functions take the upstream dz and return conj(f'(z)) * dz for a
holomorphic f (as tf.exp's own registered gradient does): gradcheck's convention, as torch's.
"""

import tensorflow as tf


@tf.custom_gradient
def square(z):
    def grad(upstream):
        return upstream * tf.math.conj(2 * z)

    return z * z, grad


def abs2(z):
    return tf.math.real(z * tf.math.conj(z))


def z_conj_w(z, w):
    return z * tf.math.conj(w)
