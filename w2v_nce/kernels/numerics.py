"""Scalar helpers of the kernels: TF's log-Q terms, a float32 exp, the exact float32 sigmoid and the
softplus log terms built on it, row prefetch."""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# The package's fastmath flag sets, one owner. All keep NaN/Inf semantics (no 'nnan'/'ninf'), so
# the divergence checks cannot be optimised away.
# FASTMATH: the kernels; 'reassoc' lets LLVM vectorise dot products and row sums.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}
# FASTMATH_EXP: the float32 exponential; not 'reassoc', which could fold the two-part n * ln 2
# back into one rounded product.
FASTMATH_EXP = {"nsz", "arcp", "contract", "afn"}
# FASTMATH_APPROX: the evaluation loss's tile reductions, which may also use approximate libm calls.
FASTMATH_APPROX = FASTMATH | {"afn"}



# TF's ExpectedCountHelper, in float32: Q = p * S when no draw was rejected, else
# 1 - (1-p)^tries = -expm1(tries * log1p(-p)), with log1p(-p) rounded to float32 first (as TF
# does); the kernels subtract log Q. Both cases are split so that everything that depends on
# the class alone is a table (log_q_tables), and a draw without rejections (most, when S << V)
# costs no transcendental.
@njit(cache=True, nogil=True, inline="always")
def log1m32(p):
    """log(1 - p) of a float32 probability, in float32."""
    return np.float32(math.log1p(-p))


@njit(cache=True, nogil=True, inline="always")
def rejection_count(log1m_p, num_tries):
    """1 - (1-p)^tries = -expm1(tries * log(1 - p)) in float32, given log1m_p = log1m32(p)."""
    return np.float32(-math.expm1(np.float32(num_tries) * log1m_p))


@njit(cache=True, nogil=True, inline="always")
def log_q32(count):
    """The log-Q term of a float32 expected count, in float32."""
    return np.float32(math.log(count))


@njit(cache=True, nogil=True)
def log_q_tables(sampler_prob, num_sampled, log_q_fixed, log1m_prob):
    """Per class k: log_q_fixed[k] = log Q_k when none of a draw's num_sampled tries was
    rejected, log(P(k) * S); log1m_prob[k] = log1m32(P(k)), for the count after rejections.
    sampler_prob float32[V] -> log_q_fixed, log1m_prob float32[V] (filled)."""
    for k in range(sampler_prob.shape[0]):
        p = sampler_prob[k]
        log1m_prob[k] = log1m32(p)
        log_q_fixed[k] = log_q32(np.float32(p * np.float32(num_sampled)))


@njit(cache=True, nogil=True, inline="always")
def log_q_term(log_q_fixed, log1m_prob, k, num_sampled, num_tries):
    """log Q_k after a draw of num_sampled distinct classes in num_tries tries (the tables must
    be log_q_tables' for this num_sampled)."""
    if num_tries == num_sampled:
        return log_q_fixed[k]
    return log_q32(rejection_count(log1m_prob[k], num_tries))


