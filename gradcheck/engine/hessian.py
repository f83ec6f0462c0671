"""Second-order references: derivatives along one tangent per input, by finite differences.

Write φ(x) = ⟨dz, f(x)⟩ over all inputs x = (x_1, ..., x_k), g(x) = ∇φ(x) (one array per
input: what a VJP returns) and H(x) its Hessian. A second-order check moves every input
along its own seeded tangent v_j at once, so V = (v_1, ..., v_k) and the quantity checked,
input by input, is

    (H V)_i = ∂/∂x_i ⟨V, g(x)⟩ = d/dt g_i(x + t V) at t = 0,

equal because H is symmetric (for a true gradient; a backward whose own derivative is
not symmetric is wrong anyway). Two references, each with an error estimate:

1. `derivative_along`: the derivative of any vector function along V, here a method's
   own first-order VJP, x -> g(x). The curve t -> g(x + tV) is one-dimensional, so this is
   directional.reference_jvp over the scalar t: central differences at four steps,
   Richardson-extrapolated, retried smaller or one-sided at domain edges, per element.
   Its cost is 9 VJP calls whatever the input's size.

2. `directional_forward`: the engine's Hessian-vector product, which uses no method at all.
   With the directional derivative of the forward, F(x) = J_f(x) V, we have
   ⟨dz, F(x)⟩ = ⟨V, g(x)⟩ and

       ∇_x ⟨dz, F(x)⟩ = H(x) V.

   That is the first-order reference VJP of the forward F with the cotangent dz, which
   reference.py computes element by element (or fast.py along directions) with all its
   machinery: proved groups of elements moved together (F has f's sparsity, so an
   element-wise op costs a handful of F calls), batching, kinks, domain edges. No Hessian
   is ever built. F itself is, by preference,

       F(x) = Im f(x + iσV) / σ      (complex step, σ = 1e-20: one forward call, no subtraction)

   where the forward carries complex values and agrees, at the point, with

       F(x) ≈ Σ_l w_l (f(x + s_l V) − f(x − s_l V)) / 2 s_l     (s_l = s, s/2, s/4, s/8)

   (w_l the Richardson weights of the diagonal, stencil.py: a fixed linear combination of
   eight forward calls, so F is as smooth in x as f is), which is used otherwise. The
   whole is the mixed second difference of φ along e_i and V, extrapolated in both steps.

   The central F has two errors the outer differences cannot see. Its truncation (the s^8
   term, smooth in x) is estimated from the inner table's last two levels, T = F − F_second,
   as the relative size ‖T‖ / ‖F‖, and added to the error in proportion to |H V|. Its
   round-off is eps |f| / s, far above the 4 ulps of |F| that the engine's round-off model
   assumes; F is therefore offset by a constant whose 4 ulps are that round-off
   (`_noise_offset`), which leaves its differences unchanged and makes the model see it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from gradcheck.engine.directional import reference_jvp
from gradcheck.engine.estimates import Reference
from gradcheck.engine.stencil import (
    BASE_STEP,
    CENTRAL,
    CONVERGED,
    EPS,
    RETRIES,
    RETRY_SHRINK,
    ROUNDOFF_FACTOR,
    largest_multiple,
    scales,
    unmoved,
)

# Signed weights of the Richardson diagonal: R[L-1][L-1] = Σ_l BEST[l] D_l, R[L-2][L-2] likewise.
_DIAGONAL = CENTRAL.extrapolate(np.eye(CENTRAL.levels))
BEST, SECOND = _DIAGONAL[:, -1], _DIAGONAL[:, -2]
SIGMA = 1e-20  # the complex step along V (V is scaled to the inputs, so this is relative)
AGREE = 1e-6  # the complex step replaces the central differences where they agree this closely
NOISE_POINTS = 8  # curve_noise: points of the curve at which its rounding is measured (two sixth differences)
AGREE_ERRORS = 4.0  # derivative_along: a larger step's estimate agrees within this many times both errors


def seeded_tangent(x: np.ndarray, seed: int) -> np.ndarray:
    """A tangent of x's shape: random signs times magnitudes in [1, 1.5) times each element's scale (as fast.py's
    directions), so that every element moves relative to its own size along V and none is left out."""
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=x.size)
    return (signs * (1.0 + 0.5 * rng.random(x.size)) * scales(x)).reshape(x.shape)


def _typical(arrays: Sequence[np.ndarray]) -> float:
    """The mean |x| over every moving element, with the stencil's floor for inputs of zeros."""
    flat = np.concatenate([np.abs(np.asarray(a, dtype=np.float64)).reshape(-1) for a in arrays]) if arrays else []
    typical = float(np.mean(flat)) if len(flat) else 0.0
    return typical if typical > 0 else 1e-3


