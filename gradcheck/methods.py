"""The method names of the contract (DESIGN section 3), in table order."""

from __future__ import annotations

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
