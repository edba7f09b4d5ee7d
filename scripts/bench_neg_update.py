"""Where CBOW-neg's and SGNS's time goes: ``neg_update`` (one example, the label and S = 25
negatives) against its parts alone — the logits (row gathers), the exp terms, the row updates —
with the rows in cache (V = 5000, 2 MB) or not (V = 70000, 28 MB), in ns per example / per row.

    python scripts/bench_neg_update.py 5000
    python scripts/bench_neg_update.py 70000

Uniform random targets (a worst case: unigram^0.75 negatives repeat the frequent rows more).
Best of 3 by process CPU time.
"""
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from numba import njit

from w2v_nce.kernels.numerics import FASTMATH
from w2v_nce.kernels.sgns import neg_update


@njit(nogil=True, fastmath=FASTMATH)
def loop_ref(n, xs, w_out, negs, S, neu1e, targets, mult, grads):
    tot = 0.0
    for it in range(n):
        ctx = negs[it % 997, S]
        tot += neg_update(xs, 0, w_out, ctx, negs[it % 997], S, np.float32(1e-4), neu1e, targets, mult, grads)
    return tot

@njit(nogil=True, fastmath=FASTMATH)
def dots_only(n, xs, w_out, negs, S, grads):
    tot = 0.0
    D = xs.shape[1]
    for it in range(n):
        ng = negs[it % 997]
        for j in range(S + 1):
            t = ng[j]
            f = np.float32(0.0)
            for d in range(D):
                f += xs[0, d] * w_out[t, d]
            grads[j] = f
        tot += grads[0]
    return tot

@njit(nogil=True, fastmath=FASTMATH)
def exps_only(n, grads, S):
    tot = 0.0
    for it in range(n):
        prod = 1.0
        for j in range(S + 1):
            ff = float(grads[j]) + it * 1e-9
            e = math.exp(-abs(ff))
            prod *= 1.0 + e
            tot += 1.0 / (1.0 + e)
        tot += math.log(prod)
    return tot

@njit(nogil=True, fastmath=FASTMATH)
def updates_only(n, xs, w_out, negs, S, neu1e, grads):
    D = xs.shape[1]
    for it in range(n):
        ng = negs[it % 997]
        for d in range(D):
            neu1e[d] = 0.0
        for j in range(S + 1):
            t = ng[j]
            g = np.float32(1e-6)
            for d in range(D):
                wo = w_out[t, d]
                neu1e[d] += g * wo
                w_out[t, d] = wo + g * xs[0, d]
    return neu1e[0]

V, D, S = int(sys.argv[1]), 100, 25
rng = np.random.default_rng(0)
w_out = rng.standard_normal((V, D), dtype=np.float32) * 0.01
xs = rng.standard_normal((1, D), dtype=np.float32) * 0.1
negs = rng.integers(0, V, (997, S + 1)).astype(np.int64)
neu1e = np.zeros(D, np.float32); targets = np.zeros(S + 2, np.int64); mult = np.zeros(S + 2, np.int64); grads = np.zeros(S + 2, np.float32)
n = 200000
for name, f in [("neg_update", lambda: loop_ref(n, xs, w_out, negs, S, neu1e, targets, mult, grads)),
                ("dots", lambda: dots_only(n, xs, w_out, negs, S, grads)),
                ("exps", lambda: exps_only(n, grads, S)),
                ("updates", lambda: updates_only(n, xs, w_out, negs, S, neu1e, grads))]:
    f(); best = 1e9
    for _ in range(3):
        t0 = time.process_time(); f(); best = min(best, time.process_time() - t0)
    print(f"V={V} {name}: {best / n * 1e9:.0f} ns per example ({best / n / (S + 1) * 1e9:.1f} ns per target)")
