"""An input bag: the w_in rows whose mean (or sum) is an example's input vector.

Word-only, word w's input rows are [w]; with subwords (``Tables.sub_start`` non-empty) they are
its own row and its n-gram buckets' rows, ``Tables.sub_rows[sub_start[w]:sub_start[w + 1]]``
(computed once per vocabulary, ``subwords.subword_rows``). A skip-gram input is its centre's
bag; a CBOW input the bags of its context words, concatenated.
"""

from __future__ import annotations

from numba import njit

from .numerics import FASTMATH


@njit(cache=True, nogil=True, inline="always")
def append_rows(word, sub_start, sub_rows, out, q):
    """Write ``word``'s input rows to out[q:]; returns q + how many."""
    if sub_start.shape[0] == 0:
        out[q] = word
        return q + 1
    a = sub_start[word]
    b = sub_start[word + 1]
    for k in range(a, b):
        out[q + k - a] = sub_rows[k]
    return q + b - a


@njit(cache=True, nogil=True, inline="always")
def words_bag(words, m, sub_start, sub_rows, out):
    """The input rows of words[:m] written to out; returns how many (m when word-only)."""
    q = 0
    for i in range(m):
        q = append_rows(words[i], sub_start, sub_rows, out, q)
    return q


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def bag_input(w_in, bag, m, scale, x):
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
def add_to_rows(w_in, bag, m, step, g):
    """w_in[bag[q]] += step * g for q < m (g float32[D]): a bag's share of its input's gradient."""
    for q in range(m):
        c = bag[q]
        for d in range(w_in.shape[1]):
            w_in[c, d] += step * g[d]
