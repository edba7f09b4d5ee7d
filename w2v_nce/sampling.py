"""Distributions from counts: TF's base probabilities and expected counts, subsampling, alias tables.

* TensorFlow's sampler probabilities (``RangeSampler::Probability``) and expected counts,
  specified in ``docs/nce-spec.md`` §5: the trainer's log-Q terms use them, and the reference
  candidate samplers (``w2v_nce.reference.tf_samplers``) draw from them.
* Plain helpers for the trainer: word2vec.c's subsampling keep-probabilities, unigram noise
  weights, Walker/Vose alias tables (the RNG itself is ``w2v_nce.rng``).

Notation: ``B`` batch size, ``T`` = ``num_true``, ``S`` = ``num_sampled``,
``P(k)`` the base probability of class ``k``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "log_uniform_probability",
    "uniform_probability",
    "fixed_unigram_probability",
    "expected_count",
    "unigram_table",
    "keep_probabilities",
    "unigram_weights",
    "build_alias_table",
    "sample_alias",
]

def _f32(x64: np.ndarray) -> np.ndarray:
    """Round a float64 result to float32: a float32 operation, (almost always) correctly rounded.

    TF's float32 ``powf``/``log1pf``/``expm1f`` come from the platform's libm. NumPy's own
    float32 kernels differ from glibc's (2.36) in the last bit far more often (~20 % for
    ``powf``) than float64-then-round does (<0.1 % for ``powf``, ~4 % for ``log1pf``,
    ~1.5 % for ``expm1f``). So each float32 step TF takes is evaluated in float64 and rounded:
    probabilities and counts within 2 ulp of TF's (measured), bit-equal in most cases.
    """
    return np.asarray(x64, dtype=np.float64).astype(np.float32)


# --------------------------------------------------------------------------------------
# Base probabilities (float32, as TF's RangeSampler::Probability returns `float`)
# --------------------------------------------------------------------------------------


def log_uniform_probability(ids: np.ndarray, range_max: int) -> np.ndarray:
    """Zipfian base probability of TF's ``LogUniformSampler``.

    ``P(k) = (log(k + 2) - log(k + 1)) / log(range_max + 1)``, computed in float64 as
    ``log((k + 2) / (k + 1)) / log1p(range_max)`` and rounded to float32. Ids are 0-based and
    assumed sorted by decreasing frequency; ``P`` sums to 1 over ``k = 0 .. range_max - 1``.

    Args:
        ids: integer array of any shape.
        range_max: number of classes.

    Returns:
        float32 array shaped like ``ids``.
    """
    k = np.asarray(ids, dtype=np.float64)
    return (np.log((k + 2.0) / (k + 1.0)) / np.log1p(float(range_max))).astype(np.float32)


def uniform_probability(ids: np.ndarray, range_max: int) -> np.ndarray:
    """Base probability of TF's ``UniformSampler``: ``P(k) = (float)(1.0 / range_max)``.

    Returns:
        float32 array shaped like ``ids``.
    """
    shape = np.shape(ids)
    return np.full(shape, np.float32(1.0 / range_max), dtype=np.float32)


def unigram_table(unigrams, distortion: float, num_reserved_ids: int) -> tuple[np.ndarray, np.float32]:
    """TF's ``FixedUnigramSampler`` weights: ``num_reserved_ids`` zeros, then ``powf(u, distortion)``.

    Returns ``(weights float32 [num_reserved_ids + len(unigrams)], total_weight float32)``;
    the total is TF's float32 running sum (sequential, reserved zeros not added).
    """
    if num_reserved_ids < 0:
        raise ValueError(f"num_reserved_ids must be >= 0, got {num_reserved_ids}")
    u = np.asarray(unigrams, dtype=np.float32).ravel()  # TF's attr is list(float): exact below 2**24
    if np.any(u < 0) or not np.all(np.isfinite(u)):
        raise ValueError("unigrams must be finite and non-negative")
    w = _f32(np.power(u.astype(np.float64), float(np.float32(distortion))))  # powf; pow(0, 0) = 1
    weights = np.concatenate([np.zeros(num_reserved_ids, dtype=np.float32), w])
    # cumsum is a sequential float32 sum, like TF's `total_weight += w` (np.sum is pairwise).
    total = np.cumsum(w, dtype=np.float32)[-1] if w.size else np.float32(0.0)
    if not total > 0:
        raise ValueError("unigrams give zero total weight; at least one weight must be positive")
    return weights, np.float32(total)


def fixed_unigram_probability(
    ids: np.ndarray, unigrams, distortion: float = 1.0, num_reserved_ids: int = 0
) -> np.ndarray:
    """Base probability of TF's ``FixedUnigramSampler``.

    ``w_k = 0`` for the first ``num_reserved_ids`` ids, then ``w_k = powf(u, distortion)``
    for each unigram ``u`` in order (float32); ``P(k) = w_k / Σ w`` in float32, and 0 for ids
    outside the weight vector. ``distortion = 0.75`` gives word2vec's noise; ``distortion = 0``
    is uniform over the non-reserved ids *including* zero counts (``powf(0, 0) = 1``).

    Returns:
        float32 array shaped like ``ids``.
    """
    weights, total = unigram_table(unigrams, distortion, num_reserved_ids)
    k = np.asarray(ids, dtype=np.int64)
    inside = (k >= 0) & (k < weights.size)
    w = np.where(inside, weights[np.clip(k, 0, max(weights.size - 1, 0))], np.float32(0.0))
    return (w / total).astype(np.float32)


def expected_count(probability, num_sampled: int, num_tries: int) -> np.ndarray:
    """TF's ``ExpectedCountHelper``: expected count of a class in one sample, float32 math.

    ``p · S`` when ``num_tries == S`` (always the case for ``unique=False``), else
    ``-expm1(num_tries · log1p(-p)) = 1 - (1 - p)^num_tries`` (the inclusion probability of
    rejection sampling, approximated with the observed number of draws).

    Args:
        probability: base probabilities ``P(k)`` (cast to float32), any shape.
        num_sampled: ``S``, the number of candidates returned.
        num_tries: draws made, rejected ones included (``>= S``).

    Returns:
        float32 array shaped like ``probability``.
    """
    p = np.asarray(probability, dtype=np.float32)
    if num_tries == num_sampled:
        return (p * np.float32(num_sampled)).astype(np.float32)
    log1p = _f32(np.log1p(-p.astype(np.float64)))  # log1pf
    return _f32(-np.expm1((np.float32(num_tries) * log1p).astype(np.float64)))  # float product, expm1f


# --------------------------------------------------------------------------------------
# Trainer helpers (not TF)
# --------------------------------------------------------------------------------------


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Probability of keeping each occurrence of a word under frequent-word subsampling.

    word2vec.c's variant (not the paper's ``sqrt(t/f)``)::

        keep(w) = min(1, sqrt(t / f_w) + t / f_w),   f_w = count_w / total

    with ``t = sample`` and ``total = Σ counts`` (word2vec.c's ``train_words``: the counts of
    the retained vocabulary, after ``min_count`` pruning). ``sample <= 0`` disables
    subsampling (all ones); words of count 0 get 1.

    Args:
        counts: int64 ``[V]`` word counts.
        sample: threshold ``t`` (word2vec's ``-sample``, e.g. ``1e-3``).

    Returns:
        float32 ``[V]`` in ``(0, 1]``.
    """
    c = np.asarray(counts, dtype=np.float64)
    if sample <= 0 or c.size == 0:
        return np.ones(c.shape, dtype=np.float32)
    total = c.sum()
    with np.errstate(divide="ignore"):
        ratio = sample * total / c  # t / f; inf for count 0
    keep = np.minimum(1.0, np.sqrt(ratio) + ratio)
    return keep.astype(np.float32)


