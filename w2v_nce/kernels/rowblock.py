"""Small dense products between lists of rows: the blocked steps of the shared-draw kernels.

A block step has M input rows (ids ``ctx`` into an input matrix: w_in rows, or a scratch
matrix of CBOW inputs indexed 0..M-1) and m class rows (ids ``out_rows`` into w_out). Its
logits are the M x m products, and its deltas two row accumulations; both loop over D in
register blocks so that each loaded element feeds several running sums.
Used by ``window_neg`` (skip-gram, one draw per window) and ``cbow`` (one draw per batch).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .numerics import FASTMATH


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def row_logits(w_in, w_out, ctx, M, out_rows, m, G):
    """G[a, b] = w_in[ctx[a]] . w_out[out_rows[b]] for a < M, b < m, float32 sums.

    Register-blocked: two input rows against four class rows per pass over D (8 running
    sums share each loaded element), then the leftovers one or two at a time."""
    D = w_in.shape[1]
    a = 0
    while a + 2 <= M:
        x0, x1 = ctx[a], ctx[a + 1]
        b = 0
        while b + 4 <= m:
            y0, y1, y2, y3 = out_rows[b], out_rows[b + 1], out_rows[b + 2], out_rows[b + 3]
            f0 = f1 = f2 = f3 = h0 = h1 = h2 = h3 = np.float32(0.0)
            for d in range(D):
                u, v = w_in[x0, d], w_in[x1, d]
                z0, z1, z2, z3 = w_out[y0, d], w_out[y1, d], w_out[y2, d], w_out[y3, d]
                f0 += u * z0
                f1 += u * z1
                f2 += u * z2
                f3 += u * z3
                h0 += v * z0
                h1 += v * z1
                h2 += v * z2
                h3 += v * z3
            G[a, b], G[a, b + 1], G[a, b + 2], G[a, b + 3] = f0, f1, f2, f3
            G[a + 1, b], G[a + 1, b + 1], G[a + 1, b + 2], G[a + 1, b + 3] = h0, h1, h2, h3
            b += 4
        for b in range(b, m):
            yb = out_rows[b]
            f0 = h0 = np.float32(0.0)
            for d in range(D):
                z = w_out[yb, d]
                f0 += w_in[x0, d] * z
                h0 += w_in[x1, d] * z
            G[a, b], G[a + 1, b] = f0, h0
        a += 2
    if a < M:
        x0 = ctx[a]
        for b in range(m):
            yb = out_rows[b]
            f0 = np.float32(0.0)
            for d in range(D):
                f0 += w_in[x0, d] * w_out[yb, d]
            G[a, b] = f0



@njit(cache=True, nogil=True, fastmath=FASTMATH)
def accumulate_rows(dst, rows, n_rows, src, src_rows, n_src, G, transpose):
    """dst[rows[i]] += sum_j g_ij src[src_rows[j]] for i < n_rows, j < n_src, where g_ij is
    G[i, j] (or G[j, i] when ``transpose``); four source rows per pass over D, then two, then one."""
    D = dst.shape[1]
    for i in range(n_rows):
        r = rows[i]
        j = 0
        while j + 4 <= n_src:
            s0, s1, s2, s3 = src_rows[j], src_rows[j + 1], src_rows[j + 2], src_rows[j + 3]
            if transpose:
                g0, g1, g2, g3 = G[j, i], G[j + 1, i], G[j + 2, i], G[j + 3, i]
            else:
                g0, g1, g2, g3 = G[i, j], G[i, j + 1], G[i, j + 2], G[i, j + 3]
            for d in range(D):
                dst[r, d] += g0 * src[s0, d] + g1 * src[s1, d] + g2 * src[s2, d] + g3 * src[s3, d]
            j += 4
        if j + 2 <= n_src:  # two leftovers in one pass (1 + S = 6 at S = 5: 4 + 2)
            s0, s1 = src_rows[j], src_rows[j + 1]
            if transpose:
                g0, g1 = G[j, i], G[j + 1, i]
            else:
                g0, g1 = G[i, j], G[i, j + 1]
            for d in range(D):
                dst[r, d] += g0 * src[s0, d] + g1 * src[s1, d]
            j += 2
        if j < n_src:
            s0 = src_rows[j]
            g0 = G[j, i] if transpose else G[i, j]
            for d in range(D):
                dst[r, d] += g0 * src[s0, d]
