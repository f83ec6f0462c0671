"""The complex step checked along a few seeded random directions, not element by element.

Checking the complex step element by element (complexstep.refine) costs the
central differences of every group: 2 x 4 levels evaluations a group, eight
times the complex step itself. Where the Jacobian is dense (softmax: every
element its own group) that is 8n evaluations to confirm n. A projection
costs 2 x levels evaluations whatever n is, so K of them confirm all n values
at once, up to what K numbers can say about n.

Notation. g = J^T dz is the truth, c the complex-step values, rho their
rounding (complexstep.py), e = c - g everything that is wrong with c. Along a
direction u, D is the Richardson derivative of phi(x + t u) at t = 0
(STENCIL; differences.directional_sums) with error estimate E, and S the
strays: D is the derivative along the perturbations as stored, which differ
from t u in the last bit of each element (S bounds sum_i |c_i| times that
difference, through the extrapolation weights). The residual is

    r = <c, u> - D = <e, u> + (<g, u> - D),   |<g, u> - D| <= E + S,

and a projection agrees when |r| <= E + S + R, R = sum_i |u_i| rho_i: the
element-wise rule (gap <= central error + complex-step rounding) applied to
one number. Every projection must agree, and every D must be finite, two-sided,
kink-free and converged; otherwise the element-wise check runs, as before this
module existed, so a forward that is not complex-analytic costs what it cost
and is never trusted wrongly. Whether or not they agree, as far as E and S are
honest (the engine's standing assumption),

    |<e, u_k>| <= b_k = |r_k| + E_k + S_k.                                (1)

The directions. u_ki = s_ki m_ki scale_i: s a random sign, m uniform on
[1, 1.5), scale_i the element's scale (stencil.scales), all independent (and
independent of e, which the forward fixed before any direction was drawn).

One wrong element. e = delta at element i alone (beyond rounding): <e, u> =
delta u_i, and |u_i| >= scale_i, so the projection disagrees as soon as
|delta| scale_i > 2 (E + S) + R. A forward that is not analytic is wrong by
about the derivative itself (abs and .real drop an element's whole
contribution): ~1e-3 against 2 (E + S) + R ~ 1e-12 for softmax n = 1000.

Many wrong elements could cancel. They cannot conspire against random signs:
let a_i = e_i scale_i and j the element with the largest |a_j|. Then

    <e, u> = s_j m_j a_j + (the other terms, independent of s_j m_j),

and s_j m_j a_j has a density of at most 1 / |a_j| (uniform on two intervals
of length |a_j| / 2, each with probability 1/2). Adding an independent
variable convolves densities, which never raises their supremum, so for any
fixed c > 0

    P(|<e, u>| < c) <= 2 c / A,    A = max_i |e_i| scale_i,

with no assumption on e (no Gaussian approximation, no "few wrong elements").

The error estimate. Let B = max_k b_k and F = 2 MISS^(-1/K). If A > F B, then
by (1) every |<e, u_k>| <= b_k <= B < A / F, a threshold fixed by e alone, so
over the K independent directions this happens with probability at most
(2 / F)^K = MISS. With confidence 1 - MISS, then, A <= F B: every element has

    |e_i| <= BOUND / scale_i,    BOUND = F B,

and that is each element's error estimate (plus its own rounding rho_i, for
good measure: e holds it already). It is far
larger than the complex step's true error (rounding), because K numbers
cannot see below B ~ E, but it is honest, and small against any tolerance
when E is (STENCIL's five levels: E ~ 3e-13 for softmax n = 1000, BOUND
~ 1.5e-12, against gradients ~ 1e-3 and an absolute tolerance of 1e-10).

When. Only where the element-wise check would cost at least SAVING times the
projections (worthwhile): with few groups (an element-wise op, matmul,
conv2d) it is cheap and its error estimates are far tighter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradcheck.engine.complexstep import ComplexStep
from gradcheck.engine.differences import directional_sums
from gradcheck.engine.estimates import estimate, quotients
from gradcheck.engine.evaluator import Evaluator
from gradcheck.engine.stencil import (
    BASE_STEP,
    CENTRAL,
    Stencil,
    largest_multiple,
    scales,
    unconverged,
)

DIRECTIONS = 16  # K: 16 x 10 evaluations; MISS^(-1/K) = 2.4
SEED = 20251130  # not fast mode's: its directions check the user's gradient, these the reference
MISS = 1e-6  # the probability that errors above each element's estimate pass every projection
# Five levels: a directional derivative moves every element at once, and four levels leave truncation
# (1e-10 for softmax n = 1000) far above rounding (1e-13); a fifth reaches rounding, for 2 more evaluations.
STENCIL = Stencil(levels=5)
SAVING = 8  # projections only where the element-wise check costs at least this many times as much


@dataclass(frozen=True)
class Projections:
    """The verdict of the random projections on one input's complex step."""

    accepted: bool
    note: str
    error: np.ndarray | None = None  # (n,) per element, where accepted: rounding + BOUND / scale_i
    bound: float = np.inf  # BOUND: max_i |e_i| scale_i, with confidence 1 - MISS


