"""What a failing row shows beyond its numbers: where in the tensor it fails, and at which point.

Plain NumPy data, attached to a Comparison by the runner (gradcheck/run/detail.py)
and read by the reports. It is left out of the JSON report and of equality:
it explains a verdict and never changes one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradcheck.engine.curve import StepCurve


@dataclass(frozen=True)
class Detail:
    margins: np.ndarray | None = None  # the fraction of the tolerance each element uses (> 1 fails)
    point: dict[str, float | complex] = field(default_factory=dict)  # input values at the worst element
    cotangent: float | complex | None = None  # the cotangent there, where it has one element per input element
    curve: StepCurve | None = None  # the worst element's step-size curve (HTML reports only)
    trace: str = ""  # the traceback of an error in user code

    def describe_point(self) -> str:
        """'x = 3, cotangent 1': the values a person needs to reproduce the worst element by hand."""
        parts = [f"{name} = {value:.6g}" for name, value in self.point.items()]
        if self.cotangent is not None:
            parts.append(f"cotangent {self.cotangent:.6g}")
        return ", ".join(parts)
