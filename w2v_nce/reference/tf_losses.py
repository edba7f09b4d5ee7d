"""NumPy reference of TensorFlow's sampled losses: ``tf.nn.nce_loss``, ``tf.nn.sampled_softmax_loss``.

The contract is ``docs/nce-spec.md``; section numbers below refer to it. Everything is
computed in the dtype of ``inputs`` (float32 or float64), as TF does, and returned in it.

Notation: ``B`` batch, ``D`` dim, ``C`` classes, ``T = num_true``, ``S = num_sampled``;
``x [B, D]`` inputs, ``W [C, D]`` weights (one row per class), ``b [C]`` biases,
``L [B, T]`` labels, ``s [S]`` sampled ids shared by the whole batch, ``Qt [B, T]`` and
``Qs [S]`` their expected counts.

Logits (§1, ``_compute_sampled_logits``)::

    t[i, j] = x_i · W[L_ij] + b[L_ij] - log Qt[i, j]                  true,    label 1/T
    u[i, k] = x_i · W[s_k]  + b[s_k]  (- FLT_MAX if hit) - log Qs[k]  sampled, label 0

Losses, per example (never averaged over the batch)::

    nce_loss              = Σ_j [softplus(t_ij) - t_ij / T] + Σ_k softplus(u_ik)      (§2)
    sampled_softmax_loss  = logsumexp([t_i, u_i]) - (1/T) Σ_j t_ij                   (§3)
    full_sigmoid_loss     = Σ_c [softplus(z_ic) - y_ic z_ic],  z = x Wᵀ + b,          (§4)
                            y_ic = 1 if c is one of example i's labels else 0

The ``*_grad`` functions return the gradient of the loss **summed over the batch** with
respect to ``(inputs, weights, biases)``; nothing flows into the expected counts.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .tf_samplers import log_uniform_candidate_sampler

__all__ = [
    "FLT_MAX",
    "compute_sampled_logits",
    "sigmoid_cross_entropy_with_logits",
    "nce_loss",
    "nce_loss_grad",
    "sampled_softmax_loss",
    "sampled_softmax_loss_grad",
    "full_sigmoid_loss",
]

FLT_MAX = float(np.finfo(np.float32).max)
"""Mask added to accidental hits: float32's max, also in float64 (``-FLT_MAX``, not ``-inf``)."""


class _Batch(NamedTuple):
    """Validated arguments, all in the dtype of ``inputs`` (ids int64)."""

    x: np.ndarray  # [B, D]
    w: np.ndarray  # [C, D]
    b: np.ndarray  # [C]
    labels: np.ndarray  # [B, T] int64
    sampled: np.ndarray  # [S] int64
    true_count: np.ndarray  # [B, T]
    sampled_count: np.ndarray  # [S]


# --------------------------------------------------------------------------------------
# Validation (once, at the boundary)
# --------------------------------------------------------------------------------------


def _ids(name: str, value, shape: tuple, num_classes: int) -> np.ndarray:
    a = np.asarray(value)
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class ids, got dtype {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(a.shape)}")
    a = a.astype(np.int64)
    if a.size and (a.min() < 0 or a.max() >= num_classes):
        raise ValueError(
            f"{name} must be in [0, {num_classes}) (rows of weights), got values in [{a.min()}, {a.max()}]"
        )
    return a


