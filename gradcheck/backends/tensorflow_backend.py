"""The `tensorflow` and `tensorflow-jvp` methods: GradientTape and ForwardAccumulator.

    reverse:  tape.gradient(f(x), x, output_gradients=dz)
    forward:  with tf.autodiff.ForwardAccumulator(x, u) as acc: acc.jvp(f(x))
              (small inputs: the same transposition of the gradient ForwardAccumulator does op by op,
              done eagerly over the whole forward; see _transposed_gradient)

Importing TensorFlow prints start-up noise (oneDNN notices, CPU-feature
lines from the C++ logger, absl warnings) that is not ours to show, so the
import goes through `import_tensorflow`, which quiets it; the user's own
settings of TF_CPP_MIN_LOG_LEVEL / TF_ENABLE_ONEDNN_OPTS win. It also skips
the eager import of Keras that `import tensorflow` attempts (about 2 CPU
seconds, matplotlib.pyplot included) when Keras is not imported yet:
`tf.keras` and `import keras` still load it when a forward uses it.

Complex values need no conversion: tape.gradient(f, z, output_gradients=dz) returns
d phi/d Re z + i d phi/d Im z for phi = Re sum conj(dz) f(z) (TensorFlow's gradients are
the conjugates of JAX's, as torch's are), checked against closed forms in
tests/backends/test_complex_backends.py. tf.cast of a complex tensor to a real dtype drops its
imaginary part silently, so complex results are cast to complex128.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys
import tempfile
import warnings

import numpy as np

from gradcheck.backends import BackendSkip, Task
from gradcheck.backends.framework import (
    ForwardMode,
    ReverseMode,
    check_output,
    is_floating,
)

FRAMEWORK = "tensorflow"


@contextlib.contextmanager
def _c_stderr_discarded():
    """Point file descriptor 2 at a scratch file: the C++ logger writes there, not to sys.stderr.

    The scratch file is dropped afterwards; an import that fails raises, and
    its Python exception carries the message that matters.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (an embedded interpreter): nothing to redirect
        yield
        return
    with tempfile.TemporaryFile() as scratch:
        os.dup2(scratch.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def quiet_environment() -> None:
    """Ask TensorFlow's C++ logger for fatal errors only and for no oneDNN notice, unless the user said
    otherwise. Read when TensorFlow is imported: call it before any user module may import TensorFlow."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ logs (cuInit, CPU features): fatal only
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # no "oneDNN custom operations are on" notice


class _KerasNotLoaded(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """While `import tensorflow` runs: `keras` is found where it is installed (TensorFlow puts that folder
    on tensorflow.__path__, for `from tensorflow.keras import ...`), but importing it raises ImportError.

    TensorFlow's __init__ ends with `import keras.src.optimizers` inside `except ImportError: pass`, a
    registration for SavedModel loading that Keras makes anyway whenever it is imported; `tf.keras` is a
    lazy loader. So that import costs about 2 CPU seconds of every run (Keras imports matplotlib.pyplot)
    and gives gradcheck nothing: it is left to the first use of Keras, if any.
    """

    def __init__(self):
        self.spec = None

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)  # the real spec, found by the finders after this one
        try:
            spec = importlib.util.find_spec("keras")
        finally:
            sys.meta_path.insert(0, self)
        if spec is None:
            return None
        spec.loader = self  # its origin stays the real one: TensorFlow reads the folder from it
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise ImportError("keras is not imported while tensorflow is (gradcheck: start-up time)")


@contextlib.contextmanager
def _keras_deferred():
    """Inside: `import keras` fails cheaply, unless Keras is imported already (then nothing changes)."""
    if "keras" in sys.modules:
        yield
        return
    finder = _KerasNotLoaded()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        if sys.modules.get("keras") is None:  # a failed import leaves nothing behind; be sure of it
            sys.modules.pop("keras", None)


def import_tensorflow():
    """`import tensorflow`, without its start-up noise reaching the terminal and without Keras."""
    if sys.modules.get("tensorflow") is not None:  # imported already, by us or by the user
        return sys.modules["tensorflow"]
    quiet_environment()
    with warnings.catch_warnings(), _c_stderr_discarded(), _keras_deferred():
        warnings.simplefilter("ignore")
        import tensorflow as tf
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # absl ships with TensorFlow; be safe anyway
        pass
    tf.get_logger().setLevel("ERROR")
    return tf


def _device(tf, name: str) -> str:
    if name == "cuda":
        if not tf.config.list_physical_devices("GPU"):
            raise BackendSkip("no GPU visible to tensorflow (tf.config.list_physical_devices('GPU') is empty)")
        return "/GPU:0"
    return "/CPU:0"


def _dtype(tf, name: str):
    return {"float64": tf.float64, "float32": tf.float32, "float16": tf.float16, "bfloat16": tf.bfloat16,
            "complex64": tf.complex64, "complex128": tf.complex128}[name]


def _tensor(tf, value: np.ndarray, dtype):
    return tf.cast(tf.constant(value), dtype) if is_floating(value) else tf.constant(value)


def _to_numpy(tf, tensor) -> np.ndarray:
    return tf.cast(tensor, tf.complex128 if tensor.dtype.is_complex else tf.float64).numpy()


# Elements, all inputs together, up to which forward mode runs eagerly by transposing the gradient
# (_transposed_gradient) rather than through ForwardAccumulator.
SMALL_INPUTS = 4096


def _transposed_gradient(tf, forward, tensors, index: int, along):
    """(f(x), J u) by two eager GradientTapes: the gradient g(v) = J^T v is linear in v, and the gradient
    of <u, g(v)> with respect to v is J u (for complex values in TensorFlow's own convention too).

    This is how ForwardAccumulator computes each op's JVP (forwardprop._jvp_helper: the op's gradient
    function, transposed by a second tape), here done once over the whole forward. ForwardAccumulator
    runs that helper as a tf.function traced per op and per exact input shape, some 10 to 100 ms of
    graph building for every op at every new shape: nearly all of a small row's cost. Eager, the same
    gradient functions cost about a millisecond; the values agree to the last bits (products taken in
    another order). Large inputs keep ForwardAccumulator, whose traces are then a small part of a row.

    Not where a value is not finite: transposed over the whole forward, a zero cotangent meets the
    NaN or inf of a branch the forward discarded (tf.where's safe-gradient idiom, as in norm's lowering
    at a zero slice: 0 * NaN), where op by op the tangent is discarded with the branch. So a result with
    a value that is not finite is computed again by ForwardAccumulator, whose answer stands.
    """
    x = tensors[index]
    with tf.GradientTape(watch_accessed_variables=False) as outer:
        with tf.GradientTape(watch_accessed_variables=False) as inner:
            inner.watch(x)
            output = forward(*tensors)
        if getattr(output, "shape", None) is None:  # check_output says what is wrong with it
            return output, None
        aid = tf.ones_like(output)  # any value, g being linear in v: ones, as ForwardAccumulator's helper
        outer.watch(aid)
        gradient = inner.gradient(output, x, output_gradients=aid)
    if gradient is None:  # an output that does not depend on the input: J u = 0, as torch and JAX say
        return output, tf.zeros_like(output)
    derivative = outer.gradient(gradient, aid, output_gradients=along,
                                unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return output, derivative


class TensorflowAdapter:
    framework = FRAMEWORK

    def _setup(self, task: Task):
        tf = import_tensorflow()  # before the user's module, which may import tensorflow itself
        device, dtype = _device(tf, task.device), _dtype(tf, task.dtype)
        forward = task.native(tf)
        return tf, device, dtype, forward

    def vjp(self, task: Task) -> dict[str, np.ndarray | None]:
        tf, device, dtype, forward = self._setup(task)
        with tf.device(device):
            # Exact casts: the inputs were rounded through the case dtype already.
            tensors = [_tensor(tf, value, dtype) for value in task.inputs]
            wrt = [tensors[task.names.index(name)] for name in task.wrt]
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                for tensor in wrt:
                    tape.watch(tensor)
                output = forward(*tensors)
            check_output(output, task, FRAMEWORK)
            cotangent = tf.cast(tf.constant(task.cotangent), output.dtype)
            # An input the graph never reached comes back None, which the runner reports.
            grads = tape.gradient(output, wrt, output_gradients=cotangent)
        return {name: None if grad is None else _to_numpy(tf, grad) for name, grad in zip(task.wrt, grads)}

    def jvp(self, task: Task, index: int, tangent: np.ndarray) -> np.ndarray:
        tf, device, dtype, forward = self._setup(task)
        with tf.device(device):
            tensors = [_tensor(tf, value, dtype) for value in task.inputs]
            along = tf.cast(tf.constant(tangent), dtype)
            if task.input_elements <= SMALL_INPUTS:
                try:
                    output, derivative = _transposed_gradient(tf, forward, tensors, index, along)
                    check_output(output, task, FRAMEWORK)
                    result = _to_numpy(tf, derivative)
                except Exception:  # noqa: BLE001 - user code: ForwardAccumulator decides, and says what is wrong
                    result = None
                if result is not None and np.all(np.isfinite(result)):  # else see _transposed_gradient
                    return result
            with tf.autodiff.ForwardAccumulator(primals=tensors[index], tangents=along) as accumulator:
                output = forward(*tensors)
            check_output(output, task, FRAMEWORK)
            # An output that does not depend on the input has J u = 0, as torch and JAX say.
            derivative = accumulator.jvp(output, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return _to_numpy(tf, derivative)

    def hvp(self, task: Task, tangents: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """∇_x <V, J^T dz> with nested tapes: the inner tape's gradient, differentiated by the outer one.

        An inner gradient that is None, or an outer one unconnected to an input (tf.stop_gradient
        in a custom gradient), is a second derivative of zero.
        """
        tf, device, dtype, forward = self._setup(task)
        with tf.device(device):
            tensors = [_tensor(tf, value, dtype) for value in task.inputs]
            wrt = [tensors[task.names.index(name)] for name in task.wrt]
            with tf.GradientTape(watch_accessed_variables=False) as outer:
                outer.watch(wrt)
                with tf.GradientTape(watch_accessed_variables=False) as inner:
                    inner.watch(wrt)
                    output = forward(*tensors)
                check_output(output, task, FRAMEWORK)
                grads = inner.gradient(output, wrt, output_gradients=tf.cast(tf.constant(task.cotangent), output.dtype))
                terms = [tf.reduce_sum(grad * tf.cast(tf.constant(tangents[name]), grad.dtype))
                         for name, grad in zip(task.wrt, grads) if grad is not None]
                along = tf.add_n(terms) if terms else tf.constant(0.0, dtype)
            second = outer.gradient(along, wrt, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return {name: _to_numpy(tf, grad) for name, grad in zip(task.wrt, second)}


BACKEND = ReverseMode("tensorflow", TensorflowAdapter())
JVP_BACKEND = ForwardMode("tensorflow-jvp", TensorflowAdapter())
