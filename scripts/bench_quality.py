"""Embedding quality of w2v-nce against gensim 4.4, over several seeds, same run.

    python scripts/bench_quality.py                            # mix8, 5 epochs, seed 1: neg, nce, gensim
    python scripts/bench_quality.py --epochs 1 --contenders neg,gensim,gensim-cf1 --seeds 1,2,3
    python scripts/bench_quality.py --max-mb 30 --epochs 2 --seeds 1,2,3   # the issue's 30 MB slice

Contenders (whole jobs as child processes; every model scored by w2v-nce's evaluator):
  neg         configs/word2vec.yaml (SGNS, word2vec.c's skip-gram settings)
  negw        the same with --negatives window (one draw per window, pWord2Vec's HogBatch)
  nce         configs/default.yaml's NCE settings with word2vec.yaml's shared ones
  ssm         --loss sampled_softmax
  cbow        configs/word2vec-cbow.yaml (CBOW-neg, word2vec.c's CBOW demo settings)
  gensim      gensim 4.4 iterable mode (LineSentence of 1000-token lines), skip-gram settings
  gensim-cf1  gensim 4.4 corpus_file mode with ONE worker (with W > 1 workers its lr falls at
              1/W of the intended speed within each epoch, which flatters it on small corpora)
  gensim-cbow gensim 4.4 iterable mode, sg=0, the CBOW settings
Scores: questions-words.txt restricted to the 30,000 most frequent words, case-insensitive
(3CosAdd), WordSim-353 and SimLex-999 Spearman. With several seeds: mean, min-max and the
sample standard deviation; a single seed's ±0.5 pt is noise here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

CONFIGS = {"neg": ["-c", "word2vec.yaml"], "negw": ["-c", "word2vec.yaml", "--negatives", "window"],
           "nce": ["--loss", "nce", "--alpha", "0.025", "--min-alpha", "0.0001"],
           "ssm": ["--loss", "sampled_softmax"], "cbow": ["-c", "word2vec-cbow.yaml"]}
GENSIM = {"gensim": ("iterable", "sg", None), "gensim-cf1": ("corpus_file", "sg", 1),
          "gensim-cbow": ("iterable", "cbow", None)}


def plan(name: str, corpus: str, lines: str, work: str, epochs: int, threads: int, seed: int,
         extra: list[str]) -> tuple[list[str], str]:
    out = os.path.join(work, f"q_{name}_{seed}")
    if name in GENSIM:
        mode, arch, workers = GENSIM[name]
        return B.gensim_argv(lines, out + ".txt", epochs, workers or threads, mode, arch, seed), out + ".txt"
    flags = list(CONFIGS[name])
    if flags[0] == "-c":
        flags[1] = os.path.join(B.REPO, "configs", flags[1])
    argv = B.w2v_argv(corpus, out, None, flags + ["--epochs", str(epochs), "--threads", str(threads),
                                                  "--seed", str(seed)] + (extra if name == "nce" else []))
    return argv, os.path.join(out, "vectors.txt")


def summary(xs: list[float]) -> str:
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.4f} ({min(xs):.4f}-{max(xs):.4f}, sd {sd:.4f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(B.SHARED, "mix8.gz"))
    ap.add_argument("--max-mb", type=float, default=0, help="train on the corpus's first N MB only")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--contenders", default="neg,nce,gensim")
    ap.add_argument("--nce-flags", default="", help="extra flags for the nce run, e.g. '--num-sampled 10'")
    ap.add_argument("--workdir", default=os.path.join(B.REPO, "bench-out"))
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    corpus = args.corpus
    if args.max_mb:
        corpus = B.corpus_slice(corpus, os.path.join(args.workdir, f"slice{args.max_mb:g}MB.txt"),
                                int(args.max_mb * 1e6))
    lines = B.lines_of_tokens(corpus, B.lines_path(args.workdir, corpus))
    names = args.contenders.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    scores: dict[str, list[dict]] = {n: [] for n in names}
    for i, seed in enumerate(seeds):
        for name in (names if i % 2 == 0 else names[::-1]):
            argv, vec = plan(name, corpus, lines, args.workdir, args.epochs, args.threads, seed, args.nce_flags.split())
            run = B.run_child(name, argv)
            q = {**B.score_vectors(vec), "wall": run.wall, "seed": seed}
            scores[name].append(q)
            print(f"seed {seed} {name:12} {run.wall:6.0f} s  analogy {q['analogy']:.4f}  WS353 {q['ws353']:.3f}  "
                  f"SimLex {q['simlex']:.3f}", flush=True)
    print(f"\n{corpus}, {args.epochs} epoch(s), {args.threads} threads, seeds {args.seeds}")
    print(f"{'model':12} {'analogy mean (min-max, sd)':>34} {'WS353 mean':>10} {'SimLex mean':>11}")
    for name in names:
        xs = scores[name]
        print(f"{name:12} {summary([x['analogy'] for x in xs]):>34} {statistics.mean(x['ws353'] for x in xs):10.3f} "
              f"{statistics.mean(x['simlex'] for x in xs):11.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(scores, fh, indent=2)


if __name__ == "__main__":
    main()
