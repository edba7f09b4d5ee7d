"""nce and sampled softmax: batches of (input, label) pairs that share one negative draw.

A batch applies the exact gradient of its summed loss, all computed from the parameters as
they were before the batch (what TF + SGD does). Consecutive pairs with the same input form
a "run": the sampled logits of a run are computed once (its pairs share x and the
negatives), which is where the speed comes from; the result is the same batch gradient.
A run's input is a bag of w_in rows, x = scale * sum of the rows (skip-gram: the centre's
row; CBOW: the context rows, scale 1/n for their mean), and the gradient of x goes to every
row of the bag: times the scale with ``cbow_exact`` (the exact gradient of TF's loss with
``inputs`` = x), else whole (word2vec.c's CBOW rule; see kernels/cbow.py).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .bags import append_rows, bag_input
from .negatives import draw_batch, marked_pos
from .numerics import (
    EXP32_FLOOR,
    FASTMATH,
    exp32_nonpositive,
    log_q_term,
    scaled_sigmoid32,
    sum_log1p_exp_neg_abs,
)
from .records import ARCH_CBOW, LOSS_NCE, T_BATCHES, TOUCHED_OUT
from .rowblock import accumulate_rows
from .sentence import window_bounds


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def process_batch(weights, n_runs, num_tries, batch_no, lr, tables, params, scratch):
    """Apply one SGD step on the batch in ``scratch.batch`` sharing ``scratch.draw.samples``;
    return its summed loss (float64).

    The batch: runs r < n_runs of pairs run_start[r]..run_start[r+1]-1 with labels[pair] and
    the input bag bag_ids[bag_start[r]:bag_start[r+1]] scaled by bag_scale[r]; samples
    int64[S] marked for ``batch_no`` in scratch.draw (draw_batch or mark_samples); num_tries:
    the draws that produced them (for TF's expected counts).
    """
    w_in, w_out, bias = weights.w_in, weights.w_out, weights.bias
    batch, draw = scratch.batch, scratch.draw
    contexts, run_start, bag_ids, bag_start = batch.labels, batch.run_start, batch.bag_ids, batch.bag_start
    u, coef, gt, dx, logq_t = batch.u, batch.coef, batch.gt, batch.dx, batch.logq_t
    samples = draw.samples
    nce, remove_hits = params.loss_kind == LOSS_NCE, params.remove_hits
    S, D = samples.shape[0], w_in.shape[1]
    # the input of run r is row xr of xs: word-only skip-gram reads the centre's w_in row in place
    # (w_in is not written before step 3), CBOW and subwords the bag's mean gathered into batch.xin
    gathered = params.arch == ARCH_CBOW or tables.sub_start.shape[0] > 0
    xs = gather_inputs(w_in, bag_ids, bag_start, batch.bag_scale, n_runs, batch.xin) if gathered else w_in
    _log_q_terms(tables.log_q_fixed, tables.log1m_prob, num_tries, samples, contexts, run_start[n_runs],
                 batch.logq_s, logq_t)

    # 1) logits and gradients w.r.t. logits, from the parameters before the batch. The run's body
    #    is written here and the helpers are inlined: as calls this cost 6-12% of nce's words/s
    #    (python scripts/bench_trees.py).
    loss = 0.0
    for r in range(n_runs):
        a, b = run_start[r], run_start[r + 1]
        xr = r if gathered else bag_ids[bag_start[r]]
        _sampled_logits(xs, xr, w_out, bias, samples, batch.logq_s, u[r])
        for k in range(S):
            coef[r, k] = np.float32(b - a) if nce else np.float32(0.0)  # nce: the run's pairs that see it
        for i in range(a, b):
            ctx = contexts[i]
            acc = np.float32(0.0)
            for d in range(D):
                acc += xs[xr, d] * w_out[ctx, d]
            t = np.float32(acc + bias[ctx] - logq_t[i])
            hit = marked_pos(draw, ctx, batch_no) if remove_hits else -1
            if nce:
                gt[i] = t  # the true logit; its factor below
                if hit >= 0:
                    coef[r, hit] -= 1.0
            else:
                loss += _softmax_pair(t, u[r], coef[r], hit, gt, i)
        if nce:
            loss += nce_true_factors(gt, a, b) + nce_sample_factors(u[r], coef[r], S, b - a, remove_hits)
        # dx_r = sum_i gt_i w_out[ctx_i], while the run's label rows are in cache
        for d in range(D):
            dx[r, d] = 0.0
        for i in range(a, b):
            g = gt[i]
            ctx = contexts[i]
            for d in range(D):
                dx[r, d] += g * w_out[ctx, d]
    accumulate_rows(dx, scratch.rows, n_runs, w_out, samples, S, coef, False)  # + sum_k coef_rk w_out[s_k]
    # 2) output-side updates (from the inputs as they were before the batch)
    _output_updates(w_out, bias, xs, n_runs, gathered, lr, samples, batch)
    # 3) input-side updates: every row of the run's bag; times its scale for the exact gradient,
    #    the whole input gradient for word2vec's and fastText's rule (word-only skip-gram bags
    #    have scale 1 anyway)
    _input_updates(w_in, n_runs, lr, params.cbow_exact, batch)
    return loss


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _log_q_terms(log_q_fixed, log1m_prob, num_tries, samples, labels, n_pairs, logq_s, logq_t):
    """TF's log expected counts of the batch's samples (logq_s) and of its pairs' labels (logq_t)."""
    S = samples.shape[0]
    for k in range(S):
        logq_s[k] = log_q_term(log_q_fixed, log1m_prob, samples[k], S, num_tries)
    for i in range(n_pairs):
        logq_t[i] = log_q_term(log_q_fixed, log1m_prob, labels[i], S, num_tries)


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _softmax_pair(t, u_r, coef_r, hit, gt, i):
    """Sampled softmax of one pair: true logit t against the run's samples u_r (sample ``hit``
    left out, -1: none); gt[i] = p_true - 1 and coef_r[k] += p_k; returns the pair's loss."""
    S = u_r.shape[0]
    m = float(t)
    for k in range(S):
        if k != hit and u_r[k] > m:
            m = float(u_r[k])
    z = math.exp(float(t) - m)
    for k in range(S):
        if k != hit:
            z += math.exp(float(u_r[k]) - m)
    gt[i] = np.float32(math.exp(float(t) - m) / z - 1.0)
    for k in range(S):
        if k != hit:
            coef_r[k] += np.float32(math.exp(float(u_r[k]) - m) / z)
    return math.log(z) + m - float(t)


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _output_updates(w_out, bias, xs, n_runs, gathered, lr, samples, batch):
    """The samples' and the labels' w_out rows and biases, from the inputs before the batch."""
    coef, gt, labels, run_start = batch.coef, batch.gt, batch.labels, batch.run_start
    bag_ids, bag_start = batch.bag_ids, batch.bag_start
    D = w_out.shape[1]
    for k in range(samples.shape[0]):
        _sample_update(w_out, bias, samples[k], k, coef, n_runs, lr, xs, gathered, bag_ids, bag_start)
    for r in range(n_runs):
        xr = r if gathered else bag_ids[bag_start[r]]
        for i in range(run_start[r], run_start[r + 1]):
            ctx = labels[i]
            step = np.float32(-lr * gt[i])
            for d in range(D):
                w_out[ctx, d] += step * xs[xr, d]
            bias[ctx] += step


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _input_updates(w_in, n_runs, lr, cbow_exact, batch):
    """w_in rows of each run's bag += step * dx_r (step -lr times the bag's scale when exact)."""
    bag_scale, bag_ids, bag_start, dx = batch.bag_scale, batch.bag_ids, batch.bag_start, batch.dx
    D = w_in.shape[1]
    for r in range(n_runs):
        step = np.float32(-lr * bag_scale[r]) if cbow_exact else np.float32(-lr)
        for q in range(bag_start[r], bag_start[r + 1]):
            c = bag_ids[q]
            for d in range(D):
                w_in[c, d] += step * dx[r, d]


# NCE's sigmoid terms, in branch-free loops LLVM vectorises: the relu terms here, the log terms
# scalar.sum_log1p_exp_neg_abs (one log for a run's pairs and one for its samples), the factors
# scalar.scaled_sigmoid32. relu(z) = (z + |z|) / 2 keeps a NaN (the divergence check reads the loss).

@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def nce_true_factors(gt, a, b):
    """Pairs a..b-1 of a run: their true logits gt[i] (float32 [>= b]) -> sigmoid(t) - 1 =
    -sigmoid(-t), in place; returns the sum of their softplus(-t) (float64)."""
    logits = gt[a:b]
    linear = 0.0
    for i in range(logits.shape[0]):
        t = logits[i]
        linear += float(np.float32(0.5) * (abs(t) - t))  # relu(-t)
    loss = linear + sum_log1p_exp_neg_abs(logits)
    for i in range(a, b):
        gt[i] = scaled_sigmoid32(np.float32(-1.0), -gt[i])  # sigmoid(t) - 1 = -sigmoid(-t)
    return loss


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def nce_sample_factors(u_r, coef_r, S, n, hits):
    """A run's sampled logits u_r[:S], coef_r[:S] = n_k, the run's pairs that see sample k (its
    n pairs, less those whose label it is when hits are removed) -> coef_r[k] = n_k sigmoid(u_k),
    in place; returns sum_k n_k softplus(u_k) (float64). u_r, coef_r: float32 [>= S]."""
    linear = 0.0
    for k in range(S):
        uk = u_r[k]
        linear += float(coef_r[k]) * float(np.float32(0.5) * (uk + abs(uk)))  # n_k relu(u_k)
    loss = linear + n * sum_log1p_exp_neg_abs(u_r[:S])
    if hits:  # n_k < n: take back the log terms of the pairs that do not see sample k
        for k in range(S):
            missing = n - float(coef_r[k])
            if missing != 0.0:
                loss -= missing * math.log1p(float(exp32_nonpositive(max(-abs(u_r[k]), EXP32_FLOOR))))
    for k in range(S):
        coef_r[k] = scaled_sigmoid32(coef_r[k], u_r[k])
    return loss


# Register-blocked loops over the shared negatives: four rows share each pass over D (one
# horizontal sum per dot product was most of a run's logit cost at D = 100). The inputs'
# deltas from the negatives are rowblock.accumulate_rows, as for the other shared-draw kernels.
@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _sampled_logits(xs, xr, w_out, bias, samples, logq_s, u_r):
    """u_r[k] = xs[xr] . w_out[samples[k]] + bias[samples[k]] - logq_s[k] for k < S."""
    D = xs.shape[1]
    S = samples.shape[0]
    k = 0
    while k + 4 <= S:
        s0, s1, s2, s3 = samples[k], samples[k + 1], samples[k + 2], samples[k + 3]
        a0 = a1 = a2 = a3 = np.float32(0.0)
        for d in range(D):
            x = xs[xr, d]
            a0 += x * w_out[s0, d]
            a1 += x * w_out[s1, d]
            a2 += x * w_out[s2, d]
            a3 += x * w_out[s3, d]
        u_r[k] = a0 + bias[s0] - logq_s[k]
        u_r[k + 1] = a1 + bias[s1] - logq_s[k + 1]
        u_r[k + 2] = a2 + bias[s2] - logq_s[k + 2]
        u_r[k + 3] = a3 + bias[s3] - logq_s[k + 3]
        k += 4
    for k in range(k, S):
        s = samples[k]
        acc = np.float32(0.0)
        for d in range(D):
            acc += xs[xr, d] * w_out[s, d]
        u_r[k] = acc + bias[s] - logq_s[k]


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _sample_update(w_out, bias, s, k, coef, n_runs, lr, xs, gathered, bag_ids, bag_start):
    """Negative k's row s: w_out[s] += sum_r -lr coef[r, k] x_r, bias[s] likewise (runs four at a time)."""
    D = w_out.shape[1]
    r = 0
    while r + 4 <= n_runs:
        g0 = np.float32(-lr * coef[r, k])
        g1 = np.float32(-lr * coef[r + 1, k])
        g2 = np.float32(-lr * coef[r + 2, k])
        g3 = np.float32(-lr * coef[r + 3, k])
        x0 = r if gathered else bag_ids[bag_start[r]]
        x1 = r + 1 if gathered else bag_ids[bag_start[r + 1]]
        x2 = r + 2 if gathered else bag_ids[bag_start[r + 2]]
        x3 = r + 3 if gathered else bag_ids[bag_start[r + 3]]
        for d in range(D):
            w_out[s, d] += g0 * xs[x0, d] + g1 * xs[x1, d] + g2 * xs[x2, d] + g3 * xs[x3, d]
        bias[s] += g0 + g1 + g2 + g3
        r += 4
    for r in range(r, n_runs):
        g = coef[r, k]
        if g != 0.0:
            step = np.float32(-lr * g)
            xr = r if gathered else bag_ids[bag_start[r]]
            for d in range(D):
                w_out[s, d] += step * xs[xr, d]
            bias[s] += step


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def gather_inputs(w_in, bag_ids, bag_start, bag_scale, n_runs, xin):
    """xin[r] = bag_scale[r] * sum of w_in[bag_ids[bag_start[r]:bag_start[r+1]]] for r < n_runs
    (a one-row bag of scale 1 is copied exactly); returns xin."""
    for r in range(n_runs):
        a = bag_start[r]
        bag_input(w_in, bag_ids[a:], bag_start[r + 1] - a, bag_scale[r], xin[r])
    return xin


@njit(cache=True, nogil=True)
def draw_and_process(weights, lr, tables, params, scratch):
    """Draw the filled batch's shared negatives (a new batch tag), apply it, empty the batch;
    returns its loss."""
    s = scratch
    s.draw.batch_counter[0] += 1
    tag = s.draw.batch_counter[0]
    tries = draw_batch(s.draw, params.unique, tag, params.sampler_kind, weights.w_out.shape[0], tables.alias_prob,
                       tables.alias_idx, s.rng)
    if s.touched.shape[0] > 0:
        for k in range(s.draw.samples.shape[0]):
            s.touched[s.draw.samples[k]] |= TOUCHED_OUT
    s.tallies[T_BATCHES] += 1.0
    loss = process_batch(weights, s.batch.fill[1], tries, tag, lr, tables, params, s)
    s.batch.fill[0] = 0
    s.batch.fill[1] = 0
    return loss


@njit(cache=True, nogil=True)
def batched_sentence(sent, n, lr, weights, tables, params, scratch):
    """Skip-gram: add the pairs of the kept words sent[:n] to the batch in ``scratch`` (it
    carries over from sentence to sentence), training each batch as it fills; returns
    (loss, pairs).

    Pair order: centre position ascending, then context position ascending, within the
    centre's dynamic window (one draw per centre). A run is a centre: its bag the centre's
    input rows (``bags.append_rows``: [centre], or with subwords its n-grams' too), their mean.
    """
    fill, bag_ids, bag_start = scratch.batch.fill, scratch.batch.bag_ids, scratch.batch.bag_start
    loss = 0.0
    pairs = 0
    for i in range(n):
        lo, hi = window_bounds(i, n, params.window, scratch.rng)
        for j in range(lo, hi):
            if j == i:
                continue
            pairs += 1
            if fill[0] == 0 or fill[2] != i:  # a new run: the first pair, or a new centre
                r = fill[1]
                fill[1] += 1
                fill[2] = i
                q = append_rows(sent[i], tables.sub_start, tables.sub_rows, bag_ids, bag_start[r])
                bag_start[r + 1] = q
                scratch.batch.bag_scale[r] = np.float32(1.0 / (q - bag_start[r]))
            scratch.batch.labels[fill[0]] = sent[j]  # the pair joins the last run
            fill[0] += 1
            scratch.batch.run_start[fill[1]] = fill[0]
            if fill[0] == params.batch_size:
                loss += draw_and_process(weights, lr, tables, params, scratch)
    return loss, pairs


@njit(cache=True, nogil=True)
def cbow_batched_sentence(sent, n, lr, weights, tables, params, scratch):
    """CBOW: one example per centre with a non-empty window, its input the mean (or sum) of
    the context words' input rows (with subwords, all their n-grams' rows too, as fastText's
    CBOW), its label the centre; ``batch_size`` consecutive examples share a draw.
    Returns (loss, examples)."""
    fill, bag_ids, bag_start = scratch.batch.fill, scratch.batch.bag_ids, scratch.batch.bag_start
    loss = 0.0
    examples = 0
    for i in range(n):
        lo, hi = window_bounds(i, n, params.window, scratch.rng)
        m = hi - lo - 1
        if m <= 0:
            continue
        r = fill[1]  # a new run: this example alone
        fill[1] += 1
        q = bag_start[r]
        for j in range(lo, hi):
            if j != i:
                q = append_rows(sent[j], tables.sub_start, tables.sub_rows, bag_ids, q)
        bag_start[r + 1] = q
        scratch.batch.bag_scale[r] = np.float32(1.0 / (q - bag_start[r])) if params.cbow_mean else np.float32(1.0)
        examples += 1
        scratch.batch.labels[fill[0]] = sent[i]
        fill[0] += 1
        scratch.batch.run_start[fill[1]] = fill[0]
        if fill[0] == params.batch_size:
            loss += draw_and_process(weights, lr, tables, params, scratch)
    return loss, examples
