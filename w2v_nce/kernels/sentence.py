"""A sentence before it is trained on: subsampling, and word2vec's dynamic window."""

from __future__ import annotations

from numba import njit

from ..rng import rng_below, rng_uniform
from .records import TOUCHED_IN, TOUCHED_OUT


@njit(cache=True, nogil=True, inline="always")
def subsample(ids, start, end, tables, rng, sent, touched):
    """Copy the words of ids[start:end] kept by subsampling (id w kept with probability
    tables.keep_prob[w]; one uniform drawn only when it is < 1) to sent; returns how many.

    Every kept word is a centre and a context: when ``touched`` is tracked (shape[0] > 0) its
    w_out row is marked TOUCHED_OUT and its input rows TOUCHED_IN (row w, or with subwords the
    rows of its bag: ``touched`` then spans the input table's rows too).
    """
    keep_prob, sub_start, sub_rows = tables.keep_prob, tables.sub_start, tables.sub_rows
    n = 0
    for p in range(start, end):
        w = ids[p]
        if keep_prob[w] < 1.0 and keep_prob[w] < rng_uniform(rng):
            continue
        sent[n] = w
        n += 1
    if touched.shape[0] > 0:
        for i in range(n):
            w = sent[i]
            if sub_start.shape[0] == 0:
                touched[w] |= TOUCHED_IN | TOUCHED_OUT
            else:
                touched[w] |= TOUCHED_OUT
                for k in range(sub_start[w], sub_start[w + 1]):
                    touched[sub_rows[k]] |= TOUCHED_IN
    return n


@njit(cache=True, nogil=True, inline="always")
def window_bounds(i, n, window, rng):
    """word2vec's dynamic window for centre i of n kept words: one draw of the reduction
    b in [0, window), then contexts at positions [lo, hi) except i, within distance window - b."""
    span = window - rng_below(rng, window)
    return max(i - span, 0), min(i + span + 1, n)
