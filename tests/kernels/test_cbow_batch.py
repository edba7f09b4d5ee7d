"""CBOW with ``negatives: batch`` (batch_size consecutive examples share one draw): the batch
step against the NumPy reference and finite differences, whole chunks against a plain-Python
replay, and the job end to end."""

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


def _batch_update(w_in, w_out, bags, centres, negatives, lr, mean, exact):
    """cbow_batch_update on fresh scratch, the batch laid out as draw_bag_batch writes it."""
    nb, S = len(bags), len(negatives)
    bag_ids = np.array([w for bag in bags for w in bag], np.int32)
    batch = kern.Batch(fill=np.zeros(3, np.int64), labels=np.array(centres, np.int32), run_start=np.zeros(nb + 1, np.int32),
                    bag_ids=bag_ids, bag_start=np.cumsum([0] + [len(b) for b in bags]).astype(np.int32),
                    bag_scale=np.ones(nb, np.float32), xin=np.empty((nb, D), np.float32),
                    u=np.empty((nb, S), np.float32), coef=np.empty((nb, S), np.float32), gt=np.empty(nb, np.float32),
                    dx=np.empty((nb, D), np.float32), logq_s=np.empty(S, np.float32), logq_t=np.empty(nb, np.float32))
    weights = kern.Weights(w_in, w_out, np.zeros(V, np.float32))
    return kern.cbow_batch_update(weights, nb, S, mean, exact, lr, batch, np.array(negatives, np.int64), np.arange(nb))


# 1, 2, 3 and 5 examples (the 2 x 4 logit blocks and their leftovers); repeated bag words, a
# centre that is another example's context and another's centre, a centre among the negatives
# (masked for that example only) and a repeated negative
CASES = [([[3, 4]], [9], [5, 7, 2, 7, 11]),
         ([[3, 4, 3], [1]], [9, 9], [5, 9]),
         ([[1, 2], [9, 2, 6], [2, 1, 1, 8]], [9, 5, 3], [5, 7, 7, 2, 8, 13]),
         ([[1, 2, 3, 4, 6, 1], [2], [4, 9], [6, 7, 8], [1, 2]], [9, 3, 8, 2, 9], [5, 7, 2, 8, 0])]


@pytest.mark.parametrize("bags, centres, negatives", CASES)
@pytest.mark.parametrize("mean, exact", [(True, False), (True, True), (False, True)])
def test_batch_step_matches_the_numpy_reference(bags, centres, negatives, mean, exact):
    w_in, w_out = _params(3)
    exp_in, exp_out, exp_loss = naive.cbow_batch_step(w_in, w_out, bags, centres, negatives, 0.05, mean, exact)
    loss = _batch_update(w_in, w_out, bags, centres, negatives, 0.05, mean, exact)
    assert loss == pytest.approx(exp_loss, rel=1e-5)
    np.testing.assert_allclose(w_in, exp_in, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w_out, exp_out, rtol=1e-5, atol=1e-6)


