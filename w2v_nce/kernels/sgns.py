"""word2vec's negative sampling (SGNS): fresh negatives per pair, each pair's exact gradient.

Loss per (centre, context) pair: softplus(-x.w_ctx) + sum_k softplus(x.w_nk), S unigram^0.75
negatives per pair (a negative equal to the context is skipped, as word2vec.c), no bias, no
log Q; each pair's step is applied before the next pair (word2vec.c's per-pair order; see
sgns_pair for the one difference).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .bags import add_to_rows, append_rows, bag_input
from .negatives import draw_candidate
from .numerics import FASTMATH, prefetch_row
from .records import SAMPLER_UNIGRAM, TOUCHED_OUT
from .sentence import window_bounds


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def neg_update(xs, xr, w_out, ctx, negatives, n_neg, lr, neu1e, targets, mult, grads):
    """SGD step on one example's loss with input x = xs[xr] (a row of float32[:, D]), label ``ctx`` and the given
    negatives: updates w_out, leaves -lr * (d loss / d x) in neu1e for the caller to apply to
    the input rows; returns the loss.

    Loss = softplus(-x.w_ctx) + sum_k softplus(x.w_k), float64, over negatives[:n_neg] except
    those equal to ``ctx`` (skipped, as word2vec.c does); a repeated negative counts each time.
    The step is exactly -lr * its gradient at the parameters before the pair: all logits are
    computed first, repeated negatives are merged (their gradients add), then each target row
    is read and written once. (word2vec.c updates each target row before the next logit; the
    two differ only when a negative repeats within a pair, by O(lr^2).)
    Scratch: neu1e float32[D]; targets, mult int64[>= n_neg + 1]; grads float32[>= n_neg + 1].
    """
    D = xs.shape[1]
    # distinct targets: the context (label 1) first, then the negatives; mult[j] counts repeats
    targets[0] = ctx
    mult[0] = 1
    m = 1
    for k in range(n_neg):
        t = negatives[k]
        if t == ctx:
            continue
        dup = -1
        for j in range(1, m):  # branch-light scan (S is small)
            if targets[j] == t:
                dup = j
        if dup < 0:
            targets[m] = t
            mult[m] = 1
            m += 1
        else:
            mult[dup] += 1
    # all logits first (into grads, replaced below by the gradient factors): the rows' loads overlap
    for j in range(m):
        t = targets[j]
        f = np.float32(0.0)
        for d in range(D):
            f += xs[xr, d] * w_out[t, d]
        grads[j] = f
    loss_lin = 0.0
    prod = 1.0  # product of (1 + exp(-|f|)) terms: one log per pair instead of one per target
    for j in range(m):
        ff = float(grads[j])
        e = math.exp(-abs(ff))
        sig = 1.0 / (1.0 + e) if ff >= 0 else e / (1.0 + e)
        prod *= 1.0 + e
        # softplus(-f) for the positive, softplus(f) for negatives: the max(., 0) parts
        if j == 0:
            loss_lin += max(-ff, 0.0)
            grads[j] = np.float32((1.0 - sig) * lr)
        else:
            loss_lin += max(ff, 0.0)
            grads[j] = np.float32(-sig * lr)
            r = mult[j]
            if r > 1:  # a repeated negative (rare): its loss and gradient count r times
                loss_lin += (r - 1) * max(ff, 0.0)
                prod *= (1.0 + e) ** (r - 1)
                grads[j] = np.float32(-sig * lr * r)
    for d in range(D):
        neu1e[d] = 0.0
    for j in range(m):  # distinct rows: each is read (its old value feeds neu1e) and written in one pass
        t = targets[j]
        g = grads[j]
        for d in range(D):
            wo = w_out[t, d]
            neu1e[d] += g * wo
            w_out[t, d] = wo + g * xs[xr, d]
    return loss_lin + math.log(prod)


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def sgns_pair(w_in, w_out, c, ctx, negatives, n_neg, lr, neu1e, targets, mult, grads):
    """SGD step on one (centre, context) pair: ``neg_update`` with x = w_in[c], then the
    centre row takes its gradient; returns the loss. Scratch as neg_update's."""
    loss = neg_update(w_in, c, w_out, ctx, negatives, n_neg, lr, neu1e, targets, mult, grads)
    for d in range(w_in.shape[1]):
        w_in[c, d] += neu1e[d]
    return loss


@njit(cache=True, nogil=True)
def draw_centre(sent, n, i, window, S, neg_alias_prob, neg_alias_idx, rng, ctx_out, neg_out, touched):
    """Draw centre i's reduced window, then S negatives per context in window order.

    Writes the contexts to ctx_out[:m] and their negatives to neg_out[:m, :S]; returns m.
    This is the kernel's RNG order for SGNS (what tests/ replay), whenever it is called.
    Negatives are marked in ``touched`` (w_out rows) when it is tracked.
    """
    V = neg_alias_prob.shape[0]
    lo, hi = window_bounds(i, n, window, rng)
    m = 0
    for j in range(lo, hi):
        if j == i:
            continue
        ctx_out[m] = sent[j]
        for k in range(S):
            neg_out[m, k] = draw_candidate(SAMPLER_UNIGRAM, V, neg_alias_prob, neg_alias_idx, rng)
        m += 1
    if touched.shape[0] > 0:
        for q in range(m):
            for k in range(S):
                touched[neg_out[q, k]] |= TOUCHED_OUT
    return m