def step_along(inputs: Mapping[str, np.ndarray], tangents: Mapping[str, np.ndarray]) -> float:
    """The largest step s along V: the biggest move s|v_i| is BASE_STEP of the moving inputs' typical size,
    and no element leaves its radius (stencil.RADIUS of its scale)."""
    moving = [inputs[name] for name in tangents]
    largest = max((float(np.max(np.abs(v), initial=0.0)) for v in tangents.values()), default=0.0)
    if largest == 0:
        return BASE_STEP * _typical(moving)
    within = min(largest_multiple(tangents[name], inputs[name]) for name in tangents)
    return min(BASE_STEP * _typical(moving) / largest, within)


def _moved(arrays: Sequence, tangents: Sequence[np.ndarray | None], t: float) -> list:
    """Every input with a tangent moved by t times it (an input with a leading batch axis broadcasts)."""
    return [a if v is None else a + t * v for a, v in zip(arrays, tangents)]


def _array(value) -> np.ndarray:
    """A forward's output in float64, or complex128 where a complex step carried it through."""
    value = np.asarray(value)
    return value.astype(np.complex128 if np.iscomplexobj(value) else np.float64, copy=False)


@dataclass(frozen=True)
class Along:
    """F(*inputs) = J_f V, how it is computed, and its relative truncation at the point (0 for a complex step)."""

    forward: Callable
    method: str
    truncation: float


def _central(forward: Callable, tangents: Sequence[np.ndarray | None], step: float) -> tuple[Callable, Callable]:
    """F by Richardson-weighted central differences at the fixed steps `step`, /2, /4, /8, and F_second."""
    steps = step * CENTRAL.shrink

    def quotients(arrays) -> list[np.ndarray]:
        with np.errstate(all="ignore"):
            return [(_array(forward(*_moved(arrays, tangents, s))) - _array(forward(*_moved(arrays, tangents, -s))))
                    / (2 * s) for s in steps]

    def of(weights):
        return lambda *arrays: sum(w * q for w, q in zip(weights, quotients(arrays)))
    return of(BEST), of(SECOND)


def _complex_step(forward: Callable, tangents: Sequence[np.ndarray | None]) -> Callable:
    """F = Im f(x + iσV) / σ: no subtraction, so F is exact to the rounding of f (complexstep.py)."""
    def along(*arrays):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a ComplexWarning from a cast to real means "not analytic"
            out = np.asarray(forward(*_moved(arrays, tangents, 1j * SIGMA)))
        return out.imag / SIGMA if np.iscomplexobj(out) else np.full(out.shape, np.nan)
    return along


def directional_forward(forward: Callable, inputs: Sequence[np.ndarray], tangents: Sequence[np.ndarray | None],
                        step: float) -> Along:
    """F(*inputs) = J_f V along `tangents` (one per input, None for one that does not move).

    The complex step where the forward carries complex values and agrees, at the point, with
    the central differences within AGREE of F's size; else the central differences, whose
    round-off is eps |f| / s rather than eps |F|: the outer differences' round-off model
    (4 ulps of F) then understates it, which the truncation term only partly covers.
    """
    central, second = _central(forward, tangents, step)
    with np.errstate(all="ignore"):
        value = central(*inputs)
        try:
            stepped = _complex_step(forward, tangents)(*inputs)
        except Exception:  # noqa: BLE001 - a forward that refuses complex input: central differences
            stepped = np.full(np.shape(value), np.nan)
    size = float(np.max(np.abs(value), initial=0.0))
    if np.all(np.isfinite(stepped)) and np.all(np.abs(stepped - value) <= AGREE * size):
        return Along(_complex_step(forward, tangents), "complex step", 0.0)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflowed F: an infinite truncation, refused
        gap = float(np.linalg.norm(value - second(*inputs)))
        truncation = 0.0 if gap == 0 else gap / float(np.linalg.norm(value)) if size > 0 else np.inf
    offset = _noise_offset(forward, inputs, tangents, step)
    return Along(lambda *arrays: central(*arrays) + offset, "central differences", truncation)


