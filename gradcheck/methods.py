"""The method names of the contract (DESIGN section 3), in table order, and the checking modes."""

from __future__ import annotations

from enum import Enum

NUMERIC = "numeric"
VJP = "vjp"
EXPECT = "expect"  # the comparison of the reference with a case's published answer

REVERSE_MODE = ("torch", "tensorflow", "jax")
FORWARD_MODE = ("torch-jvp", "tensorflow-jvp", "jax-jvp")

METHODS: tuple[str, ...] = (NUMERIC, VJP, *REVERSE_MODE, *FORWARD_MODE)

# The framework behind each framework method, and the pip extra that installs it.
FRAMEWORK_OF: dict[str, str] = {
    "torch": "torch",
    "tensorflow": "tensorflow",
    "jax": "jax",
    "torch-jvp": "torch",
    "tensorflow-jvp": "tensorflow",
    "jax-jvp": "jax",
}


class Mode(str, Enum):
    """How an input's reference is computed: every element (full), along random directions (fast),
    or by size (auto: fast above AUTO_FAST_ABOVE elements, where a full check of a dense Jacobian
    would take n x 8 evaluations)."""

    AUTO = "auto"
    FULL = "full"
    FAST = "fast"

    def __str__(self) -> str:
        return self.value


MODES: tuple[str, ...] = tuple(mode.value for mode in Mode)
AUTO_FAST_ABOVE = 50_000  # elements of one input above which `auto` checks along directions


def use_fast(mode: Mode | str, size: int) -> bool:
    """Whether an input of `size` elements is checked along directions in this mode."""
    mode = Mode(mode)
    return mode is Mode.FAST or (mode is Mode.AUTO and size > AUTO_FAST_ABOVE)