@njit(cache=True, nogil=True, inline="always")
def _prefetch_pair(w_out, ctx_buf, neg_buf, slot, q, S):
    prefetch_row(w_out, ctx_buf[slot, q])
    for k in range(S):
        prefetch_row(w_out, neg_buf[slot, q, k])


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def sgns_sentence(sent, n, lr, weights, tables, params, scratch):
    """SGNS over the kept words sent[:n]; returns (summed loss, pairs trained).

    Same pairs, negatives, RNG draws and update order as drawing each pair's negatives just
    before its update; only the draws run one centre ahead (scratch.pair.ctx_buf/neg_buf hold the
    current and the next centre) so that the rows of the pair ``params.prefetch_pairs`` ahead
    (0: none, at most 2 * window) can be prefetched.
    """
    w_in, w_out = weights.w_in, weights.w_out
    window, S, ahead_pairs = params.window, params.num_sampled, params.prefetch_pairs
    neg_p, neg_a = tables.neg_alias_prob, tables.neg_alias_idx
    rng, touched, ctx_buf, neg_buf = scratch.rng, scratch.touched, scratch.pair.ctx_buf, scratch.pair.neg_buf
    neu1e, targets, mult, grads = scratch.pair.neu1e, scratch.pair.targets, scratch.pair.mult, scratch.pair.grads
    loss = 0.0
    pairs = 0
    if n == 0:
        return loss, pairs
    cur = 0
    m = draw_centre(sent, n, 0, window, S, neg_p, neg_a, rng, ctx_buf[0], neg_buf[0], touched)
    for q in range(min(ahead_pairs, m)):
        _prefetch_pair(w_out, ctx_buf, neg_buf, cur, q, S)
    for i in range(n):
        nxt = 1 - cur
        m_next = 0
        if i + 1 < n:
            m_next = draw_centre(sent, n, i + 1, window, S, neg_p, neg_a, rng, ctx_buf[nxt], neg_buf[nxt], touched)
            if ahead_pairs > 0:
                prefetch_row(w_in, sent[i + 1])
        c = sent[i]
        for q in range(m):
            ahead = q + ahead_pairs  # pair index counted across this centre and the next
            if ahead_pairs > 0 and ahead < m:
                _prefetch_pair(w_out, ctx_buf, neg_buf, cur, ahead, S)
            elif ahead_pairs > 0 and ahead - m < m_next:
                _prefetch_pair(w_out, ctx_buf, neg_buf, nxt, ahead - m, S)
            loss += sgns_pair(w_in, w_out, c, ctx_buf[cur, q], neg_buf[cur, q], S, lr, neu1e, targets, mult, grads)
        pairs += m
        m = m_next
        cur = nxt
    return loss, pairs


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def subword_sgns_sentence(sent, n, lr, weights, tables, params, scratch):
    """SGNS with subwords over the kept words sent[:n]; returns (summed loss, pairs trained).

    A centre's input x is the mean of its bag (its own row and its n-grams' rows), gathered
    once per centre; each of its pairs takes its neg step against x as it was at the centre's
    start (w_out rows change pair by pair, as in ``sgns_sentence``), and the bag's rows take the
    window's summed input gradient once, after its last pair: a bag of ~20-40 rows is read and
    written once per centre, not once per pair (fastText re-reads it per pair). RNG order as
    ``sgns_sentence``'s (``draw_centre``)."""
    w_in, w_out = weights.w_in, weights.w_out
    pair = scratch.pair
    x, acc, bag = pair.neu1[0], pair.acc, pair.bag
    loss = 0.0
    pairs = 0
    for i in range(n):
        m = draw_centre(sent, n, i, params.window, params.num_sampled, tables.neg_alias_prob, tables.neg_alias_idx,
                        scratch.rng, pair.ctx_buf[0], pair.neg_buf[0], scratch.touched)
        if m == 0:
            continue
        nb = append_rows(sent[i], tables.sub_start, tables.sub_rows, bag, 0)
        scale = np.float32(1.0 / nb)
        bag_input(w_in, bag, nb, scale, x)
        for d in range(w_in.shape[1]):
            acc[d] = 0.0
        for q in range(m):
            loss += neg_update(pair.neu1, 0, w_out, pair.ctx_buf[0, q], pair.neg_buf[0, q], params.num_sampled, lr,
                               pair.neu1e, pair.targets, pair.mult, pair.grads)
            for d in range(w_in.shape[1]):
                acc[d] += pair.neu1e[d]
        add_to_rows(w_in, bag, nb, scale if params.cbow_exact else np.float32(1.0), acc)
        pairs += m
    return loss, pairs
