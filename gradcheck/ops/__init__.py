"""The built-in ops: one registry entry each (NumPy forward, hand-written VJP, torch / tensorflow /
jax lowerings), defined in the module of its family. Importing this package fills the registry.

Adding an op: write its forward and VJP in the module of its family, `register(Op(...))` beside
them with its lowerings, and add `cases/ops/<name>.yaml`. Nothing else changes: `gradcheck ops`,
the backends, `expr:` and the tests read the registry.
"""

# Each module registers its ops when imported.
from gradcheck.ops import (  # noqa: F401
    activations,
    attention,
    binary,
    conv,
    conv_variants,
    elementwise,
    linalg,
    logexp,
    losses,
    normalization,
    pooling,
    reductions,
    selection,
    shape,
)
from gradcheck.ops.registry import FRAMEWORKS, REGISTRY, Op

__all__ = ["FRAMEWORKS", "OPS", "Op", "get_op"]

OPS: dict[str, Op] = REGISTRY


def get_op(name: str) -> Op:
    """Look up an op by name; KeyError (listing the known ops) if unknown."""
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}; known ops: {', '.join(sorted(OPS))}") from None
