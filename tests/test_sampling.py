"""Candidate samplers (spec §5) and the trainer's sampling helpers.

Distribution tests draw 10**6 values with a fixed seed and compute Pearson's chi-square
statistic over the bins of non-zero probability (all expected counts here are >= 5). The
bound is ``df + 5·sqrt(2·df)``: the statistic has mean ``df`` and standard deviation
``sqrt(2·df)``, so a correct sampler fails only at a > 5-sigma fluctuation, and with a fixed
seed the outcome is deterministic anyway.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from w2v_nce.reference import tf_samplers
from w2v_nce.reference.tf_samplers import (
    fixed_unigram_candidate_sampler,
    log_uniform_candidate_sampler,
    uniform_candidate_sampler,
)
from w2v_nce.rng import seed_streams
from w2v_nce.sampling import (
    build_alias_table,
    expected_count,
    fixed_unigram_probability,
    keep_probabilities,
    log_uniform_probability,
    sample_alias,
    uniform_probability,
    unigram_weights,
)

DRAWS = 10**6


def chi_square_ok(observed: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """Pearson statistic and its bound ``df + 5 sqrt(2 df)`` over bins with ``p > 0``.

    Asserts that no value of zero probability was drawn.
    """
    observed = np.asarray(observed, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    assert observed[probs == 0].sum() == 0, "drew a value of probability 0"
    live = probs > 0
    expected = observed.sum() * probs[live] / probs[live].sum()
    assert expected.min() >= 5, "test design: merge bins with small expected counts"
    stat = float(((observed[live] - expected) ** 2 / expected).sum())
    df = int(live.sum()) - 1
    return stat, df + 5 * math.sqrt(2 * df)


# --------------------------------------------------------------------------------------
# Base probabilities and expected counts
# --------------------------------------------------------------------------------------


def test_log_uniform_probability_by_hand():
    # range_max = 3: denominators log(4); P(0) = log 2 / log 4 = 1/2.
    p = log_uniform_probability(np.array([0, 1, 2]), 3)
    assert p.dtype == np.float32
    want = [math.log(2) / math.log(4), math.log(1.5) / math.log(4), math.log(4 / 3) / math.log(4)]
    np.testing.assert_array_equal(p, np.float32(want))
    assert p[0] == np.float32(0.5)


def test_log_uniform_probability_uses_log_of_range_max_plus_one_and_sums_to_one():
    ids = np.arange(1000)
    p = log_uniform_probability(ids, 1000).astype(np.float64)
    assert abs(p.sum() - 1.0) < 1e-5
    assert p[0] == pytest.approx(math.log(2) / math.log(1001), rel=1e-7)
    assert np.all(np.diff(p) < 0)  # Zipf: decreasing with the id


def test_uniform_probability_is_float32_reciprocal():
    p = uniform_probability(np.array([[0, 6], [3, 3]]), 7)
    assert p.dtype == np.float32 and p.shape == (2, 2)
    assert np.all(p == np.float32(1.0 / 7))


def test_fixed_unigram_probability_reserved_ids_distortion_and_outside():
    # weights: 2 reserved zeros, then sqrt([0, 1, 4, 9]) = [0, 1, 2, 3]; total 6.
    p = fixed_unigram_probability(np.arange(-1, 8), [0, 1, 4, 9], distortion=0.5, num_reserved_ids=2)
    assert p.dtype == np.float32
    np.testing.assert_array_equal(p, np.float32([0, 0, 0, 0, 1 / 6, 2 / 6, 3 / 6, 0, 0]))


def test_fixed_unigram_distortion_zero_counts_zero_counts_too():
    # powf(0, 0) = 1: uniform over all non-reserved ids, including the zero count.
    p = fixed_unigram_probability(np.arange(5), [0, 1, 4, 9], distortion=0.0, num_reserved_ids=1)
    np.testing.assert_array_equal(p, np.float32([0, 0.25, 0.25, 0.25, 0.25]))


def test_fixed_unigram_total_is_a_float32_running_sum():
    # 2**24 + 1 rounds to 2**24 in float32 (ties to even), twice: the total stays 2**24,
    # where an exact (or pairwise float32) sum would give 2**24 + 2.
    p = fixed_unigram_probability(np.array([1, 2]), [2.0**24, 1.0, 1.0])
    assert p[0] == np.float32(2.0**-24) and p[1] == np.float32(2.0**-24)


def test_fixed_unigram_pow_is_float32():
    p = fixed_unigram_probability(np.array([0, 1]), [1.0, 16.0], distortion=0.75)
    w = np.float32(16.0**0.75)  # 8 exactly
    np.testing.assert_array_equal(p, np.float32([1, w]) / np.float32(1 + w))


def test_expected_count_without_rejections_is_p_times_s():
    p = np.float32([0.1, 0.5, 0.7])
    got = expected_count(p, 3, 3)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, p * np.float32(3))
    assert got[2] > 1  # an expected count, not a probability


def test_expected_count_with_rejections_is_one_minus_one_minus_p_to_the_tries():
    got = expected_count(np.float32([0.5, 0.25, 1e-8]), 2, 3)
    assert got.dtype == np.float32
    assert got[0] == np.float32(0.875)  # 1 - 0.5**3
    assert got[1] == pytest.approx(1 - 0.75**3, rel=2.5e-7)  # float32 log1p/expm1 round: within 1 ulp
    assert got[2] == pytest.approx(3e-8, rel=1e-6, abs=0)  # stable for tiny p (no 1 - (1-p)**n cancellation)


def test_expected_count_is_float32_math():
    # TF rounds log1pf(-p) to float32 before multiplying by num_tries.
    p = np.float32(0.3)
    log1p = np.float32(math.log1p(-0.30000001192092896))
    want = np.float32(-math.expm1(float(np.float32(7) * log1p)))
    assert expected_count(p, 5, 7) == want


def test_kernel_log_q_tables_give_the_bits_of_the_direct_formula():
    # the kernels read log Q from per-class tables when no draw was rejected and from log(1 - p)
    # otherwise; both must be bit-equal to TF's formula in float32, written out here as the
    # kernels computed it before the tables (ExpectedCountHelper, then log)
    from numba import njit

    from w2v_nce import kernels as kern
    from w2v_nce.kernels.numerics import log_q_term

    @njit
    def both(prob, log_q_fixed, log1m_prob, S, tries):
        direct = np.empty(prob.shape[0], np.float32)
        table = np.empty(prob.shape[0], np.float32)
        for k in range(prob.shape[0]):
            p = prob[k]
            if tries == S:
                count = np.float32(p * np.float32(S))
            else:
                count = np.float32(-math.expm1(np.float32(tries) * np.float32(math.log1p(-p))))
            direct[k] = np.float32(math.log(count))
            table[k] = log_q_term(log_q_fixed, log1m_prob, k, S, tries)
        return direct, table

    rng = np.random.default_rng(3)
    prob = np.concatenate([rng.random(2000) ** 8, [1e-9, 1e-5, 0.3, 0.999]]).astype(np.float32)
    S = 25
    t = kern.make_tables(np.ones(1, np.float32), prob, np.ones(1), np.zeros(1, np.int32), np.ones(1),
                      np.zeros(1, np.int32), S)
    for tries in (S, S + 1, S + 7, 400):
        direct, table = both(prob, t.log_q_fixed, t.log1m_prob, S, tries)
        np.testing.assert_array_equal(table, direct)
        # and the same counts as the NumPy sampler's, which TF parity is checked against
        np.testing.assert_allclose(direct, np.log(expected_count(prob, S, tries)), rtol=2e-6, atol=1e-6)


# --------------------------------------------------------------------------------------
# Drawing: rejection bookkeeping
# --------------------------------------------------------------------------------------


def scripted_draw(values):
    """A draw function that replays ``values`` in order, whatever chunk sizes are asked for."""
    stream = iter(values)

    def draw(rng, n):
        return np.array([next(stream) for _ in range(n)], dtype=np.int64)

    return draw


def test_unique_draw_keeps_first_appearances_and_counts_every_try():
    seq = [4, 4, 1, 4, 1, 1, 7, 2] + [9] * 200
    ids, tries = tf_samplers.draw_candidates(scripted_draw(seq), 3, True, np.random.default_rng(0))
    np.testing.assert_array_equal(ids, [4, 1, 7])
    assert tries == 7  # the 7th draw produced the 3rd distinct value


def test_unique_draw_across_chunk_boundaries():
    # S = 2 asks for chunks of 2 S + 16 = 20 draws; the second value appears after 50 repeats.
    seq = [3] * 50 + [5] + [0] * 500
    ids, tries = tf_samplers.draw_candidates(scripted_draw(seq), 2, True, np.random.default_rng(0))
    np.testing.assert_array_equal(ids, [3, 5])
    assert tries == 51


def test_non_unique_draw_has_s_tries():
    ids, tries = tf_samplers.draw_candidates(scripted_draw([2, 2, 2]), 3, False, np.random.default_rng(0))
    np.testing.assert_array_equal(ids, [2, 2, 2])
    assert tries == 3


# --------------------------------------------------------------------------------------
# The samplers: shapes, dtypes, consistency of counts, distributions
# --------------------------------------------------------------------------------------


SAMPLERS = {
    "log_uniform": (log_uniform_candidate_sampler, lambda ids, r: log_uniform_probability(ids, r), {}),
    "uniform": (uniform_candidate_sampler, lambda ids, r: uniform_probability(ids, r), {}),
    "unigram": (
        fixed_unigram_candidate_sampler,
        lambda ids, r: fixed_unigram_probability(ids, np.arange(r) % 5 + 1.0, 0.75),
        None,  # kwargs depend on range_max
    ),
}


def run_sampler(name, true_classes, num_true, num_sampled, unique, range_max, seed):
    fn, prob, kwargs = SAMPLERS[name]
    if kwargs is None:
        kwargs = {"unigrams": np.arange(range_max) % 5 + 1.0, "distortion": 0.75}
    out = fn(true_classes, num_true, num_sampled, unique, range_max, seed=seed, **kwargs)
    return out, (lambda ids: prob(ids, range_max))


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("unique", [False, True])
def test_sampler_shapes_dtypes_and_count_formula(name, unique):
    tc = np.array([[0, 3], [7, 7], [1, 29]])
    (s, qt, qs), prob = run_sampler(name, tc, 2, 25, unique, 30, seed=11)
    assert s.dtype == np.int64 and s.shape == (25,)
    assert qt.dtype == np.float32 and qt.shape == (3, 2)
    assert qs.dtype == np.float32 and qs.shape == (25,)
    assert s.min() >= 0 and s.max() < 30
    if not unique:
        np.testing.assert_array_equal(qs, expected_count(prob(s), 25, 25))
        np.testing.assert_array_equal(qt, expected_count(prob(tc), 25, 25))
        return
    assert len(np.unique(s)) == 25
    # 25 distinct of 30 needs rejections: some num_tries > S explains both count vectors.
    tries = [n for n in range(26, 5000) if np.array_equal(qs, expected_count(prob(s), 25, n))]
    assert tries, "sampled counts are not 1 - (1-p)^num_tries for any num_tries"
    np.testing.assert_array_equal(qt, expected_count(prob(tc), 25, tries[0]))
    assert np.all(qs <= 1)


def test_unique_sampler_without_rejections_reports_p_times_s():
    # A large range and few samples: almost surely no repeat, so num_tries == S.
    tc = np.array([[5]])
    s, qt, qs = log_uniform_candidate_sampler(tc, 1, 3, True, 10**9, seed=0)
    np.testing.assert_array_equal(qs, log_uniform_probability(s, 10**9) * np.float32(3))
    np.testing.assert_array_equal(qt, log_uniform_probability(tc, 10**9) * np.float32(3))


@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_is_reproducible_with_a_seed(name):
    tc = np.array([[1]])
    a, _ = run_sampler(name, tc, 1, 10, True, 40, seed=123)
    b, _ = run_sampler(name, tc, 1, 10, True, 40, seed=123)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_true_classes_are_not_avoided():
    # range_max == num_sampled with unique: every class, labels included, is sampled.
    s, _, _ = uniform_candidate_sampler(np.array([[2]]), 1, 5, True, 5, seed=0)
    assert sorted(s) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_frequencies_follow_the_base_distribution(name):
    range_max = 50
    (s, _, _), prob = run_sampler(name, np.array([[0]]), 1, DRAWS, False, range_max, seed=2024)
    observed = np.bincount(s, minlength=range_max)
    stat, bound = chi_square_ok(observed, prob(np.arange(range_max)))
    assert stat < bound, f"chi-square {stat:.1f} >= {bound:.1f}"


def test_fixed_unigram_sampler_never_draws_reserved_or_zero_count_ids():
    unigrams = np.array([0, 10, 0, 5, 1, 1000], dtype=np.float64)
    s, qt, qs = fixed_unigram_candidate_sampler(
        np.array([[0], [2]]), 1, DRAWS, False, 8, unigrams, distortion=0.75, num_reserved_ids=2, seed=7
    )
    probs = fixed_unigram_probability(np.arange(8), unigrams, 0.75, 2)
    assert probs[0] == probs[1] == probs[2] == probs[4] == 0
    stat, bound = chi_square_ok(np.bincount(s, minlength=8), probs)
    assert stat < bound
    np.testing.assert_array_equal(qt, np.zeros((2, 1), np.float32))  # log Q would be -inf


def test_unique_sampler_inclusion_frequencies():
    """Each of the 4 classes appears in a unique sample of 2 with probability
    ``π_k = p_k + Σ_{j≠k} p_j p_k / (1 - p_j)`` (first draw j, then k among the rest).
    Per class, the count over n samples is binomial: |obs - nπ| < 5 sd."""
    n, r = 20_000, 4
    p = log_uniform_probability(np.arange(r), r).astype(np.float64)
    incl = p + np.array([sum(p[j] * p[k] / (1 - p[j]) for j in range(r) if j != k) for k in range(r)])
    counts = np.zeros(r)
    rng = np.random.default_rng(99)
    draw = tf_samplers.draw_log_uniform(r)
    for _ in range(n):
        ids, _ = tf_samplers.draw_candidates(draw, 2, True, rng)
        counts[ids] += 1
    z = np.abs(counts - n * incl) / np.sqrt(n * incl * (1 - incl))
    assert np.all(z < 5), z


# --------------------------------------------------------------------------------------
# Argument errors (TF's InvalidArgumentError, here ValueError naming the argument)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: log_uniform_candidate_sampler([[0], [10]], 1, 2, True, 10), "true_classes"),
        (lambda: log_uniform_candidate_sampler([[-1]], 1, 2, True, 10), "true_classes"),
        (lambda: log_uniform_candidate_sampler([0, 1], 1, 2, True, 10), "true_classes"),
        (lambda: log_uniform_candidate_sampler([[0, 1]], 1, 2, True, 10), "num_true"),
        (lambda: uniform_candidate_sampler([[0]], 1, 11, True, 10), "num_sampled"),
        (lambda: uniform_candidate_sampler([[0]], 1, 0, False, 10), "num_sampled"),
        (lambda: fixed_unigram_candidate_sampler([[0]], 1, 1, True, 5, [1, 2, 3]), "range_max"),
        (lambda: fixed_unigram_candidate_sampler([[5]], 1, 1, True, 5, [1, 2], num_reserved_ids=3), "true_classes"),
        (lambda: fixed_unigram_candidate_sampler([[0]], 1, 3, True, 3, [1, 0, 2]), "num_sampled"),
        (lambda: fixed_unigram_candidate_sampler([[0]], 1, 1, True, 2, [1, -2]), "unigrams"),
        (lambda: fixed_unigram_candidate_sampler([[0]], 1, 1, True, 2, [0, 0]), "unigrams"),
        (lambda: fixed_unigram_probability([0], []), "unigrams"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_unique_allows_num_sampled_equal_to_range_max():
    s, _, _ = log_uniform_candidate_sampler([[0]], 1, 10, True, 10, seed=1)
    assert sorted(s) == list(range(10))
    s, _, _ = uniform_candidate_sampler([[0]], 1, 11, False, 10, seed=1)  # fine without unique
    assert s.shape == (11,)


# --------------------------------------------------------------------------------------
# Trainer helpers
# --------------------------------------------------------------------------------------


def test_keep_probabilities_is_word2vec_c_formula():
    counts = np.array([1000, 10, 0, 500], dtype=np.int64)
    sample = 1e-2
    got = keep_probabilities(counts, sample)
    assert got.dtype == np.float32
    train_words = counts.sum()
    for c, k in zip(counts, got):
        if c == 0:
            assert k == 1
            continue
        # word2vec.c: ran = (sqrt(cn / (sample * train_words)) + 1) * (sample * train_words) / cn
        ran = (math.sqrt(c / (sample * train_words)) + 1) * (sample * train_words) / c
        assert k == pytest.approx(min(1.0, ran), rel=1e-6)
    assert got[1] == 1 and got[0] < 1


def test_keep_probabilities_disabled():
    got = keep_probabilities(np.array([5, 1_000_000]), 0.0)
    np.testing.assert_array_equal(got, np.ones(2, np.float32))
    assert got.dtype == np.float32


def test_unigram_weights():
    np.testing.assert_allclose(unigram_weights(np.array([1, 16, 0]), 0.5), [0.2, 0.8, 0.0], rtol=1e-15)
    np.testing.assert_allclose(unigram_weights(np.array([1, 16, 0]), 0.0), [1 / 3] * 3, rtol=1e-15)
    w = unigram_weights(np.array([3, 1, 7]), 0.75)
    assert w.dtype == np.float64 and abs(w.sum() - 1) < 1e-15
    with pytest.raises(ValueError, match="counts"):
        unigram_weights(np.array([0, 0]), 0.75)


def alias_distribution(prob, alias):
    """The exact distribution an alias table encodes: P(k) = (prob[k] + Σ_{alias[i]=k} (1 - prob[i])) / V."""
    v = prob.size
    out = prob.copy()
    np.add.at(out, alias, 1 - prob)
    out -= (1 - prob) * (alias == np.arange(v))  # self-aliases add nothing
    return out / v


def test_alias_table_by_hand():
    prob, alias = build_alias_table(np.array([0.1, 0.2, 0.3, 0.4]))
    assert prob.dtype == np.float64 and alias.dtype == np.int32
    np.testing.assert_allclose(alias_distribution(prob, alias), [0.1, 0.2, 0.3, 0.4], rtol=1e-12)
    np.testing.assert_allclose(prob, [0.4, 0.8, 1.0, 0.8], rtol=1e-12)
    np.testing.assert_array_equal(alias, [3, 3, 2, 2])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=60).filter(lambda w: sum(w) > 0))
def test_alias_table_encodes_the_distribution(weights):
    w = np.array(weights)
    prob, alias = build_alias_table(w)
    assert np.all((prob >= 0) & (prob <= 1)) and np.all((alias >= 0) & (alias < w.size))
    np.testing.assert_allclose(alias_distribution(prob, alias), w / w.sum(), atol=1e-12)
    again = build_alias_table(w)  # deterministic
    np.testing.assert_array_equal(prob, again[0])
    np.testing.assert_array_equal(alias, again[1])


def test_alias_sampling_chi_square():
    rng = np.random.default_rng(5)
    w = rng.uniform(0.2, 1.0, 100) ** 3
    w[[3, 50]] = 0
    prob, alias = build_alias_table(w)
    s = sample_alias(prob, alias, DRAWS, np.random.default_rng(6))
    assert s.dtype == np.int64
    stat, bound = chi_square_ok(np.bincount(s, minlength=100), w)
    assert stat < bound, f"chi-square {stat:.1f} >= {bound:.1f}"


@pytest.mark.parametrize("bad", [[], [0.0, 0.0], [1.0, -1.0], [1.0, np.inf], [np.nan]])
def test_alias_table_rejects_bad_weights(bad):
    with pytest.raises(ValueError, match="probs"):
        build_alias_table(np.array(bad, dtype=np.float64))


def test_seed_streams_are_splitmix64():
    # Reference outputs of splitmix64 seeded with 1234567 (Vigna's generator).
    got = seed_streams(1234567, 2)
    assert got.dtype == np.uint64 and got.shape == (2, 2)
    np.testing.assert_array_equal(
        got,
        np.array([[6457827717110365317, 3203168211198807973], [9817491932198370423, 4593380528125082431]],
                 dtype=np.uint64),
    )


def test_seed_streams_distinct_deterministic_nonzero():
    a = seed_streams(42, 64)
    np.testing.assert_array_equal(a, seed_streams(42, 64))
    assert len({tuple(r) for r in a.tolist()}) == 64
    assert np.all(a.any(axis=1))
    np.testing.assert_array_equal(seed_streams(42, 3), a[:3])  # a prefix: more threads keep the first streams
    assert not np.array_equal(seed_streams(43, 3), a[:3])
    assert seed_streams(0, 0).shape == (0, 2)
    np.testing.assert_array_equal(seed_streams(-1, 1), seed_streams(2**64 - 1, 1))