def _noise_offset(forward: Callable, inputs: Sequence[np.ndarray], tangents: Sequence[np.ndarray | None],
                  step: float) -> np.ndarray:
    """A constant per output of F whose 4 ulps are F's round-off: Σ_l |w_l| (|f(x+s_l V)| + |f(x−s_l V)|) / 2 s_l.

    The central F subtracts values of f, so its round-off is ~eps |f| / s, not the eps |F| that the
    engine's round-off model assumes (4 ulps of what its differences subtract). Added to F, this
    constant leaves every difference of F as it was (to within that same round-off) and makes the
    model see F's true noise, output by output: the error estimates of H V then cover it.
    """
    with np.errstate(all="ignore"):
        total = sum(abs(w) * (np.abs(_array(forward(*_moved(inputs, tangents, s))))
                              + np.abs(_array(forward(*_moved(inputs, tangents, -s))))) / (2 * s)
                    for w, s in zip(BEST, step * CENTRAL.shrink))
    return np.where(np.isfinite(total), total, 0.0)


def with_truncation(reference: Reference, truncation: float) -> Reference:
    """The reference with F's relative truncation added to its error, in proportion to each value."""
    if truncation == 0 or not np.isfinite(truncation):
        return reference
    return replace(reference, error=reference.error + truncation * np.abs(reference.value))


def curve_noise(curve: Callable) -> np.ndarray:
    """Per element of a curve τ -> c(τ) (a method's VJP along V), the size of its rounding near τ = 1.

    c is probed at NOISE_POINTS points about a spacing δ apart (jittered, seeded: on an even lattice a
    rounded linear c climbs in equal steps of whole ulps, and its differences vanish); each window of
    seven gives a sixth divided difference, over what it makes of unit noise (the root sum of its
    squared weights), and the largest is the noise. A smooth c's sixth divided difference is its sixth
    derivative, nothing beside its rounding at the stencil's smallest steps, where δ starts (2^-15 in τ);
    an element that did not move at all there (its inputs moved under its rounding's resolution) is
    probed again RETRY_SHRINK times wider, up to the first step's smallest level. An element that moves
    at none of them is constant there: no noise. Not finite: 0 (a domain edge, the stencil's own).

    The round-off model of the differences (4 ulps of what they subtract) assumes the curve's rounding
    is that of its value. A VJP's is not: tanh's, dz (1 - y^2), rounds to eps |dz| where its value is
    4 e^-2x |dz| (jax's (1 + y)(1 - y) alike). tanh-order2 at x = 8.66 (v = 4328) beside 1e6s that set
    the step: at explore's look 2^-24 the derivative of (1 + y)(1 - y) along V came out -1.02897e-3
    +- 2.8e-10 where it is -1.041521e-3, a "real bug" 26000 times the allowance away; with the noise
    (6.9e-17) it is -1.0415358e-3 +- 1.2e-7. (At x = 10, torch's VJP at that look is constant over the
    smallest spacing, 1.8e-10 a step in x, and moves by whole ulps at the widest: noise 7.2e-17.)"""
    jitter = np.random.default_rng(0).uniform(-0.4, 0.4, NOISE_POINTS)
    offsets = np.arange(NOISE_POINTS) - NOISE_POINTS // 2 + jitter
    noise, found = None, None
    for attempt in range(RETRIES, -1, -1):
        taus = 1.0 + BASE_STEP * CENTRAL.shrink[-1] / RETRY_SHRINK**attempt * offsets
        with np.errstate(all="ignore"):
            values = np.stack([curve(tau) for tau in taus])
            here = np.zeros(values.shape[1:])
            for start in range(NOISE_POINTS - 6):
                window = taus[start:start + 7]
                weights = np.array([1.0 / np.prod([a - b for b in window if b != a]) for a in window])
                here = np.maximum(here, np.abs(weights @ values[start:start + 7]) / np.sqrt(np.sum(weights**2)))
        moved = np.ptp(values, axis=0) > 0
        if noise is None:
            noise, found = np.zeros(here.shape), np.zeros(here.shape, dtype=bool)
        take = moved & ~found
        noise[take], found = here[take], found | moved
        if np.all(found):
            break
    return np.where(np.isfinite(noise), noise, 0.0)


