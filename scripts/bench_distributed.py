"""What K replicas do to quality at equal epochs (the in-process backend), and what they sync.

    python scripts/bench_distributed.py                          # mix8, 5 epochs, K = 1, 2, 4, 8
    python scripts/bench_distributed.py --corpus-mb 20 --epochs 1 --replicas 1,2,4
    python scripts/bench_distributed.py --replicas 1,4 --round-words 1000000,250000 --seeds 1,2,3
    python scripts/bench_distributed.py --corpus ../shared/data/en-mix.txt.gz --epochs 3 --replicas 1,4,16 \
        --round-words 1000000 --rules mean,scale --seeds 1,2          # the replica-rule sweep (docs/distributed.md)
    python scripts/bench_distributed.py --epochs 3 --replicas 1,4 --round-words 250000 --flags "--full-sync end"

Each K trains configs/word2vec.yaml (SGNS, dim 100, window 5) with ``--threads`` threads per
replica; K = 1 is the plain single-machine run (one loop: K = 1 is that run byte for byte, tested).
``--rules``: each K > 1 under each ``--replica-rule``: scale (K x alpha, rows averaged), mean
(1 x alpha, rows averaged). A run whose output
directory already holds its metrics.json and vectors.txt is scored again, not retrained
(``--retrain`` to train it anyway). Scores come from benchlib.score_vectors on each vectors.txt
(questions-words restricted to 30k words, WS353, SimLex); the sync figures from metrics.json.
Target (issue 13): analogy for K = 2, 4, 8 within 1 point of K = 1, WS353 within 0.02.
``--corpus-mb N`` trains on the first N MB of the corpus's text (a quick run on a small machine);
a .gz corpus is always trained as plain text (all of it without ``--corpus-mb``): a single .gz
is one part, which one replica alone would train.
``--seeds`` trains each K once per seed and reports the means (and the analogy's range): single
runs differ by about a point from seed to seed here, so targets are judged on means of >= 3.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def corpus_prefix(src: str, mb: int, dst: str) -> str:
    """The first ``mb`` MB of ``src``'s text (0: all of it), cut at a space."""
    if os.path.exists(dst):
        return dst
    opener = gzip.open if src.endswith(".gz") else open
    with opener(src, "rb") as fh:
        data = fh.read(mb << 20 if mb else -1)
    cut = data.rfind(b" ")
    with open(dst + ".tmp", "wb") as out:
        out.write(data[:cut if cut > 0 else len(data)] + b"\n")
    os.replace(dst + ".tmp", dst)
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(B.SHARED, "mix8.gz"))
    ap.add_argument("--corpus-mb", type=int, default=0, help="train on the first N MB of text (0 = all)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--replicas", default="1,2,4,8")
    ap.add_argument("--threads", type=int, default=1, help="threads per replica")
    ap.add_argument("--round-words", default="",
                    help="tokens each replica trains a round: one value, or one per --replicas value "
                         "(empty: rounds by time, --sync-seconds)")
    ap.add_argument("--rules", default="scale", help="comma list of replica rules for K > 1: scale, mean")
    ap.add_argument("--retrain", action="store_true", help="train even where an earlier run's outputs are there")
    ap.add_argument("--seeds", default="1", help="comma list; each K is trained once per seed, scores averaged")
    ap.add_argument("--sync-base", type=int, default=1024)
    ap.add_argument("--config", default=os.path.join(B.REPO, "configs", "word2vec.yaml"))
    ap.add_argument("--out", default=os.path.join(B.REPO, "bench-out", "distributed"))
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--variant", default="", help="K > 1 runs train through scripts/replica_rules.py with this "
                    "variant (touch, bmuf[:ETA], cap:N, warmup:W; comma-separated to combine)")
    ap.add_argument("--flags", default="", help="extra train flags for every K > 1 run, e.g. '--full-sync end' "
                    "(runs with flags get their own output directories)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    corpus = args.corpus
    if args.corpus_mb or corpus.endswith(".gz"):  # one .gz is one part: with K > 1 one replica alone would train it
        tag = f"{args.corpus_mb}mb" if args.corpus_mb else "all"
        corpus = corpus_prefix(corpus, args.corpus_mb, os.path.join(args.out, f"corpus-{tag}.txt"))
    round_words = [int(w) if w else None for w in str(args.round_words).split(",")]
    replicas = [int(k) for k in args.replicas.split(",")]
    if len(round_words) not in (1, len(replicas)):
        sys.exit("--round-words takes one value, or one per --replicas value")
    seeds = [int(x) for x in args.seeds.split(",")]
    rows = []
    rules = args.rules.split(",")
    plan = [(K, words, rule) for K, words in zip(replicas, round_words * len(replicas) if len(round_words) == 1
                                                   else round_words) for rule in (rules if K > 1 else ["mean"])]
    for K, words, rule in plan:
        runs = [_train_and_score(args, corpus, K, words, seed, rule) for seed in seeds]
        row = {"replicas": K, "rule": rule, "round_words": runs[0]["round_words"], "seeds": seeds,
               **{m: statistics.mean(r[m] for r in runs) for m in ("analogy", "ws353", "simlex", "wall_s")},
               "analogy_range": [min(r["analogy"] for r in runs), max(r["analogy"] for r in runs)],
               **{k: runs[0][k] for k in ("rounds", "bytes_per_round")},
               "sync_fraction": statistics.mean(r["sync_fraction"] for r in runs), "runs": runs}
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "runs"}), flush=True)
    base = rows[0]
    print(f"\nmeans over seeds {args.seeds}")
    print(f"{'K':>3} {'rule':>5} {'round':>8} {'analogy':>8} {'(min-max)':>15} {'d(pt)':>6} {'WS353':>6} {'SimLex':>6} {'wall s':>7} "
          f"{'rounds':>6} {'MB/round':>8} {'sync %':>6}")
    for r in rows:
        lo, hi = r["analogy_range"]
        print(f"{r['replicas']:>3} {r['rule']:>5} {r['round_words'] or '-':>8} {r['analogy']:>8.4f} {f'{lo:.4f}-{hi:.4f}':>15} "
              f"{100 * (r['analogy'] - base['analogy']):>+6.2f} {r['ws353']:>6.3f} {r['simlex']:>6.3f} {r['wall_s']:>7.1f} "
              f"{r['rounds']:>6} {r['bytes_per_round'] / 1e6:>8.2f} {100 * r['sync_fraction']:>6.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=2)


def _train_and_score(args, corpus: str, K: int, words: int, seed: int, rule: str = "scale") -> dict:
    """One training job (K = 1: the plain single-machine run) scored on its vectors.txt."""
    flags = args.flags.split() if K > 1 else []
    tag = "".join(f.strip("-") for f in flags) + (args.variant.replace(":", "").replace(",", "-") if K > 1 else "")
    out = os.path.join(args.out, f"k{K}-{rule}-r{words or 'time'}-s{seed}" + (f"-{tag}" if tag else ""))
    extra = ["--epochs", str(args.epochs), "--threads", str(args.threads),
             "--sync-base", str(args.sync_base), "--checkpoint-every", "0", "--seed", str(seed)]
    if words is not None:
        extra += ["--round-words", str(words)]
    if K > 1:
        extra += ["--replicas", str(K), "--replica-rule", rule, *flags]
    done = os.path.exists(os.path.join(out, "metrics.json")) and os.path.exists(os.path.join(out, "vectors.txt"))
    if done and not args.retrain:
        wall = json.load(open(os.path.join(out, "metrics.json")))["seconds"]
        run = B.Run(f"k{K} seed {seed}", sum(wall.values()), 0.0, 0, "")  # the phases' sum stands for the wall
    else:
        argv = B.w2v_argv(corpus, out, args.config, extra)
        if K > 1 and args.variant:
            argv = [sys.executable, os.path.join(B.HERE, "replica_rules.py"), args.variant] + argv[3:]
        run = B.run_child(f"k{K} seed {seed}", argv,
                          env={**os.environ, "PYTHONPATH": B.REPO})
    if run.returncode:
        sys.exit(f"K={K} seed {seed} failed:\n{run.output[-2000:]}")
    dist = json.load(open(os.path.join(out, "metrics.json"))).get("distributed", {})
    return {"seed": seed, **B.score_vectors(os.path.join(out, "vectors.txt")), "wall_s": round(run.wall, 1),
            "round_words": dist.get("round_words", words), "rounds": dist.get("rounds", 0),
            "bytes_per_round": round(dist.get("bytes_per_round", 0)),
            "sync_fraction": round(dist.get("sync_fraction", 0.0), 4)}


if __name__ == "__main__":
    main()
