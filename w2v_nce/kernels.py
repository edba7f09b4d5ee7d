"""The hot math, in Numba: skip-gram pair generation, losses, gradients and SGD updates.

Only numpy and numba (and numba's llvmlite, for one prefetch intrinsic) are imported here.
Kernels take arrays and scalars; they never see a config object or module state. Each worker
thread passes its own RNG state, scratch buffers and float64 tallies; only ``w_in``, ``w_out``
and ``bias`` are shared (Hogwild, no locks).

Shapes: V vocabulary, D dimension, S ``num_sampled``, B ``batch_size``.
  w_in  float32[V, D]  centre-word (input) embeddings
  w_out float32[V, D]  context/class (output) weights, TF's ``weights``
  bias  float32[V]     class biases, TF's ``biases`` (unused by ``neg``)

Direction: the centre word's ``w_in`` row predicts each context word as a class of
``w_out``/``bias`` (TensorFlow's and fastText's direction; word2vec.c/gensim go the other way).

Losses (per (centre, context) example, T = 1):
  LOSS_NCE  tf.nn.nce_loss: softplus(-t) + sum_k softplus(u_k), t = x.w_ctx + b_ctx - log Qt,
            u_k = x.w_sk + b_sk - log Qs_k; S negatives shared by the batch; optional
            accidental-hit removal (masked terms contribute exactly 0, as TF's -FLT_MAX does).
  LOSS_SSM  tf.nn.sampled_softmax_loss: logsumexp([t, u_1..u_S]) - t, same logits.
  LOSS_NEG  word2vec SGNS: softplus(-x.w_ctx) + sum_k softplus(x.w_nk), S fresh unigram^0.75
            negatives per pair (a negative equal to the context is skipped, as word2vec.c),
            no bias, no log Q; each pair's exact gradient is applied before the next pair
            (word2vec.c's per-pair order; see sgns_pair for the one difference).

NCE/SSM batches apply the exact gradient of the batch's summed loss, all computed from the
parameters as they were before the batch (what TF + SGD does). Consecutive pairs with the
same centre position form a "run": the sampled logits of a run are computed once (its pairs
share x and the negatives), which is where the speed comes from; the result is the same
batch gradient.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# Allow re-association (vectorised dot products) but keep NaN/Inf semantics: no 'nnan'/'ninf',
# so the divergence checks cannot be optimised away.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

LOSS_NCE = 0
LOSS_NEG = 1
LOSS_SSM = 2

SAMPLER_LOG_UNIFORM = 0
SAMPLER_UNIGRAM = 1
SAMPLER_UNIFORM = 2

# tallies layout (float64, one row per thread)
T_LOSS = 0  # summed per-example loss
T_EXAMPLES = 1  # (centre, context) examples trained
T_WORDS = 2  # in-vocabulary tokens read (before subsampling): the lr schedule's clock
T_KEPT = 3  # tokens kept by subsampling
T_BATCHES = 4  # negative draws (batches for nce/ssm, pairs for neg)
T_NONFINITE = 5  # 1.0 once a non-finite loss was seen (the kernel then stops)
T_LR = 6  # learning rate at the last sentence
N_TALLIES = 8

# SGNS prefetches the w_out rows of the pair this many pairs ahead (1-3 measured alike;
# ``python scripts/bench_kernel.py --prefetch 0,2`` measures it against none)
PREFETCH_PAIRS = 2

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


# ---------------------------------------------------------------------------------------
# RNG: splitmix64 on an explicit uint64[1] state (one stream per thread)
# ---------------------------------------------------------------------------------------
@njit(cache=True, nogil=True, inline="always")
def rng_next(state):
    state[0] += _GOLDEN
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def rng_uniform(state):
    """float64 uniform in [0, 1) with 53 random bits."""
    return float(rng_next(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True, inline="always")
def rng_below(state, n):
    """int uniform in [0, n) (multiply-shift on the top 32 bits; bias < n / 2^32)."""
    return np.int64(((rng_next(state) >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))


# ---------------------------------------------------------------------------------------
# software prefetch: SGNS is bound by the latency of fetching random w_out rows, and its
# negatives are known a pair ahead (they are drawn ahead), so their rows can be on the way
# while the current pair is computed
# ---------------------------------------------------------------------------------------
@intrinsic
def _prefetch(typingctx, arr, row, col):
    """Hint the CPU to load &arr[row, col] into all cache levels, for writing (never faults)."""
    if not (isinstance(arr, types.Array) and arr.ndim == 2):
        return None
    sig = types.void(arr, row, col)

    def codegen(context, builder, signature, args):
        arr_t = signature.args[0]
        ary = context.make_array(arr_t)(context, builder, args[0])
        r = context.cast(builder, args[1], signature.args[1], types.intp)
        c = context.cast(builder, args[2], signature.args[2], types.intp)
        ptr = cgutils.get_item_pointer(context, builder, arr_t, ary, [r, c])
        voidptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [voidptr, i32, i32, i32])
        # declare_intrinsic mangles the pointer type as this llvmlite needs (p0i8 or p0)
        fn = builder.module.declare_intrinsic("llvm.prefetch", [voidptr], fnty)
        # (address, rw = 1 write, locality = 3 keep in all levels, cache type = 1 data)
        builder.call(fn, [builder.bitcast(ptr, voidptr), ir.Constant(i32, 1), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def prefetch_row(a, r):
    """Prefetch every 64-byte line of row r of a C-contiguous float32[:, D] (16 floats a line)."""
    D = a.shape[1]
    for d in range(0, D, 16):
        _prefetch(a, r, d)
    _prefetch(a, r, D - 1)


# ---------------------------------------------------------------------------------------
# scalar helpers
# ---------------------------------------------------------------------------------------
@njit(cache=True, nogil=True, inline="always")
def sigmoid(x):
    """Stable logistic: never exp of a large positive number."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@njit(cache=True, nogil=True, inline="always")
def softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), in float64."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(cache=True, nogil=True, inline="always")
def expected_count(p, num_sampled, num_tries):
    """TF's ExpectedCountHelper in float32: p*S if no draw was rejected, else 1-(1-p)^tries."""
    if num_tries == num_sampled:
        return np.float32(p * np.float32(num_sampled))
    return np.float32(-math.expm1(np.float32(num_tries) * np.float32(math.log1p(-p))))


@njit(cache=True, nogil=True)
def draw_candidate(sampler_kind, range_max, alias_prob, alias_idx, rng):
    """One draw from the noise distribution (ids assumed sorted by decreasing count)."""
    if sampler_kind == SAMPLER_LOG_UNIFORM:
        # TF LogUniformSampler::Sample: floor(exp(U * log(range_max + 1))) - 1, mod range_max
        k = np.int64(math.exp(rng_uniform(rng) * math.log1p(range_max))) - 1
        return k % range_max
    if sampler_kind == SAMPLER_UNIFORM:
        return rng_below(rng, range_max)
    # alias method (Walker/Vose): one uniform column, one biased coin
    k = rng_below(rng, range_max)
    if rng_uniform(rng) < alias_prob[k]:
        return k
    return np.int64(alias_idx[k])


@njit(cache=True, nogil=True)
def draw_batch(samples, unique, stamp, pos, batch_no, sampler_kind, range_max, alias_prob, alias_idx, rng):
    """Fill samples[S]; mark stamp[id] = batch_no and pos[id] = last position of id.

    unique: rejection until S distinct ids (TF semantics). Returns num_tries (all draws).
    """
    S = samples.shape[0]
    k = 0
    tries = 0
    while k < S:
        c = draw_candidate(sampler_kind, range_max, alias_prob, alias_idx, rng)
        tries += 1
        if unique and stamp[c] == batch_no:
            continue
        stamp[c] = batch_no
        pos[c] = k
        samples[k] = c
        k += 1
    return tries


