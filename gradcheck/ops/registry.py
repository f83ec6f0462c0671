"""The op registry: one entry per op, holding its NumPy forward, its hand-written VJP, its metadata
and its torch / tensorflow / jax lowerings, next to each other.

    forward(*inputs, **params) -> ndarray
    vjp(*inputs, cotangent, **params) -> one gradient per input (input's shape and dtype)

An op with `complex=True` takes complex inputs (complex64, complex128 cases); its VJP then
returns d phi/d Re z + i d phi/d Im z of phi = Re sum conj(dz) f(z) (DESIGN section 2): for a
holomorphic f that is conj(f'(z)) dz, element-wise. Other ops refuse complex cases.
    lowering: lower(module, *tensors, **params) -> tensor, `module` the imported framework

An op may end with optional inputs (conv2d's bias): a case gives all of its inputs or leaves out
some of the trailing optional ones, and forward, VJP and lowerings are called with those given
(the VJP returns one gradient per input given).

Nothing here imports a framework: lowerings are plain functions handed the
module when they run, so `gradcheck ops` reads the registry for free. A new
op is one `register(Op(...))` in its module plus one case file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

FRAMEWORKS = ("torch", "tensorflow", "jax")


class UnsupportedLowering(ValueError):
    """The op's parameters or shapes are outside what one framework's lowering covers (a skip, not
    a wrong gradient)."""

# (value, key) -> normalised value; raises ValueError naming the key.
Validator = Callable[[Any, str], Any]
# (validated params) -> None; raises ValueError naming the keys whose values do not fit together.
Relation = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class Op:
    name: str                      # "sigmoid"
    inputs: tuple[str, ...]        # canonical input names in order
    forward: Callable              # forward(*inputs, **params) -> np.ndarray
    vjp: Callable                  # vjp(*inputs, cotangent, **params) -> tuple of grads
    params: Mapping[str, Any] = field(hash=False)  # name -> default value
    summary: str                   # one line for `gradcheck ops`
    domain: str = "real"           # "real" or "positive"
    torch: Callable | None = None
    tensorflow: Callable | None = None
    jax: Callable | None = None
    validators: Mapping[str, Validator] = field(default_factory=dict, hash=False)
    in_expr: bool = False          # callable by name in `expr:` (its positional inputs, plus axis=)
    relation: Relation | None = None  # a rule between params (clip: low <= high), after the validators
    optional_inputs: tuple[str, ...] = ()  # trailing inputs a case may leave out, e.g. ("b",)
    complex: bool = False          # takes complex inputs, its VJP in gradcheck's convention

    def __post_init__(self):
        # Freeze the defaults so a shared registry entry cannot be mutated.
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "validators", MappingProxyType(dict(self.validators)))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "optional_inputs", tuple(self.optional_inputs))
        optional = self.optional_inputs
        if optional and self.inputs[-len(optional):] != optional:
            raise ValueError(f"{self.name}: optional inputs {optional} must end the inputs {self.inputs}")

    @property
    def required_inputs(self) -> tuple[str, ...]:
        """The inputs every case gives: all but the trailing optional ones."""
        return self.inputs[:len(self.inputs) - len(self.optional_inputs)]

    @property
    def signature(self) -> str:
        """The inputs as `gradcheck ops` lists them, an optional one marked: "x, w, b?"."""
        return ", ".join(f"{name}?" if name in self.optional_inputs else name for name in self.inputs)

    def check_input_count(self, count: int) -> None:
        """ValueError unless `count` inputs are the required ones plus some of the optional ones."""
        if len(self.required_inputs) <= count <= len(self.inputs):
            return
        optional = f", then optionally {', '.join(self.optional_inputs)}" if self.optional_inputs else ""
        takes = (f"{len(self.required_inputs)} to {len(self.inputs)}" if self.optional_inputs
                 else f"{len(self.inputs)}")
        raise ValueError(f"op {self.name!r} takes {takes} input(s) ({', '.join(self.required_inputs)}"
                         f"{optional}), got {count}")

    def lowering(self, framework: str) -> Callable | None:
        """lower(module, *tensors, **params) in `framework`, or None where the op has none."""
        return {"torch": self.torch, "tensorflow": self.tensorflow, "jax": self.jax}[framework]

    @property
    def frameworks(self) -> tuple[str, ...]:
        return tuple(f for f in FRAMEWORKS if self.lowering(f) is not None)

    def check_params(self, params: Mapping[str, Any] | None) -> dict:
        """Merge ``params`` with the defaults and validate them.

        Returns a new dict holding every accepted parameter (normalised by the
        op's validators). Raises ValueError naming the offending key for an
        unknown key or bad value.
        """
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise ValueError(f"{self.name}: params must be a mapping, got {type(params).__name__}")
        unknown = [k for k in params if k not in self.params]
        if unknown:
            accepted = ", ".join(repr(k) for k in self.params) or "none"
            raise ValueError(f"{self.name}: unknown param {unknown[0]!r} (accepted: {accepted})")
        merged = dict(self.params)
        merged.update(params)
        for key, check in self.validators.items():
            if key in merged:
                try:
                    merged[key] = check(merged[key], key)
                except ValueError as exc:
                    raise ValueError(f"{self.name}: {exc}") from None
        if self.relation is not None:
            try:
                self.relation(merged)
            except ValueError as exc:
                raise ValueError(f"{self.name}: {exc}") from None
        return merged


REGISTRY: dict[str, Op] = {}


def register(op: Op) -> Op:
    if op.name in REGISTRY:
        raise ValueError(f"op {op.name!r} is registered twice")
    REGISTRY[op.name] = op
    return op
