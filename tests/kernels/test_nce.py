"""The Numba kernels against the NumPy loss API (same batch, same negatives -> same loss and
update), against finite differences, and their pair generation against the plain definition."""

from __future__ import annotations

import numpy as np
import pytest

from tests import naive
from w2v_nce import kernels as kern
from w2v_nce.reference.tf_losses import (
    nce_loss,
    nce_loss_grad,
    sampled_softmax_loss,
    sampled_softmax_loss_grad,
)
from w2v_nce.sampling import build_alias_table, expected_count, log_uniform_probability

V, D = 40, 8


def _params(seed=0):
    rng = np.random.default_rng(seed)
    w_in = rng.normal(0, 0.3, (V, D)).astype(np.float32)
    w_out = rng.normal(0, 0.3, (V, D)).astype(np.float32)
    bias = rng.normal(0, 0.1, V).astype(np.float32)
    return w_in, w_out, bias


def _records(B, S, window=1, loss_kind=kern.LOSS_NCE, remove_hits=False, unique=True, lr=0.0, prefetch=0,
             neg_p=None, neg_a=None, seed=7, track_touched=False):
    """Fresh Tables (log-uniform sampler), Params (constant lr) and Scratch for the kernels."""
    prob = log_uniform_probability(np.arange(V), V)
    neg_p = np.full(V, 1.0) if neg_p is None else neg_p
    neg_a = np.arange(V, dtype=np.int32) if neg_a is None else neg_a
    tables = kern.make_tables(np.ones(V, np.float32), prob, np.ones(1), np.zeros(1, np.int32), neg_p, neg_a, S)
    params = kern.Params(loss_kind, kern.ARCH_SKIPGRAM, True, True, window, S, B, remove_hits, unique, kern.SAMPLER_LOG_UNIFORM, lr, lr, 1e9, prefetch)
    scratch = kern.make_scratch(V, D, params, 100, np.array([seed], np.uint64), np.zeros(kern.N_TALLIES, np.float64),
                             track_touched)
    return tables, params, scratch


# A batch of 8 pairs in 3 runs (centre positions 10, 10, 10, 11, 11, 12, 12, 12 -> centres 3, 3, 3, 5, 5, 3, 3, 3):
# centre 3 occurs in two runs, contexts 9 and 4 are also sampled (accidental hits), and the samples
# repeat id 4, so only its last copy may be masked.
CENTRE_POS = [10, 10, 10, 11, 11, 12, 12, 12]
CENTRES = np.array([3, 3, 3, 5, 5, 3, 3, 3], np.int32)
CONTEXTS = np.array([9, 1, 2, 3, 9, 9, 9, 4], np.int32)
SAMPLES = np.array([4, 9, 0, 4, 17, 2], np.int64)
TRIES = 9


def _kernel_batch(loss_kind, remove_hits, lr=0.1, samples=SAMPLES, tries=TRIES):
    w_in, w_out, bias = _params()
    run_start = naive.runs_of(CENTRE_POS)
    tables, params, scratch = _records(len(CENTRES), len(samples), loss_kind=loss_kind, remove_hits=remove_hits)
    n_runs = len(run_start) - 1
    scratch.batch.labels[:] = CONTEXTS
    scratch.batch.run_start[:len(run_start)] = run_start
    scratch.batch.bag_ids[:n_runs] = CENTRES[run_start[:-1]]  # a skip-gram run's input: its centre row
    scratch.batch.bag_start[:n_runs + 1] = np.arange(n_runs + 1)
    scratch.draw.samples[:] = samples
    kern.mark_samples(scratch.draw, 1)
    loss = kern.process_batch(kern.Weights(w_in, w_out, bias), len(run_start) - 1, tries, 1, lr, tables, params, scratch)
    return loss, w_in, w_out, bias


def _sampled_values(dtype=np.float32, samples=SAMPLES, tries=TRIES):
    S = len(samples)
    qt = expected_count(log_uniform_probability(CONTEXTS, V), S, tries).reshape(-1, 1).astype(dtype)
    qs = expected_count(log_uniform_probability(samples, V), S, tries).astype(dtype)
    return samples, qt, qs


