"""Slow, obvious NumPy versions of the training kernels, for the tests."""

from __future__ import annotations

import numpy as np


def softplus(x):
    x = np.asarray(x, dtype=np.float64)
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def sgns_pair_loss(w_in, w_out, c, ctx, negatives):
    """One pair's SGNS loss in float64: softplus(-x.w_ctx) + sum over negatives != ctx of softplus(x.w_k)."""
    x = np.asarray(w_in, np.float64)[c]
    w_out = np.asarray(w_out, np.float64)
    return float(softplus(-(x @ w_out[ctx])) + sum(softplus(x @ w_out[int(n)]) for n in negatives if n != ctx))


def sgns_pair(w_in, w_out, c, ctx, negatives, lr):
    """SGNS step on one pair, in float64: minus lr times the gradient of ``sgns_pair_loss`` at the
    parameters before the step. Returns (w_in, w_out, loss).

    A negative equal to the context is skipped; a repeated negative counts each time.
    """
    w_in = w_in.astype(np.float64).copy()
    w_out = w_out.astype(np.float64).copy()
    x = w_in[c].copy()
    d_x = np.zeros_like(x)
    d_out = np.zeros_like(w_out)
    targets = [(ctx, 1.0)] + [(int(n), 0.0) for n in negatives if n != ctx]
    for t, label in targets:
        f = x @ w_out[t]
        g = sigmoid(f) - label  # d loss / d f
        d_x += g * w_out[t]
        d_out[t] += g * x
    loss = sgns_pair_loss(w_in, w_out, c, ctx, negatives)
    w_in[c] -= lr * d_x
    return w_in, w_out - lr * d_out, loss


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


def cbow_input(w_in, bag, mean):
    """CBOW's input in float64: the mean (or sum) of the bag's w_in rows (repeats count)."""
    x = np.asarray(w_in, np.float64)[list(bag)].sum(axis=0)
    return x / len(bag) if mean else x


def cbow_neg_loss(w_in, w_out, bag, centre, negatives, mean):
    """One CBOW-neg example's loss: SGNS's loss with x = cbow_input and label ``centre``."""
    x = cbow_input(w_in, bag, mean)
    w_out = np.asarray(w_out, np.float64)
    return float(softplus(-(x @ w_out[centre])) + sum(softplus(x @ w_out[int(n)]) for n in negatives if n != centre))


def cbow_neg_step(w_in, w_out, bag, centre, negatives, lr, mean, exact=True):
    """A CBOW-neg step: w_out takes -lr times its gradient; each bag row takes -lr * scale * d/dx
    with ``exact`` (scale = 1/len(bag) for the mean, 1 for the sum: the exact gradient; a
    repeated row gets it each time), else -lr * d/dx (word2vec.c's rule).
    Returns (w_in, w_out, loss), float64."""
    w_in = w_in.astype(np.float64).copy()
    w_out = w_out.astype(np.float64).copy()
    x = cbow_input(w_in, bag, mean)
    d_x = np.zeros_like(x)
    d_out = np.zeros_like(w_out)
    for t, label in [(centre, 1.0)] + [(int(n), 0.0) for n in negatives if n != centre]:
        g = sigmoid(x @ w_out[t]) - label
        d_x += g * w_out[t]
        d_out[t] += g * x
    loss = cbow_neg_loss(w_in, w_out, bag, centre, negatives, mean)
    scale = 1.0 / len(bag) if mean and exact else 1.0
    np.add.at(w_in, list(bag), -lr * scale * d_x)
    return w_in, w_out - lr * d_out, loss


def bag_update(w_in, w_out, bias, bags, scales, grads, lr):
    """Apply ``-lr * grad`` of a batch whose inputs were bags: grads = (d_inputs [B,D], d_w, d_b);
    row r of each bag gets scale * d_inputs of its example."""
    d_inputs, d_w, d_b = grads
    w_in = w_in.copy()
    for e, bag in enumerate(bags):
        np.add.at(w_in, list(bag), -lr * scales[e] * d_inputs[e])
    return w_in, w_out - lr * d_w, bias - lr * d_b


def window_neg_loss(w_in, w_out, contexts, centre, negatives):
    """A window's summed SGNS loss with one shared draw (``negatives: window``), float64: for
    each context a, softplus(-x_a.w_centre) + sum over negatives != centre of softplus(x_a.w_k)."""
    return sum(sgns_pair_loss(w_in, w_out, a, centre, negatives) for a in contexts)


def window_neg_step(w_in, w_out, contexts, centre, negatives, lr):
    """``negatives: window``'s step on one window, in float64: minus lr times the gradient of
    ``window_neg_loss`` at the parameters before the step (every pair's gradient at the same
    parameters, summed; repeated contexts or negatives count each time). Returns (w_in, w_out, loss)."""
    w_in64 = w_in.astype(np.float64)
    w_out64 = w_out.astype(np.float64)
    d_in = np.zeros_like(w_in64)
    d_out = np.zeros_like(w_out64)
    for a in contexts:
        x = w_in64[a]
        for t, label in [(centre, 1.0)] + [(int(n), 0.0) for n in negatives if n != centre]:
            g = sigmoid(x @ w_out64[t]) - label
            d_in[a] += g * w_out64[t]
            d_out[t] += g * x
    loss = window_neg_loss(w_in64, w_out64, contexts, centre, negatives)
    return w_in64 - lr * d_in, w_out64 - lr * d_out, loss


def cbow_batch_loss(w_in, w_out, bags, centres, negatives, mean):
    """A shared-draw batch's summed CBOW-neg loss (``negatives: batch``), float64: each example's
    ``cbow_neg_loss`` with the batch's one draw of negatives."""
    return sum(cbow_neg_loss(w_in, w_out, bag, c, negatives, mean) for bag, c in zip(bags, centres))


def cbow_batch_step(w_in, w_out, bags, centres, negatives, lr, mean, exact=True):
    """``negatives: batch``'s step on one batch, in float64: each example's ``cbow_neg_step``
    taken at the parameters before the batch, and the deltas summed. Returns (w_in, w_out, loss)."""
    w_in64 = w_in.astype(np.float64)
    w_out64 = w_out.astype(np.float64)
    d_in = np.zeros_like(w_in64)
    d_out = np.zeros_like(w_out64)
    for bag, c in zip(bags, centres):
        new_in, new_out, _ = cbow_neg_step(w_in64, w_out64, bag, c, negatives, lr, mean, exact)
        d_in += new_in - w_in64
        d_out += new_out - w_out64
    return w_in64 + d_in, w_out64 + d_out, cbow_batch_loss(w_in64, w_out64, bags, centres, negatives, mean)