def worthwhile(groups: int) -> bool:
    """Whether checking `groups` groups element by element costs SAVING times the projections or more."""
    return 2 * CENTRAL.levels * groups >= SAVING * 2 * STENCIL.levels * DIRECTIONS


def directions(x: np.ndarray, count: int = DIRECTIONS) -> np.ndarray:
    """(count, n) seeded directions: random signs times magnitudes in [1, 1.5) times each element's scale."""
    rng = np.random.default_rng([SEED, x.size])
    signs = rng.choice([-1.0, 1.0], size=(count, x.size))
    return signs * (1.0 + 0.5 * rng.random((count, x.size))) * scales(x)


def _strays(x: np.ndarray, moves: np.ndarray, t: float, value: np.ndarray) -> np.ndarray:
    """(K,) S: sum_i |c_i| sum_l w_l |stored_l - intended_l|_i / width_l, the stored perturbations'
    distance from t u, carried through the extrapolation weights w_l."""
    flat, strays = x.reshape(-1), np.zeros(len(moves))
    for level, weight in enumerate(STENCIL.weights):
        move = STENCIL.shrink[level] * moves
        stored = (flat + move) - (flat - move)
        strays += weight * (np.abs(stored - 2 * move) @ np.abs(value)) / (2 * t * STENCIL.shrink[level])
    return strays


def check(evaluate: Evaluator, x: np.ndarray, dz: np.ndarray, f0: np.ndarray, step: ComplexStep,
          step_scale: float = 1.0) -> Projections:
    """Whether the complex step agrees with Richardson differences along every seeded direction; if so,
    each element's error estimate (see the module's docstring)."""
    value, rho = step.value, step.roundoff
    if step.escaped:
        return Projections(False, f"{step.escaped} group(s) gave imaginary parts to outputs outside their proved "
                                  "supports: complex step checked element by element")
    if not (np.all(np.isfinite(value)) and np.all(np.isfinite(rho))):
        return Projections(False, "complex step not finite everywhere: checked element by element")
    u = directions(x)
    t = min(step_scale * BASE_STEP, largest_multiple(u, x))  # no element moves past its radius, whatever the scale
    widths = 2 * t * STENCIL.shrink
    with np.errstate(all="ignore"):
        sums = directional_sums(evaluate, x, t * u, dz, f0, STENCIL)
        found = estimate(quotients(sums, widths, widths / 2, widths / 2), STENCIL)
    strays = _strays(x, t * u, t, value)
    projected = np.abs(u) @ rho  # R
    residual = np.abs(u @ value - found.value)
    settled = (np.isfinite(found.value) & np.isfinite(found.error) & ~found.kink & ~found.one_sided
               & ~unconverged(found.value, found.error))
    if not np.all(settled):
        return Projections(False, f"Richardson differences did not settle along {np.count_nonzero(~settled)} of "
                                  f"{DIRECTIONS} random directions (a kink, a domain edge, no convergence): complex "
                                  "step checked element by element")
    agree = residual <= found.error + strays + projected
    if not np.all(agree):
        return Projections(False, f"complex step disagreed with Richardson differences along "
                                  f"{np.count_nonzero(~agree)} of {DIRECTIONS} random directions (a forward that is "
                                  "not complex-analytic?): checked element by element")
    b = residual + found.error + strays  # (1): |<e, u_k>| <= b_k
    bound = float(2 * MISS ** (-1 / DIRECTIONS) * np.max(b))
    note = (f"complex step, checked along {DIRECTIONS} seeded random directions against Richardson differences "
            f"(element by element would have cost {2 * CENTRAL.levels * len(step.groups):,} evaluations); each "
            f"element's error estimate bounds what the directions could have missed (|error| x scale <= "
            f"{bound:.1e}, confidence 1 - {MISS:g})")
    return Projections(True, note, error=rho + bound / scales(x), bound=bound)
