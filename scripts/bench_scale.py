"""The whole job against gensim at large vocabularies and dimensions (issue 33): for each
(corpus, min_count, dim), w2v-nce (nce defaults) and gensim 4.4 (word2vec.c's skip-gram settings,
iterable mode) as child processes, 1 epoch, 2 threads: wall time, training words/s per thread,
peak RSS (VmHWM, ``benchlib.run_child``) and our job's phase shares (metrics.json "seconds").

    python scripts/bench_scale.py [--configs en-mix:1:300,mix8:5:100] [--threads 2] [--no-peer] [--flags '...']

gensim is a benchmark-only peer (pip install gensim==4.4.0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import benchlib as B

CORPORA = {"mix8": "mix8.gz", "en-mix": "en-mix.txt.gz"}


def one_config(corpus: str, min_count: int, dim: int, threads: int, work: str, peer: bool, flags: list[str]) -> dict:
    src = os.path.join(B.SHARED, CORPORA[corpus])
    lines = B.lines_of_tokens(src, B.lines_path(work, src))
    out = os.path.join(work, f"scale-{corpus}-{min_count}-{dim}")
    ours = B.run_child("w2v-nce", B.w2v_argv(lines, out, None, ["--min-count", str(min_count), "--dim", str(dim),
                                                                "--epochs", "1", "--threads", str(threads), *flags]))
    with open(os.path.join(out, "metrics.json")) as fh:
        metrics = json.load(fh)
    phases = B.job_phases(out, ours.wall)
    words = metrics["epochs"][-1]["words"] if metrics.get("epochs") else None
    row = {"corpus": corpus, "min_count": min_count, "dim": dim, "flags": flags, "vocab": metrics["vocabulary"]["words"],
           "ours": {"wall": ours.wall, "rss_mb": ours.peak_rss_mb, "phases": phases,
                    "train_words_per_s_per_thread": words / phases["train"] / threads if words else None,
                    "write_and_evaluate_share": (phases.get("write", 0) + phases.get("evaluate", 0)) / ours.wall}}
    if peer:
        gensim = B.run_child("gensim", [*B.gensim_argv(lines, out + "-gensim.txt", 1, threads), str(dim),
                                        str(min_count)])
        row["gensim"] = {"wall": gensim.wall, "rss_mb": gensim.peak_rss_mb}
        row["speedup"] = gensim.wall / ours.wall
        row["rss_ratio"] = ours.peak_rss_mb / gensim.peak_rss_mb
        os.unlink(out + "-gensim.txt")
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="en-mix:1:300", help="corpus:min_count:dim,... (corpus: mix8 or en-mix)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--flags", default="", help="extra flags for our runs, e.g. '--no-text-vectors'")
    ap.add_argument("--workdir", default=os.path.join(B.REPO, "bench-out"))
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    rows = []
    for spec in args.configs.split(","):
        corpus, min_count, dim = spec.split(":")
        rows.append(one_config(corpus, int(min_count), int(dim), args.threads, args.workdir, not args.no_peer,
                               args.flags.split()))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    sys.exit(main())
