"""Parity with TensorFlow itself (spec reference: TF 2.21, CPU). Skipped when TF is not installed.

Run in an environment with ``tensorflow-cpu``:  ``PYTHONPATH=. python -m pytest tests/reference/test_tf_parity.py``.

Given explicit ``sampled_values`` the losses and gradients must agree with TF to float rounding:
TF sums dot products with Eigen's matmul and uses Eigen's float32 ``log``/``exp``, NumPy
its own kernels, so agreement is to a few ulps of the magnitudes involved, not bit for bit.
Accidental-hit masks must agree exactly (same positions, same ``-FLT_MAX`` values). The
samplers' random streams differ (TF: Philox); their probabilities and expected counts agree to
float32 rounding (≤ 2 ulp: TF calls glibc's ``powf``/``log1pf``/``expm1f``, we round float64).
"""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")

from w2v_nce import sampling
from w2v_nce.reference import tf_losses as losses
from w2v_nce.reference import tf_samplers

pytestmark = pytest.mark.tf

CASES = 200
# (rtol, atol relative to the largest magnitude compared), per dtype.
TOL = {np.float32: (2e-5, 2e-6), np.float64: (1e-12, 1e-13)}


def random_case(rng, dtype):
    """Few classes, so labels repeat within rows, hit the sample, and sampled ids repeat."""
    num_classes = int(rng.integers(2, 30))
    dim = int(rng.integers(1, 9))
    batch = int(rng.integers(1, 7))
    num_true = int(rng.integers(1, 4))
    num_sampled = int(rng.integers(1, 12))
    w = (rng.normal(size=(num_classes, dim)) * 2).astype(dtype)
    b = rng.normal(size=num_classes).astype(dtype)
    x = rng.normal(size=(batch, dim)).astype(dtype)
    labels = rng.integers(0, num_classes, size=(batch, num_true))
    s = rng.integers(0, num_classes, size=num_sampled)
    qt = rng.uniform(0.01, 2.0, size=(batch, num_true)).astype(dtype)
    qs = rng.uniform(0.01, 2.0, size=num_sampled).astype(dtype)
    return w, b, labels, x, num_sampled, num_classes, num_true, (s, qt, qs)


def tf_loss_and_grads(tf_fn, w, b, labels, x, num_sampled, num_classes, num_true, values, hits):
    wv, bv, xv = tf.Variable(w), tf.Variable(b), tf.Variable(x)
    with tf.GradientTape() as tape:
        loss = tf_fn(wv, bv, tf.constant(labels), xv, num_sampled, num_classes, num_true,
                     sampled_values=tuple(tf.constant(v) for v in values), remove_accidental_hits=hits)
        total = tf.reduce_sum(loss)
    grads = tape.gradient(total, [xv, wv, bv])
    return loss.numpy(), [tf.convert_to_tensor(g).numpy() for g in grads]


def assert_close(ours, theirs, dtype, what, worst):
    assert ours.dtype == theirs.dtype, what
    assert ours.shape == theirs.shape, what
    rtol, atol = TOL[dtype]
    scale = max(1.0, float(np.max(np.abs(theirs)))) if theirs.size else 1.0
    diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
    assert np.all(diff <= rtol * np.abs(theirs) + atol * scale), (what, float(diff.max()))
    if diff.size:
        key = (dtype.__name__, what)
        worst[key] = max(worst.get(key, 0.0), float(diff.max()) / scale)


