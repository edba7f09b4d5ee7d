"""The fixed costs at the end of a job at a large vocabulary: writing the outputs and scoring the
bundled evaluation sets, on a synthetic model (no training), by output choice.

    python scripts/bench_outputs.py                         # V = 1.5M, D = 300 (en-mix --min-count 1's size)
    python scripts/bench_outputs.py --rows 100000 --dim 100

Each variant runs ``run.outputs.write_outputs`` (what a job does after training) in a child
process on the same random float32 model (N(0, 0.1), so every value prints 9 significant digits,
as trained ones mostly do), into a temp directory removed afterwards, and reports its phases from
metrics.json: ``write`` (model.npz, vectors.txt/.bin, vocab.tsv, config.yaml) and ``evaluate``
(the evaluation's time after the writing ended: it runs beside it), with the child's wall time
and peak RSS. The words are the bundled analogy set's words first (so the evaluation does its
real work), then synthetic ones.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib as B  # noqa: E402

VARIANTS = {
    "default": {},
    "--binary": {"binary": True},
    "--no-text-vectors --binary": {"text_vectors": False, "binary": True},
    "--no-text-vectors --no-evaluate": {"text_vectors": False, "evaluate": False},
}


def child(rows: int, dim: int, out: str, settings: dict) -> None:
    import numpy as np

    from w2v_nce.artifact.model import Model
    from w2v_nce.config import Config
    from w2v_nce.run.outputs import write_outputs
    from w2v_nce.vocabulary.vocab import Vocab

    seen: dict[str, None] = {}
    with open(os.path.join(B.EVAL, "questions-words.txt"), encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith(":"):
                seen.update(dict.fromkeys(w.lower() for w in line.split()))
    words = list(seen)[:rows] + [f"w{i}" for i in range(max(0, rows - len(seen)))]
    counts = np.arange(rows, 0, -1, dtype=np.int64)
    w_in = np.random.default_rng(0).standard_normal((rows, dim), dtype=np.float32) * np.float32(0.1)
    model = Model(words, counts, w_in, w_in.copy(), np.zeros(rows, np.float32), {})
    write_outputs(Config(dim=dim, **settings), model, Vocab(words, counts), out, {}, lambda line: None, {})


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_500_000)
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=B.REPO)
    print(f"# bench_outputs {time.strftime('%Y-%m-%d')}, commit {commit.stdout.strip()}, nproc {os.cpu_count()}, "
          f"V = {args.rows:,}, D = {args.dim}")
    print("| outputs | write s | evaluate s (after writing) | wall s | peak RSS MB | files MB |")
    print("|---|---|---|---|---|---|")
    for name in args.variants.split(","):
        out = tempfile.mkdtemp(prefix="w2v-bench-outputs-")
        try:
            run = B.run_child(name, [sys.executable, __file__, "child", str(args.rows), str(args.dim), out,
                                     json.dumps(VARIANTS[name])])
            with open(os.path.join(out, "metrics.json")) as fh:
                seconds = json.load(fh)["seconds"]
            size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)) / 1e6
            print(f"| {name} | {seconds['write']:.1f} | {seconds['evaluate']:.1f} | {run.wall:.1f} | "
                  f"{run.peak_rss_mb:,.0f} | {size:,.0f} |", flush=True)
        finally:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
