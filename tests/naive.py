"""Slow, obvious NumPy versions of the training kernels, for the tests."""

from __future__ import annotations

import numpy as np


def softplus(x):
    x = np.asarray(x, dtype=np.float64)
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def sgns_pair(w_in, w_out, c, ctx, negatives, lr):
    """word2vec.c's SGNS update for one pair, in float64; returns (w_in, w_out, loss).

    Output rows update immediately (in target order); the input row once at the end.
    A negative equal to the context is skipped.
    """
    w_in = w_in.astype(np.float64).copy()
    w_out = w_out.astype(np.float64).copy()
    x = w_in[c].copy()
    neu1e = np.zeros_like(x)
    loss = 0.0
    targets = [(ctx, 1.0)] + [(int(n), 0.0) for n in negatives if n != ctx]
    for t, label in targets:
        f = x @ w_out[t]
        loss += softplus(-f) if label else softplus(f)
        g = (label - sigmoid(f)) * lr
        neu1e += g * w_out[t]
        w_out[t] += g * x
    w_in[c] += neu1e
    return w_in, w_out, float(loss)


def batch_update(w_in, w_out, bias, centres, contexts, grads, lr):
    """Apply ``-lr * grad`` of a batch's summed loss: grads = (d_inputs [B,D], d_w [V,D], d_b [V])."""
    d_inputs, d_w, d_b = grads
    w_in = w_in.copy()
    np.add.at(w_in, centres, -lr * d_inputs)
    return w_in, w_out - lr * d_w, bias - lr * d_b


def runs_of(centre_positions):
    """run_start array for consecutive equal centre positions."""
    starts = [0]
    for i in range(1, len(centre_positions)):
        if centre_positions[i] != centre_positions[i - 1]:
            starts.append(i)
    starts.append(len(centre_positions))
    return np.array(starts, dtype=np.int32)
