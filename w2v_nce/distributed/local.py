"""The in-process backend: K replicas in this process, each its own model copy and ``Trainer``.

For tests and for measuring what K does to quality on one machine. The replicas of a round
run concurrently (one Python thread each, driving its Trainer's T worker threads; the kernels
release the GIL). ``fail`` injects faults: ``{round: replica}`` makes that replica die at the
end of its span in that round (its work is in its matrices but never reported, as when a
process is killed before answering).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..config import Config
from ..corpus import Corpus
from ..errors import ResourceError
from ..job import _available_memory, estimate_memory
from ..kernels.records import TOUCHED_IN, TOUCHED_OUT
from ..model import Model
from ..train import Trainer, TrainState
from ..vocab import Vocab
from .driver import ReplicaLost, RoundResult, copy_state, replica_config, replica_threads
from .shares import trainer_share
from .sync import SyncStats, average_touched


class LocalBackend:
    name = "local"
    counts_remotely = False

    def __init__(self, replicas: int, fail: dict[int, int] | None = None):
        self.replicas = replicas
        self.fail = dict(fail or {})
        self.rounds = 0
        self.trainers: list[Trainer | None] = [None] * replicas
        self._corpora: list[Corpus] = []
        self._closing = threading.Lock()

    def open(self, cfg: Config, fingerprint: list) -> None:
        pass  # one machine: the job has already checked the corpus

    def count(self, cfg: Config, corpus: Corpus) -> None:
        return None  # one machine: the driver's own parallel count is the count

    def start(self, cfg: Config, vocab: Vocab, model: Model, states: list[TrainState]) -> None:
        self.cfg, self.vocab = replica_config(cfg, self.replicas, replica_threads(cfg, self.replicas)), vocab
        need = self.replicas * estimate_memory(len(vocab), self.cfg)
        avail = _available_memory()
        if avail is not None and need > 0.9 * avail:
            raise ResourceError(f"{self.replicas} in-process replicas need about {need / 2**30:.1f} GiB but only "
                                f"{avail / 2**30:.1f} GiB is available; use fewer --replicas or a smaller model")
        for k in range(self.replicas):
            self.trainers[k] = self._trainer(k, model, states[k])

    def _trainer(self, k: int, model: Model, state: TrainState) -> Trainer:
        """Replica k: a copy of ``model``'s matrices, its position, its share of the corpus."""
        copy = Model(model.words, model.counts, model.w_in.copy(), model.w_out.copy(), model.bias.copy(),
                     dict(model.config))
        corpus = Corpus(self.cfg.corpus, lowercase=self.cfg.lowercase)
        self._corpora.append(corpus)
        return Trainer(self.cfg, corpus, self.vocab, copy, copy_state(state), track_touched=True,
                       share=trainer_share(k, self.replicas))

    def train_round(self, budgets: dict[int, int]) -> dict[int, RoundResult | ReplicaLost]:
        self.rounds += 1
        doomed = self.fail.pop(self.rounds, None)

        def span(k: int) -> RoundResult | ReplicaLost:
            r = self.trainers[k].run(budget_words=budgets[k])
            if k == doomed:
                return ReplicaLost(k, f"injected failure in round {self.rounds}")
            return RoundResult(r.tallies, copy_state(r.state), r.epoch_ended, r.epoch_reader)

        with ThreadPoolExecutor(max_workers=max(1, len(budgets))) as pool:
            futures = {k: pool.submit(span, k) for k in budgets}
            return {k: f.result() for k, f in futures.items()}  # a DivergenceError propagates

    def sync(self, rows: int, skip: frozenset[int] = frozenset(), every_row: bool = False) -> SyncStats:
        """Average rows [0, rows) over the replicas not in ``skip`` (lost: refilled afterwards);
        ``every_row``: as if every replica had touched every row."""
        live = [t for k, t in enumerate(self.trainers) if k not in skip]
        mats = [(t.model.w_in, t.model.w_out, t.model.bias) for t in live]
        marks = [t.touched() for t in live]
        if every_row:
            marks = [np.full_like(m, TOUCHED_IN | TOUCHED_OUT) for m in marks]
        stats = average_touched(mats, marks, rows, parts=len(live))
        for t in live:
            t.clear_touched(rows)
        return stats

    def restore(self, replica: int, peer: int, state: TrainState) -> None:
        """A fresh replica (as a restarted process would be), refilled with ``peer``'s model."""
        self.trainers[replica] = None
        self.trainers[replica] = self._trainer(replica, self.trainers[peer].model, state)

    def arrays(self, replica: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = self.trainers[replica].model
        return m.w_in, m.w_out, m.bias

    def close(self) -> None:
        """Close the replicas' corpora; idempotent and thread-safe (see ``RayBackend.close``)."""
        with self._closing:
            for c in self._corpora:
                c.close()
            self._corpora = []
