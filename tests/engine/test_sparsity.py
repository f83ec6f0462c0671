"""Proved groups: what each proof costs, in probes counted exactly, and what it proves.

The counts are closed forms: matmul's x of shape (m, k) has k groups (columns)
of m members; proving them one by one costs 2 ceil(log2 m) probes each, proving
them at once over the m row blocks costs 2 ceil(log2 m) in all.
"""

import math

import numpy as np

from gradcheck.engine import evaluator, sparsity, stencil
from gradcheck.engine.reference import reference_vjp
from gradcheck.ops import OPS

RNG = np.random.default_rng(11)


class Counting:
    """A mover that records the masks of every call."""

    def __init__(self, forward, x):
        evaluate = evaluator.Evaluator(forward, [x], 0, np.shape(forward(x)), evaluator.DEFAULT_MEMORY_BYTES)
        steps = stencil.initial_steps(x)
        self.f0, _ = evaluator.baseline(evaluate, x, steps)
        self.moved = evaluator.mover(evaluate, x, steps, self.f0)
        self.calls: list[np.ndarray] = []

    def __call__(self, masks):
        self.calls.append(masks.copy())
        return self.moved(masks)


def true_pattern(forward, x):
    """pattern[i, o]: output o changes when x_i alone moves by a tenth of its size."""
    f0 = np.asarray(forward(x)).reshape(-1)
    rows = []
    for i in range(x.size):
        moved = x.copy().reshape(-1)
        moved[i] += 0.1 * max(abs(moved[i]), 0.1)
        rows.append(np.asarray(forward(moved.reshape(x.shape))).reshape(-1) != f0)
    return np.array(rows)


def test_matmul_columns_are_proved_at_once_over_row_blocks():
    m, k = 32, 24
    x, y = RNG.normal(size=(m, k)), RNG.normal(size=(k, 20))
    def forward(a):
        return a @ y

    counting = Counting(forward, x)
    groups, spent = sparsity.find_groups(counting, x.shape, m * 20, budget=10**6, rng=np.random.default_rng(0))
    reach = spent - 2 * math.ceil(math.log2(m))  # everything before the block proof
    assert sum(len(c) for c in counting.calls[:-1]) == reach and len(counting.calls[-1]) == 2 * 5
    rows = np.repeat(np.arange(m), k)  # each element's row, in flat order
    for b in range(5):  # probe 2b moves the rows with bit b set, probe 2b + 1 the others
        assert np.array_equal(counting.calls[-1][2 * b], (rows >> b) & 1 == 1)
        assert np.array_equal(counting.calls[-1][2 * b + 1], (rows >> b) & 1 == 0)
    assert len(groups) == k and all(len(g.elements) == m for g in groups)
    pattern = true_pattern(forward, x)
    for group in groups:
        assert np.array_equal(group.elements % k, np.full(m, group.elements[0] % k))  # one column
        members = pattern[group.elements][:, group.outputs]
        assert members.sum(axis=0).max() == 1  # every output it claims is moved by exactly one member ...
        assert np.array_equal(group.owners, np.argmax(members, axis=0))  # ... its owner
        assert len(group.outputs) == m * 20


def test_a_convolution_is_proved_group_by_group():
    """A 3 x 3 window straddles the 3 x 3 blocks, so no block proof is tried: 9 groups of 12 x 12 / 9 = 16
    members, 2 ceil(log2 16) = 8 probes each."""
    w = RNG.normal(size=(1, 1, 3, 3))
    x = RNG.normal(size=(1, 1, 12, 12))
    def forward(a):
        return OPS["conv2d"].forward(a, w)

    counting = Counting(forward, x)
    groups, _ = sparsity.find_groups(counting, x.shape, 100, budget=10**6, rng=np.random.default_rng(0))
    assert len(groups) == 9 and all(len(g.elements) == 16 for g in groups)
    assert sum(len(c) for c in counting.calls[-1:]) == 9 * 8
    pattern = true_pattern(forward, x)
    for group in groups:
        assert pattern[group.elements].sum(axis=0).max() == 1


def test_a_refuted_block_proof_falls_back_to_groups_and_stays_correct():
    """Output (i, 0) of a (4, 8) input depends on x[i, 0] and x[(i + 2) % 4, 0]: the reach probes (three
    elements) see no sharing at all, so every element is its own block; the 2 x 5 block probes see output
    (i, 0) moved from two blocks and refute, and the group-by-group proof splits the candidate."""
    def forward(a):
        out = a.copy()
        out[:, 0] = a[:, 0] * np.roll(a[:, 0], -2)
        return np.sin(out)

    x = RNG.normal(size=(4, 8)) + 2.0
    counting = Counting(forward, x)
    groups, _ = sparsity.find_groups(counting, x.shape, 32, budget=10**6, rng=np.random.default_rng(0))
    flat = np.arange(32)
    block_probes = np.array([(flat >> b) & 1 == side for b in range(5) for side in (1, 0)])
    tried = [k for k, masks in enumerate(counting.calls) if np.array_equal(masks, block_probes)]
    assert tried and tried[0] < len(counting.calls) - 1  # tried, then group by group
    pattern = true_pattern(forward, x)
    assert sorted(np.concatenate([g.elements for g in groups]).tolist()) == list(range(32))
    assert any(len(g.elements) > 1 for g in groups)
    for group in groups:
        if group.outputs is not None:
            assert pattern[group.elements].sum(axis=0).max() <= 1
            members = pattern[group.elements][:, group.outputs]
            assert np.array_equal(group.owners, np.argmax(members, axis=0))


def test_matmul_reference_spends_the_grouped_floor_plus_one_complex_step_per_group(monkeypatch):
    """Differences: 2 sides x 4 levels per column group; the complex step: one per group; the rest: the
    forward for the output's shape, f(x) three times, three points batched and alone (10). Proofs: what
    find_groups spent, and the sample of grouped elements alone at 2 steps x 2 sides."""
    a, b = RNG.normal(size=(32, 16)), RNG.normal(size=(16, 32))
    dz = RNG.normal(size=(32, 32))
    spent = []
    find_groups = sparsity.find_groups
    monkeypatch.setattr(sparsity, "find_groups", lambda *args, **kw: spent.append(find_groups(*args, **kw))
                        or spent[-1])
    reference = reference_vjp(OPS["matmul"].forward, [a, b], dz, 0)
    assert reference.colours == 16 and reference.groups == 16 and reference.method == "complex step"
    assert reference.evaluations - reference.proof_evaluations == 2 * 16 * 4 + 16 + 10
    sample = reference.proof_evaluations - spent[0][1]
    assert sample % 4 == 0 and 2 <= sample // 4 <= 10  # first, last and 8 drawn (some may repeat)
    truth = dz @ b.T
    assert np.max(np.abs(reference.value - truth) / np.abs(truth)) <= 1e-10
