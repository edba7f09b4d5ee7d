"""``negatives: window`` (one negative draw per window, pWord2Vec's HogBatch): the window step
against the NumPy reference and finite differences, whole chunks against a plain-Python replay,
and the job end to end."""

from __future__ import annotations

import numpy as np
import pytest

from tests import naive
from tests.corpora import big_corpus, planted_corpus
from tests.interrupt import run_interrupted
from w2v_nce import kernels as kern
from w2v_nce.artifact.model import Model
from w2v_nce.config import Config, validate
from w2v_nce.errors import ConfigError
from w2v_nce.run.job import resume_training, run_training
from w2v_nce.sampling import build_alias_table

V, D = 40, 7  # D not a multiple of the vector width: the loops' tails are exercised


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.3, (V, D)).astype(np.float32), rng.normal(0, 0.3, (V, D)).astype(np.float32)


def _window_update(w_in, w_out, contexts, rows, lr, spare=1):
    """window_update on fresh scratch; rows = [centre, negatives...] as draw_window writes them;
    ``spare`` columns of NaN beyond them (as a negative equal to the centre leaves one)."""
    ctx = np.array(contexts, np.int64)
    out_rows = np.array(rows, np.int64)
    flat = np.full(len(ctx) * (len(out_rows) + spare), np.nan, np.float32)
    G = flat.reshape(len(ctx), len(out_rows) + spare)
    label = kern.window_label_mask(len(ctx), len(out_rows) + spare)
    dx = np.empty((len(ctx), D), np.float32)
    return kern.window_update(w_in, w_out, ctx, len(ctx), out_rows, len(out_rows), lr, G, flat, label, dx,
                           np.arange(len(ctx)))


# contexts of 1, 2, 3, 5 and 7 rows (the 2 x 4 blocks and their leftovers), with a repeated context
# word and a repeated negative; the centre (9) is never among the negatives (draw_window skips it)
@pytest.mark.parametrize("contexts, negatives", [([3], [5, 7, 2, 7, 11]), ([3, 4], [5]),
                                                 ([3, 4, 3], [5, 7, 2, 8]), ([1, 2, 3, 4, 6], [5, 7, 7, 2, 8, 13]),
                                                 ([1, 2, 3, 4, 6, 1, 8], [5, 7, 2])])
@pytest.mark.parametrize("spare", [0, 1])
def test_window_step_matches_the_numpy_reference(contexts, negatives, spare):
    w_in, w_out = _params(3)
    exp_in, exp_out, exp_loss = naive.window_neg_step(w_in, w_out, contexts, 9, negatives, 0.05)
    loss = _window_update(w_in, w_out, contexts, [9] + negatives, 0.05, spare)
    assert loss == pytest.approx(exp_loss, rel=1e-5)
    np.testing.assert_allclose(w_in, exp_in, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w_out, exp_out, rtol=1e-5, atol=1e-6)


def test_window_step_with_many_terms_and_saturated_logits():
    """40 contexts x 30 classes = 1,200 factors (1 + e^-|z|) of 2 each at w_out = 0: their product
    would overflow float64 in one piece (2**1200); and logits far beyond ±80 (the exp floor)."""
    rng = np.random.default_rng(5)
    contexts, rows = rng.integers(0, V, 40).tolist(), rng.integers(0, V, 30).tolist()
    w_in, _ = _params(4)
    w_out = np.zeros((V, D), np.float32)
    loss = _window_update(w_in, w_out, contexts, rows, 0.01, spare=0)
    assert loss == pytest.approx(40 * 30 * np.log(2.0), rel=1e-6)
    w_in, w_out = (p * np.float32(60.0) for p in _params(6))  # |logits| up to a few hundred
    with np.errstate(over="ignore"):  # the reference's exp(-x) of a large x: inf, sigmoid 0, as meant
        exp_in, exp_out, exp_loss = naive.window_neg_step(w_in, w_out, [1, 2, 3], 9, [4, 5, 6, 7, 8], 1e-4)
    assert np.abs(w_in[[1, 2, 3]] @ w_out[[9, 4, 5, 6, 7, 8]].T).max() > 80
    loss = _window_update(w_in, w_out, [1, 2, 3], [9, 4, 5, 6, 7, 8], 1e-4)
    assert loss == pytest.approx(exp_loss, rel=1e-6)
    np.testing.assert_allclose(w_in, exp_in, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w_out, exp_out, rtol=1e-5, atol=1e-6)


