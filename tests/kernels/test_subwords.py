"""Subword kernels: whole chunks against a plain-Python replay (same RNG stream) in which a
word's input is the mean of its rows, checked with TensorFlow's loss API (nce, sampled softmax)
and the naive SGNS step, and the input's gradient against finite differences."""

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
from w2v_nce.sampling import expected_count, log_uniform_probability

V, D, NB = 30, 6, 20  # words, dims, n-gram buckets: the input table has V + NB rows
_NEG_P = np.full(V, 1.0)  # alias tables of the uniform distribution
_NEG_A = np.arange(V, dtype=np.int32)


def _subword_rows(seed=3):
    """A CSR like subwords.subword_rows: word w's rows are w, then 0-5 bucket rows (repeats allowed)."""
    rng = np.random.default_rng(seed)
    lists = [[w] + (V + rng.integers(0, NB, rng.integers(0, 6))).tolist() for w in range(V)]
    start = np.zeros(V + 1, np.int64)
    np.cumsum([len(x) for x in lists], out=start[1:])
    return start, np.array([r for x in lists for r in x], np.int32), lists


def _records(arch, loss_kind, S, B, window, lr, seed, keep, exact, shared=False):
    start, rows, lists = _subword_rows()
    prob = log_uniform_probability(np.arange(V), V)
    tables = kern.make_tables(keep, prob, np.ones(1), np.zeros(1, np.int32), _NEG_P, _NEG_A, S, start, rows)
    params = kern.Params(loss_kind, arch, True, exact, window, S, B, loss_kind == kern.LOSS_SSM, True,
                         kern.SAMPLER_LOG_UNIFORM, lr, lr, 1e9, 0, shared)
    width = max(len(x) for x in lists)
    scratch = kern.make_scratch(V, D, params, 100, np.array([seed], np.uint64), np.zeros(kern.N_TALLIES, np.float64),
                                bag_width=width)
    return tables, params, scratch, lists


