"""What one ``nce`` batch step costs: ``process_batch`` on a skip-gram batch of B pairs in runs
(centres) of 6 and 5 pairs sharing S = 25 negatives, D = 100, in µs per batch and ns per pair,
with the rows in cache (V = 200) or not (V = 70000, uniform random rows), beside the time its
multiply-adds take at this CPU's one-core sgemm rate; once as if no draw was rejected (the
log-Q terms from the tables) and once after one rejection (computed); and ``draw_batch`` (the
unique draw of S negatives) alone.

    python scripts/bench_nce_batch.py                    # B = 32 and the default batch_size
    python scripts/bench_nce_batch.py --batch-sizes 32,64,128,256

Log-uniform sampler, constant lr 1e-3; best of 3 runs of ``--pairs`` pairs each.
"""

from __future__ import annotations

import argparse
import os
import sys

# one BLAS thread: the FMA rate compared with is one core's, as the step runs on one thread
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_window_update import _fma_rate_one_thread, _timed  # noqa: E402

from w2v_nce import kernels as kern  # noqa: E402
from w2v_nce.config import Config  # noqa: E402
from w2v_nce.sampling import log_uniform_probability  # noqa: E402

S, D = 25, 100


def run_sizes(B: int) -> list[int]:
    """~6 pairs per kept word on mix8 (bench_speed's PAIRS_PER_CENTRE), and runs cut where a batch
    boundary splits a centre's pairs: alternately 6 and 5 pairs (32 pairs: 6 runs)."""
    sizes: list[int] = []
    while sum(sizes) < B:
        sizes.append(min(6 - len(sizes) % 2, B - sum(sizes)))
    return sizes


def _records(V: int, B: int):
    prob = log_uniform_probability(np.arange(V), V).astype(np.float32)
    tables = kern.make_tables(np.ones(V, np.float32), prob, np.ones(1), np.zeros(1, np.int32), np.ones(V),
                           np.arange(V, dtype=np.int32), S)
    params = kern.Params(kern.LOSS_NCE, kern.ARCH_SKIPGRAM, True, True, 5, S, B, False, True, kern.SAMPLER_LOG_UNIFORM,
                      1e-3, 1e-3, 1e9, 0)
    scratch = kern.make_scratch(V, D, params, 100, np.array([1], np.uint64), np.zeros(kern.N_TALLIES))
    sizes = run_sizes(B)
    scratch.batch.run_start[:len(sizes) + 1] = np.concatenate([[0], np.cumsum(sizes)])
    scratch.batch.bag_start[:len(sizes) + 1] = np.arange(len(sizes) + 1)
    return tables, params, scratch


@njit(nogil=True)
def _steps(weights, tables, params, scratch, centres, labels, samples, n, draw_only, tries):
    """n batch steps (or draws); batch tags continue from scratch.draw.batch_counter, as in training
    (a reused tag would make the unique draw see stale marks)."""
    total = 0.0
    runs = centres.shape[1]
    for it in range(n):
        j = it % centres.shape[0]
        scratch.draw.batch_counter[0] += 1
        tag = scratch.draw.batch_counter[0]
        if draw_only:
            total += kern.draw_batch(scratch.draw, True, tag, params.sampler_kind, weights.w_in.shape[0],
                                     tables.alias_prob, tables.alias_idx, scratch.rng)
            continue
        scratch.batch.bag_ids[:runs] = centres[j]
        scratch.batch.labels[:labels.shape[1]] = labels[j]
        scratch.draw.samples[:] = samples[j]
        kern.mark_samples(scratch.draw, tag)
        total += kern.process_batch(weights, runs, tries, tag, 1e-3, tables, params, scratch)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=3_200_000, help="pairs per timed run")
    ap.add_argument("--batch-sizes", default=f"32,{Config(loss='nce').resolved_batch_size()}")
    args = ap.parse_args()
    fma = _fma_rate_one_thread()
    print(f"S = {S}, D = {D}; one thread's sgemm: {fma / 1e9:.1f} G multiply-adds/s")
    rng = np.random.default_rng(0)
    for B in dict.fromkeys(int(b) for b in args.batch_sizes.split(",")):
        runs = len(run_sizes(B))
        # sampled logits, input deltas and sample rows: 3 * runs * S * D; the pairs: 3 * B * D
        mads = 3 * runs * S * D + 3 * B * D
        floor = mads / fma * 1e6
        n = max(10, args.pairs // B)
        print(f"B = {B}: {runs} runs; the step's {mads:,} multiply-adds need {floor:.2f} us")
        for V in (200, 70_000):
            w_in = ((rng.random((V, D)) - 0.5) / D).astype(np.float32)
            w_out = ((rng.random((V, D)) - 0.5) / D).astype(np.float32)
            weights = kern.Weights(w_in, w_out, np.zeros(V, np.float32))
            tables, params, scratch = _records(V, B)
            centres = rng.integers(0, V, (1000, runs)).astype(np.int32)
            labels = rng.integers(0, V, (1000, B)).astype(np.int32)
            samples = np.stack([rng.choice(V, S, replace=False) for _ in range(1000)]).astype(np.int64)
            for draw_only, tries, name in ((False, S, "process_batch"), (False, S + 1, "  1 rejection"),
                                           (True, S, "draw_batch")):
                call = (weights, tables, params, scratch, centres, labels, samples)
                _steps(*call, 10, draw_only, tries)
                best = min(_timed(lambda: _steps(*call, n, draw_only, tries)) for _ in range(3))
                us = best / n * 1e6
                ratio = f" ({us / floor:.1f}x the multiply-add time)" if not draw_only else ""
                print(f"  V = {V:>6}: {name:13} {us:6.2f} us per batch, {us / B * 1e3:5.0f} ns a pair{ratio}")


if __name__ == "__main__":
    main()