@intrinsic
def _float32_from_bits(typingctx, bits):
    """The float32 whose IEEE-754 bit pattern is the low 32 bits of the integer ``bits``."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        if signature.args[0].bitwidth > 32:
            value = builder.trunc(value, ir.IntType(32))
        elif signature.args[0].bitwidth < 32:
            value = builder.sext(value, ir.IntType(32))
        return builder.bitcast(value, ir.FloatType())

    return types.float32(bits), codegen


_LN2_HI = np.float32(math.log(2.0))  # ln 2 = _LN2_HI + _LN2_LO: n * _LN2_HI is exact for |n| < 2**8
_LN2_LO = np.float32(math.log(2.0) - float(_LN2_HI))
_LOG2_E = np.float32(1.0 / math.log(2.0))


# The floor the kernels clamp -|z| to before exp32_nonpositive: e^-80 is still a normal float32
# (no denormal stalls), and 1 + e^-80 rounds to 1 in float64, so a softplus's log term is 0 there.
EXP32_FLOOR = np.float32(-80.0)
# Factors (1 + e^-|z|) <= 2 multiplied before one log is taken: 2**512 ~ 1e154 stays finite in
# float64 (a window of 2 * 20 contexts x 26 classes already holds 1,040 of them).
PRODUCT_TERMS = 512


@njit(cache=True, nogil=True, fastmath=FASTMATH_EXP)
def exp32_nonpositive(a):
    """e**a in float32 for float32 -87 < a <= 0, branch-free so LLVM vectorises it.

    a = n ln 2 + r with n = round(a / ln 2), |r| <= ln 2 / 2 (Cody-Waite, two-part ln 2); e**r by
    its degree-7 Taylor polynomial (truncation < 5.2e-9); e**a = e**r * 2**n, 2**n built from its
    exponent bits. Relative error < 8e-8 (measured over [-86, 0], tests/evaluation/test_evaluation.py): the
    float32 rounding of a itself moves e**a by up to |a| * 6e-8.
    """
    n = np.floor(a * _LOG2_E + np.float32(0.5))
    r = (a - n * _LN2_HI) - n * _LN2_LO
    p = np.float32(1.0 / 5040.0)
    p = p * r + np.float32(1.0 / 720.0)
    p = p * r + np.float32(1.0 / 120.0)
    p = p * r + np.float32(1.0 / 24.0)
    p = p * r + np.float32(1.0 / 6.0)
    p = p * r + np.float32(0.5)
    p = p * r + np.float32(1.0)
    p = p * r + np.float32(1.0)
    return p * _float32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))


# error_model="numpy": the division without Python's zero check (a branch that would stop
# LLVM vectorising the callers' loops); 1 + e >= 1 anyway.
@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def scaled_sigmoid32(scale, z):
    """scale * sigmoid(z) in float32, branch-free: scale * max(e, [z >= 0]) / (1 + e) with
    e = e^-|z|, i.e. exactly 1/(1+e) or e/(1+e) (no 1 - sigma cancellation), the scale applied
    before the division. Below z = EXP32_FLOOR the sigmoid is e^-80, not e^z."""
    e = exp32_nonpositive(max(-abs(z), EXP32_FLOOR))
    return scale * max(e, np.float32(z >= np.float32(0.0))) / (np.float32(1.0) + e)


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def sum_log1p_exp_neg_abs(z):
    """Σ_i log(1 + e^-|z_i|) over a float32 row z (the log terms of softplus(z_i) =
    relu(z_i) + log(1 + e^-|z_i|)), float64: one log of the product of the factors per
    PRODUCT_TERMS of them, so that each product stays finite. The factors' loop is branch-free
    (LLVM vectorises it); the callers sum their relu terms, whose signs and weights differ."""
    total = 0.0
    n = z.shape[0]
    for c0 in range(0, n, PRODUCT_TERMS):
        prod = 1.0
        for i in range(c0, min(c0 + PRODUCT_TERMS, n)):
            prod *= 1.0 + float(exp32_nonpositive(max(-abs(z[i]), EXP32_FLOOR)))
        total += math.log(prod)
    return total


# software prefetch: SGNS is bound by the latency of fetching random w_out rows, and its
# negatives are known a pair ahead (they are drawn ahead), so their rows can be on the way
# while the current pair is computed
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


@njit(cache=True, inline="always", fastmath=FASTMATH_APPROX)
def exp64_nonpositive(a):
    """e**a for -40 <= a <= 0, branch-free so LLVM vectorises it (libm exp is a scalar call).

    e**a = (e**(a/256))**256: a degree-10 Taylor polynomial on |a/256| <= 0.157 (truncation
    < 3e-17), then 8 squarings (relative error grows to ~256 ulp ≈ 6e-14): far below the float32
    rounding of the logits themselves.
    """
    y = a * (1.0 / 256.0)
    p = 1.0 / 3628800.0
    p = p * y + 1.0 / 362880.0
    p = p * y + 1.0 / 40320.0
    p = p * y + 1.0 / 5040.0
    p = p * y + 1.0 / 720.0
    p = p * y + 1.0 / 120.0
    p = p * y + 1.0 / 24.0
    p = p * y + 1.0 / 6.0
    p = p * y + 0.5
    p = p * y + 1.0
    p = p * y + 1.0
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    return p
