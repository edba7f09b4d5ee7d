"""Speed, memory and quality of w2v-nce against gensim (and fastText) on the same corpus, same run.

    python scripts/bench_speed.py                       # mix8, 1 epoch, 2 threads, 3 rounds
    python scripts/bench_speed.py --rounds 1 --scaling  # + w2v-nce at 1 thread (scaling 1 -> 2)
    python scripts/bench_speed.py --double              # + w2v-nce on mix8 twice (memory flat?)
    python scripts/bench_speed.py --word2vec-c PATH     # + word2vec.c (a binary you built; see benchlib)

Contenders run one at a time, alternating order each round; the table shows medians. Whole job
= vocabulary + training + writing vectors (text). Quality is scored by our evaluator on each
contender's vectors (questions-words 30k case-insensitive, WordSim-353 Spearman).
Each of our runs also prints its job's time by phase (metrics.json "seconds": training, and the
fixed costs: start-up, the vocabulary pass, setup, writing, the bundled evaluation). Also prints
this CPU's measured peak (NumPy sgemm FLOP/s, large-copy bandwidth) and the
fraction of it the training kernel reaches.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

from w2v_nce.config import Config  # noqa: E402

# NCE runs use configs/default.yaml (the recommended NCE settings: 25 negatives shared by 128
# pairs, unigram^0.75 sampler, bias initialised to log Q), whose shared settings (dim 100,
# window 5, sample 1e-3, min-count 5, alpha 0.025) are word2vec.c's.
NCE_FLAGS = ["--loss", "nce"]
# The kernels' useful work, per (centre, context) pair at D = 100, S = 5 (the word2vec.yaml runs):
# 3 (1 + S) D multiply-adds (logits, input gradient, class rows) = 3,600 FLOP, either negatives
# mode; ~4.5 pairs per raw token at window 5 with subsampling (mix8). Rows touched per pair:
# pair negatives fetch 1 + S class rows per pair (the centre row stays in cache); window
# negatives fetch M + 1 + S rows per window of M ~ 4.5 pairs (~2.6 per pair).
# NCE (the defaults: S = 25 shared by a batch of B pairs): each pair's true logit plus its run's
# 25 sampled logits spread over the run's pairs (a run is one centre, ~6 pairs per kept word on
# mix8), 3 D multiply-adds each (~3,100 FLOP a pair, whatever B); rows per batch: B labels, 25
# samples, ~B / 6 centres (B = 128: ~1.36 a pair; B = 32: ~1.95).
PAIRS_PER_CENTRE = 6.0
NCE_BATCH, NCE_S = Config(loss="nce").resolved_batch_size(), Config().num_sampled
FLOP_PER_PAIR = {"w2v-nce neg": 3 * 6 * 100 * 2, "w2v-nce neg window": 3 * 6 * 100 * 2,
                 "w2v-nce nce": 3 * (1 + NCE_S / PAIRS_PER_CENTRE) * 100 * 2}
PAIRS_PER_WORD = 4.5
ROWS_PER_PAIR = {"w2v-nce neg": 6.0, "w2v-nce neg window": (4.5 + 6) / 4.5,
                 "w2v-nce nce": (NCE_BATCH + NCE_S + NCE_BATCH / PAIRS_PER_CENTRE) / NCE_BATCH}


def cpu_peak() -> tuple[float, float]:
    """(sgemm GFLOP/s over all cores via NumPy's BLAS, large-copy GB/s (read + write))."""
    n = 2048
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.copy()
    a @ b
    best = 1e9
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    flops = 2 * n**3 / best / 1e9
    src = np.ones(64 * 2**20 // 4 * 4, np.float32)  # 256 MB
    dst = np.empty_like(src)
    bw = 1e9
    for _ in range(5):
        t = time.perf_counter()
        np.copyto(dst, src)
        bw = min(bw, time.perf_counter() - t)
    return flops, 2 * src.nbytes / bw / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(B.SHARED, "mix8.gz"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--contenders", default=None,
                    help="comma list of neg,negw,nce,ssm,gensim,gensim_cf,fasttext "
                         "(default: neg,nce,gensim, and fasttext when it is installed)")
    ap.add_argument("--scaling", action="store_true", help="also run w2v-nce neg and nce with 1 thread")
    ap.add_argument("--double", action="store_true", help="also run w2v-nce neg on the corpus twice over")
    ap.add_argument("--word2vec-c", help="path of a word2vec.c binary: adds it as a contender")
    ap.add_argument("--workdir", default=os.path.join(B.REPO, "bench-out"))
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args()
    if args.contenders is None:
        args.contenders = "neg,nce,gensim" + (",fasttext" if importlib.util.find_spec("fasttext") else "")
    os.makedirs(args.workdir, exist_ok=True)
    lines = B.lines_of_tokens(args.corpus, B.lines_path(args.workdir, args.corpus))
    tokens = sum(len(line.split()) for line in open(lines))
    w2v = os.path.join(B.REPO, "configs", "word2vec.yaml")
    common = ["--epochs", str(args.epochs)]

    def ours(name, threads, extra, corpus=args.corpus, config=w2v):
        out = os.path.join(args.workdir, name)
        argv = B.w2v_argv(corpus, out, config, common + ["--threads", str(threads)] + extra)
        return argv, os.path.join(out, "vectors.txt")

    plans = {}
    for c in args.contenders.split(","):
        if c == "neg":
            plans["w2v-nce neg"] = ours("neg", args.threads, [])
        elif c == "negw":
            plans["w2v-nce neg window"] = ours("negw", args.threads, ["--negatives", "window"])
        elif c == "nce":
            plans["w2v-nce nce"] = ours("nce", args.threads, NCE_FLAGS, config=None)
        elif c == "ssm":
            plans["w2v-nce ssm"] = ours("ssm", args.threads, ["--loss", "sampled_softmax"], config=None)
        elif c == "gensim":
            out = os.path.join(args.workdir, "gensim.txt")
            plans["gensim iterable"] = (B.gensim_argv(lines, out, args.epochs, args.threads), out)
        elif c == "gensim_cf":
            out = os.path.join(args.workdir, "gensim_cf.txt")
            plans["gensim corpus_file"] = (B.gensim_argv(lines, out, args.epochs, args.threads, "corpus_file"), out)
        elif c == "fasttext":
            out = os.path.join(args.workdir, "fasttext.txt")
            plans["fastText"] = (B.fasttext_argv(lines, out, args.epochs, args.threads), out)
    if args.word2vec_c:
        out = os.path.join(args.workdir, "word2vec_c.txt")
        plans["word2vec.c"] = (B.word2vec_c_argv(args.word2vec_c, lines, out, args.epochs, args.threads), out)
    if args.scaling:
        plans["w2v-nce neg 1 thread"] = ours("neg1", 1, [])
        plans["w2v-nce nce 1 thread"] = ours("nce1", 1, NCE_FLAGS, config=None)
    if args.double:
        doubled = B.concat_gz(args.corpus, os.path.join(args.workdir, "corpus.x2.gz"), 2)
        # Every count doubles, so --min-count 10 keeps exactly the vocabulary of the single corpus:
        # only the corpus size changes (memory must grow with the vocabulary, never the corpus).
        plans["w2v-nce neg, corpus x2"] = ours("neg_x2", args.threads, ["--min-count", "10"], corpus=doubled)

    results = {name: [] for name in plans}
    train_rates: dict[str, list[float]] = {name: [] for name in plans}
    names = list(plans)
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            argv, _ = plans[name]
            run = B.run_child(name, argv)
            results[name].append(run)
            jl = os.path.join(os.path.dirname(plans[name][1]), "train.jsonl")
            if name.startswith("w2v-nce") and os.path.exists(jl):  # this round's training-only rate
                epochs = [json.loads(x) for x in open(jl) if '"epoch"' in x]
                train_rates[name].append(B.median([e["words_per_sec"] for e in epochs if e.get("event") == "epoch"]))
            phases = B.job_phases(os.path.dirname(plans[name][1]), run.wall) if name.startswith("w2v-nce") else None
            print(f"round {r + 1} {name}: {run.wall:.1f} s, peak RSS {run.peak_rss_mb:.0f} MB"
                  + (f"  [{B.phases_line(phases, run.wall)}]" if phases else ""), flush=True)

    flops, bw = cpu_peak()
    rows = []
    for name in names:
        runs = results[name]
        wall = B.median([x.wall for x in runs])
        rss = B.median([x.peak_rss_mb for x in runs])
        q = B.score_vectors(plans[name][1])
        toks = tokens * (2 if "x2" in name else 1) * args.epochs
        train_wps = B.median(train_rates[name]) if train_rates[name] else None
        rows.append(dict(name=name, wall=wall, words_per_sec=toks / wall, train_words_per_sec=train_wps,
                         peak_rss_mb=rss, **q))
    base = next((x for x in rows if x["name"] == "gensim iterable"), None)
    print()
    print(f"corpus {args.corpus}: {tokens:,} tokens, {args.epochs} epoch(s), {args.threads} threads, "
          f"median of {args.rounds} round(s)")
    print(f"{'contender':26} {'wall s':>7} {'words/s':>9} {'train w/s':>9} {'RSS MB':>7} {'analogy':>7} {'WS353':>6} "
          f"{'speed vs gensim':>15} {'RSS vs gensim':>13}")
    for x in rows:
        sp = f"{base['wall'] / x['wall']:.2f}x" if base else "-"
        rm = f"{x['peak_rss_mb'] / base['peak_rss_mb']:.2f}x" if base else "-"
        tw = f"{x['train_words_per_sec'] / 1e3:.0f}k" if x["train_words_per_sec"] else "-"
        print(f"{x['name']:26} {x['wall']:7.1f} {x['words_per_sec'] / 1e3:8.0f}k {tw:>9} {x['peak_rss_mb']:7.0f} "
              f"{x['analogy']:7.3f} {x['ws353']:6.3f} {sp:>15} {rm:>13}")
    print(f"\nCPU peak here: sgemm {flops:.0f} GFLOP/s (all cores), copy {bw:.1f} GB/s")
    for x in rows:
        rows_per_pair = ROWS_PER_PAIR.get(x["name"])
        if rows_per_pair and x["train_words_per_sec"]:
            pairs = x["train_words_per_sec"] * PAIRS_PER_WORD
            fl = pairs * FLOP_PER_PAIR[x["name"]] / 1e9
            gb = pairs * rows_per_pair * 2 * 4 * 100 / 1e9  # each row read and written once, D = 100 float32
            print(f"{x['name']} kernel: {x['train_words_per_sec'] / 1e3:.0f}k words/s, ~{fl:.1f} GFLOP/s useful = "
                  f"{100 * fl / flops:.1f}% of sgemm peak; ~{gb:.1f} GB/s of row traffic = {100 * gb / bw:.0f}% of "
                  f"copy bandwidth")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "cpu_gflops": flops, "copy_gbs": bw, "tokens": tokens}, fh, indent=2)


if __name__ == "__main__":
    main()