@pytest.fixture(scope="module")
def worst():
    """Largest |ours - TF| / max(1, max|TF|) seen per (dtype, quantity); printed with -s."""
    seen = {}
    yield seen
    for key in sorted(seen):
        print(f"max scaled |ours - tf| {key}: {seen[key]:.3g}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["nce", "sampled_softmax"])
@pytest.mark.parametrize("hits", [False, True])
def test_losses_and_gradients_match_tf(dtype, kind, hits, worst):
    ours_loss, ours_grad = {
        "nce": (losses.nce_loss, losses.nce_loss_grad),
        "sampled_softmax": (losses.sampled_softmax_loss, losses.sampled_softmax_loss_grad),
    }[kind]
    tf_fn = {"nce": tf.nn.nce_loss, "sampled_softmax": tf.nn.sampled_softmax_loss}[kind]
    rng = np.random.default_rng(1000 + 10 * (dtype == np.float64) + 2 * hits + (kind == "nce"))
    for _ in range(CASES):
        case = random_case(rng, dtype)
        loss_tf, grads_tf = tf_loss_and_grads(tf_fn, *case, hits)
        assert_close(ours_loss(*case, remove_accidental_hits=hits), loss_tf, dtype, f"{kind} loss", worst)
        for name, g, g_tf in zip(["d_inputs", "d_weights", "d_biases"], ours_grad(*case, remove_accidental_hits=hits),
                                 grads_tf):
            assert_close(g, g_tf, dtype, f"{kind} {name}", worst)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sampled_logits_and_hit_masks_match_tf(dtype):
    nn_impl = pytest.importorskip("tensorflow.python.ops.nn_impl")
    rng = np.random.default_rng(7)
    for _ in range(CASES):
        w, b, labels, x, num_sampled, num_classes, num_true, values = random_case(rng, dtype)
        for hits in (False, True):
            theirs, their_labels = nn_impl._compute_sampled_logits(
                w, b, labels, x, num_sampled, num_classes, num_true, sampled_values=values,
                subtract_log_q=True, remove_accidental_hits=hits)
            ours, our_labels = losses.compute_sampled_logits(
                w, b, labels, x, num_sampled, num_classes, num_true, sampled_values=values,
                remove_accidental_hits=hits)
            theirs = theirs.numpy()
            np.testing.assert_array_equal(our_labels, their_labels.numpy())
            masked = theirs < -1e30
            np.testing.assert_array_equal(ours < -1e30, masked)
            np.testing.assert_array_equal(ours[masked], theirs[masked])
            rtol, atol = TOL[dtype]
            np.testing.assert_allclose(ours[~masked], theirs[~masked], rtol=rtol, atol=atol * 10)


def test_full_sigmoid_loss_matches_the_docstring_recipe():
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        w = rng.normal(size=(40, 5)).astype(dtype)
        b = rng.normal(size=40).astype(dtype)
        x = (rng.normal(size=(8, 5)) * 3).astype(dtype)
        labels = rng.integers(0, 40, size=8)
        logits = tf.nn.bias_add(tf.matmul(x, tf.transpose(w)), b)
        recipe = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(
            labels=tf.one_hot(labels, 40, dtype=dtype), logits=logits), axis=1).numpy()
        rtol, atol = TOL[dtype]
        np.testing.assert_allclose(losses.full_sigmoid_loss(w, b, labels, x), recipe, rtol=rtol * 10, atol=atol * 10)


def max_ulps(a, b):
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if not a.size:
        return 0
    return int(np.max(np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32).astype(np.int64))))


@pytest.mark.parametrize("range_max", [1, 2, 7, 100, 12345, 10**6])
def test_log_uniform_and_uniform_counts_match_tf_bitwise(range_max):
    rng = np.random.default_rng(range_max)
    tc = rng.integers(0, range_max, size=(50, 1))
    s, qt, qs = tf.random.log_uniform_candidate_sampler(tc, 1, 7, False, range_max, seed=3)
    assert s.dtype == tf.int64 and qt.dtype == tf.float32 and qs.dtype == tf.float32
    np.testing.assert_array_equal(qs.numpy(), sampling.expected_count(
        sampling.log_uniform_probability(s.numpy(), range_max), 7, 7))
    np.testing.assert_array_equal(qt.numpy(), sampling.expected_count(
        sampling.log_uniform_probability(tc, range_max), 7, 7))
    _, qt, _ = tf.random.uniform_candidate_sampler(tc, 1, 7, False, range_max, seed=3)
    np.testing.assert_array_equal(qt.numpy(), sampling.expected_count(
        sampling.uniform_probability(tc, range_max), 7, 7))