def test_one_example_batch_is_the_cbow_neg_step():
    """With B = 1 a shared draw is a fresh one: the step is CBOW-neg's."""
    w_in, w_out = _params(5)
    exp_in, exp_out, exp_loss = naive.cbow_neg_step(w_in, w_out, [1, 4, 4, 6], 8, [2, 8, 3], 0.1, True, False)
    loss = _batch_update(w_in, w_out, [[1, 4, 4, 6]], [8], [2, 8, 3], 0.1, True, False)
    assert loss == pytest.approx(exp_loss, rel=1e-5)
    np.testing.assert_allclose(w_in, exp_in, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w_out, exp_out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mean", [True, False])
def test_exact_batch_step_is_minus_lr_times_the_finite_difference_gradient(mean):
    w_in, w_out = _params(4)
    bags, centres, negatives, lr, eps = [[1, 2, 1], [6, 3], [2, 9, 5]], [9, 2, 6], [5, 7, 7, 2, 9], 1e-3, 1e-6
    wi64, wo64 = w_in.astype(np.float64), w_out.astype(np.float64)
    before_in, before_out = w_in.copy(), w_out.copy()
    _batch_update(w_in, w_out, bags, centres, negatives, lr, mean, True)
    for row, col in [(1, 0), (2, D - 1), (6, 3), (9, 2), (5, 1), (7, 3), (2, 0), (4, 1)]:
        for before, after, bump in [(before_in, w_in, 0), (before_out, w_out, 1)]:
            e = np.zeros((V, D))
            e[row, col] = eps
            up = naive.cbow_batch_loss(wi64 + e * (bump == 0), wo64 + e * bump, bags, centres, negatives, mean)
            down = naive.cbow_batch_loss(wi64 - e * (bump == 0), wo64 - e * bump, bags, centres, negatives, mean)
            grad = (up - down) / (2 * eps)
            step = float(after[row, col]) - float(before[row, col])
            assert step == pytest.approx(-lr * grad, rel=2e-3, abs=2e-9), (bump, row, col)


# ---------------------------------------------------------------------------------------
# whole chunks
# ---------------------------------------------------------------------------------------
def _records(window, S, B, lr, seed, keep, neg_p, neg_a, mean=True, exact=False, prefetch=kern.PREFETCH_PAIRS):
    tables = kern.make_tables(keep, np.full(V, 1.0 / V, np.float32), np.ones(1), np.zeros(1, np.int32), neg_p, neg_a, S)
    params = kern.Params(kern.LOSS_NEG, kern.ARCH_CBOW, mean, exact, window, S, B, False, True, kern.SAMPLER_UNIFORM, lr, lr,
                      1e9, prefetch, True)
    scratch = kern.make_scratch(V, D, params, 100, np.array([seed], np.uint64), np.zeros(kern.N_TALLIES, np.float64))
    return tables, params, scratch


def _train_chunk(ids, w_in, w_out, keep, window, S, B, lr, seed, neg_p, neg_a, **kw):
    tables, params, scratch = _records(window, S, B, lr, seed, keep, neg_p, neg_a, **kw)
    kern.train_chunk(ids, 0.0, kern.Weights(w_in, w_out, np.zeros(V, np.float32)), tables, params, scratch)
    return scratch.tallies, scratch.rng


def _naive_chunk(ids, w_in, w_out, keep, window, S, B, lr, seed, neg_p, neg_a):
    """train_chunk's RNG calls replayed in plain Python (subsampling; per batch r < P =
    ceil(n / B') of the kept centres r, r + P, ..., B' = min(B, n // (2 * window + 1)) or 1,
    each centre's window, then S negatives if any bag is non-empty), each batch's
    step by naive.cbow_batch_step (mean, word2vec's row rule). Returns (w_in, w_out, loss, examples, draws)."""
    rng = np.array([seed], np.uint64)
    total, examples, draws = 0.0, 0, 0
    for sent in [s.tolist() for s in np.split(ids, np.flatnonzero(ids == -1) + 1) if len(s) > 1]:
        kept = [w for w in sent[:-1] if not (keep[w] < 1.0 and keep[w] < kern.rng_uniform(rng))]
        size = max(1, min(B, len(kept) // (2 * window + 1)))
        P = -(-len(kept) // size)
        for r in range(P):
            bags, centres = [], []
            for i in range(r, len(kept), P):
                span = window - kern.rng_below(rng, window)
                bag = [kept[j] for j in range(max(0, i - span), min(len(kept), i + span + 1)) if j != i]
                if bag:
                    bags.append(bag)
                    centres.append(kept[i])
            if not bags:
                continue
            negatives = [kern.draw_candidate(kern.SAMPLER_UNIGRAM, V, neg_p, neg_a, rng) for _ in range(S)]
            w_in, w_out, loss = naive.cbow_batch_step(w_in, w_out, bags, centres, negatives, lr, True, False)
            w_in, w_out = w_in.astype(np.float32), w_out.astype(np.float32)
            total += loss
            examples += len(bags)
            draws += 1
    return w_in, w_out, total, examples, draws


def test_train_chunk_equals_the_naive_replay():
    """Strided batches of a sentence, short batches, sentences too short to share a draw,
    subsampling, single-word sentences (no example, no draw), centres among their batch's
    negatives: as the definition."""
    rng = np.random.default_rng(8)
    lengths = [int(k) for k in rng.integers(1, 14, 8)] + [35, 60]  # window 3: batches of 4 need 28+ kept words
    sentences = [rng.integers(0, V // 4, k).tolist() for k in lengths]  # few ids: repeats
    ids = np.array([w for s in sentences + [[3]] for w in s + [-1]], np.int32)
    keep = np.where(np.arange(V) % 3 == 0, 0.6, 1.0).astype(np.float32)
    neg_p, neg_a = build_alias_table(np.where(np.arange(V) < V // 4, 4.0, 1.0))  # negatives often hit a centre
    window, S, B, lr, seed = 3, 5, 4, 0.05, 21
    w_in, w_out = _params(2)
    exp_in, exp_out, exp_loss, exp_examples, exp_draws = _naive_chunk(ids, w_in.copy(), w_out.copy(), keep, window, S,
                                                                      B, lr, seed, neg_p, neg_a)
    tallies, _ = _train_chunk(ids, w_in, w_out, keep, window, S, B, lr, seed, neg_p, neg_a)
    assert exp_examples > 30 and exp_draws > 8
    assert tallies[kern.T_EXAMPLES] == exp_examples
    assert tallies[kern.T_BATCHES] == exp_draws
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
        tallies, rng = _train_chunk(ids, w_in, w_out, np.ones(V, np.float32), 5, 5, 8, 0.05, 3, neg_p, neg_a,
                                    prefetch=prefetch)
        results.append((tallies, w_in, w_out, rng[0]))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(results[0][2], results[1][2])
    assert results[0][3] == results[1][3]


def test_batch_and_pair_negatives_train_the_same_examples_with_fewer_draws():
    rs = np.random.default_rng(1)
    ids = np.append(rs.integers(0, V, 40), -1).astype(np.int32)
    neg_p, neg_a = build_alias_table(np.ones(V))
    tallies = {}
    for shared in (True, False):
        w_in, w_out = _params(1)
        tables, params, scratch = _records(2, 5, 16, 0.05, 3, np.ones(V, np.float32), neg_p, neg_a)
        params = params._replace(shared_negatives=shared)
        kern.train_chunk(ids, 0.0, kern.Weights(w_in, w_out, np.zeros(V, np.float32)), tables, params, scratch)
        tallies[shared] = scratch.tallies.copy()
    assert tallies[True][kern.T_EXAMPLES] == tallies[False][kern.T_EXAMPLES] == 40  # every centre has a context
    assert tallies[True][kern.T_BATCHES] == 5  # batches of min(16, 40 // 5) = 8 centres, 5 apart: 5 draws
    assert tallies[False][kern.T_BATCHES] == 40  # one per example
    assert tallies[True][kern.T_LOSS] != tallies[False][kern.T_LOSS]


def test_a_sentence_too_short_to_share_trains_as_cbow_neg():
    """n < 2 * window + 1 kept words: batches of one centre, each with its own draw, in
    CBOW-neg's RNG order (its window, then its negatives): CBOW-neg's steps."""
    rs = np.random.default_rng(4)
    ids = np.concatenate([np.append(rs.integers(0, V, n), -1) for n in (1, 3, 6, 10)]).astype(np.int32)
    neg_p, neg_a = build_alias_table(rs.random(V) + 0.1)
    out = {}
    for shared in (True, False):
        w_in, w_out = _params(9)
        tables, params, scratch = _records(5, 4, 16, 0.05, 3, np.ones(V, np.float32), neg_p, neg_a)
        kern.train_chunk(ids, 0.0, kern.Weights(w_in, w_out, np.zeros(V, np.float32)), tables,
                      params._replace(shared_negatives=shared), scratch)
        out[shared] = (scratch.tallies.copy(), w_in, w_out, scratch.rng[0])
    np.testing.assert_array_equal(out[True][0][[kern.T_EXAMPLES, kern.T_BATCHES, kern.T_WORDS]],
                                  out[False][0][[kern.T_EXAMPLES, kern.T_BATCHES, kern.T_WORDS]])
    assert out[True][0][kern.T_LOSS] == pytest.approx(out[False][0][kern.T_LOSS], rel=1e-6)
    np.testing.assert_allclose(out[True][1], out[False][1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[True][2], out[False][2], rtol=1e-5, atol=1e-6)
    assert out[True][3] == out[False][3]  # the same draws


# ---------------------------------------------------------------------------------------
# the job
# ---------------------------------------------------------------------------------------
def _cfg(tmp_path, corpus, out, **kw):
    base = dict(corpus=[corpus], output=str(tmp_path / out), dim=16, window=3, min_count=1, epochs=4, threads=2,
                arch="cbow", loss="neg", negatives="batch", batch_size=8, sample=0, quiet=True, checkpoint_every=0,
                alpha=0.05, num_sampled=5)
    return Config(**{**base, **kw})


def test_batch_negatives_learn_planted_topics(tmp_path):
    corpus = planted_corpus(tmp_path / "planted.txt")
    run_training(_cfg(tmp_path, corpus, "out"))
    m = Model.load(str(tmp_path / "out"))
    for probe in ("a3", "b7"):
        neighbours = [w for w, _ in m.nearest(probe, 6) if w not in ("x", "y", "z")]
        assert all(w[0] == probe[0] for w in neighbours[:5]), (probe, neighbours)


def test_batch_negatives_are_reproducible_and_resume_exactly(tmp_path, monkeypatch):
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


@pytest.mark.parametrize("kw", [dict(loss="nce"), dict(loss="sampled_softmax"), dict(arch="skipgram")])
def test_batch_negatives_need_cbow_neg(kw):
    with pytest.raises(ConfigError, match="--negatives batch needs --loss neg --arch cbow"):
        validate(Config(**{"arch": "cbow", "loss": "neg", "negatives": "batch", **kw}))
