"""CBOW: the kernels against the NumPy loss API with ``inputs`` = context means, finite
differences, a plain-Python replay of whole chunks, and the job end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests import naive
from tests.corpora import big_corpus, planted_corpus
from tests.interrupt import run_interrupted
from w2v_nce import kernels as kern
from w2v_nce.artifact.model import Model
from w2v_nce.config import Config
from w2v_nce.reference.tf_losses import (
    nce_loss,
    nce_loss_grad,
    sampled_softmax_loss,
    sampled_softmax_loss_grad,
)
from w2v_nce.run.job import resume_training, run_training
from w2v_nce.sampling import expected_count, log_uniform_probability

V, D = 30, 6
_NEG_P = np.full(V, 1.0)  # alias tables of the uniform distribution: column k, always accepted
_NEG_A = np.arange(V, dtype=np.int32)


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 0.3, (V, D)).astype(np.float32), rng.normal(0, 0.3, (V, D)).astype(np.float32),
            rng.normal(0, 0.1, V).astype(np.float32))


def _records(B, S, window, loss_kind, mean=True, remove_hits=False, lr=0.0, seed=7, keep=None, exact=True, prefetch=0):
    prob = log_uniform_probability(np.arange(V), V)
    keep = np.ones(V, np.float32) if keep is None else keep
    tables = kern.make_tables(keep, prob, np.ones(1), np.zeros(1, np.int32), _NEG_P, _NEG_A, S)
    params = kern.Params(loss_kind, kern.ARCH_CBOW, mean, exact, window, S, B, remove_hits, True, kern.SAMPLER_LOG_UNIFORM, lr, lr,
                      1e9, prefetch)
    scratch = kern.make_scratch(V, D, params, 100, np.array([seed], np.uint64), np.zeros(kern.N_TALLIES, np.float64))
    return tables, params, scratch


# ---------------------------------------------------------------------------------------
# one batch of (context bag, centre) examples against the NumPy API
# ---------------------------------------------------------------------------------------
BAGS = [[1, 2, 3, 2], [4], [5, 6, 7, 8, 9, 1], [2, 1]]  # a repeated word counts twice in its mean
LABELS = np.array([7, 3, 2, 4], np.int32)  # example 3's label 4 is also sampled (an accidental hit)
SAMPLES = np.array([4, 11, 0, 13, 20], np.int64)
TRIES = 7


@pytest.mark.parametrize("loss_kind, remove_hits, mean, exact", [(kern.LOSS_NCE, False, True, True),
                                                                 (kern.LOSS_NCE, True, False, True),
                                                                 (kern.LOSS_SSM, True, True, True),
                                                                 (kern.LOSS_NCE, False, True, False)])
def test_cbow_batch_matches_the_numpy_api_with_context_means(loss_kind, remove_hits, mean, exact):
    """Loss and w_out/bias steps as TF's with inputs = context means; each context row takes
    scale x the input's gradient (exact) or all of it (word2vec's rule)."""
    w_in, w_out, bias = _params()
    lr = 0.1
    tables, params, s = _records(len(BAGS), len(SAMPLES), 3, loss_kind, mean, remove_hits, exact=exact)
    flat = [w for bag in BAGS for w in bag]
    s.batch.bag_ids[:len(flat)] = flat
    s.batch.bag_start[:len(BAGS) + 1] = np.cumsum([0] + [len(b) for b in BAGS])
    scales = [1.0 / len(b) if mean else 1.0 for b in BAGS]
    s.batch.bag_scale[:len(BAGS)] = scales
    s.batch.labels[:] = LABELS
    s.batch.run_start[:len(BAGS) + 1] = np.arange(len(BAGS) + 1)  # one pair per run
    s.draw.samples[:] = SAMPLES
    kern.mark_samples(s.draw, 1)
    inputs = np.stack([naive.cbow_input(w_in, b, mean) for b in BAGS]).astype(np.float32)
    qt = expected_count(log_uniform_probability(LABELS, V), len(SAMPLES), TRIES).reshape(-1, 1)
    qs = expected_count(log_uniform_probability(SAMPLES, V), len(SAMPLES), TRIES)
    fn, gn = (nce_loss, nce_loss_grad) if loss_kind == kern.LOSS_NCE else (sampled_softmax_loss, sampled_softmax_loss_grad)
    args = (w_out, bias, LABELS.reshape(-1, 1), inputs, len(SAMPLES), V)
    kw = dict(sampled_values=(SAMPLES, qt, qs), remove_accidental_hits=remove_hits)
    exp_loss = fn(*args, **kw).astype(np.float64).sum()
    row_scales = scales if exact else [1.0] * len(BAGS)
    exp_in, exp_out, exp_b = naive.bag_update(w_in, w_out, bias, BAGS, row_scales, gn(*args, **kw), lr)

    loss = kern.process_batch(kern.Weights(w_in, w_out, bias), len(BAGS), TRIES, 1, lr, tables, params, s)
    assert loss == pytest.approx(exp_loss, rel=1e-5)
    np.testing.assert_allclose(w_in, exp_in, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w_out, exp_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, exp_b, rtol=1e-5, atol=1e-6)


def test_cbow_nce_step_is_minus_lr_times_the_finite_difference_gradient():
    """The bag rows' step equals -lr * d(summed nce loss)/d(row), by central differences."""
    w_in, w_out, bias = _params(3)
    lr, S = 1e-3, len(SAMPLES)
    bags = [[1, 2, 2, 5], [5, 6]]
    labels = np.array([9, 1], np.int32)
    qt = expected_count(log_uniform_probability(labels, V), S, TRIES).reshape(-1, 1)
    qs = expected_count(log_uniform_probability(SAMPLES, V), S, TRIES)

    def total(wi):
        x = np.stack([naive.cbow_input(wi, b, True) for b in bags])
        return float(nce_loss(w_out.astype(np.float64), bias.astype(np.float64), labels.reshape(-1, 1), x, S, V,
                              sampled_values=(SAMPLES, qt, qs)).sum())

    tables, params, s = _records(2, S, 3, kern.LOSS_NCE)
    s.batch.bag_ids[:6] = [1, 2, 2, 5, 5, 6]
    s.batch.bag_start[:3] = [0, 4, 6]
    s.batch.bag_scale[:2] = [0.25, 0.5]
    s.batch.labels[:2] = labels
    s.batch.run_start[:3] = [0, 1, 2]
    s.draw.samples[:] = SAMPLES
    kern.mark_samples(s.draw, 1)
    after = w_in.copy()
    kern.process_batch(kern.Weights(after, w_out.copy(), bias.copy()), 2, TRIES, 1, lr, tables, params, s)
    wi64 = w_in.astype(np.float64)
    for row in (1, 2, 5, 6, 0):  # 2 repeats in a bag, 5 is in both bags, 0 in none
        for col in range(D):
            e = np.zeros_like(wi64)
            e[row, col] = 1e-5
            grad = (total(wi64 + e) - total(wi64 - e)) / 2e-5
            step = float(after[row, col]) - float(w_in[row, col])
            assert step == pytest.approx(-lr * grad, rel=2e-3, abs=2e-9), (row, col)


