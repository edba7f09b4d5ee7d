"""Evaluation throughput: the full sigmoid loss (pairs/s) at several vocabulary sizes, plus the
full softmax loss and the analogy test at the reference size.

Random float32 matrices (D = 100 by default); V = 10k, 35k, 70k (≈ mix8's 67,914 words at
min-count 5) and 140k show how the cost grows with V (each pair scores all V classes: 2·V·D
flops of matmul plus V softplus terms). Each size is timed over several repeats; medians.
The same run measures this machine's sgemm rate (a 4096² float32 product, best of 3) and
reports the sigmoid loss's matmul work as a fraction of it, and times the BLAS products alone
(whole rows of logits written to memory, as an unfused loss would, with no reduction) beside
ours (tiles of logits reduced while in cache), and our loss's relative difference from a
float64 NumPy reference on the first 16 pairs.

Usage: python scripts/bench_eval.py [--dim 100] [--pairs 4096] [--vocab 10000,35000,70000,140000]
                                    [--threads N] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numba
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from w2v_nce.evaluation.analogies import evaluate_analogies, read_analogies
from w2v_nce.evaluation.datasets import default_analogy_files
from w2v_nce.evaluation.full_loss import (
    full_sigmoid_loss_pairs,
    full_softmax_loss_pairs,
)


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        time.sleep(0.3)  # BLAS's idle threads spin a while after a call: let them park, so that a
        # contender does not pay for the one timed before it (a job's held-out scoring follows training)
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def sgemm_rate(n: int = 4096) -> float:
    """GFLOP/s of a large square float32 product (the BLAS peak the loss is measured against)."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    a @ a
    best = min(_median_time(lambda: a @ a, 1) for _ in range(3))
    return 2 * n ** 3 / best / 1e9


def _product_alone(w_in, w_out, centres, block: int = 128) -> None:
    """The BLAS products alone, whole rows of logits at a time as an unfused loss would write them
    (blocks of ``block`` pairs × V, NumPy's threads): no reduction at all."""
    z = np.empty((block, w_out.shape[0]), np.float32)
    for s in range(0, len(centres), block):
        e = min(s + block, len(centres))
        np.matmul(w_in[centres[s:e]], w_out.T, out=z[: e - s])


def _float64_reference(w_in, w_out, bias, centres, contexts) -> float:
    """The mean sigmoid loss in float64 NumPy, logits included (the "vs float64" column: our
    relative difference from it on the first 16 pairs)."""
    z = w_in[centres].astype(np.float64) @ w_out.T.astype(np.float64) + bias
    loss = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))).sum(1) - z[np.arange(len(centres)), contexts]
    return float(loss.mean())


def _model(v: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 0.3, (v, d)).astype(np.float32), rng.normal(0, 0.3, (v, d)).astype(np.float32),
            rng.normal(0, 0.1, v).astype(np.float32))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--pairs", type=int, default=4096)
    ap.add_argument("--vocab", default="10000,35000,70000,140000")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    threads = args.threads or numba.config.NUMBA_NUM_THREADS
    rng = np.random.default_rng(1)

    w_in, w_out, bias = _model(1000, args.dim)
    full_sigmoid_loss_pairs(w_in, w_out, bias, [0, 1], [2, 3])  # compile before timing
    full_softmax_loss_pairs(w_in, w_out, bias, [0, 1], [2, 3])

    peak = sgemm_rate()
    print(f"full losses, D={args.dim}, {args.pairs} pairs per run, {threads} threads, median of {args.repeats}; "
          f"sgemm {peak:.0f} GFLOP/s")
    print(f"{'V':>8} {'sigmoid pairs/s':>16} {'GFLOP/s (matmul)':>17} {'of sgemm':>9} {'product alone/s':>15}"
          f" {'ns/class/pair':>14} {'softmax pairs/s':>16} {'vs float64':>14}")
    for v in (int(x) for x in args.vocab.split(",")):
        w_in, w_out, bias = _model(v, args.dim)
        centres = rng.integers(0, v, args.pairs).astype(np.int32)
        contexts = rng.integers(0, v, args.pairs).astype(np.int32)
        sig, serial = [], []
        for _ in range(args.repeats):  # alternating, so that the machine's drift hits both alike
            sig.append(_median_time(lambda: full_sigmoid_loss_pairs(w_in, w_out, bias, centres, contexts, threads), 1))
            serial.append(_median_time(lambda: _product_alone(w_in, w_out, centres), 1))
        t_sig, t_serial = statistics.median(sig), statistics.median(serial)
        t_soft = _median_time(lambda: full_softmax_loss_pairs(w_in, w_out, bias, centres, contexts, threads), args.repeats)
        ref = _float64_reference(w_in, w_out, bias, centres[:16], contexts[:16])
        ours = full_sigmoid_loss_pairs(w_in, w_out, bias, centres[:16], contexts[:16], threads)[0]
        rate = args.pairs / t_sig
        gflops = 2 * v * args.dim * rate / 1e9
        print(f"{v:8,} {rate:16,.0f} {gflops:17.1f} {gflops / peak:9.0%} {args.pairs / t_serial:15,.0f}"
              f" {t_sig / args.pairs / v * 1e9:14.3f} {args.pairs / t_soft:16,.0f} {abs(ours / ref - 1):14.1e}")

    files = default_analogy_files()
    if files:
        sections, _ = read_analogies(files[0])
        vocab = list(dict.fromkeys(w.lower() for _, qs in sections for q in qs for w in q))
        vocab += [f"filler{i}" for i in range(30000 - len(vocab))]
        order = np.random.default_rng(2).permutation(len(vocab))
        vocab = [vocab[i] for i in order]
        vectors = rng.standard_normal((len(vocab), args.dim)).astype(np.float32)
        for method in ("3cosadd", "3cosmul"):
            evaluate_analogies(vocab, vectors, files[0], restrict_vocab=30000, method=method)  # warm up (and load kernels)
            t0 = time.perf_counter()
            r = evaluate_analogies(vocab, vectors, files[0], restrict_vocab=30000, method=method)
            dt = time.perf_counter() - t0
            print(f"analogies {method}: {r['answered']:,} questions answered over a {len(vocab):,}-word vocabulary "
                  f"in {dt:.2f} s ({r['answered'] / dt:,.0f} questions/s)")


if __name__ == "__main__":
    main()
