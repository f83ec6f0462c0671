"""PyTorch's own test samples (OpInfo) for the original ten ops, as gradcheck cases.

Every sample of `op.sample_inputs("cpu", torch.float64, requires_grad=True)` is written as case
YAML text (so the case-file path, literals and all, is exercised), loaded with parse_cases and run
through every installed method. A sample that cannot be written fails the test: the number mapped
must equal the number of samples, and every row must pass.

How torch's arguments become a case:
- the input and tensor arguments are inputs, named as the op names them; a `None` tensor argument
  (conv2d's bias) is left out, which the op's optional inputs allow;
- a tensor with elements is a literal of its exact values; an empty one (a 0 in its shape, which
  a nested list cannot always spell) is a generator of that shape;
- other positional arguments are the op's params in order; keywords keep their name except
  `dim` -> `axis`, `keepdim` -> `keepdims`, and a torch dtype -> its name;
- torch's `dim=[]` reduces every axis, gradcheck's `axis: []` none; they agree on a 0-d input
  (reducing its single element changes nothing), elsewhere torch's meaning is `axis: null`.
"""

from __future__ import annotations

import functools
import json

import pytest

from gradcheck.cases import parse_cases
from gradcheck.compare.comparison import Status
from gradcheck.methods import Mode
from gradcheck.reports.table import render_text
from gradcheck.run.runner import RunOptions, run_case
from tests.ops.shipped import installed_methods

torch = pytest.importorskip("torch")
pytest.importorskip("expecttest")  # torch.testing._internal imports it

# OpInfo name -> gradcheck op, and the op's positional arguments after the input.
OPS = {
    "sigmoid": "sigmoid", "tanh": "tanh", "exp": "exp", "log": "log",
    "nn.functional.relu": "relu", "sum": "sum", "mean": "mean",
    "softmax": "softmax", "matmul": "matmul", "nn.functional.conv2d": "conv2d",
}
POSITIONAL = {"softmax": ("axis",), "matmul": ("y",), "conv2d": ("w", "b")}
KEYWORDS = {"dim": "axis", "keepdim": "keepdims"}


@functools.cache
def samples(opinfo_name: str) -> list:
    """(variant, sample) for every OpInfo of that name (softmax has a `with_dtype` variant)."""
    from torch.testing._internal.common_methods_invocations import op_db

    return [(info.variant_test_name, sample) for info in op_db if info.name == opinfo_name
            for sample in info.sample_inputs("cpu", torch.float64, requires_grad=True)]


def array_yaml(tensor) -> str:
    """A literal of the tensor's exact values (JSON floats round-trip), or a generator if empty."""
    if tensor.numel() == 0:
        return json.dumps({"shape": list(tensor.shape)})
    return json.dumps(tensor.detach().tolist())


def param_value(key: str, value, ndim: int):
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    if isinstance(value, tuple):
        value = list(value)
    if key == "axis" and value == [] and ndim != 0:
        return None  # torch: every axis (see the module notes)
    return value


def case_yaml(op: str, name: str, sample) -> str:
    """One sample as case-file text; ValueError for an argument we cannot write."""
    inputs = {"x": sample.input}
    params = {}
    positional = POSITIONAL.get(op, ())
    if len(sample.args) > len(positional):
        raise ValueError(f"{name}: {len(sample.args)} positional arguments, {op} names {len(positional)}")
    for key, value in zip(positional, sample.args):
        if isinstance(value, torch.Tensor):
            inputs[key] = value
        elif value is not None:
            params[key] = value
    for key, value in sample.kwargs.items():
        params[KEYWORDS.get(key, key)] = value
    ndim = sample.input.ndim
    lines = [f"name: {name}", f"op: {op}", "inputs:"]
    lines += [f"  {key}: {array_yaml(tensor)}" for key, tensor in inputs.items()]
    if params:
        written = {key: param_value(key, value, ndim) for key, value in params.items()}
        lines.append(f"params: {json.dumps(written)}")
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("opinfo_name", sorted(OPS))
def test_every_opinfo_sample_maps_onto_a_case_and_passes_every_method(opinfo_name):
    op = OPS[opinfo_name]
    found = samples(opinfo_name)
    assert found, f"torch has no OpInfo named {opinfo_name!r}"
    methods = installed_methods()
    cases, unmapped, rows = [], [], []
    for index, (variant, sample) in enumerate(found):
        name = f"opinfo-{op}-{variant or 'default'}-{index}"
        try:
            cases += parse_cases(case_yaml(op, name, sample), f"<{name}>")
        except ValueError as exc:  # an argument we cannot write, or a case file the loader refuses
            unmapped.append(f"{name}: {exc}")
    assert not unmapped and len(cases) == len(found), unmapped
    for case in cases:
        case_rows = run_case(case, RunOptions(methods=methods, mode=Mode.FULL))
        assert {row.method for row in case_rows} >= set(methods), render_text(case_rows)
        rows += case_rows
    failing = [row for row in rows if row.status is not Status.PASS]
    assert not failing, render_text(failing)
    print(f"{opinfo_name}: {len(found)} samples, {len(rows)} rows")


def test_torch_dim_empty_means_every_axis_except_on_a_scalar():
    # the mapping rule above, checked against torch itself
    x = torch.arange(6.0).reshape(2, 3)
    assert torch.sum(x, dim=[]).item() == 15.0
    assert param_value("axis", (), 2) is None and param_value("axis", (), 0) == []
    assert param_value("dtype", torch.float64, 1) == "float64"
