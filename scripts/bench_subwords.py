"""Subword vectors against fastText's subword skip-gram: quality, whole-job time, peak RSS, and
interoperability of our fastText .bin (issue 28's acceptance figures).

Each contender is a whole job in a child process (wall time, peak RSS from wait4); both models
are scored by the same evaluator: Google analogies (30k most frequent, 3CosAdd), WordSim-353,
SimLex-999, and the rare-word set with every pair scored (words outside a vocabulary get their
n-grams' mean: fastText's get_word_vector, our ``Model.unseen_vectors``), and again over its
pairs of words in the model's vocabulary only (``rw_seen``).

    python scripts/bench_subwords.py [--epochs 1] [--seeds 1,2,3] [--max-mb 0] [--flags '...']
    python scripts/bench_subwords.py --interop RUN_DIR     # our .bin read by fasttext and gensim
    python scripts/bench_subwords.py --score RUN_DIR FT.bin  # score models already trained

fastText and gensim are benchmark-only peers (pip install fasttext-wheel gensim==4.4.0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import benchlib as B
import numpy as np

sys.path.insert(0, B.REPO)


def score(words, vectors, unseen) -> dict:
    """Our evaluator on (words, vectors), unseen words from ``unseen``."""
    from w2v_nce.evaluation.analogies import evaluate_analogies
    from w2v_nce.evaluation.similarity import evaluate_similarity

    ana = evaluate_analogies(words, vectors, os.path.join(B.EVAL, "questions-words.txt"), restrict_vocab=30000)
    out = {"analogy": ana["accuracy"]}
    for key, name in (("ws353", "wordsim353_combined.csv"), ("simlex", "SimLex-999.txt"), ("rw", "rw.txt")):
        r = evaluate_similarity(words, vectors, os.path.join(B.EVAL, name), unseen=unseen)
        out[key] = r["spearman"]
        if key == "rw":
            out["rw_coverage"] = r["pairs"] / r["total"]
            # the pairs whose two words are in this model's vocabulary (no n-gram-only vector)
            seen = evaluate_similarity(words, vectors, os.path.join(B.EVAL, name))
            out["rw_seen"], out["rw_seen_pairs"] = seen["spearman"], seen["pairs"]
    return out


def score_ours(run_dir: str) -> dict:
    from w2v_nce.artifact.model import Model

    model = Model.load(run_dir)
    return score(model.words, model.word_vectors(), model.unseen_vectors())


def input_mb(run_dir: str) -> float:
    """MB of the input side a user needs for word vectors: the subword table (fastText's layout:
    word rows + buckets; compact: buckets only), float32."""
    from w2v_nce.artifact.model import Model

    return Model.load(run_dir).input_table().nbytes / 1e6


def score_fasttext(path: str) -> dict:
    import fasttext

    ft = fasttext.load_model(path)
    words = ft.get_words()
    vectors = np.stack([ft.get_word_vector(w) for w in words])
    return score(words, vectors, ft.get_word_vector)


def run_pair(lines: str, work: str, epochs: int, threads: int, seed: int, flags: list[str], buckets: int,
             peer: bool = True) -> dict:
    ours_dir = os.path.join(work, f"ours-{seed}")
    argv = B.w2v_argv(lines, ours_dir, None, ["--subwords", "--buckets", str(buckets), "--epochs", str(epochs),
                                              "--threads", str(threads), "--seed", str(seed), *flags])
    ours = B.run_child("ours", argv)
    with open(os.path.join(ours_dir, "metrics.json")) as fh:
        metrics = json.load(fh)
    trained = metrics["seconds"]["train"]
    sizes = {"model_mb": os.path.getsize(os.path.join(ours_dir, "model.npz")) / 1e6, "input_mb": input_mb(ours_dir)}
    if "distributed" in metrics:  # --replicas K: what the syncs moved
        dist = metrics["distributed"]
        sizes.update(sync_mb=dist["bytes"] / 1e6, syncs=dist["syncs"], sync_fraction=dist["sync_fraction"])
    row = {"seed": seed, "ours": {"wall": ours.wall, "rss_mb": ours.peak_rss_mb, "train_s": trained, **sizes,
                                  **score_ours(ours_dir)}}
    if not peer:
        print(json.dumps(row), flush=True)
        return row
    ft_bin = os.path.join(work, f"fasttext-{seed}.bin")
    ft = B.run_child("fasttext", [sys.executable, os.path.join(B.HERE, "peer_fasttext_subwords.py"), lines, ft_bin,
                                  str(epochs), str(threads), str(buckets)])
    row["fasttext"] = {"wall": ft.wall, "rss_mb": ft.peak_rss_mb, **score_fasttext(ft_bin)}
    row["speedup"] = ft.wall / ours.wall
    print(json.dumps(row), flush=True)
    return row


def interop(run_dir: str, unseen_count: int = 1000) -> dict:
    """Our .bin of ``run_dir`` read by fastText and gensim: the largest difference from our
    vectors over the vocabulary and ``unseen_count`` words outside it."""
    import fasttext
    from gensim.models.fasttext import load_facebook_model

    from w2v_nce.artifact.model import Model
    from w2v_nce.subwords.fasttext_bin import export_fasttext

    model = Model.load(run_dir)
    rng = np.random.default_rng(0)
    unseen = ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyzäöü"), rng.integers(3, 14))) + "q"
              for _ in range(unseen_count)]
    unseen = [w for w in unseen if w not in set(model.words)]
    ours_in, ours_out = model.word_vectors(), np.stack([model.unseen_vectors()(w) for w in unseen])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.bin")
        export_fasttext(path, model, force=False)
        ft = fasttext.load_model(path)
        gs = load_facebook_model(path).wv
        result = {}
        for name, get in (("fasttext", ft.get_word_vector), ("gensim", gs.get_vector)):
            d_in = max(float(np.abs(get(w) - ours_in[i]).max()) for i, w in enumerate(model.words))
            d_out = max(float(np.abs(get(w) - ours_out[i]).max()) for i, w in enumerate(unseen))
            result[name] = {"vocabulary_max_abs": d_in, "unseen_max_abs": d_out, "unseen_words": len(unseen)}
    print(json.dumps(result))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(B.SHARED, "mix8.gz"))
    ap.add_argument("--max-mb", type=float, default=0, help="train on the corpus's first N MB only")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--buckets", type=int, default=2_000_000)
    ap.add_argument("--flags", default="", help="extra flags for our run, e.g. '--loss neg'")
    ap.add_argument("--no-peer", action="store_true", help="our runs only (variants of our settings)")
    ap.add_argument("--workdir", default=os.path.join(B.REPO, "bench-out"))
    ap.add_argument("--interop", metavar="RUN_DIR", help="only check our .bin of this run against fastText and gensim")
    ap.add_argument("--score", nargs="+", metavar="PATH",
                    help="only score trained models: our run directories, fastText .bin files")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if args.interop:
        interop(args.interop)
        return
    if args.score:
        for path in args.score:
            print(json.dumps({"path": path, **(score_fasttext(path) if path.endswith(".bin") else score_ours(path))}))
        return
    os.makedirs(args.workdir, exist_ok=True)
    src = args.corpus
    if args.max_mb:
        src = B.corpus_slice(src, os.path.join(args.workdir, f"slice-{args.max_mb:g}MB.txt"), int(args.max_mb * 1e6))
    lines = B.lines_of_tokens(src, B.lines_path(args.workdir, src))
    rows = [run_pair(lines, args.workdir, args.epochs, args.threads, int(s), args.flags.split(), args.buckets,
                     not args.no_peer) for s in args.seeds.split(",")]
    sides = ("ours",) if args.no_peer else ("ours", "fasttext")
    summary = {side: {k: float(np.mean([r[side][k] for r in rows])) for k in rows[0][side]} for side in sides}
    if not args.no_peer:
        summary["speedup"] = float(np.mean([r["speedup"] for r in rows]))
    print("mean over seeds:", json.dumps(summary))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "mean": summary, "args": vars(args)}, fh, indent=2)


if __name__ == "__main__":
    main()
