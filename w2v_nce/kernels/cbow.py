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


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def cbow_neg_sentence(sent, n, lr, weights, tables, params, scratch):
    """CBOW-neg over the kept words sent[:n]; returns (summed loss, examples trained)."""
    w_in, w_out = weights.w_in, weights.w_out
    S = params.num_sampled
    V = w_in.shape[0]
    bag, negatives, x, neu1e = scratch.ctx_buf[0], scratch.neg_buf[0, 0], scratch.neu1[0], scratch.neu1e
    loss = 0.0
    examples = 0
    for i in range(n):
        lo, hi = window_bounds(i, n, params.window, scratch.rng)
        m = 0
        for j in range(lo, hi):
            if j != i:
                bag[m] = sent[j]
                m += 1
        if m == 0:
            continue
        for k in range(S):
            negatives[k] = draw_candidate(SAMPLER_UNIGRAM, V, tables.neg_alias_prob, tables.neg_alias_idx,
                                          scratch.rng)
        if scratch.touched.shape[0] > 0:
            for k in range(S):
                scratch.touched[negatives[k]] |= TOUCHED_OUT
        scale = np.float32(1.0 / m) if params.cbow_mean else np.float32(1.0)
        cbow_input(w_in, bag, m, scale, x)
        loss += neg_update(scratch.neu1, 0, w_out, sent[i], negatives, S, lr, neu1e, scratch.targets, scratch.mult,
                           scratch.grads)
        row_scale = scale if params.cbow_exact else np.float32(1.0)
        for q in range(m):
            c = bag[q]
            for d in range(w_in.shape[1]):
                w_in[c, d] += row_scale * neu1e[d]
        examples += 1
    return loss, examples
