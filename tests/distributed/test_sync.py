"""The sync math of distributed training, against slow NumPy references: touched-row
averaging (a row touched by one, some, all or no replicas), the tier schedule, row blocks."""

from __future__ import annotations

import numpy as np
import pytest

from w2v_nce import kernels as kern
from w2v_nce.distributed.sync import (
    average_touched,
    extract_piece,
    reduce_pieces,
    row_blocks,
    tier_rows,
    trailing_zeros,
)


def naive_average(values: list[np.ndarray], marks: list[np.ndarray], rows: int) -> np.ndarray:
    """Row by row: the mean over the replicas that marked it (float64), else the row unchanged."""
    out = values[0].copy()
    for r in range(rows):
        who = [k for k in range(len(values)) if marks[k][r]]
        if who:
            out[r] = np.mean(np.stack([values[k][r].astype(np.float64) for k in who]), axis=0).astype(np.float32)
    return out


def _replicas(K_: int, V: int, D: int, seed: int):
    """K replicas that agree (a shared start), each then changed on the rows its mask marks."""
    rng = np.random.default_rng(seed)
    base = (rng.normal(size=(V, D)).astype(np.float32), rng.normal(size=(V, D)).astype(np.float32),
            rng.normal(size=V).astype(np.float32))
    reps, masks = [], []
    for _ in range(K_):
        w_in, w_out, bias = (a.copy() for a in base)
        t = rng.integers(0, 4, V).astype(np.uint8)  # any mix of TOUCHED_IN / TOUCHED_OUT
        i, o = (t & kern.TOUCHED_IN) != 0, (t & kern.TOUCHED_OUT) != 0
        w_in[i] += rng.normal(size=(i.sum(), D)).astype(np.float32)
        w_out[o] += rng.normal(size=(o.sum(), D)).astype(np.float32)
        bias[o] += rng.normal(size=o.sum()).astype(np.float32)
        reps.append((w_in, w_out, bias))
        masks.append(t)
    return base, reps, masks


@pytest.mark.parametrize("K_,parts,rows", [(1, 1, 40), (2, 1, 40), (3, 4, 40), (4, 3, 25), (5, 7, 3)])
def test_average_touched_matches_the_naive_average(K_, parts, rows):
    V, D = 40, 5
    base, reps, masks = _replicas(K_, V, D, seed=K_ * 10 + parts)
    # the cases by name: rows touched by one, some, all and no replicas all occur
    n_in = sum(((m & kern.TOUCHED_IN) != 0).astype(int) for m in masks)
    if K_ >= 3 and rows >= 25:
        assert {0, 1, K_} <= set(n_in[:rows].tolist())
    want_in = naive_average([r[0] for r in reps], [(m & kern.TOUCHED_IN) != 0 for m in masks], rows)
    want_out = naive_average([r[1] for r in reps], [(m & kern.TOUCHED_OUT) != 0 for m in masks], rows)
    want_b = naive_average([r[2] for r in reps], [(m & kern.TOUCHED_OUT) != 0 for m in masks], rows)
    before = [tuple(a.copy() for a in r) for r in reps]
    masks_before = [m.copy() for m in masks]
    stats = average_touched(reps, masks, rows, parts)
    for k, (w_in, w_out, bias) in enumerate(reps):
        np.testing.assert_array_equal(w_in[:rows], want_in[:rows])
        np.testing.assert_array_equal(w_out[:rows], want_out[:rows])
        np.testing.assert_array_equal(bias[:rows], want_b[:rows])
        # rows beyond the synced range keep each replica's own value, and their marks
        np.testing.assert_array_equal(w_in[rows:], before[k][0][rows:])
        np.testing.assert_array_equal(masks[k][rows:], masks_before[k][rows:])
        assert not masks[k][:rows].any()
    untouched = np.flatnonzero(n_in[:rows] == 0)
    np.testing.assert_array_equal(reps[0][0][untouched], base[0][untouched])  # kept its value
    assert stats.rows == rows and stats.bytes > 0


