"""How the NCE settings were chosen: analogy accuracy after 1 epoch on mix8 for a grid of
(sampler, num_sampled, batch_size, bias_init), plus `neg` for reference.

    python scripts/sweep_nce.py                 # ~6 minutes on 2 cores
    python scripts/sweep_nce.py --epochs 5      # slower, closer to the quality benchmark

Each run is w2v-nce with configs/default.yaml (word2vec.c's dim/window/sample/min-count/alpha)
and the flags shown; scores come from w2v-nce's evaluator (questions-words, 30k, 3CosAdd).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

GRID = [
    "--loss neg --num-sampled 5",
    "--sampler unigram --num-sampled 5 --batch-size 16 --bias-init zero",
    "--sampler unigram --num-sampled 10 --batch-size 16 --bias-init zero",
    "--sampler log_uniform --num-sampled 10 --batch-size 16 --bias-init zero",
    "--sampler unigram --num-sampled 5 --batch-size 1 --bias-init zero",
    "--sampler unigram --num-sampled 5 --batch-size 16 --bias-init log_q",
    "--sampler unigram --num-sampled 25 --batch-size 16 --bias-init zero",
    "--sampler unigram --num-sampled 25 --batch-size 16 --bias-init log_q",
    "--sampler unigram --num-sampled 25 --batch-size 32 --bias-init log_q",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(B.SHARED, "mix8.gz"))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workdir", default=os.path.join(B.REPO, "bench-out"))
    args = ap.parse_args()
    out = os.path.join(args.workdir, "sweep")
    rows = []
    for flags in GRID:
        argv = B.w2v_argv(args.corpus, out, None, ["--epochs", str(args.epochs), "--threads", str(args.threads)]
                          + (flags.split() if "--loss" in flags else ["--loss", "nce"] + flags.split()))
        run = B.run_child(flags, argv)
        q = B.score_vectors(os.path.join(out, "vectors.txt"))
        rows.append((flags, run.wall, q["analogy"], q["ws353"]))
        print(f"{flags:70} {run.wall:6.1f} s  analogy {q['analogy']:.4f}  WS353 {q['ws353']:.3f}", flush=True)
    print(f"\n| setting ({args.epochs} epoch(s)) | wall s | analogy | WS353 |\n|---|---|---|---|")
    for flags, wall, ana, ws in rows:
        print(f"| `{flags}` | {wall:.0f} | {ana:.4f} | {ws:.3f} |")


if __name__ == "__main__":
    main()
