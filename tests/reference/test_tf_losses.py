"""NumPy reference losses against hand-derived values, a slow loop reference, and finite differences.

Every point of the checklist in docs/nce-spec.md §7 has a test here (numbers in the names).
The tiny cases use D = 1 so each logit can be written out: ``t = x·w + b - log Q``.
"""

import inspect
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from w2v_nce.reference.tf_losses import (
    FLT_MAX,
    compute_sampled_logits,
    full_sigmoid_loss,
    nce_loss,
    nce_loss_grad,
    sampled_softmax_loss,
    sampled_softmax_loss_grad,
    sigmoid_cross_entropy_with_logits,
)
from w2v_nce.reference.tf_samplers import log_uniform_candidate_sampler


def softplus(v: float) -> float:
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


def logsumexp(vs) -> float:
    m = max(vs)
    return m + math.log(sum(math.exp(v - m) for v in vs))


# A tiny problem, D = 1: class c has weight W[c] and bias b[c].
W = np.array([[1.0], [2.0], [-1.0], [0.5]])
B = np.array([0.0, 0.5, -0.5, 1.0])
X = np.array([[2.0]])
S_IDS = np.array([0, 2])
QS = np.array([0.25, 2.0])

T1 = 2 * 2.0 + 0.5 - math.log(0.5)  # class 1, Qt = 0.5
T3 = 2 * 0.5 + 1.0 - math.log(1.0)  # class 3, Qt = 1
U0 = 2 * 1.0 + 0.0 - math.log(0.25)  # sampled class 0
U2 = 2 * -1.0 - 0.5 - math.log(2.0)  # sampled class 2


def sv(ids, qt, qs):
    return (np.asarray(ids), np.asarray(qt, dtype=np.float64), np.asarray(qs, dtype=np.float64))


# --------------------------------------------------------------------------------------
# Hand-derived values
# --------------------------------------------------------------------------------------


def test_nce_single_true_class_by_hand():
    got = nce_loss(W, B, [[1]], X, 2, 4, sampled_values=sv(S_IDS, [[0.5]], QS))
    want = softplus(-T1) + softplus(U0) + softplus(U2)
    assert got.shape == (1,) and got.dtype == np.float64
    assert got[0] == pytest.approx(want, rel=1e-14)


def test_nce_soft_label_is_one_over_num_true_inside_the_xent():  # §7.2
    got = nce_loss(W, B, [[1, 3]], X, 2, 4, num_true=2, sampled_values=sv(S_IDS, [[0.5, 1.0]], QS))
    want = sum(softplus(t) - t / 2 for t in (T1, T3)) + softplus(U0) + softplus(U2)
    assert got[0] == pytest.approx(want, rel=1e-14)
    weighted = sum(softplus(-t) / 2 for t in (T1, T3)) + softplus(U0) + softplus(U2)
    assert abs(got[0] - weighted) > 0.1  # not a 1/T weight on softplus(-t)


def test_log_q_is_subtracted_from_true_and_sampled_logits():  # §7.3
    args = (W, B, [[1, 3]], X, 2, 4, 2, sv(S_IDS, [[0.5, 1.0]], QS))
    with_q, labels = compute_sampled_logits(*args)
    without_q, _ = compute_sampled_logits(*args, subtract_log_q=False)
    np.testing.assert_allclose(with_q, [[T1, T3, U0, U2]], rtol=1e-15)
    np.testing.assert_allclose(without_q - with_q, np.log([[0.5, 1.0, 0.25, 2.0]]), rtol=1e-15)
    np.testing.assert_array_equal(labels, [[0.5, 0.5, 0.0, 0.0]])  # true columns first, 1/T each


def test_negatives_are_shared_and_losses_are_per_example_sums():  # §7.1
    x = np.array([[2.0], [-1.0]])
    got = nce_loss(W, B, [[1], [3]], x, 2, 4, sampled_values=sv(S_IDS, [[0.5], [1.0]], QS))
    t_b = -1 * 0.5 + 1.0
    u0_b = -1 * 1.0 - math.log(0.25)
    u2_b = -1 * -1.0 - 0.5 - math.log(2.0)
    want = [softplus(-T1) + softplus(U0) + softplus(U2), softplus(-t_b) + softplus(u0_b) + softplus(u2_b)]
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_sampled_softmax_by_hand():
    got = sampled_softmax_loss(W, B, [[1]], X, 2, 4, sampled_values=sv(S_IDS, [[0.5]], QS))
    assert got[0] == pytest.approx(logsumexp([T1, U0, U2]) - T1, rel=1e-14)
    got = sampled_softmax_loss(W, B, [[1, 3]], X, 2, 4, num_true=2, sampled_values=sv(S_IDS, [[0.5, 1.0]], QS))
    assert got[0] == pytest.approx(logsumexp([T1, T3, U0, U2]) - (T1 + T3) / 2, rel=1e-14)


