"""TensorFlow's candidate samplers (``tf.nn.*_candidate_sampler``) in NumPy: test oracles.

Specified in ``docs/nce-spec.md`` §5. Each sampler returns ``(sampled_candidates int64 [S],
true_expected_count float32 [B, T], sampled_expected_count float32 [S])``. Distributions and
expected counts match TF; the random stream does not (TF uses Philox; we use
``numpy.random.default_rng(seed)``). Training never calls these: its samplers are the Numba
kernels in ``w2v_nce.kernels.negatives``, checked against these in the tests.

Notation: ``B`` batch size, ``T`` = ``num_true``, ``S`` = ``num_sampled``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..sampling import (
    build_alias_table,
    expected_count,
    fixed_unigram_probability,
    log_uniform_probability,
    sample_alias,
    uniform_probability,
    unigram_table,
)

# A draw function maps (rng, n) to n independent ids from the base distribution.
_Draw = Callable[[np.random.Generator, int], np.ndarray]


# --------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------


def draw_log_uniform(range_max: int) -> _Draw:
    """``k = (int64) exp(U · log1p(range_max)) - 1``, then ``k % range_max`` (TF's Sample)."""
    log_range = np.log1p(float(range_max))

    def draw(rng: np.random.Generator, n: int) -> np.ndarray:
        k = np.exp(rng.random(n) * log_range).astype(np.int64) - 1
        return k % range_max

    return draw


def _draw_uniform(range_max: int) -> _Draw:
    def draw(rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.integers(0, range_max, size=n, dtype=np.int64)

    return draw


def _draw_alias(prob: np.ndarray, alias: np.ndarray) -> _Draw:
    def draw(rng: np.random.Generator, n: int) -> np.ndarray:
        return sample_alias(prob, alias, n, rng)

    return draw


def draw_candidates(draw: _Draw, num_sampled: int, unique: bool, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """``S`` ids and the number of tries, as ``RangeSampler::SampleBatchGetExpectedCountAvoid``.

    ``unique=False``: ``S`` independent draws, ``num_tries = S``. ``unique=True``: draw until
    ``S`` distinct values have appeared; they are returned in order of first appearance and
    ``num_tries`` counts every draw up to and including the ``S``-th new value. Draws are made
    in vectorised chunks; the draws after the ``S``-th new value are discarded, so the result
    has the distribution of the one-at-a-time loop.
    """
    if not unique:
        return draw(rng, num_sampled), num_sampled
    drawn = np.empty(0, dtype=np.int64)
    chunk = 2 * num_sampled + 16
    while True:
        drawn = np.concatenate([drawn, draw(rng, chunk)])
        _, first = np.unique(drawn, return_index=True)
        if first.size >= num_sampled:
            first.sort()
            return drawn[first[:num_sampled]], int(first[num_sampled - 1]) + 1
        chunk *= 2


def _check_true_classes(true_classes, num_true: int, range_max: int) -> np.ndarray:
    """``BaseCandidateSamplerOp::Compute``'s checks: ``[B, num_true]`` ids in ``[0, range_max)``."""
    tc = np.asarray(true_classes)
    if tc.size and not np.issubdtype(tc.dtype, np.integer):
        raise ValueError(f"true_classes must hold integer class ids, got dtype {tc.dtype}")
    if tc.ndim != 2 or tc.shape[1] != num_true:
        raise ValueError(f"true_classes must have shape [batch_size, num_true={num_true}], got {tc.shape}")
    tc = tc.astype(np.int64)
    if tc.size and (tc.min() < 0 or tc.max() >= range_max):
        raise ValueError(f"true_classes must be in [0, range_max={range_max}), got values in [{tc.min()}, {tc.max()}]")
    return tc


def _check_counts(num_sampled: int, unique: bool, range_max: int, num_true: int) -> None:
    if num_true < 1:
        raise ValueError(f"num_true must be >= 1, got {num_true}")
    if range_max < 1:
        raise ValueError(f"range_max must be >= 1, got {range_max}")
    if num_sampled < 1:
        raise ValueError(f"num_sampled must be >= 1, got {num_sampled}")
    if unique and num_sampled > range_max:
        raise ValueError(f"num_sampled ({num_sampled}) must be <= range_max ({range_max}) when unique=True")


def _candidate_sampler(
    true_classes: np.ndarray,
    num_sampled: int,
    unique: bool,
    draw: _Draw,
    probability: Callable[[np.ndarray], np.ndarray],
    seed: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sampled, num_tries = draw_candidates(draw, num_sampled, unique, rng)
    true_count = expected_count(probability(true_classes), num_sampled, num_tries)
    sampled_count = expected_count(probability(sampled), num_sampled, num_tries)
    return sampled.astype(np.int64), true_count, sampled_count


# --------------------------------------------------------------------------------------
# The TF candidate samplers
# --------------------------------------------------------------------------------------


def log_uniform_candidate_sampler(
    true_classes, num_true: int, num_sampled: int, unique: bool, range_max: int, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``tf.random.log_uniform_candidate_sampler``: Zipfian negatives (the losses' default).

    Draws ``S`` ids from ``P(k) = log((k + 2)/(k + 1)) / log(range_max + 1)``
    (:func:`log_uniform_probability`), with rejection of repeats when ``unique``, and the
    expected counts of :func:`expected_count` for the sampled and the true classes.
    True classes are not excluded from the sample.

    Args:
        true_classes: integer ``[B, num_true]``, each in ``[0, range_max)``.
        num_true: ``T``.
        num_sampled: ``S`` (``<= range_max`` when ``unique``).
        unique: sample without repeats (rejection sampling).
        range_max: number of classes.
        seed: seed for ``numpy.random.default_rng`` (None: fresh entropy).

    Returns:
        ``(sampled_candidates int64 [S], true_expected_count float32 [B, T],
        sampled_expected_count float32 [S])``.

    Raises:
        ValueError: bad shapes, class ids out of range, ``num_sampled > range_max`` with unique.
    """
    _check_counts(num_sampled, unique, range_max, num_true)
    tc = _check_true_classes(true_classes, num_true, range_max)
    return _candidate_sampler(
        tc, num_sampled, unique, draw_log_uniform(range_max),
        lambda ids: log_uniform_probability(ids, range_max), seed,
    )


def uniform_candidate_sampler(
    true_classes, num_true: int, num_sampled: int, unique: bool, range_max: int, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``tf.random.uniform_candidate_sampler``: ``P(k) = 1 / range_max``.

    Arguments, return values and errors as :func:`log_uniform_candidate_sampler`.
    """
    _check_counts(num_sampled, unique, range_max, num_true)
    tc = _check_true_classes(true_classes, num_true, range_max)
    return _candidate_sampler(
        tc, num_sampled, unique, _draw_uniform(range_max),
        lambda ids: uniform_probability(ids, range_max), seed,
    )


def fixed_unigram_candidate_sampler(
    true_classes,
    num_true: int,
    num_sampled: int,
    unique: bool,
    range_max: int,
    unigrams,
    distortion: float = 1.0,
    num_reserved_ids: int = 0,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``tf.random.fixed_unigram_candidate_sampler`` with in-memory ``unigrams``.

    ``P(k) ∝ powf(count_k, distortion)`` with ``num_reserved_ids`` leading ids of weight 0
    (:func:`fixed_unigram_probability`); draws use an alias table over the weights.
    ``range_max`` must equal ``num_reserved_ids + len(unigrams)``, as in TF. Not supported:
    ``vocab_file``, ``num_shards``/``shard``.

    Other arguments, return values and errors as :func:`log_uniform_candidate_sampler`.
    With ``unique``, ``num_sampled`` must not exceed the number of ids of non-zero weight
    (TF would draw until its 2**31-try CHECK aborts the process).
    """
    _check_counts(num_sampled, unique, range_max, num_true)
    weights, _ = unigram_table(unigrams, distortion, num_reserved_ids)
    if range_max != weights.size:
        raise ValueError(
            f"range_max ({range_max}) must equal num_reserved_ids + len(unigrams) ({weights.size})"
        )
    if unique and num_sampled > np.count_nonzero(weights):
        raise ValueError(
            f"num_sampled ({num_sampled}) must be <= the number of ids of non-zero weight "
            f"({np.count_nonzero(weights)}) when unique=True"
        )
    tc = _check_true_classes(true_classes, num_true, range_max)
    prob, alias = build_alias_table(weights.astype(np.float64))
    return _candidate_sampler(
        tc, num_sampled, unique, _draw_alias(prob, alias),
        lambda ids: fixed_unigram_probability(ids, unigrams, distortion, num_reserved_ids), seed,
    )
