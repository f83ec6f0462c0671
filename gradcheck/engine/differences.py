"""Difference quotients of one input's elements, moved in proved groups, and along directions.

Two details buy most of the accuracy. Outputs are subtracted element-wise
before summing (sum dz * (f(x+h) - f(x-h)), not phi(x+h) - phi(x-h)): outputs
that do not depend on x_i cancel exactly, so round-off scales with the
outputs that moved, not with the size of f. And the step is the difference of
the perturbed values as stored, (x+h) - (x-h), not the h we meant.

A group's members move together, each by its own step; an output moved by a
group is credited to the member that owns it (sparsity.py proves ownership).
A group is trusted only while none of its differences moves an output outside
its proved supports (an output that its +step probes left unchanged may move
at another step, by rounding or asymmetry): such a group is proved again with
every step the differences take, and re-done; if it escapes again, its
elements are done alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradcheck.engine import sparsity
from gradcheck.engine.estimates import (
    DifferenceSums,
    Estimate,
    Quotients,
    estimate,
    quotients,
)
from gradcheck.engine.evaluator import Evaluator, mover
from gradcheck.engine.stencil import CENTRAL, Stencil

CREDIT_BLOCK = 2**15  # outputs credited at a time: (levels, block) temporaries of 1 MiB


@dataclass(frozen=True)
class Pass:
    """One pass of differences over some groups: per element (in `elements` order) its quotients and
    estimate; the groups as they stand after any re-proof; how many groups escaped their supports."""

    elements: np.ndarray
    quotients: Quotients
    estimate: Estimate
    groups: list[sparsity.Group]
    escaped: int = 0


def positions(elements: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions in `elements` (a permutation of some indices) of each of `wanted`."""
    order = np.argsort(elements)
    return order[np.searchsorted(elements, wanted, sorter=order)]