def test_a_row_touched_by_one_replica_takes_its_value_whole():
    """Averaging over all K would shrink a rare word's update K-fold; over its touchers it does not."""
    V, D = 6, 3
    reps = [(np.zeros((V, D), np.float32), np.zeros((V, D), np.float32), np.zeros(V, np.float32)) for _ in range(4)]
    masks = [np.zeros(V, np.uint8) for _ in range(4)]
    reps[2][0][5] = [1.0, 2.0, 3.0]
    masks[2][5] = kern.TOUCHED_IN
    reps[0][1][1], reps[3][1][1] = 2.0, 4.0
    reps[0][2][1], reps[3][2][1] = 1.0, 0.0
    masks[0][1] = masks[3][1] = kern.TOUCHED_OUT
    average_touched(reps, masks, V)
    for w_in, w_out, bias in reps:
        np.testing.assert_array_equal(w_in[5], [1.0, 2.0, 3.0])
        np.testing.assert_array_equal(w_out[1], [3.0, 3.0, 3.0])
        assert bias[1] == 0.5
        assert not w_in[:5].any() and not w_out[[0, 2, 3, 4, 5]].any()


def test_one_piece_reduces_to_itself_bit_for_bit():
    rng = np.random.default_rng(3)
    w_in, w_out = rng.normal(size=(30, 4)).astype(np.float32), rng.normal(size=(30, 4)).astype(np.float32)
    bias = rng.normal(size=30).astype(np.float32)
    t = rng.integers(0, 4, 30).astype(np.uint8)
    p = extract_piece(w_in, w_out, bias, t, 5, 25)
    r = reduce_pieces([p])
    for a, b in ((p.in_ids, r.in_ids), (p.w_in, r.w_in), (p.out_ids, r.out_ids), (p.w_out, r.w_out), (p.bias, r.bias)):
        np.testing.assert_array_equal(a, b)
    assert r.w_in.dtype == np.float32 and (r.in_ids >= 5).all() and (r.in_ids < 25).all()


def test_payload_counts_only_touched_rows():
    V, D = 100, 8
    reps = [(np.zeros((V, D), np.float32), np.zeros((V, D), np.float32), np.zeros(V, np.float32)) for _ in range(2)]
    masks = [np.zeros(V, np.uint8) for _ in range(2)]
    masks[0][[1, 2]] = kern.TOUCHED_IN | kern.TOUCHED_OUT
    masks[1][[2, 3]] = kern.TOUCHED_IN
    stats = average_touched(reps, masks, V)
    row_in, row_out = 4 + D * 4, 4 + D * 4 + 4  # id + values (+ bias)
    up = (2 * row_in + 2 * row_out) + 2 * row_in
    down = 2 * (3 * row_in + 2 * row_out)  # the reduced block (rows 1, 2, 3 / 1, 2) to both replicas
    assert stats.bytes == up + down


def naive_tz(n: int) -> int:
    z = 0
    while n % 2 == 0:
        n //= 2
        z += 1
    return z


def test_tier_schedule_is_pword2vecs():
    assert [trailing_zeros(n) for n in range(1, 17)] == [naive_tz(n) for n in range(1, 17)]
    assert [tier_rows(n, 1024, 10**6) for n in (1, 2, 3, 4, 6, 8, 12, 16)] == [1024, 2048, 1024, 4096, 2048, 8192,
                                                                                4096, 16384]
    assert tier_rows(1 << 20, 1024, 50_000) == 50_000  # capped at V
    # a row of rank r is synced every 2**ceil(log2((r + 1) / base)) syncs: rarer rows exponentially less often
    base, V, N = 4, 64, 64
    for r in (0, 3, 4, 7, 8, 20, 63):
        synced = [n for n in range(1, N + 1) if r < tier_rows(n, base, V)]
        period = 1
        while base * period <= r:
            period *= 2
        assert synced == list(range(period, N + 1, period))
    with pytest.raises(ValueError):
        trailing_zeros(0)


@pytest.mark.parametrize("rows,parts", [(10, 3), (10, 1), (3, 5), (0, 2), (1_000_003, 8)])
def test_row_blocks_cover_the_rows_once(rows, parts):
    blocks = row_blocks(rows, parts)
    assert len(blocks) == parts
    assert blocks[0][0] == 0 and blocks[-1][1] == rows
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
    sizes = [hi - lo for lo, hi in blocks]
    assert max(sizes) - min(sizes) <= 1


