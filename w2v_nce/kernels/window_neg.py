"""SGNS with one negative draw per window (``negatives: window``; pWord2Vec's HogBatch).

The loss per (context, centre) pair is SGNS's, softplus(-x_a.w_c) + sum_k softplus(x_a.w_k),
but the pairs are grouped as word2vec.c and gensim group them: a window's M context words are
the inputs (w_in rows x_a), its centre word c is the class (w_out row), and the window's M
pairs share one draw of S negatives k_1..k_S (a negative equal to c is skipped, as word2vec.c).
The window's M x (1 + S) logits are one small matrix product, and its step is the exact
gradient step of the window's summed loss at the parameters before the window:

  L[a, b] = x_a . y_b            y_0 = w_out[c], y_b = w_out[k_b]       [M, 1 + S]
  G[a, b] = lr * (1{b = 0} - sigmoid(L[a, b]))
  x_a += sum_b G[a, b] y_b       y_b += sum_a G[a, b] x_a

Why: per pair, SGNS fetches 1 + S random w_out rows; here a window fetches M + 1 + S rows for
its M pairs (about 12 instead of 36 at window 5, S = 5), and the loops are over rows already
in L1. The pairs and their count are SGNS's; only which negatives each pair meets changes.

With subwords (``Tables.sub_start`` non-empty) x_a is the mean of context a's bag (its own row
and its n-grams' rows, ``bags``) and its delta goes to every row of the bag, whole (fastText's
rule) or 1/n of it (``cbow_update: exact``: then the step is the exact gradient step of the
window's loss as a function of the table's rows).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .bags import add_to_rows, bag_input
from .negatives import draw_candidate
from .numerics import (
    EXP32_FLOOR,
    FASTMATH,
    prefetch_row,
    scaled_sigmoid32,
    sum_log1p_exp_neg_abs,
)
from .records import SAMPLER_UNIGRAM, TOUCHED_OUT
from .rowblock import accumulate_rows, row_logits
from .sentence import window_bounds


@njit(cache=True, nogil=True)
def draw_window(sent, n, i, window, S, neg_alias_prob, neg_alias_idx, rng, ctx_out, out_rows, touched):
    """Draw centre i's reduced window, then S negatives: writes the contexts to ctx_out[:M] and
    the classes to out_rows[:m] (the centre first, then the negatives that differ from it);
    returns (M, m). This is the RNG order of ``negatives: window`` (what tests/ replay)."""
    V = neg_alias_prob.shape[0]
    lo, hi = window_bounds(i, n, window, rng)
    c = sent[i]
    M = 0
    for j in range(lo, hi):
        if j != i:
            ctx_out[M] = sent[j]
            M += 1
    out_rows[0] = c
    m = 1
    for _ in range(S):
        k = draw_candidate(SAMPLER_UNIGRAM, V, neg_alias_prob, neg_alias_idx, rng)
        if k != c:
            out_rows[m] = k
            m += 1
    if touched.shape[0] > 0:
        for b in range(1, m):
            touched[out_rows[b]] |= TOUCHED_OUT
    return M, m


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _gradient_factors(G, flat, label, M, m, lr):
    """Logits G[:M, :m] (column 0 the label) -> lr * (label - sigmoid), in place; returns the
    summed loss, float64: the softplus of z = +logit for a negative and -logit for the label,
    its relu terms here and its log terms ``scalar.sum_log1p_exp_neg_abs``.

    G is C-contiguous [rows, W] and ``flat`` its memory as one row; ``label`` float32 [>= M * W]
    is 1.0 where t % W == 0. The M * W logits are branch-free loops over ``flat`` that LLVM
    vectorises (e^-|z| in float32; the sums and the product float64): for the loss, then for
    the factors (a loop with both a store and a float64 reduction is
    not vectorised). Columns m..W-1 (negatives equal to the centre, skipped) are set to
    ``EXP32_FLOOR`` first (they add exactly nothing to the loss); their factors are never read.
    """
    W = G.shape[1]
    if m < W:
        for a in range(M):
            for b in range(m, W):
                G[a, b] = EXP32_FLOOR
    n = M * W
    linear = 0.0
    for t in range(n):
        f = flat[t]
        z = f - np.float32(2.0) * label[t] * f  # -f for the label
        linear += float(np.float32(0.5) * (z + abs(z)))  # relu(z), NaN kept (the divergence check)
    loss = linear + sum_log1p_exp_neg_abs(flat[:n])  # |z| = |f|
    lr32 = np.float32(lr)
    for t in range(n):
        f = flat[t]
        lab = label[t]
        # factor = lr * (lab - sigmoid(f)) = ±lr * sigmoid(z), z = ∓f: + for the label, - for a negative
        flat[t] = scaled_sigmoid32((np.float32(2.0) * lab - np.float32(1.0)) * lr32, f - np.float32(2.0) * lab * f)
    return loss


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def window_update(w_in, w_out, ctx, M, out_rows, m, lr, G, flat, label, dx, dx_rows):
    """One window's step (see the module docstring); returns its summed loss (float64).

    ctx[:M] are the input rows (w_in), out_rows[:m] the classes (w_out; row 0 is the label).
    Repeated ids are exact: every delta is computed from the rows before the step and added.
    Scratch: G float32[>= M, >= m] C-contiguous, flat its memory as one row and label its
    label mask (``_gradient_factors``), dx float32[>= M, D], dx_rows int64[>= M] (0, 1, 2, ...).
    """
    row_logits(w_in, w_out, ctx, M, out_rows, m, G)
    loss = _gradient_factors(G, flat, label, M, m, lr)
    dx[:M] = 0.0
    accumulate_rows(dx, dx_rows, M, w_out, out_rows, m, G, False)  # input deltas, from the old class rows
    accumulate_rows(w_out, out_rows, m, w_in, ctx, M, G, True)  # class rows, from the still-old input rows
    for a in range(M):
        xa = ctx[a]
        for d in range(w_in.shape[1]):
            w_in[xa, d] += dx[a, d]
    return loss


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def subword_window_update(w_in, w_out, ctx, M, out_rows, m, lr, tables, exact, win, dx_rows):
    """``window_update`` where each context's input is its bag's mean: X[a] (``win.x``) = mean
    of the w_in rows sub_rows[sub_start[ctx[a]]:sub_start[ctx[a] + 1]] (``tables``); the logits
    and both deltas come from X and the class rows before the step, then every row of bag a
    takes dx[a] (times 1/n with ``exact``). Rows shared by bags (an n-gram of two contexts, a
    context twice) sum their deltas. ``win``: the WindowStep scratch. Returns the window's summed
    loss (float64)."""
    sub_start, sub_rows = tables.sub_start, tables.sub_rows
    X, G, flat, label, dx = win.x, win.logits, win.flat, win.label_mask, win.dx
    for a in range(M):
        lo, hi = sub_start[ctx[a]], sub_start[ctx[a] + 1]
        bag_input(w_in, sub_rows[lo:hi], hi - lo, np.float32(1.0 / (hi - lo)), X[a])
    row_logits(X, w_out, dx_rows, M, out_rows, m, G)  # dx_rows = 0, 1, 2, ...: X's rows in order
    loss = _gradient_factors(G, flat, label, M, m, lr)
    dx[:M] = 0.0
    accumulate_rows(dx, dx_rows, M, w_out, out_rows, m, G, False)  # input deltas, from the old class rows
    accumulate_rows(w_out, out_rows, m, X, dx_rows, M, G, True)  # class rows, from the inputs before the step
    for a in range(M):
        lo, hi = sub_start[ctx[a]], sub_start[ctx[a] + 1]
        add_to_rows(w_in, sub_rows[lo:hi], hi - lo, np.float32(1.0 / (hi - lo)) if exact else np.float32(1.0), dx[a])
    return loss


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def window_neg_sentence(sent, n, lr, weights, tables, params, scratch):
    """``negatives: window`` over the kept words sent[:n]; returns (summed loss, pairs trained).

    The draws run one window ahead (slots 0/1 of scratch.pair.ctx_buf and scratch.pair.neg_buf[:, 0]),
    in the same RNG order as drawing each window just before its step, so that the next
    window's rows are prefetched while this one computes (``params.prefetch_pairs`` > 0).
    """
    w_in, w_out = weights.w_in, weights.w_out
    window, S = params.window, params.num_sampled
    neg_p, neg_a = tables.neg_alias_prob, tables.neg_alias_idx
    rng, touched, ctx_buf, out_buf = scratch.rng, scratch.touched, scratch.pair.ctx_buf, scratch.pair.neg_buf
    G, flat, label = scratch.window.logits, scratch.window.flat, scratch.window.label_mask
    dx, dx_rows = scratch.window.dx, scratch.rows
    subwords = tables.sub_start.shape[0] > 0
    loss = 0.0
    pairs = 0
    if n == 0:
        return loss, pairs
    cur = 0
    M, m = draw_window(sent, n, 0, window, S, neg_p, neg_a, rng, ctx_buf[0], out_buf[0, 0], touched)
    for i in range(n):
        nxt = 1 - cur
        M_next, m_next = 0, 0
        if i + 1 < n:
            M_next, m_next = draw_window(sent, n, i + 1, window, S, neg_p, neg_a, rng, ctx_buf[nxt], out_buf[nxt, 0],
                                         touched)
            if params.prefetch_pairs > 0:
                for b in range(m_next):
                    prefetch_row(w_out, out_buf[nxt, 0, b])
                if not subwords:
                    for a in range(M_next):
                        prefetch_row(w_in, ctx_buf[nxt, a])
        if M > 0:
            if subwords:
                loss += subword_window_update(w_in, w_out, ctx_buf[cur], M, out_buf[cur, 0], m, lr, tables,
                                              params.cbow_exact, scratch.window, dx_rows)
            else:
                loss += window_update(w_in, w_out, ctx_buf[cur], M, out_buf[cur, 0], m, lr, G, flat, label, dx,
                                      dx_rows)
            pairs += M
        M, m = M_next, m_next
        cur = nxt
    return loss, pairs
