"""The jax backend keeps one jitted program per op, params and shapes (issue 14: small rows cheap).

A Python side effect in the forward runs once per trace under jit and on every call without it,
so a counter in the forward counts traces.
"""

import itertools
from pathlib import Path

import numpy as np
import pytest

from gradcheck import backends
from gradcheck.backends import Task
from gradcheck.cases import parse_cases
from gradcheck.cases.problem import materialize

REPO = Path(__file__).resolve().parents[2]
_keys = itertools.count()


def cube_task(x, calls: list, *, key=None, traceable=True, scale=1.0, cotangent=None):
    """A task whose forward is scale * x**3 and counts its Python calls in `calls`."""
    def native(jax):
        def forward(x):
            calls.append(x.shape)
            return scale * x ** 3
        return forward
    x = np.asarray(x, dtype=np.float64)
    return Task(names=("x",), inputs=(x,), wrt=("x",), output_shape=x.shape, dtype="float64",
                cotangent=np.ones_like(x) if cotangent is None else np.asarray(cotangent, dtype=np.float64),
                native=native, traceable=traceable, trace_key=key)


@pytest.fixture
def jax_backends():
    pytest.importorskip("jax")
    return backends.get_backend("jax"), backends.get_backend("jax-jvp")


def test_a_traced_program_is_reused_by_the_next_row_of_the_same_op_and_shape(jax_backends):
    vjp, jvp = jax_backends
    key, calls = ("test-cube", next(_keys)), []
    first = vjp.gradients(cube_task([1.0, 2.0, 3.0], calls, key=key))
    # Another row: new values, new cotangent, the same op and shape: no new trace, the new numbers.
    second = vjp.gradients(cube_task([0.5, -1.0, 4.0], calls, key=key, cotangent=[2.0, 1.0, -1.0]))
    assert len(calls) == 1
    np.testing.assert_array_equal(first["x"], [3.0, 12.0, 27.0])
    np.testing.assert_array_equal(second["x"], [1.5, 3.0, -48.0])
    # Forward mode keeps its own program, one trace for both rows too.
    tangent = np.array([1.0, 0.5, -2.0])
    got = [jvp.jvp(cube_task(x, calls, key=key), 0, tangent) for x in ([1.0, 2.0, 3.0], [2.0, 0.0, 1.0])]
    assert len(calls) == 2
    np.testing.assert_array_equal(got[0], [3.0, 6.0, -54.0])
    np.testing.assert_array_equal(got[1], [12.0, 0.0, -6.0])


def test_a_new_shape_or_new_params_get_a_fresh_trace(jax_backends):
    vjp, _ = jax_backends
    key, calls = ("test-cube", next(_keys)), []
    vjp.gradients(cube_task([1.0, 2.0, 3.0], calls, key=key))
    wider = vjp.gradients(cube_task([1.0, 2.0, 3.0, 4.0], calls, key=key))
    assert calls == [(3,), (4,)]
    np.testing.assert_array_equal(wider["x"], [3.0, 12.0, 27.0, 48.0])
    # Other params are another key: their forward is traced anew, not served by the first one's program.
    doubled = vjp.gradients(cube_task([1.0, 2.0, 3.0], calls, key=(*key, "scale=2"), scale=2.0))
    assert calls == [(3,), (4,), (3,)]
    np.testing.assert_array_equal(doubled["x"], [6.0, 24.0, 54.0])


@pytest.mark.parametrize("why", ["a user's function", "no trace key"])
def test_a_users_function_is_never_kept(jax_backends, why):
    vjp, jvp = jax_backends
    calls = []
    options = {"traceable": False} if why == "a user's function" else {"key": None}
    for x in ([1.0, 2.0], [3.0, 4.0]):
        grads = vjp.gradients(cube_task(x, calls, **options))
        np.testing.assert_array_equal(grads["x"], 3.0 * np.square(x))
    np.testing.assert_array_equal(jvp.jvp(cube_task([1.0, 2.0], calls, **options), 0, np.ones(2)), [3.0, 12.0])
    assert len(calls) == 3  # every call ran the forward's Python again


def test_trace_keys_of_cases(monkeypatch):
    monkeypatch.chdir(REPO)  # the user case's module is cases.custom.swish_numpy

    def key(text):
        return materialize(parse_cases(text)[0]).task(None).trace_key

    sigmoid = key("name: a\nop: sigmoid\ninputs: {x: [1.0, 2.0]}\n")
    assert sigmoid == key("name: b\nop: sigmoid\ninputs: {x: [3.0, 4.0]}\n")  # names and values do not matter
    softmax = "name: s\nop: softmax\nparams: {axis: %s}\ninputs: {x: [[1.0, 2.0], [3.0, 4.0]]}\n"
    assert key(softmax % "0") != key(softmax % "-1") != sigmoid
    expr = "name: e\nexpr: \"%s\"\ninputs: {x: 1.0, y: 2.0}\n"
    assert key(expr % "x * y") != key(expr % "x + y")
    user = "name: u\nfunction: cases.custom.swish_numpy:swish\nvjp: cases.custom.swish_numpy:swish_vjp\n" \
           "inputs: {x: [1.0, 2.0]}\n"
    assert key(user) is None


def test_only_the_most_recently_used_programs_are_kept(jax_backends, monkeypatch):
    from gradcheck.backends import jax_backend

    vjp, _ = jax_backends
    monkeypatch.setattr(jax_backend, "PROGRAMS_KEPT", 2)
    calls, keys = [], [("test-cube", next(_keys)) for _ in range(3)]
    for key in (keys[0], keys[1], keys[0], keys[2]):  # keys[1] is the least recently used when keys[2] comes
        vjp.gradients(cube_task([1.0, 2.0], calls, key=key))
    assert len(calls) == 3
    again = [vjp.gradients(cube_task([1.0, 2.0], calls, key=key))["x"] for key in (keys[0], keys[2], keys[1])]
    assert len(calls) == 4  # keys[0] and keys[2] were kept, keys[1] traced anew
    np.testing.assert_array_equal(again, [[3.0, 12.0]] * 3)