def _dense(weights, biases, inputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, W, b)`` checked, ``W`` and ``b`` cast to the dtype of ``inputs`` (TF casts the rows)."""
    x = np.asarray(inputs)
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(f"inputs must be float32 or float64, got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"inputs must have shape [batch_size, dim], got {list(x.shape)}")
    w = np.asarray(weights)
    if w.ndim != 2 or w.shape[1] != x.shape[1]:
        raise ValueError(f"weights must have shape [num_classes, {x.shape[1]}] to match inputs, got {list(w.shape)}")
    b = np.asarray(biases)
    if b.shape != (w.shape[0],):
        raise ValueError(f"biases must have shape [{w.shape[0]}] (one per row of weights), got {list(b.shape)}")
    return x, w.astype(x.dtype, copy=False), b.astype(x.dtype, copy=False)


def _sampled(sampled_values, labels_shape: tuple, rows: int, num_sampled: int, remove_accidental_hits: bool, dtype):
    """``(s int64 [S], Qt [B, T], Qs [S])`` checked; counts cast to ``dtype`` (TF requires it, §1.6)."""
    try:
        s_raw, qt_raw, qs_raw = sampled_values
    except (TypeError, ValueError):
        raise ValueError("sampled_values must be a tuple (sampled_candidates, true_expected_count, "
                         "sampled_expected_count)") from None
    s_arr = np.asarray(s_raw)
    if s_arr.ndim != 1:
        raise ValueError(f"sampled_candidates (sampled_values[0]) must be 1-D, got shape {list(s_arr.shape)}")
    n_s = s_arr.shape[0]
    s = _ids("sampled_candidates (sampled_values[0])", s_arr, (n_s,), rows)
    if remove_accidental_hits and num_sampled != n_s:
        raise ValueError(
            f"num_sampled ({num_sampled}) must equal len(sampled_candidates) ({n_s}) when remove_accidental_hits=True"
        )
    qt = np.asarray(qt_raw)
    if qt.shape != labels_shape:
        raise ValueError(
            f"true_expected_count (sampled_values[1]) must have shape {list(labels_shape)}, got {list(qt.shape)}"
        )
    qs = np.asarray(qs_raw)
    if qs.shape != (n_s,):
        raise ValueError(f"sampled_expected_count (sampled_values[2]) must have shape [{n_s}], got {list(qs.shape)}")
    return s, qt.astype(dtype), qs.astype(dtype)


def _prepare(
    weights, biases, labels, inputs, num_sampled, num_classes, num_true, sampled_values,
    remove_accidental_hits, seed,
) -> _Batch:
    """Check and coerce everything once; draw with TF's default sampler if none was given."""
    x, w, b = _dense(weights, biases, inputs)
    if num_true < 1:
        raise ValueError(f"num_true must be >= 1, got {num_true}")
    lab = _ids("labels", labels, (x.shape[0], num_true), w.shape[0])
    if sampled_values is None:
        # TF's default: log-uniform, unique, range_max = num_classes (§1.1).
        sampled_values = log_uniform_candidate_sampler(
            lab, num_true, num_sampled, unique=True, range_max=num_classes, seed=seed
        )
    s, qt, qs = _sampled(sampled_values, lab.shape, w.shape[0], num_sampled, remove_accidental_hits, x.dtype)
    return _Batch(x, w, b, lab, s, qt, qs)


# --------------------------------------------------------------------------------------
# Logits
# --------------------------------------------------------------------------------------


def _hit_mask(labels: np.ndarray, sampled: np.ndarray, dtype) -> np.ndarray:
    """``[B, S]``: ``-FLT_MAX`` where a label of row ``i`` equals ``s_k``, else 0 (§1.5).

    A sampled id that appears several times is masked at its LAST position only
    (``ComputeAccidentalHitsOp``'s map is overwritten); a label repeated within a row marks
    the same entry twice, which ``sparse_to_dense`` assigns (not sums): ``-FLT_MAX`` once.
    """
    n_s = sampled.size
    mask = np.zeros((labels.shape[0], n_s), dtype=dtype)
    if n_s == 0:
        return mask
    values, first_from_end = np.unique(sampled[::-1], return_index=True)
    last_pos = n_s - 1 - first_from_end
    where = np.searchsorted(values, labels).clip(0, values.size - 1)
    hit = values[where] == labels  # [B, T]
    rows, cols = np.nonzero(hit)
    mask[rows, last_pos[where[rows, cols]]] = -FLT_MAX
    return mask


def _logits(batch: _Batch, remove_accidental_hits: bool, subtract_log_q: bool) -> tuple[np.ndarray, np.ndarray]:
    """True logits ``t [B, T]`` and sampled logits ``u [B, S]`` (§1.3–1.6)."""
    x, w, b, lab = batch.x, batch.w, batch.b, batch.labels
    t = np.einsum("bd,btd->bt", x, w[lab]) + b[lab]
    u = x @ w[batch.sampled].T + b[batch.sampled]
    if remove_accidental_hits:
        u = u + _hit_mask(lab, batch.sampled, x.dtype)  # before log Q, like TF
    if subtract_log_q:
        t = t - np.log(batch.true_count)
        u = u - np.log(batch.sampled_count)
    return t, u