def test_defaults_for_hit_removal_differ():  # §7.6
    assert inspect.signature(nce_loss).parameters["remove_accidental_hits"].default is False
    assert inspect.signature(sampled_softmax_loss).parameters["remove_accidental_hits"].default is True
    # Sampled id 1 is also the label: NCE keeps it as a negative by default, softmax masks it.
    values = sv([1, 2], [[0.5]], [0.5, 2.0])
    u1 = 2 * 2.0 + 0.5 - math.log(0.5)
    assert nce_loss(W, B, [[1]], X, 2, 4, sampled_values=values)[0] == pytest.approx(
        softplus(-T1) + softplus(u1) + softplus(U2), rel=1e-14)
    assert sampled_softmax_loss(W, B, [[1]], X, 2, 4, sampled_values=values)[0] == pytest.approx(
        logsumexp([T1, U2]) - T1, rel=1e-14)


# --------------------------------------------------------------------------------------
# Accidental hits (§1.5, §7.5)
# --------------------------------------------------------------------------------------


def test_hit_is_masked_with_minus_flt_max_at_the_last_copy_only():
    values = sv([1, 0, 1], [[0.5]], [0.5, 0.25, 0.5])
    logits, _ = compute_sampled_logits(W, B, [[1]], X, 3, 4, sampled_values=values, remove_accidental_hits=True)
    u1 = 2 * 2.0 + 0.5 - math.log(0.5)
    assert logits[0, 1] == pytest.approx(u1, rel=1e-15)  # first copy of id 1: still a negative
    assert logits[0, 3] == -FLT_MAX  # last copy: -FLT_MAX - log Q, = -FLT_MAX in float64 too
    assert FLT_MAX == 3.4028234663852886e38 and np.isfinite(logits).all()
    loss = nce_loss(W, B, [[1]], X, 3, 4, sampled_values=values, remove_accidental_hits=True)
    assert loss[0] == pytest.approx(softplus(-T1) + softplus(u1) + softplus(U0), rel=1e-14)


def test_masked_entries_contribute_exactly_zero_and_have_zero_gradient():
    assert sigmoid_cross_entropy_with_logits(np.float32([0.0]), np.float32([-FLT_MAX]))[0] == 0
    assert sigmoid_cross_entropy_with_logits(np.float64([0.0]), np.float64([-FLT_MAX]))[0] == 0
    # The masked copy (position 2) must not touch class 1's gradient; the other copy does.
    args = (W, B, [[1]], X, 3, 4, 1)
    masked = nce_loss_grad(*args, sv([1, 0, 1], [[0.5]], [0.5, 0.25, 0.5]), remove_accidental_hits=True)
    single = nce_loss_grad(*args, sv([1, 0], [[0.5]], [0.5, 0.25]), remove_accidental_hits=False)
    for m, s in zip(masked, single):
        np.testing.assert_allclose(m, s, rtol=1e-14)


def test_duplicate_labels_mask_once_no_minus_inf_in_float32():
    for dtype in (np.float32, np.float64):
        values = (np.array([1, 2]), np.ones((1, 3), dtype), np.ones(2, dtype))
        logits, _ = compute_sampled_logits(W.astype(dtype), B.astype(dtype), [[1, 1, 3]], X.astype(dtype), 2, 4, 3,
                                           values, remove_accidental_hits=True)
        assert logits.dtype == dtype
        assert logits[0, 3] == dtype(-FLT_MAX)  # assigned once: -FLT_MAX, not -2 FLT_MAX = -inf
        for loss in (nce_loss, sampled_softmax_loss):
            got = loss(W.astype(dtype), B.astype(dtype), [[1, 1, 3]], X.astype(dtype), 2, 4, 3, values,
                       remove_accidental_hits=True)
            assert np.isfinite(got).all()


