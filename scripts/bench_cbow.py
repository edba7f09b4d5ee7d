"""CBOW against gensim's CBOW (sg=0) at word2vec.c's CBOW demo settings, beside our skip-gram.

    python scripts/bench_cbow.py                    # mix8, 1 epoch, 2 threads, 3 rounds
    python scripts/bench_cbow.py --epochs 5 --rounds 1
    python scripts/bench_cbow.py --contenders cbow,gensim-cbow --seeds 1,2,3 --rounds 1

Contenders (whole jobs as child processes, one at a time, alternating order each round):
  cbow         w2v-nce -c configs/word2vec-cbow.yaml (CBOW-neg, window 8, 25 negatives, sample 1e-4, alpha 0.05)
  cbow-exact   the same with --cbow-update exact (each context row takes 1/n of the mean's gradient)
  cbow-batch   w2v-nce -c configs/word2vec-cbow-batch.yaml (the same, batch_size examples share one draw);
               cbow-batchN overrides its --batch-size with N (for a sweep)
  cbow-nce     the same with --loss nce (CBOW nce's default batch of 32, 25 shared negatives)
  gensim-cbow  gensim 4.4 iterable mode, sg=0, cbow_mean=1, the same settings (peer_gensim.py ... cbow)
  sg           w2v-nce -c configs/word2vec.yaml (skip-gram SGNS), for the CBOW/skip-gram cost ratio
Quality is scored by our evaluator on every contender's vectors (questions-words 30k
case-insensitive 3CosAdd, WordSim-353 Spearman); with several seeds, means and spreads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def argv_for(name: str, corpus: str, lines: str, out: str, epochs: int, threads: int, seed: int) -> list[str]:
    common = ["--epochs", str(epochs), "--threads", str(threads), "--seed", str(seed)]
    if name == "cbow":
        return B.w2v_argv(corpus, out, os.path.join(B.REPO, "configs", "word2vec-cbow.yaml"), common)
    if name == "cbow-exact":
        return B.w2v_argv(corpus, out, os.path.join(B.REPO, "configs", "word2vec-cbow.yaml"),
                          common + ["--cbow-update", "exact"])
    if name.startswith("cbow-batch"):
        size = name[len("cbow-batch"):]
        return B.w2v_argv(corpus, out, os.path.join(B.REPO, "configs", "word2vec-cbow-batch.yaml"),
                          common + (["--batch-size", size] if size else []))
    if name == "cbow-nce":
        return B.w2v_argv(corpus, out, os.path.join(B.REPO, "configs", "word2vec-cbow.yaml"),
                          common + ["--loss", "nce", "--batch-size", "32"])
    if name == "sg":
        return B.w2v_argv(corpus, out, os.path.join(B.REPO, "configs", "word2vec.yaml"), common)
    if name == "gensim-cbow":
        return B.gensim_argv(lines, out + ".txt", epochs, threads, "iterable", "cbow")
    raise SystemExit(f"unknown contender {name}")


def vectors_of(name: str, out: str) -> str:
    return out + ".txt" if name.startswith("gensim") else os.path.join(out, "vectors.txt")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(B.SHARED, "mix8.gz"))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--contenders", default="cbow,gensim-cbow,sg")
    ap.add_argument("--work", default=os.path.join(B.REPO, "bench-out"))
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    names = args.contenders.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    lines = B.lines_of_tokens(args.corpus, os.path.join(args.work, os.path.basename(args.corpus) + ".lines"))
    walls: dict[str, list[float]] = {n: [] for n in names}
    scores: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for seed in seeds:
            for name in order:
                with tempfile.TemporaryDirectory(dir=args.work) as tmp:
                    out = os.path.join(tmp, name)
                    run = B.run_child(name, argv_for(name, args.corpus, lines, out, args.epochs, args.threads, seed))
                    s = B.score_vectors(vectors_of(name, out))
                    phases = B.job_phases(out, run.wall)
                walls[name].append(run.wall)
                scores[name].append(s)
                print(f"round {r + 1} seed {seed} {name:12} {run.wall:7.1f} s  peak {run.peak_rss_mb:6.0f} MB  "
                      f"analogy {s['analogy']:.4f}  ws353 {s['ws353']:.3f}"
                      + (f"  [{B.phases_line(phases, run.wall)}]" if phases else ""), flush=True)
    ref = "gensim-cbow" if "gensim-cbow" in names else names[0]
    base = statistics.median(walls[ref])
    print(f"\n{args.corpus}, {args.epochs} epoch(s), {args.threads} threads; medians of {args.rounds} round(s) "
          f"x {len(seeds)} seed(s)")
    print(f"{'contender':12} {'wall s':>7} {f'{ref} / wall':>18} {'analogy mean (min-max)':>24} {'ws353 mean':>10}")
    for name in names:
        w = statistics.median(walls[name])
        an = [s["analogy"] for s in scores[name]]
        ws = [s["ws353"] for s in scores[name]]
        print(f"{name:12} {w:7.1f} {base / w:17.2f}x {statistics.mean(an):9.4f} ({min(an):.4f}-{max(an):.4f})"
              f" {statistics.mean(ws):10.3f}")


if __name__ == "__main__":
    main()
