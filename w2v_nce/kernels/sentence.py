"""A sentence before it is trained on: subsampling, and word2vec's dynamic window."""

from __future__ import annotations

from numba import njit

from ..rng import rng_below, rng_uniform
from .records import TOUCHED_IN, TOUCHED_OUT


@njit(cache=True, nogil=True, inline="always")
def subsample(ids, start, end, keep_prob, rng, sent, touched):
    """Copy the words of ids[start:end] kept by subsampling (id w kept with probability
    keep_prob[w]; one uniform drawn only when keep_prob[w] < 1) to sent; returns how many.

    Every kept word is a centre (w_in row) and a context (w_out row): marked in ``touched``
    when it is tracked (touched.shape[0] > 0).
    """
    n = 0
    for p in range(start, end):
        w = ids[p]
        if keep_prob[w] < 1.0 and keep_prob[w] < rng_uniform(rng):
            continue
        sent[n] = w
        n += 1
    if touched.shape[0] > 0:
        for i in range(n):
            touched[sent[i]] |= TOUCHED_IN | TOUCHED_OUT
    return n


@njit(cache=True, nogil=True, inline="always")
def window_bounds(i, n, window, rng):
    """word2vec's dynamic window for centre i of n kept words: one draw of the reduction
    b in [0, window), then contexts at positions [lo, hi) except i, within distance window - b."""
    span = window - rng_below(rng, window)
    return max(i - span, 0), min(i + span + 1, n)