def test_window_step_is_minus_lr_times_the_finite_difference_gradient():
    w_in, w_out = _params(4)
    contexts, centre, negatives, lr, eps = [1, 2, 1, 6, 3], 9, [5, 7, 7, 2, 5], 1e-3, 1e-6
    wi64, wo64 = w_in.astype(np.float64), w_out.astype(np.float64)
    before_in, before_out = w_in.copy(), w_out.copy()
    _window_update(w_in, w_out, contexts, [centre] + negatives, lr)
    for row, col in [(1, 0), (2, D - 1), (6, 3), (9, 2), (5, 1), (7, 3), (2, 0), (4, 1)]:
        for before, after, bump in [(before_in, w_in, 0), (before_out, w_out, 1)]:
            e = np.zeros((V, D))
            e[row, col] = eps
            up = naive.window_neg_loss(wi64 + e * (bump == 0), wo64 + e * bump, contexts, centre, negatives)
            down = naive.window_neg_loss(wi64 - e * (bump == 0), wo64 - e * bump, contexts, centre, negatives)
            grad = (up - down) / (2 * eps)
            step = float(after[row, col]) - float(before[row, col])
            assert step == pytest.approx(-lr * grad, rel=2e-3, abs=2e-9), (bump, row, col)


# ---------------------------------------------------------------------------------------
# whole chunks
# ---------------------------------------------------------------------------------------
def _records(window, S, lr, seed, keep, neg_p, neg_a, prefetch=kern.PREFETCH_PAIRS):
    tables = kern.make_tables(keep, np.full(V, 1.0 / V, np.float32), np.ones(1), np.zeros(1, np.int32), neg_p, neg_a, S)
    params = kern.Params(kern.LOSS_NEG, kern.ARCH_SKIPGRAM, True, True, window, S, 4, False, True, kern.SAMPLER_UNIFORM, lr, lr,
                      1e9, prefetch, True)
    scratch = kern.make_scratch(V, D, params, 100, np.array([seed], np.uint64), np.zeros(kern.N_TALLIES, np.float64))
    return tables, params, scratch


def _train_chunk(ids, w_in, w_out, keep, window, S, lr, seed, neg_p, neg_a, prefetch=kern.PREFETCH_PAIRS):
    tables, params, scratch = _records(window, S, lr, seed, keep, neg_p, neg_a, prefetch)
    kern.train_chunk(ids, 0.0, kern.Weights(w_in, w_out, np.zeros(V, np.float32)), tables, params, scratch)
    return scratch.tallies, scratch.rng


def _naive_chunk(ids, w_in, w_out, keep, window, S, lr, seed, neg_p, neg_a):
    """train_chunk's RNG calls replayed in plain Python (subsampling, each centre's window, then
    its S negatives), each window's step by naive.window_neg_step. Returns (w_in, w_out, loss, pairs)."""
    rng = np.array([seed], np.uint64)
    total, pairs = 0.0, 0
    for sent in [s.tolist() for s in np.split(ids, np.flatnonzero(ids == -1) + 1) if len(s) > 1]:
        kept = [w for w in sent[:-1] if not (keep[w] < 1.0 and keep[w] < kern.rng_uniform(rng))]
        for i, c in enumerate(kept):
            span = window - kern.rng_below(rng, window)
            contexts = [kept[j] for j in range(max(0, i - span), min(len(kept), i + span + 1)) if j != i]
            negatives = [kern.draw_candidate(kern.SAMPLER_UNIGRAM, V, neg_p, neg_a, rng) for _ in range(S)]
            if contexts:
                w_in, w_out, loss = naive.window_neg_step(w_in, w_out, contexts, c, negatives, lr)
                w_in, w_out = w_in.astype(np.float32), w_out.astype(np.float32)
                total += loss
                pairs += len(contexts)
    return w_in, w_out, total, pairs