@njit(cache=True, nogil=True)
def mark_samples(samples, stamp, pos, batch_no):
    """Set stamp/pos for given samples (last copy wins), as draw_batch does."""
    for k in range(samples.shape[0]):
        stamp[samples[k]] = batch_no
        pos[samples[k]] = k


# ---------------------------------------------------------------------------------------
# one shared-negative batch (nce / sampled softmax)
# ---------------------------------------------------------------------------------------
@njit(cache=True, nogil=True, fastmath=FASTMATH)
def process_batch(
    w_in, w_out, bias, centres, contexts, run_start, n_runs, samples, num_tries, sampler_prob,
    loss_kind, remove_hits, stamp, pos, batch_no, lr, u, coef, gt, dx, logq_s, logq_t,
):
    """Apply one SGD step on a batch sharing ``samples``; return the batch's summed loss (float64).

    centres/contexts int32[>=n]: the batch's pairs; runs r cover pairs run_start[r]..run_start[r+1]-1
    and share a centre row. samples int64[S] with stamp/pos marked for ``batch_no``.
    Scratch: u, coef float32[B, S]; gt float32[B]; dx float32[B, D]; logq_s float32[S]; logq_t float32[B].
    """
    S = samples.shape[0]
    D = w_in.shape[1]
    n_pairs = run_start[n_runs]
    loss = 0.0
    for k in range(S):
        logq_s[k] = np.float32(math.log(expected_count(sampler_prob[samples[k]], S, num_tries)))
    for i in range(n_pairs):
        logq_t[i] = np.float32(math.log(expected_count(sampler_prob[contexts[i]], S, num_tries)))

    # 1) logits and gradients w.r.t. logits, from the parameters before the batch
    for r in range(n_runs):
        a = run_start[r]
        b = run_start[r + 1]
        c = centres[a]
        for k in range(S):
            s = samples[k]
            acc = np.float32(0.0)
            for d in range(D):
                acc += w_in[c, d] * w_out[s, d]
            u[r, k] = acc + bias[s] - logq_s[k]
            coef[r, k] = 0.0
        if loss_kind == LOSS_NCE:
            for k in range(S):
                coef[r, k] = np.float32(b - a)  # pairs of the run that see this negative
        for i in range(a, b):
            ctx = contexts[i]
            acc = np.float32(0.0)
            for d in range(D):
                acc += w_in[c, d] * w_out[ctx, d]
            t = np.float32(acc + bias[ctx] - logq_t[i])
            hit = -1
            if remove_hits and stamp[ctx] == batch_no:
                hit = pos[ctx]
            if loss_kind == LOSS_NCE:
                loss += softplus(-float(t))
                gt[i] = np.float32(sigmoid(float(t)) - 1.0)
                if hit >= 0:
                    coef[r, hit] -= 1.0
            else:
                m = float(t)
                for k in range(S):
                    if k != hit and u[r, k] > m:
                        m = float(u[r, k])
                z = math.exp(float(t) - m)
                for k in range(S):
                    if k != hit:
                        z += math.exp(float(u[r, k]) - m)
                loss += math.log(z) + m - float(t)
                gt[i] = np.float32(math.exp(float(t) - m) / z - 1.0)
                for k in range(S):
                    if k != hit:
                        coef[r, k] += np.float32(math.exp(float(u[r, k]) - m) / z)
        if loss_kind == LOSS_NCE:
            for k in range(S):
                n_seen = float(coef[r, k])
                if n_seen > 0.0:
                    uk = float(u[r, k])
                    loss += n_seen * softplus(uk)
                    coef[r, k] = np.float32(n_seen * sigmoid(uk))
        # dx_r = sum_i gt_i w_out[ctx_i] + sum_k coef_rk w_out[s_k]
        for d in range(D):
            dx[r, d] = 0.0
        for i in range(a, b):
            g = gt[i]
            ctx = contexts[i]
            for d in range(D):
                dx[r, d] += g * w_out[ctx, d]
        for k in range(S):
            g = coef[r, k]
            if g != 0.0:
                s = samples[k]
                for d in range(D):
                    dx[r, d] += g * w_out[s, d]

    # 2) output-side updates (read w_in, which is still untouched)
    for k in range(S):
        s = samples[k]
        for r in range(n_runs):
            g = coef[r, k]
            if g != 0.0:
                c = centres[run_start[r]]
                step = np.float32(-lr * g)
                for d in range(D):
                    w_out[s, d] += step * w_in[c, d]
                bias[s] += step
    for r in range(n_runs):
        c = centres[run_start[r]]
        for i in range(run_start[r], run_start[r + 1]):
            ctx = contexts[i]
            step = np.float32(-lr * gt[i])
            for d in range(D):
                w_out[ctx, d] += step * w_in[c, d]
            bias[ctx] += step
    # 3) input-side updates
    for r in range(n_runs):
        c = centres[run_start[r]]
        step = np.float32(-lr)
        for d in range(D):
            w_in[c, d] += step * dx[r, d]
    return loss


