"""What one ``negatives: window`` step costs: ``window_update`` on M context rows and 1 + S class
rows, in ns per window, with the rows in cache (V = 50) or not (V = 70000, 28 MB), beside the
time its 3 * M * (1 + S) * D multiply-adds take at this CPU's measured FMA rate.

    python scripts/bench_window_update.py            # M = 6 (window 5's mean), S = 5, D = 100
    python scripts/bench_window_update.py --contexts 10 --negatives 5

The FMA rate is NumPy's sgemm on one BLAS thread (a large square product, FLOP / 2). Uniform random
rows; best of 3 runs of ``--windows`` steps each.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# one BLAS thread: the FMA rate compared with is one core's, as the step runs on one thread
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from w2v_nce.kernels import window_label_mask, window_update  # noqa: E402


@njit(nogil=True)
def _steps(w_in, w_out, ctxs, outs, M, m, G, flat, label, dx, rows, n):
    total = 0.0
    for it in range(n):
        total += window_update(w_in, w_out, ctxs[it % 1000], M, outs[it % 1000], m, np.float32(1e-4), G, flat, label,
                               dx, rows)
    return total


def _fma_rate_one_thread() -> float:
    """Multiply-adds per second of a large single-threaded sgemm (this CPU's one-core FMA rate)."""
    a = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(5))
    return 1024**3 / best


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--contexts", type=int, default=6, help="M: context rows (inputs) per window")
    ap.add_argument("--negatives", type=int, default=5, help="S: negatives per window")
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--windows", type=int, default=200_000)
    args = ap.parse_args()
    M, m, D = args.contexts, args.negatives + 1, args.dim
    rng = np.random.default_rng(0)
    flat = np.empty(M * m, np.float32)
    G = flat.reshape(M, m)
    label = window_label_mask(M, m)
    dx = np.empty((M, D), np.float32)
    rows = np.arange(M, dtype=np.int64)
    fma = _fma_rate_one_thread()
    floor = 3 * M * m * D / fma * 1e9
    print(f"M = {M} contexts, {m} class rows, D = {D}; one thread's sgemm: {fma / 1e9:.1f} G multiply-adds/s, "
          f"so the step's {3 * M * m * D:,} multiply-adds need {floor:.0f} ns")
    for V in (50, 70_000):
        w_in = (rng.random((V, D), dtype=np.float32) - 0.5) / D
        w_out = (rng.random((V, D), dtype=np.float32) - 0.5) / D
        ctxs = rng.integers(0, V, (1000, M)).astype(np.int64)
        outs = rng.integers(0, V, (1000, m)).astype(np.int64)
        _steps(w_in, w_out, ctxs, outs, M, m, G, flat, label, dx, rows, 10)
        best = min(_timed(lambda: _steps(w_in, w_out, ctxs, outs, M, m, G, flat, label, dx, rows, args.windows))
                   for _ in range(3))
        ns = best / args.windows * 1e9
        print(f"V = {V:>6}: {ns:7.0f} ns per window ({ns / floor:.1f}x the multiply-add time)")


if __name__ == "__main__":
    main()
