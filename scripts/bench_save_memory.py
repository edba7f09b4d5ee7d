"""Peak RSS of ``Model.save`` against the length of the longest word: flat, because words are
stored as UTF-8 bytes + offsets (a fixed-width str array needed V x longest x 4 bytes).

Each size runs in a child process: a model of V words x D dims whose last word is L bytes
long; the child resets its RSS high-water mark (/proc/self/clear_refs) just before the save
and reports it after (VmHWM), next to its RSS before the save. Files go to a temp dir.

    python scripts/bench_save_memory.py                     # V = 100k, D = 100, L = 1 KB, 100 KB, 1 MB
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def child(V: int, D: int, longest: int, directory: str) -> None:
    from w2v_nce.artifact.model import Model

    words = [f"w{i}" for i in range(V - 1)] + ["x" * longest]
    rng = np.random.default_rng(0)
    m = Model(words, np.arange(V, 0, -1, dtype=np.int64), rng.random((V, D), np.float32),
              rng.random((V, D), np.float32), np.zeros(V, np.float32), {})
    Model([], np.zeros(0, np.int64), np.zeros((0, D), np.float32), np.zeros((0, D), np.float32),
          np.zeros(0, np.float32), {}).save(os.path.join(directory, "warm.npz"))  # imports, first call
    before = _status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current RSS
    path = os.path.join(directory, f"model-{longest}.npz")
    m.save(path)
    print(json.dumps({"before": before, "peak": _status_mb("VmHWM"), "file_mb": os.path.getsize(path) / 2**20}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--words", type=int, default=100_000, help="V")
    ap.add_argument("--dim", type=int, default=100, help="D")
    ap.add_argument("--longest", default="1000,100000,1000000", help="comma-separated bytes")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        return child(args.words, args.dim, args.child, args.dir)
    V, D = args.words, args.dim
    print(f"V = {V:,} words, D = {D}: matrices {8 * V * D / 2**20:.0f} MiB")
    print(f"{'longest word':>12} {'RSS before MiB':>14} {'peak in save MiB':>16} {'save adds MiB':>13} "
          f"{'model.npz MiB':>13} {'fixed-width words would be':>27}")
    with tempfile.TemporaryDirectory(prefix="bench-save-", dir=os.getcwd()) as d:
        for longest in (int(x) for x in args.longest.split(",")):
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--words", str(V), "--dim", str(D),
                                  "--child", str(longest), "--dir", d], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{longest:12,} {r['before']:14.0f} {r['peak']:16.0f} {r['peak'] - r['before']:13.0f} "
                  f"{r['file_mb']:13.1f} {V * longest * 4 / 2**30:23.1f} GiB")


if __name__ == "__main__":
    main()