def unigram_weights(counts: np.ndarray, distortion: float) -> np.ndarray:
    """Noise distribution ``P(k) = count_k^distortion / Σ_j count_j^distortion`` (float64 ``[V]``).

    ``distortion = 0.75`` is word2vec's negative-sampling noise; ``0 ** 0 = 1``, so with
    ``distortion = 0`` zero counts are drawn too (as TF's fixed unigram sampler does).
    """
    w = np.power(np.asarray(counts, dtype=np.float64), float(distortion))
    total = w.sum()
    if not total > 0 or not np.isfinite(total):
        raise ValueError("counts give no positive finite total weight; pass at least one positive count")
    return w / total


def build_alias_table(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias tables by Vose's method: O(1) draws from a discrete distribution.

    To draw: ``i = floor(U1 · V)``; return ``i`` if ``U2 < prob[i]`` else ``alias[i]``
    (see :func:`sample_alias`). Deterministic: the same ``probs`` give the same tables.
    ``probs`` is normalised here, so unnormalised non-negative weights are fine.

    Args:
        probs: float64 ``[V]`` non-negative weights with a positive sum.

    Returns:
        ``(prob float64 [V] in [0, 1], alias int32 [V])``.
    """
    p = np.asarray(probs, dtype=np.float64).ravel()
    if p.size == 0 or np.any(p < 0) or not np.all(np.isfinite(p)) or not p.sum() > 0:
        raise ValueError("probs must be a non-empty vector of finite non-negative weights with a positive sum")
    if p.size >= 2**31:
        raise ValueError(f"alias tables hold at most 2**31 - 1 entries, got {p.size}")
    q = p / p.max()  # sum >= 1: no overflow for tiny weights
    return _vose(q * (q.size / q.sum()))


@njit(cache=True, nogil=True)
def _vose(scaled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vose's pairing on ``scaled = V · p`` (mean 1); consumes ``scaled``.

    Small (``< 1``) and large (``>= 1``) entries sit on two stacks, initially in id order;
    each step pairs the top small with the top large, which pays the small's deficit.
    Entries never paired (1 up to rounding) keep ``prob = 1``, ``alias = self``.
    """
    n = scaled.size
    prob = np.ones(n, dtype=np.float64)
    alias = np.arange(n).astype(np.int32)
    small = np.empty(n, dtype=np.int64)
    large = np.empty(n, dtype=np.int64)
    ns = 0
    nl = 0
    for i in range(n):
        if scaled[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        g = large[nl - 1]
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        if scaled[g] < 1.0:
            nl -= 1
            small[ns] = g
            ns += 1
    return prob, alias


def sample_alias(prob: np.ndarray, alias: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` independent draws (int64) from the alias tables of :func:`build_alias_table`."""
    i = rng.integers(0, prob.size, size=size, dtype=np.int64)
    return np.where(rng.random(size) < prob[i], i, alias[i].astype(np.int64))