def derivative_along(function: Callable, inputs: Mapping[str, np.ndarray],
                     tangents: Mapping[str, np.ndarray], step_scale: float = 1.0) -> dict[str, Reference]:
    """d/dt function(x + tV) at t = 0 for a `function(moved inputs) -> {name: array}` (a method's VJP),
    one Reference per entry of `tangents`, by directional.reference_jvp over the scalar t.

    The curve is parametrised as τ -> x + (τ − 1) c V at τ = 1, with c chosen so that the
    directional reference's first step in τ (BASE_STEP) moves x by `step_along`; its derivative
    in τ is c times the derivative in t. `step_scale` multiplies that step, as it does the
    first-order references' (explore's second looks: a curve whose first step straddles a whole
    sigmoid, at x = 1 among elements of 1e5 that set the step, saw 0 where the slope is 2.2e3).

    Below step_scale 1 (explore's looks, whose steps are far under the elements' own sizes) two
    things change, as the VJP's rounding, not its curvature, then limits the differences:

    - the curve's rounding is measured (curve_noise) and the curve offset by a constant whose 4
      ulps are that rounding, as directional_forward does for F: the round-off model then sees it at
      every step, and the error is at least the noise over the widest step;
    - one step along V serves every element, but elements need different ones (the step is set by
      the largest moves): each element whose estimate has not converged (error above CONVERGED of
      its own value) is retried at steps RETRY_SHRINK and RETRY_SHRINK^2 times larger (never above
      step_scale 1), and takes the larger step's estimate where it claims a smaller error and agrees
      with its own (within AGREE_ERRORS times their errors together: an aliased estimate at the larger
      step, 0 where the slope is 2.2e3, does not).

    tanh-order2 at x = (0 (x51), 1, ..., 1e6, 1e6, 100, 8.66), jax's VJP, element 8.66 (v = 4328,
    H V = 5.350994e-4): at 2^-16 its estimate was 5.351326e-4 +- 2.4e-8, at 2^-24 5.12e-4 +- 1.5e-5,
    at 2^-32 garbage, while the engine's H V at x = 1 needs those looks (0 +- 0 at the first); 2^-12
    gives 5.351009e-4 +- 3.2e-10, and the look at 2^-16 passes.
    """
    names = list(tangents)
    shapes = [np.shape(inputs[name]) for name in names]

    def curve_derivative(scale_of_step: float) -> Reference:
        scale = step_along(inputs, tangents) * scale_of_step / BASE_STEP

        def curve(tau):
            calls["curve"] += 1
            t = (float(tau) - 1.0) * scale
            moved = {name: (value + t * tangents[name] if name in tangents else value)
                     for name, value in inputs.items()}
            values = function(moved)
            return np.concatenate([np.asarray(values[name], dtype=np.float64).reshape(-1) for name in names])

        calls = {"curve": 0}
        noise = curve_noise(curve) if scale_of_step < 1 else np.zeros(0)
        probes = calls["curve"]  # (the reference counts its own evaluations)
        offset = noise / (ROUNDOFF_FACTOR * EPS) if noise.size else 0.0
        found = reference_jvp(lambda tau: curve(tau) + offset, [np.array(1.0)], 0, np.array(1.0))
        # nothing is known below the noise at the widest step
        error = np.maximum(found.error, noise / BASE_STEP) if noise.size else found.error
        return replace(found, value=found.value / scale, error=error / scale, lower=found.lower / scale,
                       upper=found.upper / scale, evaluations=found.evaluations + probes)

    found = curve_derivative(step_scale)
    value, error, lower, upper = (np.array(a, dtype=np.float64) for a in (found.value, found.error, found.lower,
                                                                             found.upper))
    evaluations, larger = found.evaluations, step_scale
    for _ in range(RETRIES):
        pending = ~(error <= CONVERGED * np.abs(value)) & (lower == upper)
        if larger >= 1.0 or not np.any(pending):
            break
        larger = min(1.0, larger * RETRY_SHRINK)
        other = curve_derivative(larger)
        evaluations += other.evaluations
        with np.errstate(all="ignore"):
            take = (pending & np.isfinite(other.value) & (other.error < error) & (other.lower == other.upper)
                    & ~unmoved(other.value, other.error)
                    & (np.abs(other.value - value) <= AGREE_ERRORS * (error + other.error)))
        value, error = np.where(take, other.value, value), np.where(take, other.error, error)
        lower, upper = np.where(take, other.lower, lower), np.where(take, other.upper, upper)
    out, start = {}, 0
    for name, shape in zip(names, shapes):
        stop = start + int(np.prod(shape, dtype=np.int64))
        part = slice(start, stop)
        out[name] = Reference(value=value[part].reshape(shape), error=error[part].reshape(shape),
                              lower=lower[part].reshape(shape), upper=upper[part].reshape(shape),
                              kinks=int(np.count_nonzero(lower[part] != upper[part])),
                              evaluations=evaluations, batched=False,
                              method="central differences of the method's own VJP along the tangent")
        start = stop
    return out