@njit(cache=True, nogil=True)
def draw_and_process(w_in, w_out, bias, centres, contexts, run_start, n_runs, samples, unique, stamp, pos,
                     batch_counter, sampler_kind, alias_prob, alias_idx, rng, sampler_prob, loss_kind, remove_hits,
                     lr, u, coef, gt, dx, logq_s, logq_t, tallies):
    """Draw the batch's shared negatives (a new stamp tag) and apply it; returns its loss."""
    batch_counter[0] += 1
    tries = draw_batch(samples, unique, stamp, pos, batch_counter[0], sampler_kind, w_in.shape[0], alias_prob,
                       alias_idx, rng)
    tallies[T_BATCHES] += 1.0
    return process_batch(w_in, w_out, bias, centres, contexts, run_start, n_runs, samples, tries, sampler_prob,
                         loss_kind, remove_hits, stamp, pos, batch_counter[0], lr, u, coef, gt, dx, logq_s, logq_t)


# ---------------------------------------------------------------------------------------
# one SGNS pair: the exact gradient of its loss
# ---------------------------------------------------------------------------------------
@njit(cache=True, nogil=True, fastmath=FASTMATH)
def sgns_pair(w_in, w_out, c, ctx, negatives, n_neg, lr, neu1e, targets, mult, grads):
    """SGD step on one (centre, context) pair's loss with the given negatives; returns the loss.

    Loss = softplus(-x.w_ctx) + sum_k softplus(x.w_k), float64, over negatives[:n_neg] except
    those equal to ``ctx`` (skipped, as word2vec.c does); a repeated negative counts each time.
    The step is exactly -lr * its gradient at the parameters before the pair: all logits are
    computed first, repeated negatives are merged (their gradients add), then each target row
    is read and written once. (word2vec.c updates each target row before the next logit; the
    two differ only when a negative repeats within a pair, by O(lr^2).)
    Scratch: neu1e float32[D]; targets, mult int64[>= n_neg + 1]; grads float32[>= n_neg + 1].
    """
    D = w_in.shape[1]
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
            f += w_in[c, d] * w_out[t, d]
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
            w_out[t, d] = wo + g * w_in[c, d]
    for d in range(D):
        w_in[c, d] += neu1e[d]
    return loss_lin + math.log(prod)

@njit(cache=True, nogil=True, inline="always")
def window_bounds(i, n, window, rng):
    """word2vec's dynamic window for centre i of n kept words: one draw of the reduction
    b in [0, window), then contexts at positions [lo, hi) except i, within distance window - b."""
    span = window - rng_below(rng, window)
    return max(i - span, 0), min(i + span + 1, n)