@pytest.mark.parametrize("mean", [True, False])
def test_cbow_neg_example_matches_the_naive_step_and_finite_differences(mean):
    """The exact rule: each context row's step is -lr times the finite-difference gradient."""
    w_in, w_out, _ = _params(4)
    bag = np.array([3, 8, 3, 12], np.int64)
    centre, negatives, lr = 5, np.array([1, 5, 9, 9], np.int64), 1e-3  # a negative equal to the label, a repeat
    exp_in, exp_out, exp_loss = naive.cbow_neg_step(w_in, w_out, bag, centre, negatives, lr, mean)
    got_in, got_out = w_in.copy(), w_out.copy()
    x, neu1e = np.empty((1, D), np.float32), np.empty(D, np.float32)
    scale = np.float32(1.0 / len(bag)) if mean else np.float32(1.0)
    kern.bag_input(got_in, bag, len(bag), scale, x[0])
    loss = kern.neg_update(x, 0, got_out, centre, negatives, len(negatives), lr, neu1e, np.empty(8, np.int64),
                        np.empty(8, np.int64), np.empty(8, np.float32))
    for c in bag:
        got_in[c] += scale * neu1e
    assert loss == pytest.approx(exp_loss, rel=1e-5)
    np.testing.assert_allclose(got_in, exp_in, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got_out, exp_out, rtol=1e-5, atol=1e-7)
    wi64 = w_in.astype(np.float64)
    for row in (3, 8, 12):
        for col in range(D):
            e = np.zeros_like(wi64)
            e[row, col] = 1e-5
            grad = (naive.cbow_neg_loss(wi64 + e, w_out, bag, centre, negatives, mean)
                    - naive.cbow_neg_loss(wi64 - e, w_out, bag, centre, negatives, mean)) / 2e-5
            assert float(got_in[row, col]) - float(w_in[row, col]) == pytest.approx(-lr * grad, rel=2e-3, abs=2e-9)


