"""The evaluation losses over the whole vocabulary (nce-spec §4): full sigmoid and softmax loss of
held-out (centre, context) pairs or CBOW examples.

Logits by BLAS matmul in tiles of pairs × classes, each reduced by a Numba kernel while in cache;
tallies in float64.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit

from ..kernels.numerics import FASTMATH_APPROX, exp32_nonpositive, exp64_nonpositive
from . import blas

# Tiles: a worker's logits are [rows, _TILE_CLASSES] float32, at most _TILE_ROWS rows (pairs):
# 512 x 512 x 4 B = 1 MiB, so a tile stays in its core's L2 cache (2 MiB here) between the BLAS
# product that writes it and the reduction that reads it (``python scripts/bench_eval.py``).
_TILE_ROWS = 512
_TILE_CLASSES = 512


# ---------------------------------------------------------------------------------------------
# Full sigmoid / softmax loss over all classes
# ---------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, fastmath=FASTMATH_APPROX)
def _sigmoid_tile(tile, bias, targets, v0, acc):
    """Adds one tile of classes to each row's full sigmoid cross-entropy, in float64.

    tile float32 [n, C] = logits of classes v0 … v0 + C − 1 (x_i · W_outᵀ, without bias); bias
    float32 [C] (those classes'); targets int64 [n]; acc float64 [3, n], zeroed by the caller:
    acc[0] += Σ max(z, 0), acc[1] += Σ log1p(e^−|z|), acc[2] = z_target once its tile passes, so
    that after the last tile the loss is acc[0] + acc[1] − acc[2] (Σ_v softplus(z_v) − z_target).
    The log1p terms are summed as log Π(1 + e^−|z|) over the tile (factors in (1, 2], a product
    below 2**C for C ≤ 1023): one log per row and tile instead of one per class. For |z| > 40,
    1 + e^−|z| rounds to 1 in float64, so clamping the exponent at −40 changes nothing.
    z = logit + bias and e^−|z| are float32 (the float32 exp is 8 lanes a vector, twice the
    float64 one's; its error < 8e-8 is about what the logit's own rounding does to e^−|z|),
    the sums and products float64: a 249k-class loss moved by ~1e-10 relative (measured).
    The inner loop indexes slices from 0: an index LLVM cannot prove non-negative gets Numba's
    wraparound select, and the loop is then vectorised with gathers (2x slower, measured).
    """
    n, c = tile.shape
    for i in range(n):
        row = tile[i]
        linear = 0.0
        prod = 1.0
        for j in range(c):
            z = row[j] + bias[j]
            linear += np.float64(max(z, np.float32(0.0)))
            prod *= 1.0 + np.float64(exp32_nonpositive(max(-abs(z), np.float32(-40.0))))
        acc[0, i] += linear
        acc[1, i] += math.log(prod)
        t = targets[i] - v0
        if 0 <= t < c:
            acc[2, i] = np.float64(row[t]) + np.float64(bias[t])


@njit(cache=True, nogil=True, fastmath=FASTMATH_APPROX)
def _softmax_tile(tile, bias, targets, v0, acc):
    """Adds one tile of classes to each row's full softmax cross-entropy (online logsumexp).

    Shapes as ``_sigmoid_tile``; acc[0] = running max m (−inf before the first tile), acc[1] =
    Σ e^(z − m) over the classes so far (rescaled when m grows), acc[2] = z_target: after the last
    tile the loss is acc[0] + log acc[1] − acc[2]. Terms with z − m < −40 (each < 4.3e-18 of the
    largest so far, so of the final largest too) are dropped.
    """
    n, c = tile.shape
    for i in range(n):
        row = tile[i]
        m = acc[0, i]
        for j in range(c):
            m = max(m, np.float64(row[j]) + np.float64(bias[j]))
        total = 0.0
        for j in range(c):
            d = np.float64(row[j]) + np.float64(bias[j]) - m
            e = exp64_nonpositive(max(d, -40.0))
            total += e if d >= -40.0 else 0.0
        acc[1, i] = acc[1, i] * math.exp(acc[0, i] - m) + total if acc[0, i] > -np.inf else total
        acc[0, i] = m
        t = targets[i] - v0
        if 0 <= t < c:
            acc[2, i] = np.float64(row[t]) + np.float64(bias[t])


def _sigmoid_start(acc: np.ndarray) -> None:
    acc[:] = 0.0


def _sigmoid_finish(acc: np.ndarray) -> np.ndarray:
    return acc[0] + acc[1] - acc[2]


def _softmax_start(acc: np.ndarray) -> None:
    acc[:] = 0.0
    acc[0] = -np.inf


def _softmax_finish(acc: np.ndarray) -> np.ndarray:
    return acc[0] + np.log(acc[1]) - acc[2]


# A loss over all classes: its tile kernel, how its [3, n] tallies start, and their final loss.
_SIGMOID = (_sigmoid_tile, _sigmoid_start, _sigmoid_finish)
_SOFTMAX = (_softmax_tile, _softmax_start, _softmax_finish)


def _check_pairs(w_in, w_out, bias, centres, contexts) -> tuple:
    w_in = np.ascontiguousarray(w_in, dtype=np.float32)
    w_out = np.ascontiguousarray(w_out, dtype=np.float32)
    if w_in.ndim != 2 or w_in.shape != w_out.shape:
        raise ValueError(f"w_in {w_in.shape} and w_out {w_out.shape} must both be [V, D]")
    v_count = w_out.shape[0]
    bias = np.zeros(v_count, np.float32) if bias is None else np.ascontiguousarray(bias, dtype=np.float32)
    if bias.shape != (v_count,):
        raise ValueError(f"bias has shape {bias.shape}, expected ({v_count},)")
    centres = np.asarray(centres).astype(np.int64, copy=False).ravel()
    contexts = np.asarray(contexts).astype(np.int64, copy=False).ravel()
    if centres.shape != contexts.shape:
        raise ValueError(f"{centres.size} centres but {contexts.size} contexts")
    if centres.size == 0:
        raise ValueError("no (centre, context) pairs to score")
    for name, ids in (("centres", centres), ("contexts", contexts)):
        if ids.min() < 0 or ids.max() >= v_count:
            raise ValueError(f"{name} must be word ids in [0, {v_count}); got range [{ids.min()}, {ids.max()}]")
    for name, arr in (("w_in", w_in), ("w_out", w_out), ("bias", bias)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} holds NaN or Inf: the model diverged; its loss is undefined")
    return w_in, w_out, bias, centres, contexts


def _pair_losses(loss, w_in, w_out, bias, centres, contexts, threads, block) -> tuple[float, float, int]:
    """Tiled driver for (centre, context) pairs: the inputs are W_in[centres]."""
    w_in, w_out, bias, centres, contexts = _check_pairs(w_in, w_out, bias, centres, contexts)
    return _blocked_losses(loss, lambda a, b: w_in[centres[a:b]], w_out, bias, contexts, threads, block)


def _blocked_losses(loss, inputs, w_out, bias, targets, threads, block) -> tuple[float, float, int]:
    """Per-row losses over all V classes for rows = inputs(start, stop) (float32 [rows, D]) against
    ``targets``; returns (mean, stderr, n).

    Blocks of ``block`` rows (default: at most _TILE_ROWS, fewer so that every worker gets one)
    are shared out among ``threads`` worker threads. A worker walks its block through W_out one
    tile of _TILE_CLASSES classes at a time: a single-threaded BLAS product writes the tile's
    logits, the loss's Numba kernel adds them to the block's float64 tallies while the tile is
    still in the core's cache. The logits never travel to memory, and no thread pool waits on
    another (a multi-threaded BLAS beside a parallel reduction spends its spare cores spinning).
    Where the BLAS's threads cannot be set (blas.py), one worker drives the BLAS's own threads."""
    n = targets.size
    workers = numba.get_num_threads() if threads is None else max(1, int(threads))
    if block is not None and block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    losses = np.empty(n, dtype=np.float64)
    with blas.single_threaded() as per_core:
        workers = workers if per_core else 1
        rows = block if block is not None else max(1, min(_TILE_ROWS, -(-n // workers)))
        starts = list(range(0, n, rows))
        shards = [starts[k::workers] for k in range(min(workers, len(starts)))]
        job = (loss, inputs, w_out, bias, targets, losses)
        if len(shards) == 1:
            _loss_worker(*job, shards[0], rows)
        else:
            with ThreadPoolExecutor(len(shards)) as pool:
                for done in [pool.submit(_loss_worker, *job, shard, rows) for shard in shards]:
                    done.result()
    mean = float(losses.mean())
    stderr = float(losses.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return mean, stderr, n


def _loss_worker(loss, inputs, w_out, bias, targets, losses, starts, rows) -> None:
    """Scores the blocks of rows beginning at ``starts`` into ``losses`` (see _blocked_losses)."""
    tile_kernel, start, finish = loss
    v_count = w_out.shape[0]
    tile = np.empty(rows * min(_TILE_CLASSES, v_count), dtype=np.float32)
    for a in starts:
        b = min(a + rows, targets.size)
        x, t, tally = inputs(a, b), targets[a:b], np.empty((3, b - a))
        start(tally)
        for v0 in range(0, v_count, _TILE_CLASSES):
            v1 = min(v0 + _TILE_CLASSES, v_count)
            z = tile[: (b - a) * (v1 - v0)].reshape(b - a, v1 - v0)  # contiguous, so BLAS writes it
            np.matmul(x, w_out[v0:v1].T, out=z)
            tile_kernel(z, bias[v0:v1], t, v0, tally)
        losses[a:b] = finish(tally)


def _bag_inputs(w_in: np.ndarray, ex, cbow_mean: bool):
    """inputs(start, stop) for held-out examples: each example's bag rows summed (float32),
    divided by the bag size for the mean."""
    def inputs(a: int, b: int) -> np.ndarray:
        lo, hi = int(ex.start[a]), int(ex.start[b])
        x = np.add.reduceat(w_in[ex.ids[lo:hi]], (ex.start[a:b] - lo).astype(np.intp), axis=0)
        if cbow_mean:
            x /= np.diff(ex.start[a:b + 1]).astype(np.float32)[:, None]
        return x
    return inputs


def full_sigmoid_loss_examples(w_in, w_out, bias, ex, cbow_mean: bool = True, threads: int | None = None,
                               block: int | None = None, softmax: bool = False) -> tuple[float, float, int]:
    """``full_sigmoid_loss_pairs`` (or the softmax one) for held-out examples (``pairs.HeldOut``):
    the input of example e is the mean (``cbow_mean``) or sum of its bag's w_in rows — a CBOW
    model's inputs; a skip-gram model's bags are single centres, and this equals the pairs
    function on (centres, contexts)."""
    if len(ex) == 0:
        raise ValueError("no held-out examples to score")
    w_in, w_out, bias, _, labels = _check_pairs(w_in, w_out, bias, ex.ids[ex.start[:-1]], ex.labels)
    if len(ex.ids) and (ex.ids.min() < 0 or ex.ids.max() >= w_in.shape[0]):
        raise ValueError("held-out bags must hold word ids of the model")
    inputs = (lambda a, b: w_in[ex.ids[a:b]]) if len(ex.ids) == len(ex) else _bag_inputs(w_in, ex, cbow_mean)
    return _blocked_losses(_SOFTMAX if softmax else _SIGMOID, inputs, w_out, bias, labels, threads, block)


def full_sigmoid_loss_pairs(
    w_in: np.ndarray,
    w_out: np.ndarray,
    bias: np.ndarray | None,
    centres: np.ndarray,
    contexts: np.ndarray,
    threads: int | None = None,
    block: int | None = None,
) -> tuple[float, float, int]:
    """Mean full sigmoid loss over (centre, context) pairs: TF's ``nce_loss`` eval recipe (§4).

    w_in, w_out float32 [V, D]; bias float32 [V] (None = zeros, for models without one);
    centres, contexts int [N] word ids. Per pair, with z_v = w_in[c] · w_out[v] + bias[v]:
        loss = Σ_v softplus(z_v) − z_ctx   (sigmoid cross-entropy against the one-hot context,
                                            stable form max(z,0) − z·y + log1p(e^−|z|))
    Logits are float32 (BLAS) in tiles of ``block`` pairs (default: at most 512) × 512 classes,
    each reduced in float64 by a Numba kernel while it is in cache; ``threads`` workers (None:
    Numba's current setting) score blocks of pairs side by side.
    Returns ``(mean, stderr, n)``: stderr = std(per-pair losses, ddof=1) / sqrt(n) (NaN for n = 1).
    Raises ValueError for mismatched shapes, ids out of range, no pairs, or NaN/Inf weights.
    """
    return _pair_losses(_SIGMOID, w_in, w_out, bias, centres, contexts, threads, block)


def full_softmax_loss_pairs(w_in, w_out, bias, centres, contexts, threads=None, block=None) -> tuple[float, float, int]:
    """Mean full softmax cross-entropy over (centre, context) pairs (for sampled-softmax models).

    Same inputs, blocking and return value as ``full_sigmoid_loss_pairs``; per pair
        loss = logsumexp_v(z_v) − z_ctx,   z_v = w_in[c] · w_out[v] + bias[v].
    """
    return _pair_losses(_SOFTMAX, w_in, w_out, bias, centres, contexts, threads, block)
