"""Kernel throughput of two source trees, measured alternating in one run: new/old per loss.

For a change to the kernels' code (not their results): each tree runs in its own worker
process (its own ``w2v_nce`` on ``sys.path``, its own Numba cache), which counts the corpus
once, compiles, then trains ``--words`` in-vocabulary words from the corpus start on fresh
weights (``Trainer.run(budget_words=...)``, as ``bench_kernel.py``) whenever asked. Only one
worker trains at a time; the order of the trees alternates each round; the table shows medians
of words/s and the ratio new/old.

    git worktree add /tmp/w2v-old HEAD~1     # the tree before the change
    python scripts/bench_trees.py --old /tmp/w2v-old --new . --rounds 5
    python scripts/bench_trees.py --old /tmp/w2v-old --contenders format   # export's float formatting

``format`` times ``artifact.floattext.format_rows`` on a fixed 20000 x 100 float32 matrix
(values/s: the word2vec text export's main cost) instead of training.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")
PRESETS = {  # contender -> (preset, overrides)
    "neg": ("word2vec.yaml", {}),
    "negw": ("word2vec.yaml", {"negatives": "window"}),
    "nce": ("default.yaml", {}),
    "cbowb": ("word2vec-cbow-batch.yaml", {}),
}

# The worker: reads one contender name per stdin line, answers one JSON line {"rate": words/s}.
WORKER = r"""
import json, os, sys, time
tree, corpus_path, words, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
presets = json.loads(sys.argv[5])
sys.path.insert(0, tree)
from w2v_nce.config import Config, load_yaml, merge
from w2v_nce.text.corpus import Corpus
from w2v_nce.train import Trainer
try:
    from w2v_nce.vocabulary.vocab import build_vocab
except ImportError:  # an older layout
    from w2v_nce.vocab import build_vocab
corpus = Corpus([corpus_path])
vocab, _ = build_vocab(corpus, 5)

def config(name):
    preset, extra = presets[name]
    cfg = merge(Config(), load_yaml(os.path.join(tree, "configs", preset)), preset)
    return merge(cfg, {**extra, "epochs": 1, "threads": threads, "corpus": [corpus_path]}, "bench_trees")

def format_rate(values):
    from w2v_nce.artifact.floattext import format_rows
    t = time.perf_counter()
    format_rows(values)
    return values.size / (time.perf_counter() - t)

import numpy as np
matrix = (np.random.default_rng(0).standard_normal((20000, 100)) * 0.3).astype(np.float32)

def rate(name, budget):
    if name == "format":  # export: float32 -> word2vec text, values/s
        return format_rate(matrix)
    trainer = Trainer(config(name), corpus, vocab)
    t = time.perf_counter()
    span = trainer.run(budget_words=budget)
    return span.tallies.words / (time.perf_counter() - t)

for name in presets:  # compile, or load the cached kernels, outside the timed runs
    rate(name, 100_000)
format_rate(matrix[:10])
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    print(json.dumps({"rate": rate(line.strip(), words)}), flush=True)
"""


def start(tree: str, args) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
    proc = subprocess.Popen([sys.executable, "-c", WORKER, os.path.abspath(tree), args.corpus, str(args.words),
                             str(args.threads), json.dumps(PRESETS)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=tree)
    assert json.loads(proc.stdout.readline())["ready"]
    return proc


def ask(proc: subprocess.Popen, name: str) -> float:
    proc.stdin.write(name + "\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())["rate"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="the tree before the change")
    ap.add_argument("--new", default=".", help="the tree after it")
    ap.add_argument("--corpus", default=os.path.join(SHARED, "mix8.gz"))
    ap.add_argument("--words", type=int, default=2_000_000, help="in-vocabulary words per measurement")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--contenders", default=",".join(PRESETS))
    args = ap.parse_args()
    names = args.contenders.split(",")
    trees = {"old": start(args.old, args), "new": start(args.new, args)}
    rates = {(t, n): [] for t in trees for n in names}
    for r in range(args.rounds):
        for name in names:
            for tree in (("old", "new") if r % 2 == 0 else ("new", "old")):
                rates[(tree, name)].append(ask(trees[tree], name))
        print(f"round {r + 1}: " + ", ".join(f"{n} {rates[('new', n)][-1] / rates[('old', n)][-1]:.3f}" for n in names),
              flush=True)
    for proc in trees.values():
        proc.stdin.close()
        proc.wait()
    print(f"\n{args.corpus}, {args.words:,} words a run, {args.threads} thread(s), median of {args.rounds} rounds")
    print(f"{'contender':10} {'old /s':>12} {'new /s':>12} {'new/old':>8}  (words/s; format: values/s)")
    for name in names:
        old, new = statistics.median(rates[("old", name)]), statistics.median(rates[("new", name)])
        print(f"{name:10} {old / 1e3:11.0f}k {new / 1e3:11.0f}k {new / old:8.3f}")


if __name__ == "__main__":
    main()
