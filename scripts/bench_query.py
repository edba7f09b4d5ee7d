"""Query speed: nearest-neighbour queries per second of Embeddings.most_similar against gensim's.

A random float32 model (250k x 100 by default, the issue's target: >= 1,000 queries/s). Timed,
in the same process:
* ours, batched: ``most_similar_batch`` over ``--queries`` one-word queries (what
  ``w2v-nce similar`` does with stdin: one matrix product per block of queries);
* the bare matrix products of 256 unit rows by the model (BLAS), for as many queries: the
  ceiling of any exact batched search on this machine, and the fraction of it we reach;
* ours, one at a time: ``most_similar`` per query (a matrix-vector product each, memory-bound);
* gensim 4.4.0 ``KeyedVectors.most_similar`` per query (it has no batched form), on the same
  vectors, when gensim is installed (benchmark-only: pip install gensim==4.4.0).
Medians over ``--rounds``; the rankings of the two libraries are compared on the gensim queries.

Usage: python scripts/bench_query.py [--rows 250000] [--dim 100] [--queries 2048] [--single 100]
                                     [--topn 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from w2v_nce.artifact.embeddings import Embeddings  # noqa: E402


def _rate(fn, n: int, rounds: int) -> float:
    """Median queries/s of ``fn()`` answering ``n`` queries."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return n / statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=250_000)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--queries", type=int, default=2048, help="queries per batched round")
    ap.add_argument("--single", type=int, default=100, help="queries per one-at-a-time round (ours and gensim)")
    ap.add_argument("--topn", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(args.rows)]
    vectors = rng.standard_normal((args.rows, args.dim), dtype=np.float32)
    emb = Embeddings(words, vectors)
    emb.unit  # normalise once, outside the timings (gensim's fill_norms likewise below)
    batch = [([words[i]], []) for i in rng.integers(0, args.rows, args.queries)]
    single = [words[i] for i in rng.integers(0, args.rows, args.single)]
    emb.most_similar_batch(batch[:64], args.topn)  # warm-up: BLAS threads, buffers

    print(f"{args.rows:,} x {args.dim} float32, top {args.topn}, one-word queries, median of {args.rounds} rounds, "
          f"{os.cpu_count()} CPUs")
    ours = _rate(lambda: emb.most_similar_batch(batch, args.topn), len(batch), args.rounds)
    print(f"ours, batched ({len(batch):,} queries):        {ours:10,.0f} queries/s")
    q = emb.unit[rng.integers(0, args.rows, 256)]
    scores = np.empty((256, args.rows), np.float32)
    product = _rate(lambda: [np.matmul(q, emb.unit.T, out=scores) for _ in range(len(batch) // 256)],
                    len(batch) // 256 * 256, args.rounds)
    print(f"the [256, D] x [D, V] products alone:     {product:10,.0f} queries/s "
          f"({2 * args.rows * args.dim * product / 1e9:.0f} GFLOP/s; batched reaches {ours / product:.0%} of it)")
    ours_single = _rate(lambda: [emb.most_similar(w, topn=args.topn) for w in single], len(single), args.rounds)
    print(f"ours, one at a time ({len(single)} queries):     {ours_single:10,.0f} queries/s")
    try:
        from gensim.models import KeyedVectors
    except ImportError:
        print("gensim not installed: no comparison (pip install gensim==4.4.0)")
        return
    kv = KeyedVectors(args.dim)
    kv.add_vectors(words, vectors)
    kv.fill_norms()
    theirs = _rate(lambda: [kv.most_similar(w, topn=args.topn) for w in single], len(single), args.rounds)
    print(f"gensim 4.4.0 most_similar ({len(single)} queries): {theirs:10,.0f} queries/s")
    print(f"ratio: batched {ours / theirs:.1f}x gensim, one at a time {ours_single / theirs:.2f}x gensim")
    same = sum([w for w, _ in emb.most_similar(q, topn=args.topn)] == [w for w, _ in kv.most_similar(q, topn=args.topn)]
               for q in single)
    print(f"identical rankings: {same}/{len(single)} queries")


if __name__ == "__main__":
    main()
