"""The method names of the contract (DESIGN section 3), in table order, and the checking modes."""

from __future__ import annotations

from dataclasses import dataclass
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
    or by predicted cost (auto: full while the full check is predicted to fit the budget, fast
    otherwise; run/references.py decides, engine/cost.py predicts)."""

    AUTO = "auto"
    FULL = "full"
    FAST = "fast"

    def __str__(self) -> str:
        return self.value


MODES: tuple[str, ...] = tuple(mode.value for mode in Mode)
DEFAULT_BUDGET = 10.0  # seconds: in auto mode, an input whose full check is predicted longer is checked fast


@dataclass(frozen=True)
class ModeChoice:
    """Which mode auto mode chose for one input, and why: "auto: fast (full check predicted 180 s >
    budget 10 s; ...)", "auto: full (predicted within the budget of 10 s)"."""

    mode: Mode  # FULL or FAST
    reason: str
    predicted: float | None = None  # seconds the full check was predicted to take (fast choices)
    budget: float | None = None

    def __str__(self) -> str:
        return f"auto: {self.mode.value} ({self.reason})"
