"""Embedding quality of w2v-nce against gensim 4.4 with word2vec.c's skip-gram settings, same run.

    python scripts/bench_quality.py                  # mix8, 5 epochs: neg, nce, gensim
    python scripts/bench_quality.py --epochs 1 --contenders neg,gensim

w2v-nce `neg` runs configs/word2vec.yaml; `nce` runs configs/default.yaml's NCE settings with
word2vec.yaml's shared ones (dim, window, sample, min-count, epochs). gensim gets the same text
as 1000-token lines (its corpus_file reader silently drops most of a very long line). Scores:
questions-words.txt restricted to the 30,000 most frequent words, case-insensitive (3CosAdd),
WordSim-353 and SimLex-999 Spearman, all from w2v-nce's evaluator on each model's vectors.txt.
Targets (issue): neg within 1 point of gensim on analogies and 0.02 on WordSim-353; nce at
least 0.8 x gensim's analogy accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(B.SHARED, "mix8.gz"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--contenders", default="neg,nce,gensim", help="comma list of neg,nce,ssm,gensim")
    ap.add_argument("--nce-flags", default="", help="extra flags for the nce run, e.g. '--num-sampled 10'")
    ap.add_argument("--workdir", default=os.path.join(B.REPO, "bench-out"))
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    lines = B.lines_of_tokens(args.corpus, os.path.join(args.workdir, "corpus.1000.txt"))
    w2v = os.path.join(B.REPO, "configs", "word2vec.yaml")
    common = ["--epochs", str(args.epochs), "--threads", str(args.threads)]
    plans = {}
    for c in args.contenders.split(","):
        if c == "neg":
            out = os.path.join(args.workdir, "q_neg")
            plans["w2v-nce neg"] = (B.w2v_argv(args.corpus, out, w2v, common), out + "/vectors.txt")
        elif c == "nce":
            out = os.path.join(args.workdir, "q_nce")
            flags = common + ["--loss", "nce", "--alpha", "0.025", "--min-alpha", "0.0001"] + args.nce_flags.split()
            plans["w2v-nce nce"] = (B.w2v_argv(args.corpus, out, None, flags + ["--min-count", "5"]), out + "/vectors.txt")
        elif c == "ssm":
            out = os.path.join(args.workdir, "q_ssm")
            plans["w2v-nce sampled_softmax"] = (B.w2v_argv(args.corpus, out, None, common + ["--loss", "sampled_softmax"]),
                                                out + "/vectors.txt")
        elif c == "gensim":
            out = os.path.join(args.workdir, "q_gensim.txt")
            plans["gensim 4.4 (iterable)"] = (B.gensim_argv(lines, out, args.epochs, args.threads), out)
    rows = []
    for name, (argv, vec) in plans.items():
        run = B.run_child(name, argv)
        q = B.score_vectors(vec)
        rows.append(dict(name=name, wall=run.wall, **q))
        print(f"{name}: {run.wall:.0f} s, analogy {q['analogy']:.4f}, WS353 {q['ws353']:.3f}, SimLex {q['simlex']:.3f}",
              flush=True)
    base = next((x for x in rows if x["name"].startswith("gensim")), None)
    print(f"\n{args.corpus}, {args.epochs} epoch(s), {args.threads} threads")
    print(f"{'model':26} {'wall s':>7} {'analogy':>8} {'WS353':>6} {'SimLex':>7} {'analogy vs gensim':>18}")
    for x in rows:
        rel = f"{x['analogy'] / base['analogy']:.2f}x ({100 * (x['analogy'] - base['analogy']):+.1f} pt)" if base else "-"
        print(f"{x['name']:26} {x['wall']:7.0f} {x['analogy']:8.4f} {x['ws353']:6.3f} {x['simlex']:7.3f} {rel:>18}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