def compute_sampled_logits(
    weights,
    biases,
    labels,
    inputs,
    num_sampled: int,
    num_classes: int,
    num_true: int = 1,
    sampled_values=None,
    subtract_log_q: bool = True,
    remove_accidental_hits: bool = False,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """TF's ``_compute_sampled_logits``: ``(out_logits [B, T+S], out_labels [B, T+S])``.

    ``out_logits = [t | u]`` (true columns first, see the module docstring) and
    ``out_labels = [1/T … | 0 …]``, both in the dtype of ``inputs``. ``subtract_log_q=False``
    (not reachable through TF's public losses) keeps the raw scores, as in word2vec's SGNS.

    Args:
        weights: ``[C, D]`` class embeddings, one row per class.
        biases: ``[C]``.
        labels: integer ``[B, num_true]`` in ``[0, C)``.
        inputs: float32 or float64 ``[B, D]``; sets the computation dtype.
        num_sampled: ``S``; must equal ``len(sampled_values[0])`` when removing hits.
        num_classes: range of the default sampler.
        num_true: labels per example.
        sampled_values: ``(s [S] int, Qt [B, T], Qs [S])``, or None to draw with the
            log-uniform unique sampler. Counts are cast to the dtype of ``inputs``.
        subtract_log_q: subtract ``log Q`` from every logit.
        remove_accidental_hits: add ``-FLT_MAX`` to sampled logits equal to a label.
        seed: seed of the default sampler.

    Raises:
        ValueError: naming the argument with a bad shape, dtype or value.
    """
    batch = _prepare(weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                     sampled_values, remove_accidental_hits, seed)
    t, u = _logits(batch, remove_accidental_hits, subtract_log_q)
    return np.concatenate([t, u], axis=1), np.concatenate(_soft_labels(t, u, num_true), axis=1)


# --------------------------------------------------------------------------------------
# Cross-entropies, elementwise / rowwise, as TF computes them
# --------------------------------------------------------------------------------------


def sigmoid_cross_entropy_with_logits(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """``ℓ(x, z) = max(x, 0) - x·z + log1p(exp(-|x|))``, elementwise, stable for any finite x.

    Exactly TF's ``where(x >= 0, x, 0) - x * z + log1p(exp(where(x >= 0, -x, x)))``.
    A masked logit ``-FLT_MAX`` with label 0 gives exactly 0.
    """
    x = np.asarray(logits)
    z = np.asarray(labels, dtype=x.dtype)
    pos = x >= 0
    return np.where(pos, x, 0) - x * z + np.log1p(np.exp(np.where(pos, -x, x)))


def _sigmoid_xent_grad(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """``∂ℓ/∂x = sigmoid(x) - z``, as the gradient of the ``where`` form (§2).

    ``(1 - z) - e/(1+e)`` for ``x >= 0`` and ``e/(1+e) - z`` for ``x < 0``, ``e = exp(-|x|)``:
    tiny values such as ``-1e-30`` survive instead of rounding to 0.
    """
    x = logits
    z = np.asarray(labels, dtype=x.dtype)
    pos = x >= 0
    e = np.exp(np.where(pos, -x, x))
    r = e / (1 + e)
    return np.where(pos, (1 - z) - r, r - z)


def _softmax_xent(labels: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(loss [B], backprop [B, N])`` with ``backprop = softmax(logits) - labels``."""
    sh = logits - logits.max(axis=1, keepdims=True)
    sum_exp = np.exp(sh).sum(axis=1, keepdims=True)
    loss = (labels * (np.log(sum_exp) - sh)).sum(axis=1)
    return loss, np.exp(sh) / sum_exp - labels


# --------------------------------------------------------------------------------------
# Gradient assembly
# --------------------------------------------------------------------------------------


def _backprop(batch: _Batch, g_true: np.ndarray, g_sampled: np.ndarray, weights, biases):
    """Chain rule from ``∂/∂t [B, T]`` and ``∂/∂u [B, S]`` to ``(d_inputs, d_weights, d_biases)``.

    ``∂/∂x_i = Σ_j Gt_ij W[L_ij] + Σ_k Gs_ik W[s_k]``; rows of ``W``/``b`` accumulate over every
    occurrence of a class among the labels and the sampled ids. ``d_weights``/``d_biases``
    take the dtypes of ``weights``/``biases`` (TF's gradient of the cast).
    """
    x, w, lab, s = batch.x, batch.w, batch.labels, batch.sampled
    d_x = np.einsum("bt,btd->bd", g_true, w[lab]) + g_sampled @ w[s]
    d_w = np.zeros_like(w)
    d_b = np.zeros_like(batch.b)
    np.add.at(d_w, lab.ravel(), (g_true[:, :, None] * x[:, None, :]).reshape(-1, x.shape[1]))
    np.add.at(d_w, s, g_sampled.T @ x)
    np.add.at(d_b, lab.ravel(), g_true.ravel())
    np.add.at(d_b, s, g_sampled.sum(axis=0))
    return d_x, d_w.astype(np.asarray(weights).dtype), d_b.astype(np.asarray(biases).dtype)


def _soft_labels(t: np.ndarray, u: np.ndarray, num_true: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets ``1/T`` for the true columns (``ones_like(t) / T`` in their dtype), 0 for the sampled."""
    return np.ones_like(t) / np.asarray(num_true, t.dtype), np.zeros_like(u)


# --------------------------------------------------------------------------------------
# NCE (§2)
# --------------------------------------------------------------------------------------


def nce_loss(
    weights,
    biases,
    labels,
    inputs,
    num_sampled: int,
    num_classes: int,
    num_true: int = 1,
    sampled_values=None,
    remove_accidental_hits: bool = False,
) -> np.ndarray:
    """``tf.nn.nce_loss``: per-example noise-contrastive estimation loss ``[B]``.

    ``loss_i = Σ_j ℓ(t_ij, 1/T) + Σ_k ℓ(u_ik, 0) = Σ_j [softplus(t_ij) - t_ij/T] + Σ_k softplus(u_ik)``
    with ``ℓ`` = :func:`sigmoid_cross_entropy_with_logits` and ``t``, ``u`` the log-Q-corrected
    logits of :func:`compute_sampled_logits`. ``1/T`` is a soft label inside the
    cross-entropy, not a weight. Default ``remove_accidental_hits=False`` (True gives
    "sampled logistic"). Like TF2, no ``seed``: pass ``sampled_values`` for reproducible
    results (and to pair a loss with its gradient).

    Args: as :func:`compute_sampled_logits`.

    Returns:
        ``[B]`` in the dtype of ``inputs``.
    """
    batch = _prepare(weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                     sampled_values, remove_accidental_hits, None)
    t, u = _logits(batch, remove_accidental_hits, subtract_log_q=True)
    z_t, z_u = _soft_labels(t, u, num_true)
    xent = np.concatenate([sigmoid_cross_entropy_with_logits(z_t, t),
                           sigmoid_cross_entropy_with_logits(z_u, u)], axis=1)
    return xent.sum(axis=1)


def nce_loss_grad(
    weights,
    biases,
    labels,
    inputs,
    num_sampled: int,
    num_classes: int,
    num_true: int = 1,
    sampled_values=None,
    remove_accidental_hits: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient of ``Σ_i nce_loss_i`` w.r.t. ``(inputs [B, D], weights [C, D], biases [C])``.

    ``∂ℓ/∂t = sigmoid(t) - 1/T``, ``∂ℓ/∂u = sigmoid(u)`` (stable form), 0 for masked hits;
    then the chain rule of :func:`_backprop`. Arguments as :func:`nce_loss`.
    """
    batch = _prepare(weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                     sampled_values, remove_accidental_hits, None)
    t, u = _logits(batch, remove_accidental_hits, subtract_log_q=True)
    z_t, z_u = _soft_labels(t, u, num_true)
    return _backprop(batch, _sigmoid_xent_grad(z_t, t), _sigmoid_xent_grad(z_u, u), weights, biases)


# --------------------------------------------------------------------------------------
# Sampled softmax (§3)
# --------------------------------------------------------------------------------------


def _sampled_softmax(args: tuple, remove_accidental_hits: bool, seed):
    batch = _prepare(*args, remove_accidental_hits, seed)
    t, u = _logits(batch, remove_accidental_hits, subtract_log_q=True)
    z_t, z_u = _soft_labels(t, u, t.shape[1])
    loss, backprop = _softmax_xent(np.concatenate([z_t, z_u], axis=1), np.concatenate([t, u], axis=1))
    return batch, loss, backprop


def sampled_softmax_loss(
    weights,
    biases,
    labels,
    inputs,
    num_sampled: int,
    num_classes: int,
    num_true: int = 1,
    sampled_values=None,
    remove_accidental_hits: bool = True,
    seed: int | None = None,
) -> np.ndarray:
    """``tf.nn.sampled_softmax_loss``: per-example sampled softmax cross-entropy ``[B]``.

    ``loss_i = logsumexp([t_i, u_i]) - (1/T) Σ_j t_ij`` over the log-Q-corrected logits of
    :func:`compute_sampled_logits`, computed as TF's softmax kernel does
    (TF's ``softmax_cross_entropy_with_logits``, ``_softmax_xent`` here). Default ``remove_accidental_hits=True``
    (the opposite of :func:`nce_loss`). ``seed`` seeds the default sampler.

    Args: as :func:`compute_sampled_logits`.

    Returns:
        ``[B]`` in the dtype of ``inputs``.
    """
    args = (weights, biases, labels, inputs, num_sampled, num_classes, num_true, sampled_values)
    return _sampled_softmax(args, remove_accidental_hits, seed)[1]


def sampled_softmax_loss_grad(
    weights,
    biases,
    labels,
    inputs,
    num_sampled: int,
    num_classes: int,
    num_true: int = 1,
    sampled_values=None,
    remove_accidental_hits: bool = True,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient of ``Σ_i sampled_softmax_loss_i`` w.r.t. ``(inputs, weights, biases)``.

    ``∂/∂[t, u] = softmax([t, u]) - [1/T …, 0 …]`` row-wise, then the chain rule of
    :func:`_backprop`. Arguments as :func:`sampled_softmax_loss`.
    """
    args = (weights, biases, labels, inputs, num_sampled, num_classes, num_true, sampled_values)
    batch, _, backprop = _sampled_softmax(args, remove_accidental_hits, seed)
    n_true = batch.labels.shape[1]
    return _backprop(batch, backprop[:, :n_true], backprop[:, n_true:], weights, biases)


# --------------------------------------------------------------------------------------
# Evaluation loss (§4)
# --------------------------------------------------------------------------------------


def full_sigmoid_loss(weights, biases, labels, inputs) -> np.ndarray:
    """Sigmoid cross-entropy over **all** classes, summed per example: the evaluation loss.

    ``z = x Wᵀ + b`` (``[B, C]``), ``y_ic = 1`` for each **distinct** label of example ``i``
    (multi-hot; a repeated label counts once), and ``loss_i = Σ_c ℓ(z_ic, y_ic)``. No
    sampling, no ``log Q``, target 1 (not ``1/T``). For ``T = 1`` this is the "eval" recipe
    of TF's ``nce_loss`` docstring. Memory is ``O(B·C)``: evaluate in chunks of rows.

    Args:
        weights: ``[C, D]``; biases: ``[C]``; labels: integer ``[B]`` or ``[B, T]``;
        inputs: float32 or float64 ``[B, D]``.

    Returns:
        ``[B]`` in the dtype of ``inputs``.
    """
    lab = np.asarray(labels)
    if lab.ndim == 1:
        lab = lab[:, None]
    if lab.ndim != 2 or lab.shape[1] < 1:
        raise ValueError(f"labels must have shape [batch_size] or [batch_size, num_true], got {list(np.shape(labels))}")
    no_sample = (np.zeros(0, np.int64), np.ones(lab.shape), np.ones(0))
    batch = _prepare(weights, biases, lab, inputs, 0, 0, lab.shape[1], no_sample, False, None)
    logits = batch.x @ batch.w.T + batch.b
    target = np.zeros_like(logits)
    target[np.repeat(np.arange(lab.shape[0]), lab.shape[1]), batch.labels.ravel()] = 1
    return sigmoid_cross_entropy_with_logits(target, logits).sum(axis=1)
