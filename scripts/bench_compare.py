"""Training speed of this checkout against another one (e.g. the previous commit), in one run.

    git worktree add /tmp/w2v-old HEAD~1
    python scripts/bench_compare.py --other /tmp/w2v-old --rounds 3

Each round runs, for each checkout in turn (alternating which goes first), a child process that
imports that checkout's ``scripts/bench_kernel.py`` and times its ``train_once`` (the library's
``Trainer.run(budget_words=N)`` from the corpus start on fresh weights) per (loss, threads).
Two clocks: wall time, and the process's CPU time (all threads). On a shared machine the wall
clock also measures the neighbours; words per CPU-second is much less disturbed by them (it
still sees their cache pressure). The table shows medians and the ratios this/other.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(tree: str, losses: list[str], threads: list[int], words: int, corpus: str | None) -> None:
    """Runs in the child: one measurement per (loss, threads) with ``tree``'s own code."""
    sys.path.insert(0, tree)
    sys.path.insert(0, os.path.join(tree, "scripts"))
    spec = importlib.util.spec_from_file_location("bench_kernel", os.path.join(tree, "scripts", "bench_kernel.py"))
    bk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bk)
    from w2v_nce.text.corpus import Corpus
    from w2v_nce.vocabulary.vocab import build_vocab

    corpus = corpus or os.path.join(bk.B.SHARED, "mix8.gz")
    c = Corpus([corpus])
    vocab, _ = build_vocab(c, 5)
    out = {}
    for loss in losses:
        bk.train_once(bk.config_for(loss, 1, corpus), c, vocab, 200_000, bk.PREFETCH_PAIRS)  # load the kernels
        for n in threads:
            cpu0, wall0 = time.process_time(), time.perf_counter()
            _, trained = bk.train_once(bk.config_for(loss, n, corpus), c, vocab, words, bk.PREFETCH_PAIRS)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            out[f"{loss} {n}"] = {"wall": trained / wall, "cpu": trained / cpu}
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--other", help="path of the other checkout")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--words", type=int, default=3_000_000)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--losses", default="neg,nce")
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    losses, threads = args.losses.split(","), [int(x) for x in args.threads.split(",")]
    if args.child:
        return child(args.child, losses, threads, args.words, args.corpus)
    if not args.other:
        raise SystemExit("give --other PATH (a checkout to compare against)")
    trees = {"this": HERE, "other": os.path.abspath(args.other)}
    rates: dict[str, dict[str, list[dict]]] = {"this": {}, "other": {}}
    for r in range(args.rounds):
        for name in (["this", "other"] if r % 2 == 0 else ["other", "this"]):
            cmd = [sys.executable, os.path.abspath(__file__), "--child", trees[name], "--words", str(args.words),
                   "--threads", args.threads, "--losses", args.losses] + (["--corpus", args.corpus] if args.corpus else [])
            res = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
            for key, v in res.items():
                rates[name].setdefault(key, []).append(v)
                print(f"round {r + 1} {name:5} {key}: {v['wall'] / 1e3:6.0f}k words/s wall, "
                      f"{v['cpu'] / 1e3:6.0f}k words per CPU-s", flush=True)
    print(f"\nmedians of {args.rounds} round(s), {args.words:,} words per measurement")
    print(f"{'loss threads':13} {'this wall':>10} {'other wall':>10} {'ratio':>6} {'this cpu':>9} {'other cpu':>9} {'ratio':>6}")
    for key in rates["this"]:
        med = {n: {c: statistics.median(x[c] for x in rates[n][key]) for c in ("wall", "cpu")} for n in rates}
        print(f"{key:13} {med['this']['wall'] / 1e3:9.0f}k {med['other']['wall'] / 1e3:9.0f}k "
              f"{med['this']['wall'] / med['other']['wall']:6.3f} {med['this']['cpu'] / 1e3:8.0f}k "
              f"{med['other']['cpu'] / 1e3:8.0f}k {med['this']['cpu'] / med['other']['cpu']:6.3f}")


if __name__ == "__main__":
    main()