@njit(cache=True, nogil=True)
def draw_centre(sent, n, i, window, S, neg_alias_prob, neg_alias_idx, rng, ctx_out, neg_out):
    """Draw centre i's reduced window, then S negatives per context in window order.

    Writes the contexts to ctx_out[:m] and their negatives to neg_out[:m, :S]; returns m.
    This is the kernel's RNG order for SGNS (what tests/ replay), whenever it is called.
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
    return m


@njit(cache=True, nogil=True, inline="always")
def _prefetch_pair(w_out, ctx_buf, neg_buf, slot, q, S):
    prefetch_row(w_out, ctx_buf[slot, q])
    for k in range(S):
        prefetch_row(w_out, neg_buf[slot, q, k])


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def sgns_sentence(sent, n, w_in, w_out, window, S, lr, neg_alias_prob, neg_alias_idx, rng, ctx_buf, neg_buf,
                  neu1e, targets, mult, grads, prefetch_pairs):
    """SGNS over the kept words sent[:n]; returns (summed loss, pairs trained).

    Same pairs, negatives, RNG draws and update order as drawing each pair's negatives just
    before its update; only the draws run one centre ahead (ctx_buf int64[2, 2 * window] and
    neg_buf int64[2, 2 * window, S] hold the current and next centre) so that the rows of the
    pair ``prefetch_pairs`` ahead (0: none, at most 2 * window) can be prefetched.
    """
    loss = 0.0
    pairs = 0
    if n == 0:
        return loss, pairs
    cur = 0
    m = draw_centre(sent, n, 0, window, S, neg_alias_prob, neg_alias_idx, rng, ctx_buf[0], neg_buf[0])
    for q in range(min(prefetch_pairs, m)):
        _prefetch_pair(w_out, ctx_buf, neg_buf, cur, q, S)
    for i in range(n):
        nxt = 1 - cur
        m_next = 0
        if i + 1 < n:
            m_next = draw_centre(sent, n, i + 1, window, S, neg_alias_prob, neg_alias_idx, rng, ctx_buf[nxt],
                                 neg_buf[nxt])
            if prefetch_pairs > 0:
                prefetch_row(w_in, sent[i + 1])
        c = sent[i]
        for q in range(m):
            ahead = q + prefetch_pairs  # pair index counted across this centre and the next
            if prefetch_pairs > 0 and ahead < m:
                _prefetch_pair(w_out, ctx_buf, neg_buf, cur, ahead, S)
            elif prefetch_pairs > 0 and ahead - m < m_next:
                _prefetch_pair(w_out, ctx_buf, neg_buf, nxt, ahead - m, S)
            loss += sgns_pair(w_in, w_out, c, ctx_buf[cur, q], neg_buf[cur, q], S, lr, neu1e, targets, mult, grads)
        pairs += m
        m = m_next
        cur = nxt
    return loss, pairs


# ---------------------------------------------------------------------------------------
# a chunk of sentences
# ---------------------------------------------------------------------------------------
@njit(cache=True, nogil=True, fastmath=FASTMATH)
def train_chunk(
    ids, w_in, w_out, bias, keep_prob,
    loss_kind, window, num_sampled, batch_size, remove_hits, unique,
    sampler_kind, sampler_prob, alias_prob, alias_idx, neg_alias_prob, neg_alias_idx,
    alpha, min_alpha, word_offset, total_words, prefetch_pairs,
    rng, sent, centres, contexts, run_start, samples, stamp, pos, u, coef, gt, dx, logq_s, logq_t,
    neu1e, batch_counter, tallies,
):
    """Train on ``ids`` (int32, sentences separated by -1, ending with -1).

    Per sentence: subsample (keep id w with probability keep_prob[w]), then for each centre
    draw a reduced window b in [0, window) and pair it with contexts at distance
    1..window-b (word2vec's dynamic window), in corpus order.
    lr = alpha - (alpha - min_alpha) * clock / total_words, floored at min_alpha, where clock
    = word_offset + words read so far in this chunk (recomputed at each sentence start).
    Negatives: nce/ssm draw S ids per batch of ``batch_size`` pairs with the chosen sampler
    (``sampler_prob`` float32[V] = its P(k), for the log-Q terms); neg draws S ids per pair
    from (neg_alias_prob, neg_alias_idx). rng uint64[1]; batch_counter int64[1] (stamp tags);
    tallies float64[N_TALLIES] accumulate (see T_*). Stops early if a loss is not finite.
    prefetch_pairs: how far ahead SGNS prefetches rows (speed only: results do not depend on it).
    """
    n_ids = ids.shape[0]
    S = num_sampled
    ctx_buf = np.empty((2, 2 * window), np.int64)  # SGNS draw-ahead (see sgns_sentence)
    neg_buf = np.empty((2, 2 * window, S), np.int64)
    targets = np.empty(S + 1, np.int64)  # sgns_pair's scratch
    mult = np.empty(S + 1, np.int64)
    grads = np.empty(S + 1, np.float32)
    words = 0.0
    start = 0
    n_batch = 0
    n_runs = 0
    run_start[0] = 0
    lr = alpha
    loss = 0.0
    examples = 0.0
    kept_total = 0.0
    run_pos = -1  # centre position of the current run
    while start < n_ids:
        end = start
        while end < n_ids and ids[end] != -1:
            end += 1
        clock = word_offset + words
        lr = alpha - (alpha - min_alpha) * clock / total_words
        if lr < min_alpha:
            lr = min_alpha
        n = 0
        for p in range(start, end):
            w = ids[p]
            if keep_prob[w] < 1.0 and keep_prob[w] < rng_uniform(rng):
                continue
            sent[n] = w
            n += 1
        words += end - start
        kept_total += n
        if loss_kind == LOSS_NEG:
            sent_loss, sent_pairs = sgns_sentence(sent, n, w_in, w_out, window, S, lr, neg_alias_prob,
                                                  neg_alias_idx, rng, ctx_buf, neg_buf, neu1e, targets, mult, grads,
                                                  prefetch_pairs)
            loss += sent_loss
            examples += sent_pairs
            tallies[T_BATCHES] += sent_pairs
            n = 0  # nce/ssm only below
        for i in range(n):
            c = sent[i]
            lo, hi = window_bounds(i, n, window, rng)
            for j in range(lo, hi):
                if j == i:
                    continue
                ctx = sent[j]
                examples += 1.0
                if n_batch == 0 or run_pos != i:
                    n_runs += 1
                run_pos = i
                centres[n_batch] = c
                contexts[n_batch] = ctx
                n_batch += 1
                run_start[n_runs] = n_batch
                if n_batch == batch_size:
                    loss += draw_and_process(w_in, w_out, bias, centres, contexts, run_start, n_runs, samples,
                                             unique, stamp, pos, batch_counter, sampler_kind, alias_prob, alias_idx,
                                             rng, sampler_prob, loss_kind, remove_hits, lr, u, coef, gt, dx,
                                             logq_s, logq_t, tallies)
                    n_batch = 0
                    n_runs = 0
        start = end + 1
        if not math.isfinite(loss):
            tallies[T_NONFINITE] = 1.0
            break
    if n_batch > 0 and tallies[T_NONFINITE] == 0.0:  # the chunk's last, partial batch
        loss += draw_and_process(w_in, w_out, bias, centres, contexts, run_start, n_runs, samples,
                                 unique, stamp, pos, batch_counter, sampler_kind, alias_prob, alias_idx,
                                 rng, sampler_prob, loss_kind, remove_hits, lr, u, coef, gt, dx,
                                 logq_s, logq_t, tallies)
        if not math.isfinite(loss):
            tallies[T_NONFINITE] = 1.0
    tallies[T_LOSS] += loss
    tallies[T_EXAMPLES] += examples
    tallies[T_WORDS] += words
    tallies[T_KEPT] += kept_total
    tallies[T_LR] = lr