class _Replay:
    """The kernels' order of draws and updates, in float64 NumPy (tables as the kernel's)."""

    def __init__(self, w_in, w_out, bias, lists, loss_kind, S, B, lr, seed, exact):
        self.w_in, self.w_out, self.bias, self.lists = w_in, w_out, bias, lists
        self.loss_kind, self.S, self.B, self.lr, self.exact = loss_kind, S, B, lr, exact
        self.rng, self.draw = np.array([seed], np.uint64), kern.make_draw(S)
        self.batch, self.batch_no, self.total = [], 0, 0.0

    def bag(self, words):
        return [r for w in words for r in self.lists[w]]

    def add(self, bag, label):
        self.batch.append((bag, label))
        if len(self.batch) == self.B:
            self.flush()

    def flush(self):
        if not self.batch:
            return
        self.batch_no += 1
        tries = kern.draw_batch(self.draw, True, self.batch_no, kern.SAMPLER_LOG_UNIFORM, V, np.ones(1),
                                np.zeros(1, np.int32), self.rng)
        samples = self.draw.samples.copy()
        bags = [b for b, _ in self.batch]
        labels = np.array([c for _, c in self.batch], np.int32)
        inputs = np.stack([naive.cbow_input(self.w_in, b, True) for b in bags]).astype(np.float32)
        qt = expected_count(log_uniform_probability(labels, V), self.S, tries).reshape(-1, 1)
        qs = expected_count(log_uniform_probability(samples, V), self.S, tries)
        ssm = self.loss_kind == kern.LOSS_SSM
        fn, gn = (sampled_softmax_loss, sampled_softmax_loss_grad) if ssm else (nce_loss, nce_loss_grad)
        args = (self.w_out, self.bias, labels.reshape(-1, 1), inputs, self.S, V)
        self.total += fn(*args, sampled_values=(samples, qt, qs), remove_accidental_hits=ssm).astype(np.float64).sum()
        grads = gn(*args, sampled_values=(samples, qt, qs), remove_accidental_hits=ssm)
        scales = [1.0 / len(b) if self.exact else 1.0 for b in bags]
        updated = naive.bag_update(self.w_in, self.w_out, self.bias, bags, scales, grads, self.lr)
        self.w_in, self.w_out, self.bias = (a.astype(np.float32) for a in updated)
        self.batch.clear()

    def sgns_centre(self, centre, contexts):
        """Skip-gram neg: the centre's negatives all drawn first, x fixed over its window, the
        bag's rows stepped once with the window's summed input gradient."""
        negs = [[kern.draw_candidate(kern.SAMPLER_UNIGRAM, V, _NEG_P, _NEG_A, self.rng) for _ in range(self.S)]
                for _ in contexts]
        bag = self.bag([centre])
        x = naive.cbow_input(self.w_in, bag, True)
        w_out = self.w_out.astype(np.float64)
        acc = np.zeros(D)
        for ctx, neg in zip(contexts, negs):  # each pair's step from w_out as it was before the pair
            targets = [(ctx, 1.0)] + [(n, 0.0) for n in neg if n != ctx]
            f = np.array([x @ w_out[t] for t, _ in targets])
            g = naive.sigmoid(f) - np.array([label for _, label in targets])
            self.total += float(sum(naive.softplus(-v if label else v) for v, (_, label) in zip(f, targets)))
            acc += sum(gi * w_out[t] for gi, (t, _) in zip(g, targets))
            for gi, (t, _) in zip(g, targets):
                w_out[t] -= self.lr * gi * x
        w_in = self.w_in.astype(np.float64)
        np.add.at(w_in, bag, -self.lr * (1.0 / len(bag) if self.exact else 1.0) * acc)
        self.w_in, self.w_out = w_in.astype(np.float32), w_out.astype(np.float32)

    def window_centre(self, centre, contexts, negatives):
        """Skip-gram neg with one draw per window (``negatives: window``): each context's bag
        mean against the centre and the shared negatives, every delta from the parameters before
        the window, each bag's rows stepped with its context's delta (1/n of it when exact)."""
        w_in, w_out = self.w_in.astype(np.float64), self.w_out.astype(np.float64)
        classes = [(centre, 1.0)] + [(int(n), 0.0) for n in negatives if n != centre]
        d_in, d_out = np.zeros_like(w_in), np.zeros_like(w_out)
        for ctx in contexts:
            bag = self.bag([ctx])
            x = naive.cbow_input(w_in, bag, True)
            dx = np.zeros(D)
            for t, label in classes:
                f = x @ w_out[t]
                self.total += float(naive.softplus(-f if label else f))
                g = naive.sigmoid(f) - label
                dx += g * w_out[t]
                d_out[t] += g * x
            np.add.at(d_in, bag, (1.0 / len(bag) if self.exact else 1.0) * dx)
        self.w_in, self.w_out = (w_in - self.lr * d_in).astype(np.float32), (w_out - self.lr * d_out).astype(np.float32)

    def cbow_neg(self, centre, contexts):
        neg = np.array([kern.draw_candidate(kern.SAMPLER_UNIGRAM, V, _NEG_P, _NEG_A, self.rng) for _ in range(self.S)])
        w_in, w_out, loss = naive.cbow_neg_step(self.w_in, self.w_out, self.bag(contexts), centre, neg, self.lr, True,
                                                self.exact)
        self.w_in, self.w_out, self.total = w_in.astype(np.float32), w_out.astype(np.float32), self.total + loss


