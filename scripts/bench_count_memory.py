"""Counting the vocabulary under a memory bound: the same vocabulary as unbounded counting, and
peak RSS under the bound plus the interpreter's baseline.

The corpus is generated in a temp dir (never committed): ``--distinct`` distinct random
12-digit hex tokens (each once) mixed with ``--frequent`` tokens drawn by Zipf from 50k words,
so that ``--min-count`` leaves a vocabulary. Each count runs in a child process; peak RSS is
the child's own (ru_maxrss from wait4). The baseline child imports w2v_nce and counts a tiny
corpus through every kernel (spill included). The corpus is generated in a child too: a child
inherits its parent's RSS high-water mark at fork, so the parent stays small.

    python scripts/bench_count_memory.py                               # 10M distinct, 128 MB bound
    python scripts/bench_count_memory.py --distinct 2000000 --count-memory 64000000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import run_child  # noqa: E402

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _tokens(values: np.ndarray, first: bytes | None) -> np.ndarray:
    """uint8 [n, 13]: 12 hex digits of each value (or ``first`` + 11 digits), then a space."""
    rows = np.empty((len(values), 13), dtype=np.uint8)
    for j in range(12):
        rows[:, 11 - j] = _HEX[(values >> np.uint64(4 * j)) & np.uint64(15)]
    if first is not None:
        rows[:, 0] = first[0]
    rows[:, 12] = ord(" ")
    return rows


def make_corpus(path: str, distinct: int, frequent: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    # i * odd mod 2^48 is a bijection on 48 bits: `distinct` different 12-digit hex numbers
    unique = (np.arange(distinct, dtype=np.uint64) * np.uint64(0x9E3779B97F4B)) & np.uint64((1 << 48) - 1)
    common = (rng.zipf(1.2, frequent) % 50_000).astype(np.uint64)
    rows = np.concatenate([_tokens(unique, None), _tokens(common, b"g")])  # 'g': never a hex token
    del unique, common
    rows = rows[rng.permutation(len(rows))]
    rows[999::1000, 12] = ord("\n")  # lines of 1000 tokens
    rows.tofile(path)


def child(corpus: str, bound: int, min_count: int, spill_dir: str) -> None:
    from w2v_nce.text.corpus import Corpus
    from w2v_nce.vocabulary.vocab import build_vocab

    t = time.perf_counter()
    vocab, res = build_vocab(Corpus([corpus]), min_count, count_memory=bound, spill_dir=spill_dir)
    seconds = time.perf_counter() - t
    digest = hashlib.sha256("\n".join(vocab.words).encode() + vocab.counts.tobytes()).hexdigest()[:16]
    print(json.dumps({"vocab": len(vocab), "distinct": res.distinct, "tokens": res.tokens, "runs": res.spill_runs,
                      "spill_mb": res.spill_bytes / 1e6, "seconds": round(seconds, 1), "digest": digest}))


def baseline(spill_dir: str) -> None:
    from w2v_nce.text.corpus import Corpus
    from w2v_nce.vocabulary.count import count_words

    path = os.path.join(spill_dir, "tiny.txt")
    with open(path, "w") as fh:
        fh.write(" ".join(f"w{i}" for i in range(100_000)))
    res = count_words(Corpus([path]), count_memory=2 << 20, spill_dir=spill_dir)
    print(json.dumps({"runs": res.spill_runs}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--distinct", type=int, default=10_000_000)
    ap.add_argument("--frequent", type=int, default=2_000_000)
    ap.add_argument("--count-memory", type=int, default=128_000_000, help="bytes")
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--child", nargs=2, metavar=("CORPUS", "BOUND"), help=argparse.SUPPRESS)
    ap.add_argument("--make", metavar="CORPUS", help=argparse.SUPPRESS)
    ap.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--spill-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make:
        return make_corpus(args.make, args.distinct, args.frequent)
    if args.baseline:
        return baseline(args.spill_dir)
    if args.child:
        return child(args.child[0], int(args.child[1]), args.min_count, args.spill_dir)
    with tempfile.TemporaryDirectory(prefix="bench-count-", dir=os.getcwd()) as d:
        corpus = os.path.join(d, "hex.txt")
        run_child("make", [sys.executable, os.path.abspath(__file__), "--make", corpus, "--distinct", str(args.distinct),
                           "--frequent", str(args.frequent)])
        print(f"corpus: {os.path.getsize(corpus) / 1e6:.0f} MB, {args.distinct:,} distinct hex tokens "
              f"+ {args.frequent:,} frequent; min_count {args.min_count}")
        me = [sys.executable, os.path.abspath(__file__), "--spill-dir", d, "--min-count", str(args.min_count)]
        base = run_child("baseline", me + ["--baseline"])
        results = {}
        for name, bound in (("unbounded", 0), ("bounded", args.count_memory)):
            run = run_child(name, me + ["--child", corpus, str(bound)])
            results[name] = (run, json.loads(run.output.strip().splitlines()[-1]))
        print(f"{'':10} {'peak RSS MiB':>12} {'seconds':>8} {'runs':>5} {'spill MB':>9} {'distinct':>11} {'vocab':>7}  digest")
        print(f"{'baseline':10} {base.peak_rss_mb:12.0f}")
        for name, (run, r) in results.items():
            print(f"{name:10} {run.peak_rss_mb:12.0f} {r['seconds']:8.1f} {r['runs']:5} {r['spill_mb']:9.0f} "
                  f"{r['distinct']:11,} {r['vocab']:7,}  {r['digest']}")
        same = results["bounded"][1]["digest"] == results["unbounded"][1]["digest"]
        limit = args.count_memory / 2**20 + base.peak_rss_mb
        print(f"same vocabulary: {same}; bounded peak {results['bounded'][0].peak_rss_mb:.0f} MiB "
              f"{'<' if results['bounded'][0].peak_rss_mb < limit else '>='} bound + baseline {limit:.0f} MiB")


if __name__ == "__main__":
    main()