# ---------------------------------------------------------------------------------------
# whole chunks against a plain-Python replay (same RNG stream)
# ---------------------------------------------------------------------------------------
def _naive_cbow_chunk(ids, w_in, w_out, bias, keep, loss_kind, window, S, B, mean, lr, seed, exact):
    rng = np.array([seed], np.uint64)
    draw = kern.make_draw(S)
    ones, idx = np.ones(1), np.zeros(1, np.int32)
    total, batch, batch_no = 0.0, [], [0]

    def flush():
        nonlocal total, w_in, w_out, bias
        batch_no[0] += 1
        tries = kern.draw_batch(draw, True, batch_no[0], kern.SAMPLER_LOG_UNIFORM, V, ones, idx, rng)
        samples = draw.samples.copy()
        bags = [b for b, _ in batch]
        labels = np.array([c for _, c in batch], np.int32)
        inputs = np.stack([naive.cbow_input(w_in, b, mean) for b in bags]).astype(np.float32)
        qt = expected_count(log_uniform_probability(labels, V), S, tries).reshape(-1, 1)
        qs = expected_count(log_uniform_probability(samples, V), S, tries)
        fn, gn = (nce_loss, nce_loss_grad) if loss_kind == kern.LOSS_NCE else (sampled_softmax_loss, sampled_softmax_loss_grad)
        args = (w_out, bias, labels.reshape(-1, 1), inputs, S, V)
        remove = loss_kind == kern.LOSS_SSM
        total += fn(*args, sampled_values=(samples, qt, qs), remove_accidental_hits=remove).astype(np.float64).sum()
        grads = gn(*args, sampled_values=(samples, qt, qs), remove_accidental_hits=remove)
        scales = [1.0 / len(b) if mean and exact else 1.0 for b in bags]
        w_in, w_out, bias = (a.astype(np.float32) for a in naive.bag_update(w_in, w_out, bias, bags, scales, grads, lr))
        batch.clear()

    for sent in [s.tolist() for s in np.split(ids, np.flatnonzero(ids == -1) + 1) if len(s) > 1]:
        kept = [w for w in sent[:-1] if not (keep[w] < 1.0 and keep[w] < kern.rng_uniform(rng))]
        for i, c in enumerate(kept):
            span = window - kern.rng_below(rng, window)
            bag = [kept[j] for j in range(max(0, i - span), min(len(kept), i + span + 1)) if j != i]
            if not bag:
                continue
            if loss_kind == kern.LOSS_NEG:
                neg = np.array([kern.draw_candidate(kern.SAMPLER_UNIGRAM, V, _NEG_P, _NEG_A, rng) for _ in range(S)])
                w_in, w_out, loss = naive.cbow_neg_step(w_in, w_out, bag, c, neg, lr, mean, exact)
                w_in, w_out = w_in.astype(np.float32), w_out.astype(np.float32)
                total += loss
                continue
            batch.append((bag, c))
            if len(batch) == B:
                flush()
    if batch:
        flush()
    return w_in, w_out, bias, total


@pytest.mark.parametrize("loss_kind, mean, exact, prefetch", [
    (kern.LOSS_NEG, True, True, 0), (kern.LOSS_NEG, True, False, 0), (kern.LOSS_NEG, False, True, 0),
    (kern.LOSS_NEG, True, False, kern.PREFETCH_PAIRS),  # CBOW-neg draws a centre ahead to prefetch: same results
    (kern.LOSS_NCE, True, True, 0), (kern.LOSS_NCE, True, False, 0), (kern.LOSS_SSM, False, True, 0)])