def test_fixed_unigram_probabilities_match_tf():
    rng = np.random.default_rng(11)
    for trial in range(200):
        size = int(rng.integers(1, 300))
        reserved = int(rng.integers(0, 3))
        unigrams = rng.zipf(1.3, size=size) * rng.choice([1, 0], size=size, p=[0.9, 0.1])
        unigrams = unigrams.astype(np.float64) * (1.37 if trial % 3 == 0 else 1.0)
        if unigrams.sum() == 0:
            continue
        distortion = float(rng.choice([0.0, 0.5, 0.75, 1.0, 1.3]))
        range_max = size + reserved
        tc = np.arange(range_max)[:, None]
        _, qt, _ = tf.random.fixed_unigram_candidate_sampler(
            tc, 1, 1, False, range_max, unigrams=list(unigrams), distortion=distortion,
            num_reserved_ids=reserved, seed=3)
        ours = sampling.fixed_unigram_probability(tc, unigrams, distortion, reserved)
        assert max_ulps(ours, qt.numpy()) <= 2


def test_fixed_unigram_float32_running_total_matches_tf():
    tc = np.array([[1], [2]])
    _, qt, _ = tf.random.fixed_unigram_candidate_sampler(tc, 1, 1, False, 3, unigrams=[2.0**24, 1.0, 1.0], seed=1)
    np.testing.assert_array_equal(qt.numpy(), sampling.fixed_unigram_probability(tc, [2.0**24, 1.0, 1.0]))


@pytest.mark.parametrize("name", ["log_uniform", "uniform"])
def test_unique_counts_match_tf_for_some_num_tries(name):
    """TF hides num_tries; its counts must be ours for one num_tries >= S (to 2 ulp)."""
    tf_fn = {"log_uniform": tf.random.log_uniform_candidate_sampler,
             "uniform": tf.random.uniform_candidate_sampler}[name]
    prob = {"log_uniform": sampling.log_uniform_probability, "uniform": sampling.uniform_probability}[name]
    rng = np.random.default_rng(5)
    for trial in range(100):
        range_max = int(rng.integers(2, 200))
        num_sampled = int(rng.integers(1, range_max + 1))
        tc = rng.integers(0, range_max, size=(5, 2))
        s, qt, qs = (v.numpy() for v in tf_fn(tc, 2, num_sampled, True, range_max, seed=trial))
        assert len(np.unique(s)) == num_sampled
        p_s, p_t = prob(s, range_max), prob(tc, range_max)
        assert any(
            max_ulps(sampling.expected_count(p_s, num_sampled, n), qs) <= 2
            and max_ulps(sampling.expected_count(p_t, num_sampled, n), qt) <= 2
            for n in range(num_sampled, num_sampled + 100_000)
        ), (range_max, num_sampled)


def test_argument_errors_are_errors_in_both():
    w, b, x = np.ones((5, 2)), np.zeros(5), np.ones((1, 2))
    values = (np.array([0, 1]), np.ones((1, 1)), np.ones(2))
    bad = [
        dict(labels=np.array([[5]]), num_sampled=2, remove_accidental_hits=False),  # label out of range
        dict(labels=np.array([[0]]), num_sampled=3, remove_accidental_hits=True),  # num_sampled != len(s)
    ]
    for kw in bad:
        with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
            tf.nn.nce_loss(w, b, kw["labels"], x, kw["num_sampled"], 5, sampled_values=values,
                           remove_accidental_hits=kw["remove_accidental_hits"])
        with pytest.raises(ValueError):
            losses.nce_loss(w, b, kw["labels"], x, kw["num_sampled"], 5, sampled_values=values,
                            remove_accidental_hits=kw["remove_accidental_hits"])
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
        tf.random.fixed_unigram_candidate_sampler([[0]], 1, 1, True, 5, unigrams=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        tf_samplers.fixed_unigram_candidate_sampler([[0]], 1, 1, True, 5, [1.0, 2.0, 3.0])