def test_every_copy_of_a_label_in_the_sample_is_handled_per_row():
    # Row 0 hits id 2 (last copy at 3), row 1 hits id 0 (position 0); no cross-row leakage.
    values = sv([0, 2, 3, 2], np.ones((2, 1)), np.ones(4))
    logits, _ = compute_sampled_logits(W, B, [[2], [0]], np.array([[1.0], [1.0]]), 4, 4, 1, values,
                                       remove_accidental_hits=True)
    masked = logits[:, 1:] == -FLT_MAX
    np.testing.assert_array_equal(masked, [[False, False, False, True], [True, False, False, False]])


def test_without_hit_removal_num_sampled_is_not_used():
    values = sv(S_IDS, [[0.5]], QS)
    a = nce_loss(W, B, [[1]], X, 2, 4, sampled_values=values)
    b = nce_loss(W, B, [[1]], X, 99, 4, sampled_values=values)
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------
# Numerics
# --------------------------------------------------------------------------------------


def test_stable_sigmoid_for_logits_of_1e4():
    for dtype in (np.float32, np.float64):
        w = np.array([[1e4], [1e4], [-1e4]], dtype)
        b = np.zeros(3, dtype)
        x = np.ones((1, 1), dtype)
        values = (np.array([1, 2]), np.ones((1, 1), dtype), np.ones(2, dtype))
        loss = nce_loss(w, b, [[0]], x, 2, 3, sampled_values=values)
        # t = 1e4 (label 1) -> 0; u = 1e4 (label 0) -> 1e4; u = -1e4 -> 0.
        assert loss.dtype == dtype and loss[0] == dtype(1e4)
        grads = nce_loss_grad(w, b, [[0]], x, 2, 3, sampled_values=values)
        assert all(np.isfinite(g).all() for g in grads)
        np.testing.assert_array_equal(grads[2], np.array([0, 1, 0], dtype))
        assert np.isfinite(sampled_softmax_loss(w, b, [[0]], x, 2, 3, sampled_values=values)).all()
        assert np.isfinite(full_sigmoid_loss(w, b, [0], x)).all()


def test_gradient_keeps_tiny_values():
    # t = 70 with label 1: dℓ/dt = sigmoid(70) - 1 = -e^-70/(1+e^-70), not a rounded 0.
    w = np.array([[70.0], [-70.0]])
    values = sv([1], [[1.0]], [1.0])
    _, _, d_b = nce_loss_grad(w, np.zeros(2), [[0]], np.ones((1, 1)), 1, 2, sampled_values=values)
    e = math.exp(-70)
    assert d_b[0] == pytest.approx(-e / (1 + e), rel=1e-12, abs=0)
    assert d_b[1] == pytest.approx(e / (1 + e), rel=1e-12, abs=0)


def test_float32_in_float32_out():  # §7.7
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    values = (S_IDS, f32([[0.5]]), f32(QS))
    for fn in (nce_loss, sampled_softmax_loss):
        assert fn(f32(W), f32(B), [[1]], f32(X), 2, 4, sampled_values=values).dtype == np.float32
    for fn in (nce_loss_grad, sampled_softmax_loss_grad):
        assert [g.dtype for g in fn(f32(W), f32(B), [[1]], f32(X), 2, 4, sampled_values=values)] == [np.float32] * 3
    assert full_sigmoid_loss(f32(W), f32(B), [1], f32(X)).dtype == np.float32
    logits, labels = compute_sampled_logits(f32(W), f32(B), [[1]], f32(X), 2, 4, sampled_values=values)
    assert logits.dtype == labels.dtype == np.float32


def test_float64_inputs_accept_float32_counts():
    # TF would refuse float32 counts with float64 inputs; we cast them (exactly).
    values32 = (S_IDS, np.float32([[0.3]]), np.float32([0.1, 0.7]))
    values64 = (S_IDS, values32[1].astype(np.float64), values32[2].astype(np.float64))
    a = nce_loss(W, B, [[1]], X, 2, 4, sampled_values=values32)
    assert a.dtype == np.float64
    np.testing.assert_array_equal(a, nce_loss(W, B, [[1]], X, 2, 4, sampled_values=values64))


def test_weights_of_another_dtype_are_cast_to_inputs_and_gradients_back():
    values = (S_IDS, np.float32([[0.5]]), np.float32(QS))
    loss = nce_loss(W, B, [[1]], X.astype(np.float32), 2, 4, sampled_values=values)
    assert loss.dtype == np.float32
    d_x, d_w, d_b = nce_loss_grad(W, B, [[1]], X.astype(np.float32), 2, 4, sampled_values=values)
    assert d_x.dtype == np.float32 and d_w.dtype == np.float64 and d_b.dtype == np.float64


