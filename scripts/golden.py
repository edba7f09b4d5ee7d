"""Golden outputs: hashes of what a seeded one-thread run writes, under each preset and loss.

Trains the bundled sample (``data/sample.txt``) with ``--threads 1 --seed 1`` under every
preset in ``configs/``, the three losses, and two in-process replicas with a fixed round
(``--replicas 2 --round-words 5000``), and prints one line per run: the SHA-256 (first 16 hex
digits) of vectors.txt, vocab.tsv, each array of model.npz, and metrics.json with its timings
and run-dependent fields removed. A refactor that changes none of these lines changed no
result; compare two trees with ``diff <(python scripts/golden.py) <(cd OTHER && python scripts/golden.py)``.

    python scripts/golden.py [--only NAME] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO, "data", "sample.txt")
BASE = ["--threads", "1", "--seed", "1", "--epochs", "2", "--quiet", "--checkpoint-every", "0"]
RUNS = {
    "tiny": ["-c", "configs/tiny.yaml"],
    "default": ["-c", "configs/default.yaml", "--min-count", "2", "--dim", "32"],
    "word2vec": ["-c", "configs/word2vec.yaml", "--min-count", "2", "--dim", "32"],
    "word2vec-window": ["-c", "configs/word2vec-window.yaml", "--min-count", "2", "--dim", "32"],
    "word2vec-cbow": ["-c", "configs/word2vec-cbow.yaml", "--min-count", "2", "--dim", "32"],
    "word2vec-cbow-batch": ["-c", "configs/word2vec-cbow-batch.yaml", "--min-count", "2", "--dim", "32"],
    "subwords": ["-c", "configs/subwords.yaml", "--min-count", "2", "--dim", "32", "--buckets", "20000"],
    "neg": ["-c", "configs/tiny.yaml", "--loss", "neg"],
    "sampled_softmax": ["-c", "configs/tiny.yaml", "--loss", "sampled_softmax"],
    "replicas2": ["-c", "configs/tiny.yaml", "--replicas", "2", "--round-words", "5000"],
}
# metrics.json fields that depend on the clock, the machine or the code's bookkeeping, not the result
VOLATILE = {"seconds", "words_per_sec", "time", "resolved", "distributed", "heldout_loss", "path"}


def _h(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def hashes(out: str) -> dict[str, str]:
    got = {name: _h(open(os.path.join(out, name), "rb").read()) for name in ("vectors.txt", "vocab.tsv")}
    with np.load(os.path.join(out, "model.npz"), allow_pickle=False) as z:
        for key in sorted(z.files):
            if key != "config":
                got[f"model.{key}"] = _h(np.ascontiguousarray(z[key]).tobytes())
    metrics = json.load(open(os.path.join(out, "metrics.json"), encoding="utf-8"))
    got["metrics"] = _h(json.dumps(_strip(metrics), sort_keys=True).encode())
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="run only this one")
    ap.add_argument("--keep", help="write the runs here (default: a temporary directory)")
    args = ap.parse_args()
    root = args.keep or tempfile.mkdtemp(prefix="w2v-golden-")
    for name, flags in RUNS.items():
        if args.only and name != args.only:
            continue
        out = os.path.join(root, name)
        cmd = [sys.executable, "-m", "w2v_nce.cli", "train", SAMPLE, *flags, *BASE, "-o", out, "--force"]
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{name}: FAILED ({r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode})")
            continue
        print(name, " ".join(f"{k}={v}" for k, v in hashes(out).items()), flush=True)


if __name__ == "__main__":
    main()