def test_train_chunk_equals_the_naive_replay():
    """Windows, subsampling, single-word sentences, a centre among its own negatives: as the definition."""
    rng = np.random.default_rng(8)
    sentences = [rng.integers(0, V // 4, rng.integers(1, 14)).tolist() for _ in range(8)]  # few ids: repeats
    ids = np.array([w for s in sentences for w in s + [-1]], np.int32)
    keep = np.where(np.arange(V) % 3 == 0, 0.6, 1.0).astype(np.float32)
    neg_p, neg_a = build_alias_table(np.where(np.arange(V) < V // 4, 4.0, 1.0))  # negatives often hit the centre
    window, S, lr, seed = 3, 5, 0.05, 21
    w_in, w_out = _params(2)
    exp_in, exp_out, exp_loss, exp_pairs = _naive_chunk(ids, w_in.copy(), w_out.copy(), keep, window, S, lr, seed,
                                                        neg_p, neg_a)
    tallies, _ = _train_chunk(ids, w_in, w_out, keep, window, S, lr, seed, neg_p, neg_a)
    assert exp_pairs > 50
    assert tallies[kern.T_EXAMPLES] == exp_pairs
    assert tallies[kern.T_LOSS] == pytest.approx(exp_loss, rel=1e-4)
    np.testing.assert_allclose(w_in, exp_in, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w_out, exp_out, rtol=1e-4, atol=1e-5)


def test_results_do_not_depend_on_the_prefetch():
    rs = np.random.default_rng(5)
    ids = np.concatenate([np.append(rs.integers(0, V, n), -1) for n in (1, 2, 9, 30, 4)]).astype(np.int32)
    neg_p, neg_a = build_alias_table(rs.random(V) + 0.1)
    results = []
    for prefetch in (0, 2):
        w_in, w_out = _params(6)
        tallies, rng = _train_chunk(ids, w_in, w_out, np.ones(V, np.float32), 5, 5, 0.05, 3, neg_p, neg_a, prefetch)
        results.append((tallies, w_in, w_out, rng[0]))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(results[0][2], results[1][2])
    assert results[0][3] == results[1][3]


def test_window_and_pair_negatives_train_the_same_pairs_differently():
    """Same windows (same pair count), different negatives and steps."""
    rs = np.random.default_rng(1)
    ids = np.append(rs.integers(0, V, 40), -1).astype(np.int32)
    neg_p, neg_a = build_alias_table(np.ones(V))
    w_in, w_out = _params(1)
    tallies, _ = _train_chunk(ids, w_in, w_out, np.ones(V, np.float32), 1, 5, 0.05, 3, neg_p, neg_a)
    assert tallies[kern.T_EXAMPLES] == 2 * 39  # window 1: every adjacent pair, both ways
    assert tallies[kern.T_BATCHES] == 40  # one draw per centre


# ---------------------------------------------------------------------------------------
# the job
# ---------------------------------------------------------------------------------------
def _cfg(tmp_path, corpus, out, **kw):
    base = dict(corpus=[corpus], output=str(tmp_path / out), dim=16, window=3, min_count=1, epochs=4, threads=2,
                loss="neg", negatives="window", sample=0, quiet=True, checkpoint_every=0, alpha=0.05, num_sampled=5)
    return Config(**{**base, **kw})


def test_window_negatives_learn_planted_topics(tmp_path):
    corpus = planted_corpus(tmp_path / "planted.txt")
    run_training(_cfg(tmp_path, corpus, "out"))
    m = Model.load(str(tmp_path / "out"))
    for probe in ("a3", "b7"):
        neighbours = [w for w, _ in m.nearest(probe, 6) if w not in ("x", "y", "z")]
        assert all(w[0] == probe[0] for w in neighbours[:5]), (probe, neighbours)


def test_window_negatives_are_reproducible_and_resume_exactly(tmp_path, monkeypatch):
    corpus = big_corpus(tmp_path / "big.txt", mb=2)
    one = dict(threads=1, epochs=2, min_count=5, dim=8)
    for out in ("one", "two"):
        run_training(_cfg(tmp_path, corpus, out, **one))
    assert (tmp_path / "one" / "vectors.txt").read_bytes() == (tmp_path / "two" / "vectors.txt").read_bytes()
    run_training(_cfg(tmp_path, corpus, "pair", **one, negatives="pair"))
    assert (tmp_path / "pair" / "vectors.txt").read_bytes() != (tmp_path / "one" / "vectors.txt").read_bytes()
    run_interrupted(_cfg(tmp_path, corpus, "cut", **one), monkeypatch, after_calls=4)
    resume_training(str(tmp_path / "cut"))
    assert (tmp_path / "cut" / "vectors.txt").read_bytes() == (tmp_path / "one" / "vectors.txt").read_bytes()


@pytest.mark.parametrize("kw", [dict(loss="nce"), dict(loss="sampled_softmax"), dict(arch="cbow")])
def test_window_negatives_need_skipgram_neg(kw):
    with pytest.raises(ConfigError, match="--negatives window needs --loss neg --arch skipgram"):
        validate(Config(**{"loss": "neg", "negatives": "window", **kw}))
