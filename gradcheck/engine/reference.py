"""The finite-difference reference: J^T dz with a per-element error estimate.

We differentiate the scalar  phi(x) = sum(dz * f(x))  in float64. Its gradient
is exactly the VJP J^T dz, so one scalar derivative per input element gives
the whole reference, whatever the output's size. The stencil (central
differences, Richardson-extrapolated) is stencil.py; the quotients and their
assembly into estimates are differences.py and estimates.py.

Steps. Each element moves relative to its own size (with a floor near zero),
jittered by a seeded factor, and never farther than stencil.RADIUS of it
(DESIGN section 7: a forward need only be defined near the point). Elements
that met a domain edge or did not converge are retried with steps 16x
smaller; where a step leaves the forward's domain (it raises, or returns a
non-finite value) the element keeps shrinking, or is taken one-sided
(estimates.py), and only an element with no estimate at all is an error
(OutsideDomain), which names it. Elements whose relative error estimate is
still above GROW_ABOVE are re-estimated at the largest steps the radius
allows, averaged over many (_average_at_radius), which leaves only rounding where the
forward is linear in the input (matmul, conv2d).

Speed: elements whose outputs are disjoint move together (sparsity.py proves
the groups), so an element-wise op costs 8 evaluations in all, not 8 per
element. A group is used only while (a) none of its differences moves an
output outside its proved supports and (b) a random sample of its elements
gives the same quotients alone, within their round-off; otherwise its elements
go one at a time. Values never depend on whether grouping was used.

Kinks (estimates.py) become intervals of valid subgradients; tied kinks
(equal values that share an output, max with ties) are also moved together
(ties.py). Batching (evaluator.py) stacks perturbed points along a leading
axis once a batched call is shown to equal separate calls. Complex step
(complexstep.py) refines the values of forwards that carry complex input
through, where it agrees with the central differences. Where there are so
many groups that the element-wise differences would cost far more than the
complex step (a dense Jacobian: softmax), the complex step comes first, checked
along a few random directions (projections.py); the element-wise differences
run only if that check fails.

Complex inputs and outputs (complexview.py) are differenced as real views:
the real and imaginary part of each element are two real elements, and the
gradient comes back as d phi/d Re z + i d phi/d Im z.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from gradcheck.dtypes import as_float64
from gradcheck.engine import complexstep, complexview, projections, sparsity, ties
from gradcheck.engine.differences import Differencer, positions
from gradcheck.engine.estimates import Estimate, OutsideDomain, Quotients, Reference
from gradcheck.engine.evaluator import DEFAULT_MEMORY_BYTES, Evaluator, baseline, mover
from gradcheck.engine.stencil import (
    CENTRAL,
    DOMAIN_RETRIES,
    EPS,
    RETRIES,
    RETRY_SHRINK,
    Stencil,
    initial_steps,
    radius,
    retry_steps,
    scales,
    unconverged,
    unmoved,
)

SAMPLE = 8  # grouped elements re-done alone (besides the first and last) to confirm the groups
# The sample alone: CENTRAL's widest and narrowest steps only, half the evaluations of all four. An output
# credited to the wrong member changes that member's quotient at every step it moves at; the steps between
# the two extremes add nothing the escape check (differences.py) does not already watch.
SAMPLE_STENCIL = Stencil(levels=2, ratio=CENTRAL.ratio ** (CENTRAL.levels - 1))
GROW_ABOVE = 1e-11  # elements whose relative error estimate is above this are re-estimated at the radius
SPREAD = Stencil(levels=8, ratio=2.0 ** (1 / 7))  # _average_at_radius's steps: eight from the radius down to half of it
GROW_ROUNDS = 16  # at most this many SPREADs per element, while its mean is still noisier than GROW_ABOVE


def _agree(grouped: Quotients, alone: Quotients) -> np.ndarray:
    """Per element: do the grouped quotients equal those computed alone, within round-off?

    The same outputs move by the same amounts either way (that is what a
    proved group means), so they differ only by summation order.
    """
    ok = np.ones(len(alone.central), dtype=bool)
    for name in ("central", "plus", "minus"):
        a, b = getattr(grouped, name), getattr(alone, name)
        with np.errstate(invalid="ignore"):  # inf - inf: not the same, unless equal (the first test)
            same = (a == b) | (np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= alone.roundoff + 16 * EPS * np.abs(b))
        ok &= np.all(same, axis=1)
    return ok


def _retry(differencer: Differencer, groups: list[sparsity.Group], steps: np.ndarray, best: Estimate) -> None:
    """Retry, with smaller steps, elements that met a domain edge (no estimate, or a one-sided one) or
    whose estimate is poor; keep whichever attempt estimated better. Past RETRIES, only elements at a
    domain edge go on shrinking (to DOMAIN_RETRIES)."""
    for attempt, smaller in enumerate(retry_steps(steps, DOMAIN_RETRIES)):
        poor = unconverged(best.value, best.error) & (~best.kink | ~np.isfinite(best.error))
        if attempt > RETRIES:
            poor &= best.one_sided | ~np.isfinite(best.value)
        if attempt == 0 or not poor.any():
            continue
        retry = [g.restrict(poor[g.elements]) for g in groups if poor[g.elements].any()]
        found = differencer.run_trusted(retry, smaller)
        new = found.estimate
        better = np.isfinite(new.value) & np.isfinite(new.error) & (new.error < best.error[found.elements])
        better &= ~unmoved(new.value, new.error) | ~(np.isfinite(best.value) & ~unmoved(best.value, best.error))[found.elements]
        best.put(found.elements[better], new, better)


class RunningMean:
    """Per element, the mean of samples added a round at a time, and its standard error.

    Samples are kept as deviations from a reference value (the current
    estimate): raw sums of squares of values near 10 that differ by 1e-13 would
    cancel catastrophically.
    """

    def __init__(self, reference: np.ndarray):
        self.reference = reference.copy()
        self.total, self.squares, self.count = (np.zeros(len(reference)) for _ in range(3))

    def add(self, elements: np.ndarray, samples: np.ndarray) -> None:
        """samples: (len(elements), k) values for those elements."""
        deviation = samples - self.reference[elements][:, None]
        self.total[elements] += deviation.sum(axis=1)
        self.squares[elements] += (deviation**2).sum(axis=1)
        self.count[elements] += deviation.shape[1]

    def shift(self, elements: np.ndarray) -> np.ndarray:
        """The mean minus the reference value."""
        return self.total[elements] / self.count[elements]

    def standard_error(self, elements: np.ndarray) -> np.ndarray:
        count, shift = self.count[elements], self.shift(elements)
        with np.errstate(invalid="ignore", over="ignore"):  # an overflowed estimate: a NaN error, refused later
            variance = np.maximum(self.squares[elements] / count - shift**2, 0.0) * count / (count - 1)
        return np.sqrt(variance / count)


def _average_at_radius(differencer: Differencer, groups: list[sparsity.Group], x: np.ndarray,
                       best: Estimate) -> None:
    """Re-estimate, at the largest steps the radius allows, smooth elements whose relative error is
    above GROW_ABOVE, as the mean of many central quotients.

    Round-off falls like 1/h and truncation grows like h^2, so where truncation
    is nil (a forward linear in this input, like matmul or conv2d; its
    extrapolation error is itself round-off) the widest steps buy accuracy. The
    radius caps them at a few times the first step, so the rest comes from
    averaging: the quotients at SPREAD's eight steps (radius to radius / 2) have
    independent rounding, and their mean's standard error falls like 1/sqrt(k).
    An element takes a further round, at steps between the earlier ones, while
    that standard error is above GROW_ABOVE of its mean, up to GROW_ROUNDS.

    Wide steps may also see curvature, a kink or a domain edge, so the mean is
    taken only where, after every round, it lies within the current error; and
    the error reported is the current one plus the distance moved, a bound that
    never trusts the mean's own noise estimate.
    """
    wide = Differencer(differencer.evaluate, x, differencer.dz, differencer.f0, SPREAD)
    value, error = best.value, best.error
    active = ~best.kink & ~best.one_sided & np.isfinite(value) & (error > GROW_ABOVE * np.abs(value))
    mean, rejected = RunningMean(value), np.zeros(x.size, dtype=bool)
    for round_ in range(GROW_ROUNDS):
        if not active.any():
            break
        grown = [g.restrict(active[g.elements]) for g in groups if active[g.elements].any()]
        found = wide.run_trusted(grown, radius(x) * SPREAD.ratio ** (-round_ / GROW_ROUNDS))
        e = found.elements
        mean.add(e, found.quotients.central)
        shift = mean.shift(e)
        inside = np.isfinite(shift) & (np.abs(shift) <= error[e])
        rejected[e[~inside]] = True
        active[:] = False
        active[e[inside & (mean.standard_error(e) > GROW_ABOVE * np.abs(value[e] + shift))]] = True
    chosen = np.flatnonzero((mean.count > 0) & ~rejected)
    shift = mean.shift(chosen)
    error[chosen] += np.abs(shift)
    value[chosen] += shift
    best.lower[chosen] = best.upper[chosen] = value[chosen]


def _outside_domain(evaluate: Evaluator, x: np.ndarray, steps: np.ndarray, best: Estimate) -> OutsideDomain | None:
    """The error for elements with no estimate at all: every step, down to the smallest, left the domain."""
    missing = np.flatnonzero(~np.isfinite(best.value))
    if not len(missing):
        return None
    first = missing[0]
    smallest = steps[first] * CENTRAL.shrink[-1] / RETRY_SHRINK**DOMAIN_RETRIES
    return OutsideDomain(index=tuple(int(i) for i in np.unravel_index(first, x.shape)),
                         value=float(x.reshape(-1)[first]), smallest=float(smallest),
                         failure=evaluate.failure, more=len(missing) - 1)


def reference_vjp(forward: Callable, inputs: Sequence[np.ndarray], cotangent: np.ndarray,
                  index: int, *, memory_bytes: int = DEFAULT_MEMORY_BYTES, grouping: bool = True,
                  complex_step: bool | None = None, step_scale: float = 1.0) -> Reference:
    """The finite-difference VJP of `forward` with respect to inputs[index].

    grouping: move elements with disjoint outputs together (proved, see
    sparsity.py). complex_step: None tries it and keeps it where it agrees
    with the central differences; False never; True tries it too (a forward
    that cannot carry complex values is then noted). step_scale multiplies every
    step: a second reference at a smaller scale exposes a first one aliased by an
    oscillation whose period the steps happen to match (sin x / x at x = 782 with
    steps of about 8, 4, 2 and 1 periods gives smooth, "converged", wrong quotients).
    Complex values (in this input, another, or the output) rule out the complex step.
    """
    inputs = [as_float64(a) for a in inputs]
    with np.errstate(all="ignore"):
        output = forward(*inputs)
    form = complexview.real_form(forward, inputs, index, output)
    if form is not None:  # difference the real view; a complex input's gradient is packed back
        reference = reference_vjp(form.forward, form.inputs, form.cotangent(cotangent), index,
                                  memory_bytes=memory_bytes, grouping=grouping, complex_step=False,
                                  step_scale=step_scale)
        return complexview.complex_reference(reference) if form.complex_input else reference
    if any(np.iscomplexobj(a) for a in inputs):
        complex_step = False
    x = inputs[index]
    output_shape = np.shape(output)
    evaluate = Evaluator(forward, inputs, index, output_shape, memory_bytes)
    if x.size == 0:
        empty = np.zeros(x.shape)
        return Reference(value=empty, error=empty, lower=empty, upper=empty, kinks=0, evaluations=1,
                         batched=False)
    steps = step_scale * initial_steps(x)
    f0, repeats = baseline(evaluate, x, steps)
    differencer = Differencer(evaluate, x, np.asarray(cotangent, dtype=np.float64).reshape(-1), f0)
    notes: list[str] = []
    if grouping and not repeats:
        notes.append("the forward does not repeat bitwise, so elements were moved one at a time")
    rng = np.random.default_rng(x.size)
    groups = _groups(differencer, steps, grouping and repeats, rng)
    step = None
    if complex_step is not False and projections.worthwhile(len(groups)):
        # Many groups: the complex step first, checked along random directions (projections.py), which
        # costs a fraction of the element-wise differences; those run only if the check fails.
        step = complexstep.derivatives(evaluate, x, groups, scales(x), differencer.dz)
        if step.carried:
            checked = projections.check(evaluate, x, differencer.dz, f0, step, step_scale)
            if checked.accepted:
                return _projected(evaluate, x, groups, step, checked, notes)
            notes.append(checked.note)
    groups, best = _first_pass(differencer, groups, steps, rng, notes)
    _retry(differencer, groups, steps, best)
    undefined = _outside_domain(evaluate, x, steps, best)
    if undefined is not None:
        raise undefined
    if best.one_sided.any():
        notes.append(f"{int(best.one_sided.sum())} element(s) differenced one-sided: the forward is undefined "
                     "on the other side, within a step")
    # The complex step first: where it holds (an analytic forward) it is exact to rounding, and the
    # averaging at the radius, which buys the last digits of linear forwards, has nothing left to do.
    method = "central differences"
    refined = None
    if complex_step is not False:
        if step is None or step.groups is not groups:  # not tried yet, or the groups changed since
            step = complexstep.derivatives(evaluate, x, groups, scales(x), differencer.dz)
        refined = complexstep.refine(step, best)
        method = "complex step" if refined.used else method
        if refined.carried or complex_step:
            notes.append(refined.note)
    if refined is None or not refined.used:
        _average_at_radius(differencer, groups, x, best)
    tied, tie_note = ties.find_ties(evaluate, x, best.kink, steps, differencer.dz, f0)
    ties.per_output_kinks(evaluate, x, best.kink, steps, differencer.dz, f0.reshape(-1), best.lower, best.upper)
    notes.extend([tie_note] if tie_note else [])
    shape = x.shape
    return Reference(
        value=best.value.reshape(shape), error=best.error.reshape(shape),
        lower=best.lower.reshape(shape), upper=best.upper.reshape(shape),
        kinks=int(best.kink.sum()), evaluations=evaluate.evaluations + 1, batched=bool(evaluate.batched),
        method=method, groups=sum(len(g.elements) > 1 for g in groups), colours=len(groups), ties=tied,
        notes=tuple(notes), proof_evaluations=evaluate.proof_evaluations,
    )


def _groups(differencer: Differencer, steps: np.ndarray, grouping: bool,
            rng: np.random.Generator) -> list[sparsity.Group]:
    """Proved groups (sparsity.py), or every element alone."""
    x, n = differencer.x, differencer.x.size
    if grouping and n >= 2:
        moved = mover(differencer.evaluate, x, steps, differencer.f0)
        return sparsity.find_groups(moved, x.shape, differencer.f0.size, budget=2 * n, rng=rng)[0]
    return sparsity.singletons(np.arange(n))  # only here: a hundred thousand groups of one cost a Python object each


def _projected(evaluate: Evaluator, x: np.ndarray, groups: list[sparsity.Group], step: complexstep.ComplexStep,
               checked: projections.Projections, notes: list[str]) -> Reference:
    """The reference from a complex step that its random projections accepted: no differences per element,
    so no kinks, ties or one-sided elements (a kink or a domain edge would have failed the projections)."""
    shape = x.shape
    value = step.value.reshape(shape)
    return Reference(
        value=value, error=checked.error.reshape(shape), lower=value, upper=value, kinks=0,
        evaluations=evaluate.evaluations + 1, batched=bool(evaluate.batched), method="complex step",
        groups=sum(len(g.elements) > 1 for g in groups), colours=len(groups), notes=(*notes, checked.note),
        proof_evaluations=evaluate.proof_evaluations,
    )


def _first_pass(differencer: Differencer, groups: list[sparsity.Group], steps: np.ndarray,
                rng: np.random.Generator, notes: list[str]) -> tuple[list[sparsity.Group], Estimate]:
    """The groups as the differences leave them (re-proved where they escaped, or every element alone),
    and the estimates per element they give.

    Grouped estimates are kept only if a sample of grouped elements, done
    alone, gives the same quotients; otherwise every element is done alone.
    """
    x, n = differencer.x, differencer.x.size
    found = differencer.run_trusted(groups, steps)
    groups = found.groups
    if found.escaped:
        notes.append(f"{found.escaped} group(s) moved outputs outside their supports as probed with +step, "
                     "and were proved again with every step")
    several = [g for g in groups if len(g.elements) > 1]
    if several:
        pool = np.concatenate([g.elements for g in several])
        picks = np.unique(np.concatenate([pool[[0, -1]], rng.choice(pool, min(SAMPLE, len(pool)), replace=False)]))
        before = differencer.evaluate.evaluations
        sampler = Differencer(differencer.evaluate, x, differencer.dz, differencer.f0, SAMPLE_STENCIL)
        alone, _ = sampler.run(sparsity.singletons(picks), steps)
        differencer.evaluate.proof_evaluations += differencer.evaluate.evaluations - before
        grouped = found.quotients.take(positions(found.elements, picks)).at_levels([0, CENTRAL.levels - 1])
        if not np.all(_agree(grouped, alone.quotients)):
            notes.append("grouped differences disagreed with single-element ones on a sample, so every "
                         "element was re-done alone")
            groups = sparsity.singletons(np.arange(n))
            found, _ = differencer.run(groups, steps)
    best = Estimate.empty(n)
    best.put(found.elements, found.estimate)
    best.error[~np.isfinite(best.value)] = np.inf
    return groups, best