# --------------------------------------------------------------------------------------
# Default sampler (§1.1)
# --------------------------------------------------------------------------------------


def test_default_sampler_is_log_uniform_unique_over_num_classes():
    rng = np.random.default_rng(0)
    w, b, x = rng.normal(size=(50, 3)), rng.normal(size=50), rng.normal(size=(4, 3))
    labels = rng.integers(0, 50, size=(4, 2))
    drawn = log_uniform_candidate_sampler(labels, 2, 10, True, 50, seed=7)
    seeded = sampled_softmax_loss(w, b, labels, x, 10, 50, 2, seed=7)
    np.testing.assert_array_equal(seeded, sampled_softmax_loss(w, b, labels, x, 10, 50, 2, sampled_values=drawn))
    seeded = sampled_softmax_loss_grad(w, b, labels, x, 10, 50, 2, seed=7)
    explicit = sampled_softmax_loss_grad(w, b, labels, x, 10, 50, 2, sampled_values=drawn)
    for a, e in zip(seeded, explicit):
        np.testing.assert_array_equal(a, e)
    assert np.isfinite(nce_loss(w, b, labels, x, 10, 50, 2)).all()


# --------------------------------------------------------------------------------------
# Full sigmoid loss (§4, §7.10)
# --------------------------------------------------------------------------------------


def test_full_sigmoid_loss_by_hand():
    w = np.array([[1.0], [0.0], [-1.0]])
    b = np.array([0.0, 0.5, 0.0])
    x = np.array([[1.0], [2.0]])
    # logits: row 0 [1, 0.5, -1], row 1 [2, 0.5, -2]; labels 0 and 2.
    got = full_sigmoid_loss(w, b, [0, 2], x)
    want = [softplus(-1) + softplus(0.5) + softplus(-1), softplus(2) + softplus(0.5) + softplus(2)]
    np.testing.assert_allclose(got, want, rtol=1e-14)
    np.testing.assert_array_equal(full_sigmoid_loss(w, b, [[0], [2]], x), got)


def test_full_sigmoid_loss_multi_hot_counts_distinct_labels_once():
    w = np.array([[1.0], [0.0], [-1.0]])
    b = np.zeros(3)
    x = np.array([[1.0]])
    np.testing.assert_array_equal(full_sigmoid_loss(w, b, [[0, 0]], x), full_sigmoid_loss(w, b, [0], x))
    want = softplus(-1) + softplus(0) + softplus(1)  # targets 1, 0, 1 (not 1/T)
    assert full_sigmoid_loss(w, b, [[0, 2]], x)[0] == pytest.approx(want, rel=1e-14)


# --------------------------------------------------------------------------------------
# Argument errors
# --------------------------------------------------------------------------------------


GOOD = dict(weights=W, biases=B, labels=[[1]], inputs=X, num_sampled=2, num_classes=4,
            sampled_values=sv(S_IDS, [[0.5]], QS))


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(labels=[[4]]), "labels"),
        (dict(labels=[[-1]]), "labels"),
        (dict(labels=[[1, 2]]), "labels"),
        (dict(labels=[[0.5]]), "labels"),
        (dict(inputs=np.array([[2]])), "inputs"),
        (dict(inputs=np.array([2.0])), "inputs"),
        (dict(weights=np.ones((4, 2))), "weights"),
        (dict(biases=np.ones(3)), "biases"),
        (dict(sampled_values=sv([0, 4], [[0.5]], QS)), "sampled_candidates"),
        (dict(sampled_values=sv(S_IDS, [[0.5, 1]], QS)), "true_expected_count"),
        (dict(sampled_values=sv(S_IDS, [[0.5]], [1.0])), "sampled_expected_count"),
        (dict(sampled_values=(S_IDS, [[0.5]])), "sampled_values"),
        (dict(num_sampled=3, remove_accidental_hits=True), "num_sampled"),
        (dict(sampled_values=None, num_sampled=5), "num_sampled"),  # unique sampler: 5 > 4 classes
        (dict(sampled_values=None, labels=[[3]], num_classes=3), "true_classes"),
    ],
)
@pytest.mark.parametrize("fn", [nce_loss, nce_loss_grad, sampled_softmax_loss, sampled_softmax_loss_grad])
def test_bad_arguments_raise_value_error_naming_them(fn, change, match):
    with pytest.raises(ValueError, match=match):
        fn(**{**GOOD, **change})


