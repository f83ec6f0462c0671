"""A case's call as people write it: leaves in, one chosen output out.

The engine and the backends see a flat function `f(*leaves) -> array`: every array input
in order (a pytree's leaves by dotted path, then a module's parameters by state name),
and one floating output. This module builds that function around the user's code:

- pytrees: the leaves are put back into the nested mappings the function takes;
- `args:`: the positional call order over input and param names (else fn(*inputs, **params));
- modules: the parameters are handed to the module's functional call (modules.py);
- outputs: a tuple, list or dict of outputs is checked one output at a time. For output k
  the scalar differentiated is φ_k(x) = <dz_k, f_k(x)>, so each output's rows stand on
  their own and name it (`out[1]`); the sum over k of their gradients is the gradient
  of φ = Σ_k <dz_k, f_k>, which is what a backward given every cotangent at once returns;
- `rng_seed:`: the NumPy, Python and framework RNGs are reseeded before every call, so
  every perturbed point sees the same dropout mask and the reference is not noise.

The same wrapper serves the NumPy forward (framework None) and each framework; it
converts nothing: the backend or the NumPy bridge hands it the framework's arrays.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np

from gradcheck.cases.schema import Case, InputSpec

ALL = object()  # select every output: the structure as the function returns it


def output_entries(output: Any) -> list[tuple[Hashable | None, Any]]:
    """(key, value) per output: indices of a tuple or list, keys of a dict, (None, x) for one array."""
    if isinstance(output, (tuple, list)):
        return list(enumerate(output))
    if isinstance(output, Mapping):
        return list(output.items())
    return [(None, output)]


def output_label(key: Hashable | None) -> str | None:
    """How a row names its output: out[1], out[mask]; None for a function of one output."""
    return None if key is None else f"out[{key}]"


def select(output: Any, key: Hashable | None) -> Any:
    if key is ALL or key is None:
        return output
    return output[key]


def rebuild(specs: Sequence[InputSpec], leaves: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The inputs by top-level name, pytrees as nested dicts of their leaves."""
    return {
        spec.name: rebuild(spec.children, leaves, f"{prefix}{spec.name}.") if spec.children
        else leaves[f"{prefix}{spec.name}"]
        for spec in specs
    }


def reseed(seed: int, framework_module: Any | None) -> None:
    """Reset the global RNGs a forward may draw from: Python's, NumPy's and its framework's.

    JAX has no global RNG (keys are explicit arguments), so there is nothing to reset.
    """
    random.seed(seed)
    np.random.seed(seed)
    name = getattr(framework_module, "__name__", "")
    if name == "torch":
        framework_module.manual_seed(seed)
    elif name == "tensorflow":
        framework_module.random.set_seed(seed)
        framework_module.keras.utils.set_random_seed(seed)


@dataclass(frozen=True)
class CallPlan:
    """How the flat leaves become the user's call: which leaves are inputs, which parameters."""

    case: Case
    input_leaves: tuple[str, ...]  # dotted paths, in order
    parameters: tuple[str, ...] = ()  # a module's parameter names, after the input leaves

    @property
    def leaf_names(self) -> tuple[str, ...]:
        return (*self.input_leaves, *self.parameters)

    @cached_property
    def positional(self) -> bool:
        """Whether the leaves are the call's positional arguments as they come: no pytree, no `args:`."""
        return self.case.args is None and self.input_leaves == tuple(
            spec.name for spec in self.case.inputs if not spec.children)

    def arguments(self, leaves: Sequence[Any]) -> tuple[list, dict]:
        """Positional and keyword arguments of the user's call, from the flat leaves."""
        if self.positional:  # the common plan, called at every perturbed point: no rebuilding
            return list(leaves), dict(self.case.params)
        by_path = dict(zip(self.input_leaves, leaves))
        inputs = rebuild(self.case.inputs, by_path)
        params = dict(self.case.params)
        if self.case.args is None:
            return list(inputs.values()), params
        named = {**params, **inputs}
        return [named[name] for name in self.case.args], {k: v for k, v in params.items() if k not in self.case.args}

    def forward(self, function: Callable, framework_module: Any | None, key: Any = ALL) -> Callable:
        """f(*leaves) -> the output `key` of function(...); a module's `function` takes the
        parameters by name first: function(parameters, *args, **kwargs)."""
        n_inputs, seed = len(self.input_leaves), self.case.rng_seed

        def flat(*leaves):
            args, kwargs = self.arguments(leaves[:n_inputs])
            if seed is not None:
                reseed(seed, framework_module)
            if self.parameters:
                output = function(dict(zip(self.parameters, leaves[n_inputs:])), *args, **kwargs)
            else:
                output = function(*args, **kwargs)
            return select(output, key)
        return flat