def _replay_cbow_batches(kept, window, r):
    """CBOW's ``negatives: batch`` over one sentence: batch j of P = ceil(n / B') holds centres
    j, j + P, ... (B' = min(B, n // (2 * window + 1)) or 1), each centre's window drawn in turn,
    then S negatives if any bag is non-empty; a bag is its contexts' rows, concatenated."""
    size = max(1, min(r.B, len(kept) // (2 * window + 1)))
    P = -(-len(kept) // size)
    for j in range(P):
        bags, centres = [], []
        for i in range(j, len(kept), P):
            span = window - kern.rng_below(r.rng, window)
            contexts = [kept[k] for k in range(max(0, i - span), min(len(kept), i + span + 1)) if k != i]
            if contexts:
                bags.append(r.bag(contexts))
                centres.append(kept[i])
        if bags:
            negatives = [kern.draw_candidate(kern.SAMPLER_UNIGRAM, V, _NEG_P, _NEG_A, r.rng) for _ in range(r.S)]
            w_in, w_out, loss = naive.cbow_batch_step(r.w_in, r.w_out, bags, centres, negatives, r.lr, True, r.exact)
            r.w_in, r.w_out, r.total = w_in.astype(np.float32), w_out.astype(np.float32), r.total + loss


def _replay_chunk(ids, keep, arch, window, r, shared=False):
    for sent in [s.tolist() for s in np.split(ids, np.flatnonzero(ids == -1) + 1) if len(s) > 1]:
        kept = [w for w in sent[:-1] if not (keep[w] < 1.0 and keep[w] < kern.rng_uniform(r.rng))]
        if shared and arch == kern.ARCH_CBOW:
            _replay_cbow_batches(kept, window, r)
            continue
        for i, c in enumerate(kept):
            span = window - kern.rng_below(r.rng, window)
            contexts = [kept[j] for j in range(max(0, i - span), min(len(kept), i + span + 1)) if j != i]
            if shared:  # the window's draw is made whether or not it has contexts
                negatives = [kern.draw_candidate(kern.SAMPLER_UNIGRAM, V, _NEG_P, _NEG_A, r.rng) for _ in range(r.S)]
                if contexts:
                    r.window_centre(c, contexts, negatives)
                continue
            if not contexts:
                continue
            if r.loss_kind == kern.LOSS_NEG:
                (r.sgns_centre if arch == kern.ARCH_SKIPGRAM else r.cbow_neg)(c, contexts)
            elif arch == kern.ARCH_SKIPGRAM:
                for ctx in contexts:
                    r.add(r.bag([c]), ctx)
            else:
                r.add(r.bag(contexts), c)
    r.flush()
    return r


@pytest.mark.parametrize("arch, loss_kind, exact, shared", [
    (kern.ARCH_SKIPGRAM, kern.LOSS_NCE, False, False), (kern.ARCH_SKIPGRAM, kern.LOSS_NCE, True, False),
    (kern.ARCH_SKIPGRAM, kern.LOSS_SSM, False, False), (kern.ARCH_SKIPGRAM, kern.LOSS_NEG, False, False),
    (kern.ARCH_SKIPGRAM, kern.LOSS_NEG, True, False), (kern.ARCH_SKIPGRAM, kern.LOSS_NEG, False, True),
    (kern.ARCH_SKIPGRAM, kern.LOSS_NEG, True, True), (kern.ARCH_CBOW, kern.LOSS_NCE, False, False),
    (kern.ARCH_CBOW, kern.LOSS_NEG, False, False), (kern.ARCH_CBOW, kern.LOSS_NEG, True, False),
    (kern.ARCH_CBOW, kern.LOSS_NEG, False, True), (kern.ARCH_CBOW, kern.LOSS_NEG, True, True)])
def test_subword_chunk_equals_the_naive_replay(arch, loss_kind, exact, shared):
    rng = np.random.default_rng(8)
    # sentences of up to 21 words: CBOW's shared draws hold up to 3 examples at window 3
    ids = np.array([w for _ in range(7) for w in rng.integers(0, V, rng.integers(1, 22)).tolist() + [-1]], np.int32)
    keep = np.where(np.arange(V) % 4 == 0, 0.5, 1.0).astype(np.float32)
    S, B, lr, seed, window = 4, 5, 0.05, 21, 3
    w_in = rng.normal(0, 0.3, (V + NB, D)).astype(np.float32)
    w_out, bias = rng.normal(0, 0.3, (V, D)).astype(np.float32), rng.normal(0, 0.1, V).astype(np.float32)
    tables, params, s, lists = _records(arch, loss_kind, S, B, window, lr, seed, keep, exact, shared)
    exp = _replay_chunk(ids, keep, arch, window, _Replay(w_in.copy(), w_out.copy(), bias.copy(), lists, loss_kind, S, B,
                                                         lr, seed, exact), shared)
    before = w_in.copy()
    kern.train_chunk(ids, 0.0, kern.Weights(w_in, w_out, bias), tables, params, s)
    assert s.tallies[kern.T_EXAMPLES] > 0
    assert s.tallies[kern.T_LOSS] == pytest.approx(exp.total, rel=1e-4)
    np.testing.assert_allclose(w_in, exp.w_in, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w_out, exp.w_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bias, exp.bias, rtol=1e-4, atol=1e-5)
    assert np.any(w_in[V:] != before[V:])  # the n-gram rows learnt


@pytest.mark.parametrize("loss_kind, shared", [(kern.LOSS_NCE, False), (kern.LOSS_NEG, True)])
def test_the_bucket_rows_take_minus_lr_times_the_finite_difference_gradient(loss_kind, shared):
    """Two centres with the exact rule, as one skip-gram nce batch or as two windows of
    ``negatives: window`` (the second window's step sees the first's w_out changes: O(lr)):
    each row of the first word's bag (its own and its n-grams', one of them twice) moves by -lr
    times d(loss)/d(row), by central differences; bucket rows of neither bag do not move."""
    rng = np.random.default_rng(4)
    S, B, lr, window = 3, 64, 1e-3, 1
    start, rows, lists = _subword_rows()
    centre = next(w for w in range(V) if len(set(lists[w])) < len(lists[w]) and len(lists[w]) > 2)
    ids = np.array([centre, (centre + 1) % V, -1], np.int32)
    w_in = rng.normal(0, 0.3, (V + NB, D)).astype(np.float32)
    w_out, bias = rng.normal(0, 0.3, (V, D)).astype(np.float32), rng.normal(0, 0.1, V).astype(np.float32)
    keep = np.ones(V, np.float32)
    tables, params, s, _ = _records(kern.ARCH_SKIPGRAM, loss_kind, S, B, window, lr, 9, keep, True, shared)
    got = w_in.copy()
    kern.train_chunk(ids, 0.0, kern.Weights(got, w_out.copy(), bias.copy()), tables, params, s)
    # the loss of the chunk as a function of the input table, with the kernel's own draw replayed
    def loss(table):
        tables2, params2, s2, _ = _records(kern.ARCH_SKIPGRAM, loss_kind, S, B, window, 0.0, 9, keep, True, shared)
        kern.train_chunk(ids, 0.0, kern.Weights(table.copy(), w_out.copy(), bias.copy()), tables2, params2, s2)
        return s2.tallies[kern.T_LOSS]
    moved = 0
    for row in sorted(set(lists[centre])):
        for col in range(D):
            e = np.zeros_like(w_in)
            e[row, col] = 1e-2
            grad = (loss(w_in + e.astype(np.float32)) - loss(w_in - e.astype(np.float32))) / 2e-2
            assert float(got[row, col]) - float(w_in[row, col]) == pytest.approx(-lr * grad, rel=2e-2, abs=1e-7)
            moved += grad != 0.0
    assert moved > D  # the n-gram rows learnt, not only the word's own row
    untouched = [r for r in range(V, V + NB) if r not in lists[centre] + lists[(centre + 1) % V]]
    assert untouched
    np.testing.assert_array_equal(got[untouched], w_in[untouched])