class Differencer:
    """One input's differences: groups and steps in, quotients and estimates per element out."""

    def __init__(self, evaluate: Evaluator, x: np.ndarray, dz: np.ndarray, f0: np.ndarray,
                 stencil: Stencil = CENTRAL):
        self.evaluate, self.x, self.dz, self.f0, self.stencil = evaluate, x, dz, f0, stencil

    def run(self, groups: list[sparsity.Group], steps: np.ndarray) -> tuple[Pass, list[sparsity.Group]]:
        """Differences over chunks of groups; also the groups that escaped their proved supports."""
        per_chunk = max(1, self.evaluate.max_batch // (2 * self.stencil.levels))
        elements, parts, escaped = [], [], []
        for s in range(0, len(groups), per_chunk):
            chunk = groups[s:s + per_chunk]
            with np.errstate(all="ignore"):
                members, q, out = self._quotients(chunk, steps)
            elements.append(members)
            parts.append(q)
            escaped.extend(chunk[g] for g in np.flatnonzero(out))
        q = Quotients.concat(parts)
        with np.errstate(all="ignore"):
            found = estimate(q, self.stencil)
        return Pass(np.concatenate(elements), q, found, groups), escaped

    def run_trusted(self, groups: list[sparsity.Group], steps: np.ndarray) -> Pass:
        """As run(), trusting a group only while it moves no output outside its proved supports."""
        first, escaped = self.run(groups, steps)
        if not escaped:
            return first
        moved = mover(self.evaluate, self.x, steps, self.f0,
                      tuple(sign * s for s in self.stencil.shrink for sign in (1.0, -1.0)))
        again, _ = sparsity.settle(moved, [g.elements for g in escaped], self.x.size, self.f0.size,
                                   budget=self.x.size)
        redo, still = self.run(again, steps)
        if still:
            alone = np.concatenate([g.elements for g in still])
            again = [g for g in again if not any(g is h for h in still)] + sparsity.singletons(alone)
            redo, _ = self.run(again, steps)
        where = positions(first.elements, redo.elements)
        first.quotients.put(where, redo.quotients)
        first.estimate.put(where, redo.estimate)
        gone = {id(g) for g in escaped}
        return Pass(first.elements, first.quotients, first.estimate,
                    [g for g in groups if id(g) not in gone] + again, len(escaped))

    def _quotients(self, groups: list[sparsity.Group], steps: np.ndarray):
        """The elements of `groups` (in group order), their quotients (E, levels), and per group whether
        it moved an output outside its proved supports (then its quotients must not be used)."""
        x, f0, dz, levels = self.x, self.f0, self.dz, self.stencil.levels
        flat, count = x.reshape(-1), len(groups)
        sizes = [len(g.elements) for g in groups]
        elements = np.concatenate([g.elements for g in groups])
        row = np.repeat(np.arange(count), sizes)[:, None]
        h = steps[elements][:, None] * self.stencil.shrink[None, :]
        xi = flat[elements][:, None]
        plus, minus = xi + h, xi - h
        points = np.broadcast_to(flat, (count, levels, 2, flat.size)).copy()
        level = np.arange(levels)[None, :]
        points[row, level, 0, elements[:, None]] = plus
        points[row, level, 1, elements[:, None]] = minus
        outputs = self.evaluate(points.reshape(-1, *x.shape)).reshape(count, levels, 2, -1)
        del points
        sums = DifferenceSums.empty(len(elements), levels)
        escaped = np.zeros(count, dtype=bool)
        start = np.concatenate([[0], np.cumsum(sizes)])
        single = np.array([g.outputs is None for g in groups])
        if single.any():  # one element owns every output: plain dot products, all at once
            sums.put(start[:-1][single], outputs[single, :, 0], outputs[single, :, 1], f0, dz, whole_rows=True)
        several = np.flatnonzero(~single)
        if len(several):
            escaped[several] = _credit_owners([groups[g] for g in several], outputs[several], start[several],
                                              f0, dz, sums)
        return elements, quotients(sums, plus - minus, plus - xi, xi - minus), escaped


def _credit_owners(groups: list[sparsity.Group], outputs: np.ndarray, first: np.ndarray, f0: np.ndarray,
                   dz: np.ndarray, sums: DifferenceSums) -> np.ndarray:
    """Add to `sums` each output's changes, credited to the member that owns it, for every group at once;
    return per group whether it moved an output outside its proved supports.

    outputs: (G, levels, 2, m), at +step and -step; first: each group's first row in `sums`. One
    segment sum per quantity over all the groups' outputs: no Python loop over groups.
    """
    counts = [len(g.outputs) for g in groups]
    which = np.repeat(np.arange(len(groups)), counts)  # each credited output's group ...
    columns = np.concatenate([g.outputs for g in groups])  # ... its index in f0 ...
    owner = np.concatenate([f + g.owners for f, g in zip(first, groups)])  # ... and the row it is credited to
    if np.any(owner[1:] < owner[:-1]):  # a group built without Group.owning: list its outputs owner by owner
        order = np.argsort(owner, kind="stable")
        which, columns, owner = which[order], columns[order], owner[order]
    moved = np.any(outputs != f0, axis=(1, 2))  # (G, m)
    moved[which, columns] = False
    _credit_blocks(("central", "magnitude", "plus", "minus"), outputs, which, columns, owner, f0, dz, sums)
    # One-sided round-off is read only where the central quotients are not finite (estimates.py, a domain
    # edge): there it is summed too, elsewhere it stays unknown (inf). A third less work where none fails.
    rows = np.unique(owner)
    failed = rows[~np.all(np.isfinite(sums.central[rows]) & np.isfinite(sums.magnitude[rows]), axis=1)]
    sums.plus_magnitude[rows] = sums.minus_magnitude[rows] = np.inf
    if len(failed):
        sums.plus_magnitude[failed] = sums.minus_magnitude[failed] = 0.0
        keep = np.isin(owner, failed)
        _credit_blocks(("plus_magnitude", "minus_magnitude"), outputs, which[keep], columns[keep], owner[keep],
                       f0, dz, sums)
    return moved.any(axis=1)


def _credit_blocks(names: tuple[str, ...], outputs: np.ndarray, which: np.ndarray, columns: np.ndarray,
                   owner: np.ndarray, f0: np.ndarray, dz: np.ndarray, sums: DifferenceSums) -> None:
    """Add the named sums, output by output credited to `owner` (ascending), a block of outputs at a time:
    temporaries that stay in cache, and one np.add.reduceat per run of outputs with the same owner."""
    for start in range(0, len(owner), CREDIT_BLOCK):
        part = slice(start, start + CREDIT_BLOCK)
        block, at, out = owner[part], which[part], columns[part]
        runs = np.flatnonzero(np.concatenate([[True], block[1:] != block[:-1]]))
        yp, ym = outputs[at, :, 0, out].T, outputs[at, :, 1, out].T  # (levels, block)
        base, w = f0[out], dz[out]
        for name in names:
            getattr(sums, name)[block[runs]] += np.add.reduceat(_term(name, yp, ym, base, w), runs, axis=1).T


def _term(name: str, yp: np.ndarray, ym: np.ndarray, base: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Each output's share of one DifferenceSums quantity (magnitudes: moved_magnitude times |dz|)."""
    match name:
        case "central":
            return (yp - ym) * w
        case "magnitude":
            return (np.abs(yp) + np.abs(ym)) * (yp != ym) * np.abs(w)
        case "plus":
            return (yp - base) * w
        case "minus":
            return (base - ym) * w
        case "plus_magnitude":
            return (np.abs(yp) + np.abs(base)) * (yp != base) * np.abs(w)
        case "minus_magnitude":
            return (np.abs(ym) + np.abs(base)) * (ym != base) * np.abs(w)
    raise ValueError(name)


def directional_sums(evaluate: Evaluator, x: np.ndarray, directions: np.ndarray, dz: np.ndarray,
                     f0: np.ndarray, stencil: Stencil = CENTRAL) -> DifferenceSums:
    """(K, levels) sums along each row d of `directions`, moved by d, d/2, d/4, ...

    The caller divides by the widths it knows. Points are built a chunk of
    (direction, step) pairs at a time: a fast-mode input may be large.
    """
    flat = x.reshape(-1)
    levels = stencil.levels
    sums = DifferenceSums.empty(len(directions), levels)
    per_chunk = max(1, evaluate.max_batch // 2)  # (direction, level) pairs a call
    if per_chunk >= levels:  # whole directions a chunk: one-sided magnitudes only where they are read
        for s in range(0, len(directions), per_chunk // levels):
            rows = np.arange(s, min(s + per_chunk // levels, len(directions)))
            # (R, L, 2, n): x + move, x - move, with move = d * shrink, built in place (no temporaries)
            points = np.empty((len(rows), levels, 2, flat.size))
            moves = points[:, :, 1]
            np.multiply(directions[rows[0]:rows[-1] + 1][:, None, :], stencil.shrink[None, :, None], out=moves)
            np.add(flat, moves, out=points[:, :, 0])
            np.subtract(flat, moves, out=moves)
            outputs = evaluate(points.reshape(-1, *x.shape)).reshape(len(rows), levels, 2, -1)
            del points, moves  # before the sums' own buffers: a lower peak
            sums.put(rows, outputs[:, :, 0], outputs[:, :, 1], f0, dz, whole_rows=True)
        return sums
    pairs = [(k, level) for k in range(len(directions)) for level in range(levels)]
    for s in range(0, len(pairs), per_chunk):
        chunk = pairs[s:s + per_chunk]
        moves = np.stack([directions[k] * stencil.shrink[level] for k, level in chunk])  # (P, n)
        points = np.stack([flat + moves, flat - moves], axis=1)  # (P, 2, n)
        del moves
        outputs = evaluate(points.reshape(-1, *x.shape)).reshape(len(chunk), 2, -1)
        rows, levels_of = np.array([k for k, _ in chunk]), np.array([level for _, level in chunk])
        sums.put((rows, levels_of), outputs[:, 0], outputs[:, 1], f0, dz)
    return sums
