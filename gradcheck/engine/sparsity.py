"""Groups of input elements that can be moved together, each group proved before use.

The reference needs one derivative per input element, and moving elements one
at a time costs 8 forward evaluations each. Most Jacobians are sparse in a
structured way: an element-wise op moves one output per element, x[i, j] of a
matmul moves only row i, a k x k convolution moves a k x k patch. Elements
whose output *supports* are disjoint can be moved together (Curtis, Powell
and Reid, 1974): each output that changes then belongs to exactly one of them,
and summing dz * (change) over its own outputs gives that element's derivative.
This module finds such groups for any forward, user code included, and proves
each one; whatever is not proved stays a group of one.

A support is what the differences see: output o is in the support of x_i when
moving x_i by its largest step changes o at all, bitwise, against the
unperturbed output computed the same way. Moving by the step itself (not to a
NaN) sees value-dependent structure as it is at this point: an np.where that
would swallow a NaN, a relu that is off.

1. Candidate, a lattice colouring. Along each axis, the reach r_a is the
   smallest offset at which a few sample elements and their neighbours that far
   away share no output (found by doubling the offset, then bisecting).
   Elements whose indices agree modulo (r_1, ..., r_d) form one group: any two
   differ by at least r_a along some axis. Element-wise ops give one group,
   matmul x one group per column, a 5 x 5 convolution 25.
2. Proof, per group, with 2L probes (L = ceil(log2 |group|)). Probe b moves
   the members whose position in the group has bit b set, probe L + b those
   with bit b clear. An output moved by one member changes in exactly one probe
   of every pair, and the probes that moved it spell that member's position in
   binary. An output moved by two members changes in both probes of a pair
   where their positions differ (or in neither, where their effects cancel
   exactly): the group is refuted, split on the bit that the most conflicting
   outputs name, and each half is proved again, down to single elements.
   Where every reach is 1 or its whole axis (element-wise ops, matmul,
   reductions along an axis), all groups are first proved at once
   (_prove_blocks): the lattice's blocks (i_1 // r_1, ..., i_d // r_d) hold
   at most one member of each group, so 2 ceil(log2 blocks) probes over block
   numbers, every group's members moving in each, show whether every output
   is moved from within one block; if so no two members of a group share an
   output, and each output's owner is its block's member. matmul 128 x 128
   then costs 14 probes for x where group by group took 128 x 14.
3. Use (numeric.py): every difference of a group must move no output outside
   its proved supports, and a random sample of its elements must give the same
   quotients alone; anything else falls back to single elements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gradcheck.engine.evaluator import Moved

SAMPLES = 3  # sample elements per axis for the reach: the centre and two at random
MASK_BYTES = 64 * 2**20  # probe masks and their answers held at once


@dataclass(frozen=True)
class Group:
    """Elements moved together. `outputs is None`: one element, owning every output."""

    elements: np.ndarray  # flat input indices, ascending
    outputs: np.ndarray | None = None  # flat output indices that the members may move, grouped by owner
    owners: np.ndarray | None = None  # for each of `outputs`, its owner's position in `elements`, ascending

    @classmethod
    def owning(cls, elements: np.ndarray, outputs: np.ndarray, owners: np.ndarray) -> Group:
        """A group whose outputs are listed owner by owner, so that each member's sum over its outputs is
        one contiguous run (differences.py sums them with np.add.reduceat)."""
        order = np.argsort(owners, kind="stable")
        return cls(elements, outputs[order], owners[order])

    def restrict(self, keep: np.ndarray) -> Group:
        """The members where `keep`; outputs owned by the others are dropped (they will not move)."""
        if self.outputs is None:
            return Group(self.elements[keep])
        position = np.cumsum(keep) - 1
        owned = keep[self.owners]
        return Group(self.elements[keep], self.outputs[owned], position[self.owners[owned]])


def singletons(elements: np.ndarray) -> list[Group]:
    return [Group(np.array([e])) for e in np.asarray(elements, dtype=np.intp)]


def find_groups(moved: Moved, shape: tuple[int, ...], output_size: int, *, budget: int,
                rng: np.random.Generator) -> tuple[list[Group], int]:
    """Proved groups covering every element, and the probes spent.

    `budget` caps the probes: past it, whatever is not yet proved stays single.
    """
    n = math.prod(shape)
    reach, spent = _reach(moved, shape, rng)
    colours = _lattice_colours(shape, reach)
    if colours.max(initial=0) + 1 > n // 2:  # hardly any sharing: not worth proving
        return singletons(np.arange(n)), spent
    order = np.argsort(colours, kind="stable")
    bounds = np.flatnonzero(np.diff(colours[order])) + 1
    parts = [np.sort(part) for part in np.split(order, bounds)]
    if all(r in (1, size) for r, size in zip(reach, shape)):  # no output can straddle two blocks legitimately
        groups, cost = _prove_blocks(moved, shape, reach, parts, output_size)
        spent += cost
        if groups is not None:
            return groups, spent
    groups, cost = settle(moved, parts, n, output_size, budget=budget - spent)
    return groups, spent + cost


def candidate_sizes(moved: Moved, shape: tuple[int, ...], rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """The sizes of the candidate groups that find_groups would set out to prove, and the probes spent
    finding them (the reach only, a few per axis: no proof). All ones where hardly anything is shared.

    For predicting a reference's cost (cost.py) without paying for the proof.
    """
    n = math.prod(shape)
    reach, spent = _reach(moved, shape, rng)
    colours = _lattice_colours(shape, reach)
    if colours.max(initial=0) + 1 > n // 2:
        return np.ones(n, dtype=np.int64), spent
    return np.bincount(colours), spent


def settle(moved: Moved, pending: list[np.ndarray], n: int, output_size: int, *,
           budget: int) -> tuple[list[Group], int]:
    """Prove each candidate group, splitting refuted ones, until all are proved or single."""
    groups: list[Group] = []
    spent = 0
    while pending:
        single = [p for p in pending if len(p) == 1]
        groups.extend(singletons(np.concatenate(single)) if single else [])
        pending = [p for p in pending if len(p) > 1]
        if not pending:
            break
        if spent > budget:
            groups.extend(singletons(np.concatenate(pending)))
            break
        proved, refuted, cost = _prove(moved, pending, n, output_size)
        spent += cost
        groups.extend(proved)
        pending = [half for members, bit in refuted for half in _split(members, bit)]
    return groups, spent


def _prove_blocks(moved: Moved, shape: tuple[int, ...], reach: list[int], parts: list[np.ndarray],
                  output_size: int) -> tuple[list[Group] | None, int]:
    """Every candidate group proved at once, or None (then group by group), and the probes spent.

    Block b is the elements i with i_a // r_a fixed on every axis; a group (a
    lattice colour) has at most one member in each, since i_a mod r_a and
    i_a // r_a together give i_a. The probes are _prove's, over block numbers
    instead of positions in a group: an output moved from within one block
    spells that block's number in binary, one moved from two blocks refutes
    the whole lattice (and then nothing is lost but these probes).
    """
    n = math.prod(shape)
    counts = [-(-size // r) for size, r in zip(shape, reach)]
    index = np.indices(shape).reshape(len(shape), -1)
    block = np.ravel_multi_index(tuple(index[axis] // r for axis, r in enumerate(reach)), counts)
    decoder = _Decoder(np.arange(math.prod(counts)), output_size)
    per_chunk = max(1, MASK_BYTES // (2 * (n + output_size)))
    spent = 0
    for start in range(0, decoder.bits, per_chunk):
        bits = range(start, min(start + per_chunk, decoder.bits))
        masks = np.zeros((2 * len(bits), n), dtype=bool)
        for row, b in enumerate(bits):
            masks[2 * row] = (block >> b) & 1 == 1
            masks[2 * row + 1] = ~masks[2 * row]
        answers = moved(masks)
        spent += len(masks)
        for row, b in enumerate(bits):
            decoder.add(b, answers[2 * row], answers[2 * row + 1])
    verdict = decoder.verdict()
    if not isinstance(verdict, Group):
        return None, spent
    groups: list[Group] = []
    position = np.full(len(decoder.members), -1, dtype=np.intp)
    for part in parts:
        if len(part) == 1:
            groups.extend(singletons(part))
            continue
        position[block[part]] = np.arange(len(part))
        owners = position[verdict.owners]  # each output's owner: the member in its block, if any
        mine = owners >= 0
        groups.append(Group.owning(part, verdict.outputs[mine], owners[mine]))
        position[block[part]] = -1
    return groups, spent


def _lattice_colours(shape: tuple[int, ...], reach: list[int]) -> np.ndarray:
    """colour(i) = the index of (i_1 mod r_1, ..., i_d mod r_d), per flat element."""
    index = np.indices(shape).reshape(len(shape), -1) if shape else np.zeros((0, 1), dtype=np.intp)
    colour = np.zeros(index.shape[1], dtype=np.int64)
    for axis, r in enumerate(reach):
        colour = colour * r + index[axis] % r
    return colour


def _reach(moved: Moved, shape: tuple[int, ...], rng: np.random.Generator) -> tuple[list[int], int]:
    """Per axis, the smallest offset at which sample elements stop sharing outputs (the box model)."""
    reach, spent = [1] * len(shape), 0
    picks = [tuple(d // 2 for d in shape)] + [
        tuple(int(rng.integers(0, d)) for d in shape) for _ in range(SAMPLES - 1)
    ]
    for axis, size in enumerate(shape):
        if size == 1:
            continue
        for pick in picks:
            r, cost = _axis_reach(moved, shape, pick, axis)
            reach[axis], spent = max(reach[axis], r), spent + cost
            if reach[axis] == size:
                break
    return reach, spent


def _axis_reach(moved: Moved, shape: tuple[int, ...], pick: tuple[int, ...], axis: int) -> tuple[int, int]:
    size, at = shape[axis], pick[axis]
    longest = max(size - 1 - at, at)
    n = math.prod(shape)

    def neighbour(k: int) -> int:
        index = list(pick)
        index[axis] = at + k if at + k < size else at - k
        return int(np.ravel_multi_index(index, shape))

    def conflicts(offsets: list[int]) -> np.ndarray:
        masks = np.zeros((len(offsets) + 1, n), dtype=bool)
        masks[0, int(np.ravel_multi_index(pick, shape))] = True
        for row, k in enumerate(offsets, start=1):
            masks[row, neighbour(k)] = True
        answer = moved(masks)
        if not answer[0].any():  # the sample moves nothing: it says nothing
            return np.zeros(len(offsets), dtype=bool)
        return (answer[1:] & answer[0]).any(axis=1)

    doubling = sorted({min(2**j, longest) for j in range(max(1, longest).bit_length() + 1)})
    found = conflicts(doubling)
    spent = len(doubling) + 1
    if not found.any():
        return 1, spent
    if found.all():
        return size, spent
    first_clear = int(np.argmin(found))  # the box model: conflicts up to some offset, none beyond
    low, high = doubling[first_clear - 1], doubling[first_clear]  # low conflicts, high does not
    while high - low > 1:  # multisection: up to 15 offsets per round, in one batch
        between = sorted({int(k) for k in np.linspace(low, high, 17)[1:-1].round()} - {low, high})
        inner = conflicts(between)
        spent += len(between) + 1
        clear = np.flatnonzero(~inner)
        low = between[clear[0] - 1] if len(clear) and clear[0] > 0 else (low if len(clear) else between[-1])
        high = between[clear[0]] if len(clear) else high
    return high, spent


def _codes(size: int) -> int:
    return max(1, math.ceil(math.log2(size)))


def _prove(moved: Moved, pending: list[np.ndarray], n: int,
           output_size: int) -> tuple[list[Group], list[tuple[np.ndarray, int]], int]:
    """Probe every pending group; returns the proved groups, (refuted group, bit to split on), cost.

    Memory stays within MASK_BYTES: groups are decoded a batch at a time, one
    pair of probes (bit b set, bit b clear) after another, and their masks are
    built a chunk at a time.
    """
    proved, refuted, spent = [], [], 0
    start = 0
    while start < len(pending):
        stop = start + max(1, MASK_BYTES // (_Decoder.BYTES_PER_OUTPUT * max(output_size, 1)))
        decoders = [_Decoder(members, output_size) for members in pending[start:stop]]
        pairs = [(d, b) for d in decoders for b in range(d.bits)]
        per_chunk = max(1, MASK_BYTES // (2 * (n + output_size)))
        for c in range(0, len(pairs), per_chunk):
            chunk = pairs[c:c + per_chunk]
            masks = np.zeros((2 * len(chunk), n), dtype=bool)
            for row, (decoder, b) in enumerate(chunk):
                on = (np.arange(len(decoder.members)) >> b) & 1 == 1
                masks[2 * row, decoder.members[on]] = True
                masks[2 * row + 1, decoder.members[~on]] = True
            answers = moved(masks)
            spent += len(masks)
            for row, (decoder, b) in enumerate(chunk):
                decoder.add(b, answers[2 * row], answers[2 * row + 1])
        for decoder in decoders:
            verdict = decoder.verdict()
            if isinstance(verdict, Group):
                proved.append(verdict)
            else:
                refuted.append((decoder.members, verdict))
        start = stop
    return proved, refuted, spent


class _Decoder:
    """One group's probes, read a pair at a time: who owns each output, and whether two do."""

    BYTES_PER_OUTPUT = 6  # touched, pairs with exactly one probe moved, owner (int32)

    def __init__(self, members: np.ndarray, output_size: int):
        self.members, self.bits = members, _codes(len(members))
        self.touched = np.zeros(output_size, dtype=bool)
        self.single = np.zeros(output_size, dtype=np.uint8)  # pairs where exactly one probe moved it
        self.owner = np.zeros(output_size, dtype=np.int32)
        self.both = np.zeros(self.bits, dtype=np.int64)  # outputs moved by both probes of pair b

    def add(self, bit: int, on: np.ndarray, off: np.ndarray) -> None:
        self.touched |= on | off
        self.single += on ^ off
        self.owner |= on.astype(np.int32) << bit
        self.both[bit] = np.count_nonzero(on & off)

    def verdict(self) -> Group | int:
        """A proved group with its owners, or the bit to split a refuted one on."""
        conflict = self.touched & ((self.single != self.bits) | (self.owner >= len(self.members)))
        if not conflict.any():
            outputs = np.flatnonzero(self.touched)
            return Group.owning(self.members, outputs, self.owner[outputs].astype(np.intp))
        return int(np.argmax(self.both)) if self.both.any() else self.bits - 1


def _split(members: np.ndarray, bit: int) -> list[np.ndarray]:
    on = (np.arange(len(members)) >> bit) & 1 == 1
    return [part for part in (members[~on], members[on]) if len(part)]
