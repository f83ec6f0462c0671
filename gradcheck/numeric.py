"""The finite-difference reference: J^T dz with a per-element error estimate.

We differentiate the scalar  phi(x) = sum(dz * f(x))  in float64. Its gradient
is exactly the VJP J^T dz, so one scalar derivative per input element gives
the whole reference, whatever the output's size.

Central differences. For a step h,
    D(h) = (phi(x + h e_i) - phi(x - h e_i)) / 2h = phi' + c1 h^2 + c2 h^4 + ...
has only even powers of h, so Richardson extrapolation over h, h/2, h/4, h/8
cancels them one at a time:
    R[l][m] = (4^m R[l][m-1] - R[l-1][m-1]) / (4^m - 1),
leaving an O(h^8) truncation error in R[3][3]. The error estimate is the
distance between the last two extrapolation levels plus the round-off of the
differences (machine epsilon times the size of what was subtracted, over the
step), so it grows when the steps are too small as well as too large.

Two details buy most of the accuracy. We subtract outputs element-wise before
summing (sum(dz * (f(x+h) - f(x-h))), not phi(x+h) - phi(x-h)): outputs that do
not depend on x_i cancel exactly, so round-off scales with the outputs that
moved, not with the size of f. And the step is the difference of the perturbed
values as stored, (x+h) - (x-h), not the h we meant.

Steps. Each element moves relative to its own size (with a floor near zero),
jittered by a seeded factor. Elements that met a domain edge or did not
converge are retried with steps 16x smaller; elements whose relative error
estimate is still above GROW_ABOVE are retried with steps 2^10 and 2^15x
larger, which leaves only rounding where the forward is linear in the input
(matmul, conv2d), and is kept only within the current error band (_grow).

Speed: elements whose outputs are disjoint move together (sparsity.py proves
the groups), so an element-wise op costs 8 evaluations in all, not 8 per
element. A group is used only while (a) none of its differences moves an
output outside its proved supports and (b) a random sample of its elements
gives the same quotients alone, within their round-off; otherwise its elements
go one at a time. Values never depend on whether grouping was used.

Kinks. At relu(0), |x| at 0 or a clip bound, the one-sided derivatives
    D+(h) = (phi(x+h) - phi(x)) / h,   D-(h) = (phi(x) - phi(x-h)) / h
disagree by far more than their truncation error (O(h), estimated from two
steps). There every value between them is a valid subgradient, so the
reference becomes an interval [lower, upper] instead of a point. Tied kinks
(equal values that share an output, max with ties) are also moved together:
see ties.py.

Batching (evaluator.py). The perturbed points are stacked along a new leading
axis and sent to the forward in one call when it broadcasts over that axis; a
batched call is trusted only after three distinct points give, batched, what
they give alone (a forward that reduces over all axes returns the right shape
with the wrong numbers). Chunks are sized to a memory budget that includes the
forward's own temporaries; otherwise points go one at a time.

Complex step (complexstep.py) refines the values of forwards that carry
complex input through, where it agrees with the central differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from gradcheck import sparsity
from gradcheck.evaluator import Evaluator, baseline, mover

EPS = float(np.finfo(np.float64).eps)
LEVELS = 4  # steps h, h/2, h/4, h/8
BASE_STEP = 2.0**-4  # h = BASE_STEP * scale_i; R[3][3] leaves O(h^8) truncation
JITTER = 0.25  # steps are spread by up to this fraction so that no two effects cancel exactly
RETRY_SHRINK = 16.0  # a step that met a domain edge or did not converge is retried this much smaller
RETRIES = 2
ROUNDOFF_FACTOR = 4.0  # ulps of error assumed in each output of the user's forward
KINK_FACTOR = 10.0  # one-sided slopes must disagree by this many times their truncation error
SAMPLE = 8  # grouped elements re-done alone (besides the first and last) to confirm the groups
GROW = (2.0**10, 2.0**15)  # elements whose relative error estimate is above GROW_ABOVE are retried with
GROW_ABOVE = 1e-11  # steps this much larger (linear forwards: less round-off), see _grow
DEFAULT_MEMORY_BYTES = 256 * 2**20  # for the points, outputs and the forward's temporaries of one batch
_SHRINK = 2.0 ** -np.arange(LEVELS)


@dataclass(frozen=True)
class Tie:
    """Kink elements with equal values that share an output, moved together (ties.py)."""

    indices: tuple[int, ...]  # flat indices into the input
    value: float  # derivative of phi along the sum of their unit vectors
    error: float


@dataclass(frozen=True)
class Reference:
    """The reference VJP for one input, element by element."""

    value: np.ndarray  # best estimate of (J^T dz)_i
    error: np.ndarray  # estimated |value - truth|, >= 0
    lower: np.ndarray  # valid interval: == value where smooth, one-sided range at kinks
    upper: np.ndarray
    kinks: int  # number of elements checked as kinks
    evaluations: int  # forward evaluations spent
    batched: bool  # whether the forward took batched points
    method: str = "central differences"  # or "complex step"
    groups: int = 0  # groups of several elements moved together (0: one element at a time)
    ties: tuple[Tie, ...] = ()  # tied kinks whose gradients must sum to the joint derivative
    notes: tuple[str, ...] = ()  # what else a reader of the report should know


def _richardson(estimates: np.ndarray, ratio: float, power: int) -> np.ndarray:
    """Richardson table along the last axis (steps h, h/ratio, h/ratio^2, ...).

    The error of estimates[..., l] expands in powers (h/ratio^l)^(power*k);
    returns the table's diagonal R[l][l] for each l.
    """
    table = [estimates[..., l] for l in range(estimates.shape[-1])]
    diagonal = [table[0]]
    for m in range(1, len(table)):
        factor = ratio ** (power * m)
        table = [(factor * table[l] - table[l - 1]) / (factor - 1) for l in range(1, len(table))]
        diagonal.append(table[0])
    return np.stack(diagonal, axis=-1)


def _richardson_weights(ratio: float, power: int, levels: int) -> np.ndarray:
    """Coefficients w with R[last][last] = sum_l w_l D_l (for propagating round-off)."""
    return _richardson(np.eye(levels), ratio, power)[:, -1]


_CENTRAL_WEIGHTS = np.abs(_richardson_weights(2.0, 2, LEVELS))


def _segment_sum(owners: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """(L, u) values summed per owner -> (count, L)."""
    levels = values.shape[0]
    index = owners[None, :] + count * np.arange(levels)[:, None]
    sums = np.bincount(index.ravel(), weights=values.ravel(), minlength=count * levels)
    return sums.reshape(levels, count).T


def _quotients(evaluate: Evaluator, x: np.ndarray, groups: list[sparsity.Group], steps: np.ndarray,
               dz: np.ndarray, f0: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Central and one-sided difference quotients of every element of `groups`, per step level.

    Each group's members move together, each by its own step; an output moved
    by a group is credited to the member that owns it. Returns the elements (in
    group order), the quotients (E, LEVELS) and, per group, whether it moved an
    output outside its proved supports (then its quotients must not be used).
    """
    flat, count = x.reshape(-1), len(groups)
    sizes = [len(g.elements) for g in groups]
    elements = np.concatenate([g.elements for g in groups])
    row = np.repeat(np.arange(count), sizes)[:, None]
    h = steps[elements][:, None] * _SHRINK[None, :]
    xi = flat[elements][:, None]
    plus, minus = xi + h, xi - h
    points = np.broadcast_to(flat, (count, LEVELS, 2, flat.size)).copy()
    level = np.arange(LEVELS)[None, :]
    points[row, level, 0, elements[:, None]] = plus
    points[row, level, 1, elements[:, None]] = minus
    outputs = evaluate(points.reshape(-1, *x.shape)).reshape(count, LEVELS, 2, -1)
    del points
    sums = {key: np.zeros((len(elements), LEVELS)) for key in ("central", "magnitude", "plus", "minus")}
    escaped = np.zeros(count, dtype=bool)
    start = np.concatenate([[0], np.cumsum(sizes)])
    single = np.array([g.outputs is None for g in groups])
    if single.any():  # one element owns every output: plain dot products, all at once
        y_plus, y_minus = outputs[single, :, 0], outputs[single, :, 1]
        moved = y_plus - y_minus
        rows = start[:-1][single]
        sums["central"][rows] = moved @ dz
        sums["magnitude"][rows] = ((np.abs(y_plus) + np.abs(y_minus)) * (moved != 0)) @ np.abs(dz)
        sums["plus"][rows] = (y_plus - f0) @ dz
        sums["minus"][rows] = (f0 - y_minus) @ dz
    for g in np.flatnonzero(~single):
        group, span = groups[g], slice(start[g], start[g + 1])
        y_plus, y_minus = outputs[g, :, 0], outputs[g, :, 1]
        outside = np.ones(f0.size, dtype=bool)
        outside[group.outputs] = False
        escaped[g] = bool(np.any(y_plus[:, outside] != f0[outside]) or np.any(y_minus[:, outside] != f0[outside]))
        yp, ym, base, w = y_plus[:, group.outputs], y_minus[:, group.outputs], f0[group.outputs], dz[group.outputs]
        moved = yp - ym
        k = sizes[g]
        sums["central"][span] = _segment_sum(group.owners, moved * w, k)
        sums["magnitude"][span] = _segment_sum(group.owners, (np.abs(yp) + np.abs(ym)) * (moved != 0) * np.abs(w), k)
        sums["plus"][span] = _segment_sum(group.owners, (yp - base) * w, k)
        sums["minus"][span] = _segment_sum(group.owners, (base - ym) * w, k)
    width = plus - minus  # the step as stored, not as meant
    quotients = {
        "central": sums["central"] / width,
        # Round-off: each output carries a few ulps; only outputs that moved contribute.
        "roundoff": ROUNDOFF_FACTOR * EPS * sums["magnitude"] / width,
        "plus": sums["plus"] / (plus - xi),
        "minus": sums["minus"] / (xi - minus),
    }
    return elements, quotients, escaped