@pytest.mark.parametrize("remove_hits", [False, True])
def test_nce_batch_matches_numpy_api(remove_hits):
    lr = 0.1
    w_in, w_out, bias = _params()
    args = (w_out, bias, CONTEXTS.reshape(-1, 1), w_in[CENTRES], len(SAMPLES), V)
    sv = _sampled_values()
    ref_loss = nce_loss(*args, sampled_values=sv, remove_accidental_hits=remove_hits).astype(np.float64).sum()
    grads = nce_loss_grad(*args, sampled_values=sv, remove_accidental_hits=remove_hits)
    exp_in, exp_out, exp_b = naive.batch_update(w_in, w_out, bias, CENTRES, CONTEXTS, grads, lr)
    loss, got_in, got_out, got_b = _kernel_batch(kern.LOSS_NCE, remove_hits, lr)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    np.testing.assert_allclose(got_in, exp_in, rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(got_out, exp_out, rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(got_b, exp_b, rtol=1e-5, atol=2e-6)


def test_hit_removal_changes_the_update():
    """The batch has hits, so the two settings must differ (guards against an ignored flag)."""
    a = _kernel_batch(kern.LOSS_NCE, False)
    b = _kernel_batch(kern.LOSS_NCE, True)
    assert a[0] > b[0]
    assert not np.allclose(a[2], b[2])


@pytest.mark.parametrize("remove_hits", [True, False])
def test_sampled_softmax_batch_matches_numpy_api(remove_hits):
    lr = 0.05
    w_in, w_out, bias = _params()
    args = (w_out, bias, CONTEXTS.reshape(-1, 1), w_in[CENTRES], len(SAMPLES), V)
    sv = _sampled_values()
    ref_loss = sampled_softmax_loss(*args, sampled_values=sv, remove_accidental_hits=remove_hits).astype(np.float64).sum()
    grads = sampled_softmax_loss_grad(*args, sampled_values=sv, remove_accidental_hits=remove_hits)
    exp_in, exp_out, exp_b = naive.batch_update(w_in, w_out, bias, CENTRES, CONTEXTS, grads, lr)
    loss, got_in, got_out, got_b = _kernel_batch(kern.LOSS_SSM, remove_hits, lr)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    np.testing.assert_allclose(got_in, exp_in, rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(got_out, exp_out, rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(got_b, exp_b, rtol=1e-5, atol=2e-6)


def test_no_rejection_uses_p_times_s():
    """tries == S: expected counts are p*S; the kernel must agree with the API for that case too."""
    samples = np.array([4, 9, 0, 17], np.int64)
    w_in, w_out, bias = _params()
    args = (w_out, bias, CONTEXTS.reshape(-1, 1), w_in[CENTRES], len(samples), V)
    sv = _sampled_values(samples=samples, tries=4)
    ref = nce_loss(*args, sampled_values=sv).astype(np.float64).sum()
    loss, *_ = _kernel_batch(kern.LOSS_NCE, False, samples=samples, tries=4)
    assert loss == pytest.approx(ref, rel=1e-5)


def test_nce_factors_of_many_terms_and_saturated_logits():
    """NCE's vectorised sigmoid terms: 1,100 logits of 0 (softplus ln 2, sigmoid 1/2: a product of
    2**1100 in one piece would overflow float64), and logits beyond ±80 against float64 math."""
    from w2v_nce.kernels.nce import nce_sample_factors, nce_true_factors

    u, coef = np.zeros(1100, np.float32), np.full(1100, 3.0, np.float32)
    assert nce_sample_factors(u, coef, 1100, 3.0, False) == pytest.approx(3 * 1100 * np.log(2.0), rel=1e-9)
    assert np.all(coef == 1.5)
    gt = np.zeros(1100, np.float32)
    assert nce_true_factors(gt, 0, 1100) == pytest.approx(1100 * np.log(2.0), rel=1e-9)
    assert np.all(gt == -0.5)
    logits = np.array([-300.0, -90.0, -2.5, 0.0, 3.0, 85.0, 250.0], np.float32)
    z = logits.astype(np.float64)
    softplus = np.logaddexp(0.0, z)
    sigmoid = 1.0 / (1.0 + np.exp(-z))
    u, coef = logits.copy(), np.array([2, 1, 2, 2, 0, 2, 2], np.float32)  # n = 2; hits leave 1 and 0
    n_k = coef.astype(np.float64)
    assert nce_sample_factors(u, coef, len(u), 2.0, True) == pytest.approx(float(n_k @ softplus), rel=1e-6)
    # below z = -80 (EXP32_FLOOR) the sigmoid is e^-80 ~ 1.8e-35 instead of e^z: 4e-35 absolute at most
    np.testing.assert_allclose(coef, n_k * sigmoid, rtol=1e-6, atol=4e-35)
    gt = logits.copy()
    assert nce_true_factors(gt, 1, 6) == pytest.approx(float(np.logaddexp(0.0, -z[1:6]).sum()), rel=1e-6)
    np.testing.assert_allclose(gt[1:6], sigmoid[1:6] - 1.0, rtol=1e-6, atol=1e-7)
    assert gt[0] == logits[0] and gt[6] == logits[6]  # outside a..b: untouched


@pytest.mark.parametrize("loss_kind", [kern.LOSS_NCE, kern.LOSS_SSM])
def test_kernel_update_is_minus_lr_times_finite_difference_gradient(loss_kind):
    """Central differences of the float64 reference loss w.r.t. w_in[3], w_out[9] and bias[4]."""
    lr = 1e-3
    w_in, w_out, bias = (p.astype(np.float64) for p in _params())
    fn = nce_loss if loss_kind == kern.LOSS_NCE else sampled_softmax_loss
    remove = loss_kind == kern.LOSS_SSM
    sv = _sampled_values(np.float64)

    def total(wi, wo, b):
        return fn(wo, b, CONTEXTS.reshape(-1, 1), wi[CENTRES], len(SAMPLES), V, sampled_values=sv,
                  remove_accidental_hits=remove).sum()

    _, got_in, got_out, got_b = _kernel_batch(loss_kind, remove, lr)
    w_in32, w_out32, bias32 = _params()
    eps = 1e-6
    for d in range(D):
        e = np.zeros((V, D))
        e[3, d] = eps
        fd = (total(w_in + e, w_out, bias) - total(w_in - e, w_out, bias)) / (2 * eps)
        assert (got_in[3, d] - w_in32[3, d]) / -lr == pytest.approx(fd, rel=2e-3, abs=2e-4)
        fd = (total(w_in, w_out + e * 0 + _unit(9, d, eps), bias) - total(w_in, w_out - _unit(9, d, eps), bias)) / (2 * eps)
        assert (got_out[9, d] - w_out32[9, d]) / -lr == pytest.approx(fd, rel=2e-3, abs=2e-4)
    eb = np.zeros(V)
    eb[4] = eps
    fd = (total(w_in, w_out, bias + eb) - total(w_in, w_out, bias - eb)) / (2 * eps)
    assert (got_b[4] - bias32[4]) / -lr == pytest.approx(fd, rel=2e-3, abs=2e-4)


def _unit(row, col, eps):
    e = np.zeros((V, D))
    e[row, col] = eps
    return e


def _sgns_pair(w_in, w_out, c, ctx, negatives, lr):
    neu1e = np.empty(D, np.float32)
    targets = np.full(len(negatives) + 1, -1, np.int64)
    mult = np.empty(len(negatives) + 1, np.int64)
    grads = np.empty(len(negatives) + 1, np.float32)
    return kern.sgns_pair(w_in, w_out, c, ctx, negatives, len(negatives), lr, neu1e, targets, mult, grads)


@pytest.mark.parametrize("negatives", [[5, 7, 9, 7, 2], [7, 7, 7, 7, 7], [9, 9, 9, 9, 9], [3, 4, 5, 6, 8]])
def test_sgns_pair_matches_naive(negatives):
    """9 is the context (skipped as a negative); repeated negatives count each time."""
    w_in, w_out, _ = _params(3)
    negatives = np.array(negatives, np.int64)
    exp_in, exp_out, exp_loss = naive.sgns_pair(w_in, w_out, 1, 9, negatives, 0.05)
    loss = _sgns_pair(w_in, w_out, 1, 9, negatives, 0.05)
    assert loss == pytest.approx(exp_loss, rel=1e-5)
    np.testing.assert_allclose(w_in, exp_in, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w_out, exp_out, rtol=1e-5, atol=1e-6)


def test_sgns_pair_update_is_minus_lr_times_finite_difference_gradient():
    """With a repeated negative: the step is the gradient of the pair's whole loss (float64 FD)."""
    w_in, w_out, _ = _params(4)
    negatives = np.array([5, 7, 7, 2, 5], np.int64)
    c, ctx, lr, eps = 1, 9, 1e-3, 1e-6
    wi64, wo64 = w_in.astype(np.float64), w_out.astype(np.float64)
    before_in, before_out = w_in.copy(), w_out.copy()
    _sgns_pair(w_in, w_out, c, ctx, negatives, lr)
    for row, col in [(c, 0), (c, D - 1), (9, 2), (5, 1), (7, 3), (2, 0), (4, 1)]:
        for which, before, after in [("in", before_in, w_in), ("out", before_out, w_out)]:
            e = _unit(row, col, eps)
            if which == "in":
                up = naive.sgns_pair_loss(wi64 + e, wo64, c, ctx, negatives)
                down = naive.sgns_pair_loss(wi64 - e, wo64, c, ctx, negatives)
            else:
                up = naive.sgns_pair_loss(wi64, wo64 + e, c, ctx, negatives)
                down = naive.sgns_pair_loss(wi64, wo64 - e, c, ctx, negatives)
            grad = (up - down) / (2 * eps)
            step = float(after[row, col]) - float(before[row, col])
            assert step == pytest.approx(-lr * grad, rel=2e-3, abs=2e-9), (which, row, col)


# ---------------------------------------------------------------------------------------
# whole chunks
# ---------------------------------------------------------------------------------------
def _train_chunk(ids, w_in, w_out, bias, keep, loss_kind, window, S, B, remove_hits, lr, seed, neg_p, neg_a,
                 prefetch_pairs=kern.PREFETCH_PAIRS, shared=False):
    """train_chunk with fresh scratch, log-uniform sampler, constant lr; returns (tallies, rng)."""
    tables, params, scratch = _records(B, S, window, loss_kind, remove_hits, True, lr, prefetch_pairs, neg_p, neg_a,
                                       seed)
    params = params._replace(shared_negatives=shared)
    tables = tables._replace(keep_prob=keep)
    kern.train_chunk(ids, 0.0, kern.Weights(w_in, w_out, bias), tables, params, scratch)
    return scratch.tallies, scratch.rng


def _chunk_call(ids, loss_kind=kern.LOSS_NCE, window=1, sample_keep=None, S=3, B=4, seed=7, lr=0.0):
    w_in, w_out, bias = _params()
    keep = np.ones(V, np.float32) if sample_keep is None else sample_keep
    tallies, rng = _train_chunk(ids, w_in, w_out, bias, keep, loss_kind, window, S, B, False, lr, seed,
                                np.full(V, 1.0), np.arange(V, dtype=np.int32))
    return tallies, (w_in, w_out, bias), rng


def test_window_one_gives_all_adjacent_pairs():
    """window=1 leaves no randomness in the window: 2(n-1) examples per sentence of n words."""
    ids = np.array([1, 2, 3, 4, -1, 5, 6, -1, 7, -1], np.int32)
    tallies, *_ = _chunk_call(ids, window=1)
    assert tallies[kern.T_EXAMPLES] == 2 * 3 + 2 * 1 + 0
    assert tallies[kern.T_WORDS] == 7
    assert tallies[kern.T_KEPT] == 7
    assert tallies[kern.T_BATCHES] == 2  # 8 pairs in batches of 4


def test_subsampling_drops_words_with_keep_zero():
    ids = np.array([1, 2, 1, 2, 1, -1], np.int32)
    keep = np.ones(V, np.float32)
    keep[1] = 0.0
    tallies, *_ = _chunk_call(ids, window=1, sample_keep=keep)
    assert tallies[kern.T_KEPT] == 2
    assert tallies[kern.T_WORDS] == 5
    assert tallies[kern.T_EXAMPLES] == 2  # the two kept '2's are now adjacent


def test_dynamic_window_pair_count_is_within_bounds_and_seeded():
    ids = np.array(list(range(1, 31)) + [-1], np.int32)
    full = 2 * sum(min(5, 29 - i) for i in range(30)) // 1  # upper bound: every centre uses window 5
    a, _, _ = _chunk_call(ids, window=5, seed=11)
    b, _, _ = _chunk_call(ids, window=5, seed=11)
    c, _, _ = _chunk_call(ids, window=5, seed=12)
    assert 2 * 29 <= a[kern.T_EXAMPLES] <= full
    assert a[kern.T_EXAMPLES] == b[kern.T_EXAMPLES]
    assert (a != c).any()


@pytest.mark.parametrize("loss_kind", [kern.LOSS_NCE, kern.LOSS_NEG, kern.LOSS_SSM])
def test_chunk_is_deterministic_for_a_seed_and_loss_is_finite(loss_kind):
    ids = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -1, 3, 4, 5, -1], np.int32)
    t1, p1, r1 = _chunk_call(ids, loss_kind, window=2, lr=0.05)
    t2, p2, r2 = _chunk_call(ids, loss_kind, window=2, lr=0.05)
    assert np.isfinite(t1[kern.T_LOSS]) and t1[kern.T_LOSS] > 0
    np.testing.assert_array_equal(t1, t2)
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a, b)
    assert r1[0] == r2[0]


def test_sgns_results_do_not_depend_on_the_prefetch_distance():
    """Prefetching is a hint: none, 1, 2 or more pairs ahead (across centres and sentences) train the same."""
    rs = np.random.default_rng(5)
    ids = np.concatenate([np.append(rs.integers(0, V, n), -1) for n in (1, 2, 9, 30, 4)]).astype(np.int32)
    neg_p, neg_a = build_alias_table(rs.random(V) + 0.1)
    results = []
    for prefetch in (0, 1, 2, 10):
        w_in, w_out, bias = _params(6)
        tallies, rng = _train_chunk(ids, w_in, w_out, bias, np.ones(V, np.float32), kern.LOSS_NEG, 5, 5, 4, False,
                                    0.05, 3, neg_p, neg_a, prefetch_pairs=prefetch)
        results.append((tallies, w_in, w_out, rng))
    assert results[0][0][kern.T_EXAMPLES] > 100
    for tallies, w_in, w_out, rng in results[1:]:
        np.testing.assert_array_equal(tallies, results[0][0])
        np.testing.assert_array_equal(w_in, results[0][1])
        np.testing.assert_array_equal(w_out, results[0][2])
        assert rng[0] == results[0][3][0]


@pytest.mark.parametrize("loss_kind, shared", [(kern.LOSS_NEG, False), (kern.LOSS_NEG, True), (kern.LOSS_NCE, False)])
def test_nonfinite_loss_stops_the_kernel(loss_kind, shared):
    """A NaN row makes the loss NaN (the vectorised sigmoid terms keep it) and the kernel stops;
    per-pair SGNS, window negatives and NCE (a batch of 1 pair: it is trained in the sentence)."""
    ids = np.array([1, 2, 3, -1, 4, 5, -1], np.int32)
    w_in, w_out, bias = _params()
    w_in[2] = np.nan
    tallies, _ = _train_chunk(ids, w_in, w_out, bias, np.ones(V, np.float32), loss_kind, 1, 3,
                              1 if loss_kind == kern.LOSS_NCE else 4, False, 0.1, 1, np.ones(V),
                              np.arange(V, dtype=np.int32), shared=shared)
    assert tallies[kern.T_NONFINITE] == 1.0
    assert tallies[kern.T_WORDS] == 3  # stopped after the first sentence


def test_draw_batch_unique_and_counts_tries():
    rng = np.array([5], np.uint64)
    draw = kern.make_draw(30)
    tries = kern.draw_batch(draw, True, 1, kern.SAMPLER_LOG_UNIFORM, V, np.ones(1), np.zeros(1, np.int32), rng)
    samples = draw.samples
    assert len(set(samples.tolist())) == 30
    assert tries >= 30  # log-uniform on 40 classes rejects often for 30 distinct ids
    assert all(kern.marked_pos(draw, s, 1) == k for k, s in enumerate(samples))
    assert all(kern.marked_pos(draw, c, 1) == -1 for c in set(range(V)) - set(samples.tolist()))
    assert all(kern.marked_pos(draw, s, 2) == -1 for s in samples)  # the next batch starts empty


def test_a_unique_draw_from_a_degenerate_distribution_ends():
    """All the mass on one id of 10 and S = 5 distinct wanted: rejection alone never ends (a
    vocab.tsv or checkpoint with forged counts); after UNIQUE_TRIES_PER_SAMPLE x S draws the
    batch is completed with the smallest ids not drawn, each once."""
    from w2v_nce.kernels.negatives import UNIQUE_TRIES_PER_SAMPLE

    weights = np.zeros(10)
    weights[7] = 1.0
    prob, alias = build_alias_table(weights)
    draw = kern.make_draw(5)
    tries = kern.draw_batch(draw, True, 1, kern.SAMPLER_UNIGRAM, 10, prob, alias, np.array([3], np.uint64))
    assert draw.samples.tolist() == [7, 0, 1, 2, 3] and tries == UNIQUE_TRIES_PER_SAMPLE * 5 + 3
    assert all(kern.marked_pos(draw, s, 1) == k for k, s in enumerate(draw.samples))


def test_log_uniform_kernel_draws_follow_the_distribution():
    rng = np.array([123], np.uint64)
    n = 200_000
    draws = np.array([kern.draw_candidate(kern.SAMPLER_LOG_UNIFORM, V, np.ones(1), np.zeros(1, np.int32), rng) for _ in range(n)])
    freq = np.bincount(draws, minlength=V)
    expected = log_uniform_probability(np.arange(V), V).astype(np.float64) * n
    chi2 = ((freq - expected) ** 2 / expected).sum()
    df = V - 1
    assert chi2 < df + 5 * np.sqrt(2 * df)


def _naive_chunk(ids, w_in, w_out, bias, keep, loss_kind, window, S, B, remove_hits, lr, seed):
    """Replays train_chunk's RNG calls in plain Python and applies each batch with the NumPy API
    (nce/ssm) or naive.sgns_pair (neg). Returns (w_in, w_out, bias, summed loss)."""
    V = w_in.shape[0]
    rng = np.array([seed], np.uint64)
    draw = kern.make_draw(S)
    ones, idx = np.ones(1), np.zeros(1, np.int32)
    total = 0.0
    batch = []
    batch_no = [0]

    def flush():
        nonlocal total, w_in, w_out, bias
        batch_no[0] += 1  # the kernel tags each batch's marks with a new number
        tries = kern.draw_batch(draw, True, batch_no[0], kern.SAMPLER_LOG_UNIFORM, V, ones, idx, rng)
        samples = draw.samples.copy()
        c = np.array([p[0] for p in batch], np.int32)
        x = np.array([p[1] for p in batch], np.int32)
        qt = expected_count(log_uniform_probability(x, V), S, tries).reshape(-1, 1)
        qs = expected_count(log_uniform_probability(samples, V), S, tries)
        fn, gn = (nce_loss, nce_loss_grad) if loss_kind == kern.LOSS_NCE else (sampled_softmax_loss, sampled_softmax_loss_grad)
        args = (w_out, bias, x.reshape(-1, 1), w_in[c], S, V)
        total += fn(*args, sampled_values=(samples, qt, qs), remove_accidental_hits=remove_hits).astype(np.float64).sum()
        grads = gn(*args, sampled_values=(samples, qt, qs), remove_accidental_hits=remove_hits)
        w_in, w_out, bias = naive.batch_update(w_in, w_out, bias, c, x, grads, lr)
        batch.clear()

    for sent in [s.tolist() for s in np.split(ids, np.flatnonzero(ids == -1) + 1) if len(s) > 1]:
        kept = [w for w in sent[:-1] if not (keep[w] < 1.0 and keep[w] < kern.rng_uniform(rng))]
        for i, c in enumerate(kept):
            span = window - kern.rng_below(rng, window)
            for j in range(max(0, i - span), min(len(kept), i + span + 1)):
                if j == i:
                    continue
                if loss_kind == kern.LOSS_NEG:
                    neg = np.array([kern.draw_candidate(kern.SAMPLER_UNIGRAM, V, ones * 0 + _NEG_P, _NEG_A, rng)
                                    for _ in range(S)], np.int64)
                    w_in, w_out, loss = naive.sgns_pair(w_in, w_out, c, kept[j], neg, lr)
                    w_in, w_out = w_in.astype(np.float32), w_out.astype(np.float32)
                    total += loss
                    continue
                batch.append((c, kept[j]))
                if len(batch) == B:
                    flush()
    if batch:
        flush()
    return w_in, w_out, bias, total


_NEG_P = np.full(V, 1.0)  # alias tables of the uniform distribution: column k, always accepted
_NEG_A = np.arange(V, dtype=np.int32)


@pytest.mark.parametrize("loss_kind, remove_hits", [(kern.LOSS_NCE, False), (kern.LOSS_NCE, True), (kern.LOSS_SSM, True),
                                                    (kern.LOSS_NEG, False)])
def test_train_chunk_equals_the_naive_replay(loss_kind, remove_hits):
    """Windows, subsampling, batches that split runs, the final partial batch: all as the
    plain-Python definition with the NumPy loss API (same RNG stream)."""
    rng = np.random.default_rng(8)
    sentences = [rng.integers(0, V, rng.integers(2, 12)).tolist() for _ in range(6)]
    ids = np.array([w for s in sentences for w in s + [-1]], np.int32)
    keep = np.where(np.arange(V) % 3 == 0, 0.6, 1.0).astype(np.float32)
    S, B, lr, seed, window = 4, 5, 0.05, 21, 3
    w_in, w_out, bias = _params(2)
    exp_in, exp_out, exp_b, exp_loss = _naive_chunk(ids, w_in.copy(), w_out.copy(), bias.copy(), keep, loss_kind,
                                                    window, S, B, remove_hits, lr, seed)
    tallies, _ = _train_chunk(ids, w_in, w_out, bias, keep, loss_kind, window, S, B, remove_hits, lr, seed,
                              _NEG_P, _NEG_A)
    assert tallies[kern.T_LOSS] == pytest.approx(exp_loss, rel=1e-4)
    np.testing.assert_allclose(w_in, exp_in, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w_out, exp_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bias, exp_b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", [kern.SAMPLER_UNIGRAM, kern.SAMPLER_UNIFORM])
def test_alias_and_uniform_kernel_draws_follow_their_distributions(kind):
    from w2v_nce.sampling import build_alias_table, unigram_weights

    counts = np.arange(V, 0, -1, dtype=np.int64) ** 2
    target = unigram_weights(counts, 0.75) if kind == kern.SAMPLER_UNIGRAM else np.full(V, 1.0 / V)
    prob, alias = build_alias_table(target)
    rng = np.array([99], np.uint64)
    n = 200_000
    draws = np.array([kern.draw_candidate(kind, V, prob, alias, rng) for _ in range(n)])
    expected = target * n
    chi2 = ((np.bincount(draws, minlength=V) - expected) ** 2 / expected).sum()
    df = V - 1
    assert chi2 < df + 5 * np.sqrt(2 * df)
    assert draws.min() >= 0 and draws.max() < V


def test_tables_bytes_bounds_what_build_tables_allocates():
    """The memory check's estimate of a run's Tables is what the largest case (unigram, whose
    alias tables are counted twice although shared) allocates."""
    from w2v_nce.config import Config
    from w2v_nce.train import build_tables

    counts = np.arange(1000, 0, -1).astype(np.int64)
    for sampler in ("unigram", "log_uniform", "uniform"):
        tables = build_tables(counts, Config(sampler=sampler))
        allocated = sum(getattr(tables, f).nbytes for f in tables._fields)
        assert allocated <= kern.tables_bytes(len(counts))
        if sampler == "unigram":
            assert allocated == kern.tables_bytes(len(counts))


@pytest.mark.parametrize("V, D, S, B, W, L", [(1000, 100, 25, 32, 5, 10000), (500, 7, 5, 64, 2, 100),
                                              (50, 16, 3, 4, 8, 20)])
def test_scratch_bytes_counts_what_make_scratch_allocates(V, D, S, B, W, L):
    """The memory check's estimate of one worker's buffers (all but the caller's rng/tallies
    views, the distributed trainer's touched mask and window.logits, a view of window.flat) is what
    is allocated, to within 64 bytes."""
    params = kern.Params(kern.LOSS_NEG, kern.ARCH_CBOW, True, False, W, S, B, False, True, kern.SAMPLER_UNIFORM, 0.1, 0.1, 1e9, 2,
                      True)
    scratch = kern.make_scratch(V, D, params, L, np.zeros(1, np.uint64), np.zeros(kern.N_TALLIES))
    records = (scratch.batch, scratch.draw, scratch.pair, scratch.window)
    arrays = [scratch.sent, scratch.rows] + [a for r in records for a in r if a is not scratch.window.logits]
    allocated = sum(a.nbytes for a in arrays)
    assert scratch.window.logits.base is scratch.window.flat
    assert set(scratch._fields) == {"rng", "tallies", "sent", "touched", "rows", "batch", "draw", "pair", "window"}
    assert abs(allocated - kern.scratch_bytes(V, D, S, B, W, L)) <= 64


def test_a_workers_scratch_does_not_grow_with_the_vocabulary():
    """Issue 33: per-thread scratch independent of V (the draw marks are a small hashed set);
    at V = 1.5M, the default settings' scratch stays far below 8 MB."""
    sizes = {V: kern.scratch_bytes(V, 300, 25, 128, 5, 10000) for V in (1000, 1_500_000, 10_000_000)}
    assert len(set(sizes.values())) == 1 and sizes[1_500_000] < 8 << 20
    assert kern.marks_capacity(25) == 128 and kern.marks_capacity(1) == 16 and kern.marks_capacity(32) == 128


def test_draw_marks_find_every_id_of_a_batch_and_nothing_else():
    """The hashed marks against a Python set over many batches of ids from a large range
    (colliding slots, ids repeated within a batch: last position wins)."""
    rng = np.random.default_rng(4)
    draw = kern.make_draw(25)
    for batch_no in range(1, 200):
        ids = rng.integers(0, 3_000_000, 25) if batch_no % 2 else rng.integers(0, 30, 25)
        draw.samples[:] = ids
        kern.mark_samples(draw, batch_no)
        last = {int(c): k for k, c in enumerate(ids)}
        probes = set(rng.integers(0, 3_000_000, 50).tolist()) | set(last) | set(range(30))
        assert {c: kern.marked_pos(draw, c, batch_no) for c in probes} == {c: last.get(c, -1) for c in probes}
