"""Export speed: w2v-nce's word2vec text/binary writers against gensim's save_word2vec_format.

Both write the same random float32 matrix (100k x 300 by default) and vocabulary, in the same
process, alternating contender by contender for several rounds; the medians and their ratio are
printed. The files are read back once to check that each loads in the other's reader.
gensim==4.4.0 is a benchmark-only dependency (pip install gensim==4.4.0).

Usage: python scripts/bench_export.py [--rows 100000] [--dim 300] [--rounds 3] [--dir bench-out/export]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from w2v_nce.artifact.word2vec import (
    load_word2vec,
    write_word2vec_binary,
    write_word2vec_text,
)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default="bench-out/export")
    args = ap.parse_args()
    try:
        from gensim.models import KeyedVectors
    except ImportError:
        raise SystemExit("needs gensim: pip install gensim==4.4.0")

    os.makedirs(args.dir, exist_ok=True)
    rng = np.random.default_rng(0)
    vectors = (rng.standard_normal((args.rows, args.dim)) * 0.1).astype(np.float32)
    words = [f"w{i}" for i in range(args.rows)]
    kv = KeyedVectors(args.dim)
    kv.add_vectors(words, vectors)
    path = {name: os.path.join(args.dir, name) for name in ("ours.txt", "gensim.txt", "ours.bin", "gensim.bin")}
    contenders = {
        ("text", "w2v-nce"): lambda: write_word2vec_text(path["ours.txt"], words, vectors),
        ("text", "gensim"): lambda: kv.save_word2vec_format(path["gensim.txt"], binary=False),
        ("binary", "w2v-nce"): lambda: write_word2vec_binary(path["ours.bin"], words, vectors),
        ("binary", "gensim"): lambda: kv.save_word2vec_format(path["gensim.bin"], binary=True),
    }
    write_word2vec_text(path["ours.txt"], words[:10], vectors[:10])  # compile the formatter first
    times: dict = {key: [] for key in contenders}
    for r in range(args.rounds):
        for key, fn in contenders.items():
            times[key].append(_timed(fn))
        print(f"round {r + 1}: " + ", ".join(f"{k[1]} {k[0]} {times[k][-1]:.2f}s" for k in contenders), flush=True)

    # Cross-check: each file loads in the other's reader to the same float32 values.
    for name, binary in (("ours.txt", False), ("ours.bin", True)):
        loaded = KeyedVectors.load_word2vec_format(path[name], binary=binary)
        assert loaded.index_to_key == words and np.array_equal(loaded.vectors, vectors), name
    for name in ("gensim.txt", "gensim.bin"):
        got_words, got = load_word2vec(path[name])
        assert got_words == words and np.array_equal(got, vectors), name

    print(f"\n{args.rows:,} x {args.dim} float32, {args.rounds} rounds, medians (s):")
    print(f"{'format':8} {'w2v-nce':>9} {'gensim':>9} {'gensim/w2v-nce':>15} {'size ours':>11} {'size gensim':>12}")
    for fmt in ("text", "binary"):
        ours = statistics.median(times[(fmt, "w2v-nce")])
        theirs = statistics.median(times[(fmt, "gensim")])
        ext = "txt" if fmt == "text" else "bin"
        size_ours = os.path.getsize(path[f"ours.{ext}"]) / 1e6
        size_gensim = os.path.getsize(path[f"gensim.{ext}"]) / 1e6
        print(f"{fmt:8} {ours:9.2f} {theirs:9.2f} {theirs / ours:14.1f}x {size_ours:9.0f}MB {size_gensim:10.0f}MB")
    for p in path.values():
        os.remove(p)


if __name__ == "__main__":
    main()
