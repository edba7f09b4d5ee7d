"""Cost of a checkpoint: seconds to write checkpoint.npz for a model of V words x D dims, and
that cost as a fraction of the default checkpoint interval (10 minutes).

    python scripts/bench_checkpoint.py                 # V = 68k (mix8 at min-count 5), 300k, 1M; D = 100, 300
"""

import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from w2v_nce.artifact.model import Model  # noqa: E402
from w2v_nce.config import Config  # noqa: E402
from w2v_nce.run.job import save_checkpoint
from w2v_nce.train import Tallies, TrainState  # noqa: E402


class _FakeTrainer:
    def __init__(self):
        self.state = TrainState(rng=np.zeros((2, 16), np.uint64))
        self._scratch = []


def main() -> None:
    interval = Config().checkpoint_every * 60
    print(f"{'V':>9} {'D':>4} {'size MB':>8} {'write s':>8} {'% of 10 min':>11}")
    for V, D in [(67_914, 100), (300_000, 100), (1_000_000, 100), (1_000_000, 300)]:
        words = [f"w{i}" for i in range(V)]
        rng = np.random.default_rng(0)
        m = Model(words, np.arange(V, 0, -1, dtype=np.int64), rng.random((V, D), np.float32),
                  rng.random((V, D), np.float32), np.zeros(V, np.float32), {})
        with tempfile.TemporaryDirectory(dir=os.getcwd()) as d:
            best = 1e9
            for _ in range(3):
                t = time.perf_counter()
                path = save_checkpoint(d, Config(), m, _FakeTrainer(), [], Tallies(), [])
                best = min(best, time.perf_counter() - t)
            size = os.path.getsize(path) / 2**20
        print(f"{V:9,} {D:4} {size:8.0f} {best:8.2f} {100 * best / interval:10.2f}%")


if __name__ == "__main__":
    main()
