"""The HTML report's two plots, drawn by matplotlib's SVG backend (the optional `html` extra).

matplotlib is imported inside the functions: nothing else in gradcheck pays for it.
Text is drawn as paths, so the SVG needs no font and the page no network.
"""

from __future__ import annotations

import io

import numpy as np


def fold_to_2d(shape: tuple[int, ...]) -> tuple[tuple[int, int], str, str]:
    """An N-D shape as (rows, columns), with the axis labels that say how it was folded:
    the last axis across, every axis before it stacked down (C order, as the index reads)."""
    if len(shape) == 0:
        return (1, 1), "", "scalar"
    if len(shape) == 1:
        return (1, shape[0]), "", "axis 0"
    rows = int(np.prod(shape[:-1]))
    down = f"axis 0 (size {shape[0]})" if len(shape) == 2 else \
        "axes " + " × ".join(f"{i} ({n})" for i, n in enumerate(shape[:-1])) + ", flattened"
    return (rows, shape[-1]), down, f"axis {len(shape) - 1} (size {shape[-1]})"


def heatmap_svg(margins: np.ndarray, worst: tuple[int, ...], title: str) -> str:
    """log10 of each element's margin (the fraction of its tolerance used; above 0 fails)."""
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    (rows, columns), down, across = fold_to_2d(margins.shape)
    with np.errstate(divide="ignore"):
        shown = np.log10(np.maximum(np.nan_to_num(margins.reshape(rows, columns), posinf=1e300), 1e-6))
    top = max(float(shown.max()), 0.5)
    figure = Figure(figsize=(6.4, 1.6 + min(rows, 40) * 0.12 if rows > 1 else 1.8), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(shown, aspect="auto", cmap="RdBu_r", interpolation="nearest",
                        norm=TwoSlopeNorm(vmin=min(float(shown.min()), -0.5), vcenter=0.0, vmax=top))
    flat = int(np.ravel_multi_index(worst, margins.shape)) if margins.ndim else 0
    axes.plot(flat % columns, flat // columns, marker="x", color="black", markersize=9, linestyle="none",
              label=f"worst {list(worst)}")
    axes.set_xlabel(across)
    axes.set_ylabel(down)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # element indices, never 0.5
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if rows == 1:
        axes.set_yticks([])
    axes.set_title(title, fontsize=9)
    axes.legend(loc="upper right", fontsize=7)
    figure.colorbar(image, ax=axes, label="log10 margin")  # above 0 fails: the caption says so
    return _svg(figure)


def curve_svg(curve, got: float | None, want: float | None) -> str:
    """|D(h) - reference| against h, log-log, with the slope-2 and slope -1 models and the stencil's steps."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.6), layout="constrained")
    axes = figure.add_subplot()
    positive = np.isfinite(curve.errors) & (curve.errors > 0)
    axes.loglog(curve.steps[positive], curve.errors[positive], "o-", markersize=3, label="|D(h) − reference|")
    if np.isfinite(curve.truncation).any():  # none where the forward is linear in this input
        axes.loglog(curve.steps, curve.truncation, "--", color="tab:orange", label="truncation, slope 2")
    axes.loglog(curve.steps, curve.roundoff, ":", color="tab:green", label="round-off, slope −1")
    for i, h in enumerate(curve.used):
        axes.axvline(h, color="grey", alpha=0.5, linewidth=0.8, label="steps the engine used" if i == 0 else None)
    if got is not None and want is not None and got != want:
        axes.axhline(abs(got - want), color="tab:red", linewidth=1, label="|gradient − reference|")
    if positive.any():  # the models may run far below anything measured: keep the data in view
        axes.set_ylim(bottom=float(curve.errors[positive].min()) / 100)
    axes.set_xlabel("step h")
    axes.set_ylabel("error of the central difference")
    axes.legend(fontsize=7, loc="best")
    return _svg(figure)


def _svg(figure) -> str:
    buffer = io.StringIO()
    # No metadata block: it only names matplotlib and RDF vocabularies by URL.
    figure.savefig(buffer, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE: the SVG goes inline