def test_sync_ranges_take_every_touched_row_at_every_sync_with_subwords():
    from w2v_nce.distributed.sync import BOTH, sync_ranges
    from w2v_nce.subwords import SubwordSettings

    IN, OUT = kern.TOUCHED_IN, kern.TOUCHED_OUT
    assert sync_ranges(40, 100, None) == [(0, 40, BOTH)]
    assert sync_ranges(40, 100, SubwordSettings(3, 6, 500, 0)) == [(0, 100, BOTH), (100, 600, IN)]  # no tiers
    assert sync_ranges(40, 100, SubwordSettings(3, 6, 500, 2)) == [(0, 100, OUT), (0, 500, IN)]


def test_averaging_one_matrix_leaves_the_others_and_their_marks():
    """bits = TOUCHED_IN: rows of the input table averaged over the replicas that marked them;
    w_out and bias untouched, and only the IN bits of the range cleared."""
    rng = np.random.default_rng(5)
    R, V, D = 50, 20, 4  # a table longer than the vocabulary (subwords)
    reps = [(rng.normal(size=(R, D)).astype(np.float32), rng.normal(size=(V, D)).astype(np.float32),
             rng.normal(size=V).astype(np.float32)) for _ in range(3)]
    masks = [rng.integers(0, 4, R).astype(np.uint8) for _ in range(3)]
    for m in masks:
        m[V:] &= kern.TOUCHED_IN  # no w_out rows past V
    before = [tuple(a.copy() for a in r) for r in reps]
    marks_in = [(m & kern.TOUCHED_IN).astype(bool) for m in masks]
    expected = naive_average([b[0] for b in before], [np.r_[np.zeros(V, bool), mi[V:]] for mi in marks_in], R)
    outs = [m & kern.TOUCHED_OUT for m in masks]
    average_touched(reps, masks, R, parts=2, first=V, bits=kern.TOUCHED_IN)
    synced = np.zeros(R, bool)
    synced[V:] = np.any([mi[V:] for mi in marks_in], axis=0)
    assert 0 < synced.sum() < R - V
    for r, b in zip(reps, before):
        np.testing.assert_array_equal(r[0][synced], expected[synced])
        np.testing.assert_array_equal(r[0][~synced], b[0][~synced])  # untouched rows (and the words') keep theirs
        np.testing.assert_array_equal(r[1], b[1])
        np.testing.assert_array_equal(r[2], b[2])
    for m, o, mi in zip(masks, outs, marks_in):
        assert not (m[V:] & kern.TOUCHED_IN).any() and np.array_equal(m & kern.TOUCHED_OUT, o)
        assert np.array_equal((m[:V] & kern.TOUCHED_IN).astype(bool), mi[:V])


def test_stretches_cut_every_range_and_keep_its_bits(monkeypatch):
    from w2v_nce.distributed import sync
    from w2v_nce.subwords import SubwordSettings

    monkeypatch.setattr(sync, "SYNC_STREAM_BYTES", 30 * (2 * 4 + 1) * 4)  # 30 rows of D = 4 a stretch
    got = sync.stretches(40, 100, SubwordSettings(3, 6, 50, 0), 4)
    assert got == [(0, 30, sync.BOTH), (30, 60, sync.BOTH), (60, 90, sync.BOTH), (90, 100, sync.BOTH),
                   (100, 130, kern.TOUCHED_IN), (130, 150, kern.TOUCHED_IN)]
    assert sync.stretches(40, 100, None, 4) == [(0, 30, sync.BOTH), (30, 40, sync.BOTH)]


@pytest.mark.parametrize("K_", [2, 3, 5])
def test_rows_every_replica_touched_average_as_the_naive_average(K_):
    """The common case (hot rows, a full sync) takes a shortcut in the reduce: same values bit for bit."""
    V, D = 30, 6
    _, reps, _ = _replicas(K_, V, D, seed=K_)
    masks = [np.full(V, kern.TOUCHED_IN | kern.TOUCHED_OUT, np.uint8) for _ in range(K_)]
    all_rows = [np.ones(V, bool)] * K_
    want = [naive_average([r[i] for r in reps], all_rows, V) for i in range(3)]
    average_touched(reps, masks, V, parts=2)
    for rep in reps:
        for got, exp in zip(rep, want):
            np.testing.assert_array_equal(got, exp)