def test_full_sigmoid_loss_bad_labels():
    with pytest.raises(ValueError, match="labels"):
        full_sigmoid_loss(W, B, [4], X)
    with pytest.raises(ValueError, match="labels"):
        full_sigmoid_loss(W, B, np.zeros((1, 1, 1), int), X)


# --------------------------------------------------------------------------------------
# Against a slow loop reference, and finite differences
# --------------------------------------------------------------------------------------


def loop_reference(w, b, labels, x, s, qt, qs, hits, softmax):
    """Per-example losses with plain Python loops, straight from the spec's formulas."""
    out = []
    last = {int(c): k for k, c in enumerate(s)}  # a duplicated sampled id: last position wins
    for i in range(x.shape[0]):
        t = [float(x[i] @ w[c] + b[c]) - math.log(qt[i, j]) for j, c in enumerate(labels[i])]
        masked = {last[int(c)] for c in labels[i] if int(c) in last} if hits else set()
        u = [float(x[i] @ w[c] + b[c]) - math.log(qs[k]) for k, c in enumerate(s) if k not in masked]
        n_true = len(t)
        if softmax:
            out.append(logsumexp(t + u) - sum(t) / n_true)
        else:
            out.append(sum(softplus(v) - v / n_true for v in t) + sum(softplus(v) for v in u))
    return np.array(out)


def random_case(seed, num_classes=7, batch=3, dim=4, num_true=2, num_sampled=5):
    """Small float64 problem; few classes so labels repeat, hit the sample, and sampled ids repeat."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(num_classes, dim))
    b = rng.normal(size=num_classes)
    x = rng.normal(size=(batch, dim))
    labels = rng.integers(0, num_classes, size=(batch, num_true))
    s = rng.integers(0, num_classes, size=num_sampled)
    qt = rng.uniform(0.05, 2.0, size=(batch, num_true))
    qs = rng.uniform(0.05, 2.0, size=num_sampled)
    return w, b, labels, x, (s, qt, qs)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), num_true=st.integers(1, 3), num_sampled=st.integers(1, 8),
       hits=st.booleans())
def test_losses_match_loop_reference(seed, num_true, num_sampled, hits):
    w, b, labels, x, values = random_case(seed, num_true=num_true, num_sampled=num_sampled)
    args = (w, b, labels, x, num_sampled, 7, num_true, values)
    np.testing.assert_allclose(nce_loss(*args, remove_accidental_hits=hits),
                               loop_reference(w, b, labels, x, *values, hits, softmax=False), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sampled_softmax_loss(*args, remove_accidental_hits=hits),
                               loop_reference(w, b, labels, x, *values, hits, softmax=True), rtol=1e-12, atol=1e-12)


def finite_difference(f, arrays, h=1e-6):
    """Central differences of scalar ``f(*arrays)`` w.r.t. every entry of every array."""
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + h
            up = f(*arrays)
            a[idx] = old - h
            down = f(*arrays)
            a[idx] = old
            g[idx] = (up - down) / (2 * h)
        grads.append(g)
    return grads


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("hits", [False, True])
@pytest.mark.parametrize("loss, grad", [(nce_loss, nce_loss_grad), (sampled_softmax_loss, sampled_softmax_loss_grad)])
def test_gradients_match_finite_differences(seed, hits, loss, grad):
    w, b, labels, x, values = random_case(seed)
    if hits:  # make sure a hit and a duplicated sampled id are present
        values = (np.concatenate([values[0], labels[0, :1], labels[0, :1]]), values[1],
                  np.concatenate([values[2], [0.7, 0.7]]))
    num_sampled = len(values[0])

    def total(x_, w_, b_):
        return loss(w_, b_, labels, x_, num_sampled, 7, 2, values, remove_accidental_hits=hits).sum()

    analytic = grad(w, b, labels, x, num_sampled, 7, 2, values, remove_accidental_hits=hits)
    numeric = finite_difference(total, [x.copy(), w.copy(), b.copy()])
    for a, n in zip(analytic, numeric):
        assert a.shape == n.shape
        rel = np.linalg.norm(a - n) / max(np.linalg.norm(n), 1e-300)
        assert rel < 1e-6, rel


def test_untouched_classes_get_zero_gradient():
    w, b, labels, x, values = random_case(3, num_classes=7)
    touched = set(labels.ravel()) | set(values[0])
    for grad in (nce_loss_grad, sampled_softmax_loss_grad):
        _, d_w, d_b = grad(w, b, labels, x, 5, 7, 2, values)
        for c in set(range(7)) - touched:
            assert not d_w[c].any() and d_b[c] == 0
