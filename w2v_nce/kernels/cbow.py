"""CBOW with negative sampling: the mean (or sum) of the context rows predicts the centre.

Per centre with a non-empty dynamic window (word2vec.c's order of draws: the window, then S
negatives): x = scale * sum of the context words' w_in rows (scale = 1 / bag size for the
mean, 1 for the sum), one ``neg_update`` step on (x, centre), then every context row takes
the input's gradient g:
  cbow_exact  scale * g: the exact gradient of the example's loss w.r.t. the row
  otherwise   g (word2vec.c's, gensim's and fastText's rule for the mean: in effect the
              context rows learn at n times the rate; measured on mix8, 1 epoch, word2vec.c's
              CBOW settings: analogy 0.109 with it, 0.019 exact — see the README)
For the sum (scale 1) the two are the same.

With ``negatives: batch`` (``cbow_batch_sentence``) the examples of B = batch_size centres
share one draw of S negatives (a negative equal to an example's centre is skipped for that
example, as word2vec.c), and the batch's step is the gradient step of its summed loss at
the parameters before the batch, as a few small matrix products:

  X[e] = scale_e * sum of w_in[bag_e]                  [B, D]
  U[e, k] = X[e] . w_out[k_k]      t[e] = X[e] . w_out[c_e]
  dX[e] = g_t[e] w_out[c_e] + sum_k g[e, k] w_out[k_k]  (g = lr * (label - sigmoid))
  w_out[k_k] += sum_e g[e, k] X[e]    w_out[c_e] += g_t[e] X[e]    w_in[bag_e] += row_scale * dX[e]

Why: CBOW-neg fetches 1 + S random w_out rows per example, the cost of its loop; here a
batch fetches B + S of them for its B examples. The examples are CBOW-neg's; which negatives
each meets, and the order, change: a sentence of n kept words has P = ceil(n / B') batches of
B' = min(B, n // (2 * window + 1)) (at least 1) centres, batch r the centres r, r + P,
r + 2P, ..., so that P >= 2 * window + 1 and no two examples of a batch share a context word
(a sentence shorter than that trains one example a batch: CBOW-neg's steps). Batches of
consecutive centres, whose bags overlap, step every shared context row B times from the same
stale state: measured on mix8 (1 epoch, word2vec.c's CBOW settings, B = 16) they lost 1.5
analogy points to CBOW-neg, the strided batches gained 1.2.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .bags import add_to_rows, append_rows, bag_input, words_bag
from .negatives import draw_unigram_negatives
from .numerics import FASTMATH, prefetch_row
from .rowblock import accumulate_rows, row_logits
from .sentence import window_bounds
from .sgns import neg_update


@njit(cache=True, nogil=True)
def draw_bag(sent, n, i, window, S, neg_alias_prob, neg_alias_idx, rng, bag_out, neg_out, touched):
    """Draw centre i's reduced window into bag_out[:m] (its context words, in window order)
    and, when m > 0, S negatives into neg_out[:S]; returns m. This is CBOW-neg's RNG order
    (the window, then the negatives; none for an empty bag), whenever it is called.
    Negatives are marked in ``touched`` (w_out rows) when it is tracked."""
    lo, hi = window_bounds(i, n, window, rng)
    m = 0
    for j in range(lo, hi):
        if j != i:
            bag_out[m] = sent[j]
            m += 1
    if m > 0:
        draw_unigram_negatives(S, neg_alias_prob, neg_alias_idx, rng, neg_out, touched)
    return m


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def cbow_neg_sentence(sent, n, lr, weights, tables, params, scratch):
    """CBOW-neg over the kept words sent[:n]; returns (summed loss, examples trained).

    The draws run one centre ahead (scratch.pair.ctx_buf/neg_buf rows 0 and 1 hold the current
    and the next centre's bag and negatives), in the same RNG order as drawing each just
    before its update, so that with ``params.prefetch_pairs`` > 0 the next example's
    w_out rows (its centre and negatives: random rows, the cost of this loop) are on the
    way while the current one is computed. Results do not depend on the prefetch.
    """
    w_in, w_out = weights.w_in, weights.w_out
    S, window = params.num_sampled, params.window
    neg_p, neg_a = tables.neg_alias_prob, tables.neg_alias_idx
    rng, touched, ctx_buf, neg_buf = scratch.rng, scratch.touched, scratch.pair.ctx_buf, scratch.pair.neg_buf
    x, neu1e = scratch.pair.neu1[0], scratch.pair.neu1e
    row_exact = params.cbow_exact
    loss = 0.0
    examples = 0
    if n == 0:
        return loss, examples
    cur = 0
    m = draw_bag(sent, n, 0, window, S, neg_p, neg_a, rng, ctx_buf[0], neg_buf[0, 0], touched)
    for i in range(n):
        nxt = 1 - cur
        m_next = 0
        if i + 1 < n:
            m_next = draw_bag(sent, n, i + 1, window, S, neg_p, neg_a, rng, ctx_buf[nxt], neg_buf[nxt, 0], touched)
            if params.prefetch_pairs > 0 and m_next > 0:
                prefetch_row(w_out, sent[i + 1])
                for k in range(S):
                    prefetch_row(w_out, neg_buf[nxt, 0, k])
        if m > 0:
            bag = ctx_buf[cur]
            if tables.sub_start.shape[0] > 0:  # subwords: the context words' rows, concatenated
                bag = scratch.pair.bag
                m = words_bag(ctx_buf[cur], m, tables.sub_start, tables.sub_rows, bag)
            scale = np.float32(1.0 / m) if params.cbow_mean else np.float32(1.0)
            bag_input(w_in, bag, m, scale, x)
            loss += neg_update(scratch.pair.neu1, 0, w_out, sent[i], neg_buf[cur, 0], S, lr, neu1e, scratch.pair.targets,
                               scratch.pair.mult, scratch.pair.grads)
            add_to_rows(w_in, bag, m, scale if row_exact else np.float32(1.0), neu1e)
            examples += 1
        m = m_next
        cur = nxt
    return loss, examples


@njit(cache=True, nogil=True)
def draw_bag_batch(sent, n, r, P, window, S, tables, rng, batch, samples, touched):
    """Draw the reduced windows of centres r, r + P, r + 2P, ... (those < n), in order, then
    (when any bag is non-empty) the batch's S negatives into ``samples``: example e has the bag
    batch.bag_ids[bag_start[e]:bag_start[e + 1]] and the class batch.labels[e] (a centre with an
    empty bag, n = 1, is no example). Returns the number of examples. This is ``negatives:
    batch``'s RNG order."""
    bag_ids, bag_start, centres = batch.bag_ids, batch.bag_start, batch.labels
    e = 0
    bag_start[0] = 0
    for i in range(r, n, P):
        lo, hi = window_bounds(i, n, window, rng)
        q = bag_start[e]
        for j in range(lo, hi):
            if j != i:
                q = append_rows(sent[j], tables.sub_start, tables.sub_rows, bag_ids, q)  # word-only: sent[j]
        if q > bag_start[e]:
            centres[e] = sent[i]
            e += 1
            bag_start[e] = q
    if e > 0:
        draw_unigram_negatives(S, tables.neg_alias_prob, tables.neg_alias_idx, rng, samples, touched)
    return e


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _batch_factors(U, t, nb, S, negs, centres, lr):
    """Logits U[:nb, :S] (negatives) and t[:nb] (each example's centre) -> lr * (label -
    sigmoid), in place, a negative equal to the example's centre masked to 0; returns the
    summed loss, float64, with one log per example (of the product of its 1 + exp(-|f|))."""
    loss = 0.0
    for e in range(nb):
        c = centres[e]
        f = float(t[e])
        ex = math.exp(-abs(f))
        prod = 1.0 + ex
        loss += max(-f, 0.0)
        t[e] = np.float32(lr * (ex / (1.0 + ex) if f >= 0 else 1.0 / (1.0 + ex)))  # lr * (1 - sigmoid(f))
        for k in range(S):
            if negs[k] == c:
                U[e, k] = 0.0
                continue
            f = float(U[e, k])
            ex = math.exp(-abs(f))
            prod *= 1.0 + ex
            loss += max(f, 0.0)
            U[e, k] = np.float32(-lr * (1.0 / (1.0 + ex) if f >= 0 else ex / (1.0 + ex)))  # -lr * sigmoid(f)
        loss += math.log(prod)
    return loss


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def cbow_batch_update(weights, nb, S, mean, exact, lr, batch, negs, rows):
    """One shared-draw batch's step (the module docstring) on examples e < nb of ``batch``
    (bags, and the centres as labels) against the S negatives ``negs``; returns its summed loss
    (float64). Repeated ids (in a bag, among the centres and negatives) are exact: every delta
    is computed from the rows before the step and added. Buffers: batch.xin (X, the inputs),
    batch.u (U, logits then factors), batch.gt (t, the centres' logits then factors), batch.dx
    (dX, the inputs' deltas); rows int64[>= nb] (0, 1, 2, ...)."""
    w_in, w_out = weights.w_in, weights.w_out
    bag_ids, bag_start, centres = batch.bag_ids, batch.bag_start, batch.labels
    X, U, t, dX = batch.xin, batch.u, batch.gt, batch.dx
    D = w_in.shape[1]
    for e in range(nb):
        m = bag_start[e + 1] - bag_start[e]
        bag_input(w_in, bag_ids[bag_start[e]:], m, np.float32(1.0 / m) if mean else np.float32(1.0), X[e])
    row_logits(X, w_out, rows, nb, negs, S, U)
    for e in range(nb):
        c = centres[e]
        f = np.float32(0.0)
        for d in range(D):
            f += X[e, d] * w_out[c, d]
        t[e] = f
    loss = _batch_factors(U, t, nb, S, negs, centres, lr)
    dX[:nb] = 0.0
    accumulate_rows(dX, rows, nb, w_out, negs, S, U, False)  # input deltas, from the old class rows
    for e in range(nb):
        c, g = centres[e], t[e]
        for d in range(D):
            dX[e, d] += g * w_out[c, d]
    accumulate_rows(w_out, negs, S, X, rows, nb, U, True)  # class rows, from the inputs before the step
    for e in range(nb):
        c, g = centres[e], t[e]
        for d in range(D):
            w_out[c, d] += g * X[e, d]
    for e in range(nb):
        m = bag_start[e + 1] - bag_start[e]
        row_scale = np.float32(1.0 / m) if mean and exact else np.float32(1.0)
        for q in range(bag_start[e], bag_start[e + 1]):
            r = bag_ids[q]
            for d in range(D):
                w_in[r, d] += row_scale * dX[e, d]
    return loss


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def cbow_batch_sentence(sent, n, lr, weights, tables, params, scratch):
    """``negatives: batch`` over the kept words sent[:n]: P = ceil(n / B') batches of at most
    B' = min(params.batch_size, n // (2 * window + 1)) (>= 1) centres, batch r the centres r,
    r + P, ... (module docstring), share one draw each. Returns
    (summed loss, examples trained, draws). The batch's w_out rows (its centres and negatives,
    random rows) are prefetched while its inputs are summed (``params.prefetch_pairs`` > 0)."""
    w_out = weights.w_out
    S, B = params.num_sampled, params.batch_size
    batch, negs = scratch.batch, scratch.draw.samples
    loss = 0.0
    examples = 0
    draws = 0
    B = max(1, min(B, n // (2 * params.window + 1)))  # so that P >= 2 * window + 1: no shared context word
    P = (n + B - 1) // B  # batches in this sentence; batch r is centres r, r + P, r + 2P, ... (<= B of them)
    for r in range(P):
        nb = draw_bag_batch(sent, n, r, P, params.window, S, tables, scratch.rng, batch, negs, scratch.touched)
        if nb == 0:
            continue
        if params.prefetch_pairs > 0:
            for k in range(S):
                prefetch_row(w_out, negs[k])
            for e in range(nb):
                prefetch_row(w_out, batch.labels[e])
        loss += cbow_batch_update(weights, nb, S, params.cbow_mean, params.cbow_exact, lr, batch, negs, scratch.rows)
        examples += nb
        draws += 1
    return loss, examples, draws