def test_cbow_chunk_equals_the_naive_replay(loss_kind, mean, exact, prefetch):
    rng = np.random.default_rng(8)
    sentences = [rng.integers(0, V, rng.integers(1, 12)).tolist() for _ in range(7)]
    ids = np.array([w for s in sentences for w in s + [-1]], np.int32)
    keep = np.where(np.arange(V) % 4 == 0, 0.5, 1.0).astype(np.float32)
    S, B, lr, seed, window = 4, 3, 0.05, 21, 3
    w_in, w_out, bias = _params(2)
    exp = _naive_cbow_chunk(ids, w_in.copy(), w_out.copy(), bias.copy(), keep, loss_kind, window, S, B, mean, lr, seed,
                            exact)
    tables, params, s = _records(B, S, window, loss_kind, mean, loss_kind == kern.LOSS_SSM, lr, seed, keep, exact, prefetch)
    kern.train_chunk(ids, 0.0, kern.Weights(w_in, w_out, bias), tables, params, s)
    assert s.tallies[kern.T_LOSS] == pytest.approx(exp[3], rel=1e-4)
    np.testing.assert_allclose(w_in, exp[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w_out, exp[1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bias, exp[2], rtol=1e-4, atol=1e-5)
    assert s.tallies[kern.T_EXAMPLES] > 0


# ---------------------------------------------------------------------------------------
# the job
# ---------------------------------------------------------------------------------------
def _cfg(corpus, out, **kw):
    base = dict(corpus=[corpus], output=str(out), dim=16, window=3, min_count=1, epochs=3, threads=1, seed=5,
                quiet=True, checkpoint_every=0, arch="cbow", loss="neg", num_sampled=5)
    base.update(kw)
    return Config(**base)


@pytest.mark.parametrize("loss", ["neg", "nce", "sampled_softmax"])
def test_cbow_learns_planted_topics(tmp_path, loss):
    corpus = planted_corpus(tmp_path / "planted.txt")
    run_training(_cfg(corpus, tmp_path / "out", epochs=4, threads=2, loss=loss, sample=0, alpha=0.05,
                      batch_size=16))
    m = Model.load(str(tmp_path / "out"))
    idx = {w: i for i, w in enumerate(m.words)}
    unit = m.w_in / np.linalg.norm(m.w_in, axis=1, keepdims=True)
    a = [idx[f"a{i}"] for i in range(10)]
    b = [idx[f"b{i}"] for i in range(10)]
    within = (unit[a] @ unit[a].T)[~np.eye(10, dtype=bool)].mean()
    across = (unit[a] @ unit[b].T).mean()
    assert within > across + 0.3, (within, across)


def test_cbow_runs_are_reproducible_and_resume_exactly(tmp_path, monkeypatch):
    corpus = big_corpus(tmp_path / "big.txt", mb=3)
    run_training(_cfg(corpus, tmp_path / "one", loss="nce"))
    run_training(_cfg(corpus, tmp_path / "two", loss="nce"))
    assert (tmp_path / "one" / "vectors.txt").read_bytes() == (tmp_path / "two" / "vectors.txt").read_bytes()
    run_interrupted(_cfg(corpus, tmp_path / "cut", loss="nce"), monkeypatch, after_calls=4)
    resume_training(str(tmp_path / "cut"))
    assert (tmp_path / "cut" / "vectors.txt").read_bytes() == (tmp_path / "one" / "vectors.txt").read_bytes()


def test_cbow_and_skipgram_differ_and_the_mean_matters(tmp_path):
    corpus = planted_corpus(tmp_path / "p.txt", lines=200)
    outs = {}
    for name, kw in {"cbow": {}, "sum": {"cbow_mean": False}, "sg": {"arch": "skipgram"},
                     "exact": {"cbow_update": "exact"}}.items():
        run_training(_cfg(corpus, tmp_path / name, epochs=1, **kw))
        outs[name] = (tmp_path / name / "vectors.txt").read_bytes()
    assert len(set(outs.values())) == 4


def test_cbow_heldout_loss_uses_context_means(tmp_path):
    from w2v_nce.evaluation.full_loss import full_sigmoid_loss_examples
    from w2v_nce.stream import heldout_examples, id_chunks
    from w2v_nce.text.corpus import Corpus
    from w2v_nce.vocabulary.vocab import Vocab

    corpus = planted_corpus(tmp_path / "p.txt", lines=300)
    held = planted_corpus(tmp_path / "h.txt", lines=20, seed=9)
    run_training(_cfg(corpus, tmp_path / "out", epochs=2, loss="nce", heldout=[held], heldout_max_pairs=500))
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    m = Model.load(str(tmp_path / "out"))
    ex = heldout_examples(id_chunks(Corpus([held]), Vocab(m.words, m.counts), 10000), 3, 500, "cbow")
    assert len(ex.labels) == 400  # 20 lines x 20 words: one example per centre
    x = np.stack([naive.cbow_input(m.w_in, ex.bag(e), True) for e in range(len(ex.labels))])
    z = x @ m.w_out.astype(np.float64).T + m.bias
    expect = float(np.mean(naive.softplus(z).sum(axis=1) - z[np.arange(len(ex.labels)), ex.labels]))
    got = full_sigmoid_loss_examples(m.w_in, m.w_out, m.bias, ex, cbow_mean=True)[0]
    assert got == pytest.approx(expect, rel=1e-4)
    assert metrics["epochs"][-1]["heldout_loss"]["mean"] == pytest.approx(expect, rel=1e-4)
    assert metrics["epochs"][-1]["heldout_loss"]["pairs"] == 400
