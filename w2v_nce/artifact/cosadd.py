"""3CosAdd for many queries that share their words: each distinct word's cosines with the
candidates, summed per query a tile of candidates at a time, with a running top k per query.

gensim's ``most_similar`` scores a candidate v by cos(v, q) with q = Σ p̂ − Σ n̂ over the unit
vectors of the positive and negative words; since v̂ · q = Σ cos(v, p) − Σ cos(v, n), a query's
scores are the signed sum of its words' cosine rows, divided by ||q||. questions-words.txt asks
19,544 questions made of ~900 distinct words: one [t, R] product of the t distinct words replaces
the [n, R] product of the n queries (t ≪ n), and the sums and the top k run over tiles of
``TILE`` candidates that stay in cache. ``Embeddings.nearest_rows`` takes this path when the
words are shared enough (``worth_it``). Scores are float32 sums of float32 cosines: they differ
from the query-vector product in the last bits (~1e-7), so an exact tie may order differently.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..kernels.numerics import FASTMATH

# Candidate columns per tile: [t, TILE] float32 cosines, 0.9 MB at t = 900 words, within a
# core's L2 (on questions-words and a 30k vocabulary 256 was the fastest of 64 ... 4096 tried;
# 4096 columns, 7.4 MB, took 4-5x as long in the kernel)
TILE = 256
# Queries whose float64 query vectors are summed at once: a block holds ~3 temporaries of
# _SCALE_BLOCK x D float64 (2.5 MB at D = 100; 4096 made 10 MB, a third of a job's evaluation peak).
_SCALE_BLOCK = 1024


def worth_it(n_queries: int, n_terms: int) -> bool:
    """Whether the distinct words are few enough next to the queries for this path to win
    (the product shrinks by n / t; below ~2 the per-tile sums cost more than they save)."""
    return n_queries >= 64 and 2 * n_terms <= n_queries


def cosadd_top_k(unit: np.ndarray, n_rows: int, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of the first ``n_rows`` rows of ``unit`` (float32 [V, D], unit rows) for each
    query ``(positive rows, negative rows)``, the query's own rows excluded.

    Returns ``(rows int64 [n, k], scores float32 [n, k])`` as ``Embeddings.nearest_rows``: best
    first, equal scores by row, -1 / -inf where fewer than k candidates are left.
    """
    n = len(queries)
    width = max(len(p) + len(q) for p, q in queries)
    # each query's words, padded to the widest: rows (-1 = padding) and signs (+1, -1, 0), filled
    # row by row (no list of lists: an analogy set's 20k queries made ~3 MB of them)
    rows = np.full((n, width), -1, dtype=np.int64)
    signs = np.zeros((n, width), dtype=np.float32)
    for i, (p, q) in enumerate(queries):
        rows[i, :len(p)], rows[i, len(p):len(p) + len(q)] = p, q
        signs[i, :len(p)], signs[i, len(p):len(p) + len(q)] = 1.0, -1.0
    terms, local = np.unique(np.maximum(rows, 0), return_inverse=True)
    local = local.reshape(n, width)
    term_vectors = unit[terms]
    scale = _query_scales(term_vectors.astype(np.float64), local, signs)
    best_rows = np.full((n, k), -1, dtype=np.int64)
    best_scores = np.full((n, k), -np.inf, dtype=np.float32)
    cosines = np.empty((len(terms), TILE), dtype=np.float32)
    buf = np.empty(TILE, dtype=np.float32)
    for c0 in range(0, n_rows, TILE):
        c1 = min(c0 + TILE, n_rows)
        tile = cosines[:, : c1 - c0]
        np.matmul(term_vectors, unit[c0:c1].T, out=tile)
        _tile_top_k(tile, c0, local, signs, rows, scale, best_rows, best_scores, buf)
    return best_rows, best_scores


def _query_scales(term64: np.ndarray, local: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """float32 [n]: 1 / ||q|| for each query's q = Σ ± its words' unit vectors, summed in float64
    as the query-vector path does (words that cancel give q = 0 exactly: scale 0, every score 0,
    as unit_rows leaves a zero q). Blocks of _SCALE_BLOCK queries bound the float64 temporary."""
    n, width = local.shape
    scale = np.zeros(n, np.float32)
    for start in range(0, n, _SCALE_BLOCK):
        stop = min(start + _SCALE_BLOCK, n)
        q = np.zeros((stop - start, term64.shape[1]))
        for l in range(width):
            q += signs[start:stop, l, None].astype(np.float64) * term64[local[start:stop, l]]
        norms = np.sqrt(np.einsum("nd,nd->n", q, q))
        scale[start:stop] = np.divide(1.0, norms, out=np.zeros(stop - start), where=norms > 0.0)
    return scale


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _tile_top_k(tile, c0, local, signs, rows, scale, best_rows, best_scores, buf):
    """Merge candidates c0 .. c0 + w − 1 into each query's running top k.

    tile float32 [t, w]: cosines of the distinct words with those candidates; local int64
    [n, L]: each query word's row in ``tile``; signs float32 [n, L]: +1 / −1, 0 for padding;
    rows int64 [n, L]: the query words' own rows (excluded), −1 for padding; scale float32 [n];
    best_rows int64 [n, k] / best_scores float32 [n, k]: best first, updated in place; buf
    float32 [>= w]. A candidate enters only above the k-th score, so equal scores keep the
    lower row (columns are visited in order).
    """
    n, width = local.shape
    w = tile.shape[1]
    k = best_scores.shape[1]
    for i in range(n):
        sc = scale[i]
        kth = best_scores[i, k - 1]
        above = 0  # candidates above the k-th score: most tiles add nothing to most queries
        if width == 3:  # analogies (b + c − a): one vectorised pass
            t0, t1, t2 = tile[local[i, 0]], tile[local[i, 1]], tile[local[i, 2]]
            s0, s1, s2 = signs[i, 0] * sc, signs[i, 1] * sc, signs[i, 2] * sc
            for j in range(w):
                v = s0 * t0[j] + s1 * t1[j] + s2 * t2[j]
                buf[j] = v
                above += 1 if v > kth else 0
        else:
            for j in range(w):
                buf[j] = 0.0
            for l in range(width):
                s = signs[i, l] * sc
                cos = tile[local[i, l]]
                for j in range(w):
                    buf[j] += s * cos[j]
            for j in range(w):
                above += 1 if buf[j] > kth else 0
        if above == 0:
            continue
        for l in range(width):  # the query's own words are not answers
            r = rows[i, l] - c0
            if 0 <= r < w:
                buf[r] = -np.inf
        for j in range(w):
            v = buf[j]
            if v > kth:
                p = k - 1
                while p > 0 and best_scores[i, p - 1] < v:
                    best_scores[i, p] = best_scores[i, p - 1]
                    best_rows[i, p] = best_rows[i, p - 1]
                    p -= 1
                best_scores[i, p] = v
                best_rows[i, p] = c0 + j
                kth = best_scores[i, k - 1]