def _estimate(diffs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Extrapolated value, error estimate and kink interval from difference quotients."""
    table = _richardson(diffs["central"], 2.0, 2)
    value = table[:, -1]
    roundoff = diffs["roundoff"] @ _CENTRAL_WEIGHTS
    # The spread between the last two diagonal entries bounds the error of the
    # second-best one; the best is (much) closer than that.
    truncation = np.abs(table[:, -1] - table[:, -2])
    error = truncation + roundoff

    # One-sided slopes, first order in h: extrapolate the last two levels once.
    plus, minus = diffs["plus"], diffs["minus"]
    plus_best = 2 * plus[:, -1] - plus[:, -2]
    minus_best = 2 * minus[:, -1] - minus[:, -2]
    spread = np.abs(plus[:, -1] - plus[:, -2]) + np.abs(minus[:, -1] - minus[:, -2])
    one_sided_noise = 2 * roundoff * 2.0 ** (LEVELS - 1)
    jump = np.abs(plus_best - minus_best)
    kink = (jump > KINK_FACTOR * (spread + one_sided_noise)) & (
        jump > 1e-8 * (np.abs(plus_best) + np.abs(minus_best))
    )
    slack = spread + one_sided_noise
    lower = np.where(kink, np.minimum(plus_best, minus_best) - slack, value)
    upper = np.where(kink, np.maximum(plus_best, minus_best) + slack, value)
    return {"value": value, "error": error, "lower": lower, "upper": upper, "kink": kink, "roundoff": roundoff}


def _scales(x: np.ndarray) -> np.ndarray:
    """The size each element moves relative to: |x_i|, with a floor for elements near zero.

    The floor is a tenth of the input's typical magnitude: a zero in an input
    of ones should move about as far as its neighbours, not by 1e-300.
    """
    flat = np.abs(x.reshape(-1))
    typical = float(np.mean(flat)) if flat.size else 0.0
    floor = max(0.1 * typical, 1e-3 if typical == 0 else 1e-12)
    return np.maximum(flat, floor)


def _initial_steps(x: np.ndarray) -> np.ndarray:
    """The largest step per element, BASE_STEP times its scale, spread by a seeded jitter.

    The jitter makes two elements' effects on a shared output cancel exactly
    (which would hide a conflict from sparsity.py's probes) only by accident of
    measure zero, even in an input of equal values.
    """
    jitter = 1.0 + JITTER * np.random.default_rng(x.size).random(x.size)
    return BASE_STEP * _scales(x) * jitter


_ALL_MOVES = tuple(sign * shrink for shrink in _SHRINK for sign in (1.0, -1.0))


class _Engine:
    """One input's differences: groups in, estimates per element out."""

    def __init__(self, evaluate: Evaluator, x: np.ndarray, dz: np.ndarray, f0: np.ndarray):
        self.evaluate, self.x, self.dz, self.f0 = evaluate, x, dz, f0

    def run(self, groups: list[sparsity.Group], steps: np.ndarray):
        """(elements, quotients, estimates, escaped groups) over chunks of groups."""
        per_chunk = max(1, self.evaluate.max_batch // (2 * LEVELS))
        parts = []
        for s in range(0, len(groups), per_chunk):
            with np.errstate(all="ignore"):
                elements, q, escaped = _quotients(self.evaluate, self.x, groups[s:s + per_chunk], steps,
                                                  self.dz, self.f0)
            parts.append((elements, q, [groups[s + g] for g in np.flatnonzero(escaped)]))
        elements = np.concatenate([p[0] for p in parts])
        quotients = {key: np.concatenate([p[1][key] for p in parts]) for key in parts[0][1]}
        with np.errstate(all="ignore"):
            found = _estimate(quotients)
        return elements, quotients, found, [g for p in parts for g in p[2]]

    def run_trusted(self, groups: list[sparsity.Group], steps: np.ndarray):
        """As run(), trusting a group only while it moves no output outside its proved supports.

        A group that does (an output that its +step probes left unchanged moved
        at another step, by rounding or asymmetry) is proved again with every
        step the differences take, and re-done; if it escapes again, its
        elements are done alone. Also returns the groups as they now stand, and
        how many escaped.
        """
        elements, quotients, found, escaped = self.run(groups, steps)
        if not escaped:
            return elements, quotients, found, groups, 0
        moved = mover(self.evaluate, self.x, steps, self.f0, _ALL_MOVES)
        again, _ = sparsity.settle(moved, [g.elements for g in escaped], self.x.size, self.f0.size,
                                   budget=self.x.size)
        redo_elements, q_redo, found_redo, still = self.run(again, steps)
        if still:
            alone = np.concatenate([g.elements for g in still])
            again = [g for g in again if not any(g is h for h in still)] + sparsity.singletons(alone)
            redo_elements, q_redo, found_redo, _ = self.run(again, steps)
        where = _positions(elements, redo_elements)
        for key in quotients:
            quotients[key][where] = q_redo[key]
        for key in found:
            found[key][where] = found_redo[key]
        gone = {id(g) for g in escaped}
        return elements, quotients, found, [g for g in groups if id(g) not in gone] + again, len(escaped)


def _positions(elements: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions in `elements` (a permutation of some indices) of each of `wanted`."""
    order = np.argsort(elements)
    return order[np.searchsorted(elements, wanted, sorter=order)]


def _agree(grouped: dict[str, np.ndarray], alone: dict[str, np.ndarray]) -> np.ndarray:
    """Per element: do the grouped quotients equal those computed alone, within round-off?

    The same outputs move by the same amounts either way (that is what a
    proved group means), so they differ only by summation order.
    """
    ok = np.ones(len(alone["central"]), dtype=bool)
    for key in ("central", "plus", "minus"):
        a, b = grouped[key], alone[key]
        same = (a == b) | (np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= alone["roundoff"] + 16 * EPS * np.abs(b))
        ok &= np.all(same, axis=1)
    return ok


def _grow(engine: _Engine, groups: list[sparsity.Group], x: np.ndarray, best: dict[str, np.ndarray],
          kink: np.ndarray) -> None:
    """Retry, with larger steps, smooth elements whose relative error is above GROW_ABOVE.

    Round-off falls like 1/h and truncation grows like h^8, so where truncation
    is small (a forward linear in this input, like matmul or conv2d, has none;
    its truncation estimate is itself round-off) a larger step buys accuracy. A
    larger step may also leave the region where the extrapolation is reliable,
    so its value is taken only where it lies within the current error, claims a
    smaller error itself, and finds no kink; and the error reported is the
    current one plus the distance moved, a bound that never trusts the larger
    step's own estimate. Each factor in GROW goes on only from the elements the
    previous one improved.
    """
    value, error = best["value"], best["error"]
    candidate = ~kink & np.isfinite(value) & (error > GROW_ABOVE * np.abs(value))
    for factor in GROW:
        if not candidate.any():
            return
        grown = [g.restrict(candidate[g.elements]) for g in groups if candidate[g.elements].any()]
        elements, _, found, _, _ = engine.run_trusted(grown, factor * _initial_steps(x))
        gap = np.abs(found["value"] - value[elements])
        take = (np.isfinite(found["value"]) & ~found["kink"] & (gap <= error[elements])
                & (found["error"] < error[elements]))
        chosen = elements[take]
        error[chosen] = error[chosen] + gap[take]
        value[chosen] = best["lower"][chosen] = best["upper"][chosen] = found["value"][take]
        candidate = np.zeros_like(candidate)
        candidate[chosen] = True


def reference_vjp(forward: Callable, inputs: Sequence[np.ndarray], cotangent: np.ndarray,
                  index: int, *, memory_bytes: int = DEFAULT_MEMORY_BYTES, grouping: bool = True,
                  complex_step: bool | None = None) -> Reference:
    """The finite-difference VJP of `forward` with respect to inputs[index].

    grouping: move elements with disjoint outputs together (proved, see
    sparsity.py). complex_step: None tries it and keeps it where it agrees
    with the central differences; False never; True tries it too (a forward
    that cannot carry complex values is then noted).
    """
    from gradcheck import complexstep, ties  # they build on this module

    inputs = [np.asarray(a, dtype=np.float64) for a in inputs]
    x = inputs[index]
    with np.errstate(all="ignore"):
        output_shape = np.shape(forward(*inputs))
    evaluate = Evaluator(forward, inputs, index, output_shape, memory_bytes)
    if x.size == 0:
        empty = np.zeros(x.shape)
        return Reference(value=empty, error=empty, lower=empty, upper=empty, kinks=0, evaluations=1,
                         batched=False)
    steps = _initial_steps(x)
    f0, repeats = baseline(evaluate, x, steps)
    engine = _Engine(evaluate, x, np.asarray(cotangent, dtype=np.float64).reshape(-1), f0)
    notes: list[str] = []
    if grouping and not repeats:
        notes.append("the forward does not repeat bitwise, so elements were moved one at a time")
    groups, best, kink = _first_pass(engine, steps, grouping and repeats, notes)
    _retry(engine, groups, steps, best, kink)
    _grow(engine, groups, x, best, kink)
    method = "central differences"
    if complex_step is not False:
        refined = complexstep.refine(evaluate, x, groups, _scales(x), engine.dz, best, kink)
        method = "complex step" if refined.used else method
        if refined.carried or complex_step:
            notes.append(refined.note)
    tied, tie_note = ties.find_ties(evaluate, x, kink, steps, engine.dz, f0)
    notes.extend([tie_note] if tie_note else [])
    shape = x.shape
    return Reference(
        value=best["value"].reshape(shape), error=best["error"].reshape(shape),
        lower=best["lower"].reshape(shape), upper=best["upper"].reshape(shape),
        kinks=int(kink.sum()), evaluations=evaluate.evaluations + 1, batched=bool(evaluate.batched),
        method=method, groups=sum(len(g.elements) > 1 for g in groups), ties=tied, notes=tuple(notes),
    )


def _first_pass(engine: _Engine, steps: np.ndarray, grouping: bool, notes: list[str]):
    """Groups (proved, or single elements), and the estimates per element they give.

    Grouped estimates are kept only if a sample of grouped elements, done
    alone, gives the same quotients; otherwise every element is done alone.
    """
    x, n = engine.x, engine.x.size
    rng = np.random.default_rng(n)
    groups = sparsity.singletons(np.arange(n))
    if grouping and n >= 2:
        moved = mover(engine.evaluate, x, steps, engine.f0)
        groups, _ = sparsity.find_groups(moved, x.shape, engine.f0.size, budget=2 * n, rng=rng)
    elements, quotients, found, groups, escaped = engine.run_trusted(groups, steps)
    if escaped:
        notes.append(f"{escaped} group(s) moved outputs outside their supports as probed with +step, and "
                     "were proved again with every step")
    several = [g for g in groups if len(g.elements) > 1]
    if several:
        pool = np.concatenate([g.elements for g in several])
        picks = np.unique(np.concatenate([pool[[0, -1]], rng.choice(pool, min(SAMPLE, len(pool)), replace=False)]))
        _, alone, _, _ = engine.run(sparsity.singletons(picks), steps)
        where = _positions(elements, picks)
        if not np.all(_agree({key: q[where] for key, q in quotients.items()}, alone)):
            notes.append("grouped differences disagreed with single-element ones on a sample, so every "
                         "element was re-done alone")
            groups = sparsity.singletons(np.arange(n))
            elements, _, found, _ = engine.run(groups, steps)
    best = {key: np.empty(n) for key in ("value", "error", "lower", "upper", "roundoff")}
    kink = np.zeros(n, dtype=bool)
    for key in best:
        best[key][elements] = found[key]
    kink[elements] = found["kink"]
    best["error"][~np.isfinite(best["value"])] = np.inf
    return groups, best, kink


def unconverged(value: np.ndarray, error: np.ndarray) -> np.ndarray:
    """Estimates worth retrying with smaller steps: a non-finite error (a domain edge), or an
    error above 1e-9 of the value's size (measured against the typical finite value, so that
    values near zero are not held to a relative standard)."""
    finite = np.abs(value[np.isfinite(value)])
    typical = float(np.mean(finite)) if finite.size else 0.0
    return ~np.isfinite(error) | (error > 1e-9 * (np.abs(value) + typical))


def _retry(engine: _Engine, groups: list[sparsity.Group], steps: np.ndarray, best: dict[str, np.ndarray],
           kink: np.ndarray) -> None:
    """Retry, with smaller steps, elements that met a domain edge (non-finite) or whose estimate is
    poor; keep whichever attempt estimated better."""
    for _attempt in range(RETRIES):
        poor = unconverged(best["value"], best["error"]) & (~kink | ~np.isfinite(best["error"]))
        if not poor.any():
            return
        steps = steps / RETRY_SHRINK
        retry = [g.restrict(poor[g.elements]) for g in groups if poor[g.elements].any()]
        elements, _, found, _, _ = engine.run_trusted(retry, steps)
        better = np.isfinite(found["value"]) & np.isfinite(found["error"]) & (found["error"] < best["error"][elements])
        chosen = elements[better]
        for key in best:
            best[key][chosen] = found[key][better]
        kink[chosen] = found["kink"][better]


def directional_sums(evaluate: Evaluator, x: np.ndarray, directions: np.ndarray, dz: np.ndarray,
                     f0: np.ndarray) -> dict[str, np.ndarray]:
    """Sums over outputs of dz * (change) along each row d of `directions`, moved by d, d/2, d/4, d/8.

    Returns (K, LEVELS) arrays: "central" sum dz (f(x+d) - f(x-d)), "magnitude"
    (what its round-off scales with), "plus" sum dz (f(x+d) - f(x)) and "minus"
    sum dz (f(x) - f(x-d)); the caller divides by the widths it knows. Points
    are built a chunk of (direction, step) pairs at a time: a fast-mode input
    may be large.
    """
    flat = x.reshape(-1)
    keys = ("central", "magnitude", "plus", "minus")
    sums = {key: np.empty((len(directions), LEVELS)) for key in keys}
    pairs = [(k, level) for k in range(len(directions)) for level in range(LEVELS)]
    per_chunk = max(1, evaluate.max_batch // 2)
    for s in range(0, len(pairs), per_chunk):
        chunk = pairs[s:s + per_chunk]
        moves = np.stack([directions[k] * _SHRINK[level] for k, level in chunk])  # (P, n)
        points = np.stack([flat + moves, flat - moves], axis=1)  # (P, 2, n)
        del moves
        outputs = evaluate(points.reshape(-1, *x.shape)).reshape(len(chunk), 2, -1)
        y_plus, y_minus = outputs[:, 0], outputs[:, 1]
        moved = y_plus - y_minus
        rows, levels = np.array([k for k, _ in chunk]), np.array([level for _, level in chunk])
        sums["central"][rows, levels] = moved @ dz
        sums["magnitude"][rows, levels] = ((np.abs(y_plus) + np.abs(y_minus)) * (moved != 0)) @ np.abs(dz)
        sums["plus"][rows, levels] = (y_plus - f0) @ dz
        sums["minus"][rows, levels] = (f0 - y_minus) @ dz
    return sums
