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
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .negatives import draw_candidate
from .records import FASTMATH, SAMPLER_UNIGRAM, TOUCHED_OUT
from .scalar import prefetch_row
from .sentence import window_bounds
from .sgns import neg_update


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def cbow_input(w_in, bag, m, scale, x):
    """x = scale * sum of w_in[bag[:m]] (float32[D]); returns x."""
    D = w_in.shape[1]
    for d in range(D):
        x[d] = w_in[bag[0], d]
    for q in range(1, m):
        c = bag[q]
        for d in range(D):
            x[d] += w_in[c, d]
    if scale != 1.0:
        for d in range(D):
            x[d] *= scale
    return x


@njit(cache=True, nogil=True)
def draw_bag(sent, n, i, window, S, neg_alias_prob, neg_alias_idx, rng, bag_out, neg_out, touched):
    """Draw centre i's reduced window into bag_out[:m] (its context words, in window order)
    and, when m > 0, S negatives into neg_out[:S]; returns m. This is CBOW-neg's RNG order
    (the window, then the negatives; none for an empty bag), whenever it is called.
    Negatives are marked in ``touched`` (w_out rows) when it is tracked."""
    V = neg_alias_prob.shape[0]
    lo, hi = window_bounds(i, n, window, rng)
    m = 0
    for j in range(lo, hi):
        if j != i:
            bag_out[m] = sent[j]
            m += 1
    if m == 0:
        return 0
    for k in range(S):
        neg_out[k] = draw_candidate(SAMPLER_UNIGRAM, V, neg_alias_prob, neg_alias_idx, rng)
    if touched.shape[0] > 0:
        for k in range(S):
            touched[neg_out[k]] |= TOUCHED_OUT
    return m


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def cbow_neg_sentence(sent, n, lr, weights, tables, params, scratch):
    """CBOW-neg over the kept words sent[:n]; returns (summed loss, examples trained).

    The draws run one centre ahead (scratch.ctx_buf/neg_buf rows 0 and 1 hold the current
    and the next centre's bag and negatives), in the same RNG order as drawing each just
    before its update, so that with ``params.prefetch_pairs`` > 0 the next example's
    w_out rows (its centre and negatives: random rows, the cost of this loop) are on the
    way while the current one is computed. Results do not depend on the prefetch.
    """
    w_in, w_out = weights.w_in, weights.w_out
    S, window = params.num_sampled, params.window
    neg_p, neg_a = tables.neg_alias_prob, tables.neg_alias_idx
    rng, touched, ctx_buf, neg_buf = scratch.rng, scratch.touched, scratch.ctx_buf, scratch.neg_buf
    x, neu1e = scratch.neu1[0], scratch.neu1e
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
            scale = np.float32(1.0 / m) if params.cbow_mean else np.float32(1.0)
            cbow_input(w_in, bag, m, scale, x)
            loss += neg_update(scratch.neu1, 0, w_out, sent[i], neg_buf[cur, 0], S, lr, neu1e, scratch.targets,
                               scratch.mult, scratch.grads)
            row_scale = scale if row_exact else np.float32(1.0)
            for q in range(m):
                c = bag[q]
                for d in range(w_in.shape[1]):
                    w_in[c, d] += row_scale * neu1e[d]
            examples += 1
        m = m_next
        cur = nxt
    return loss, examples
