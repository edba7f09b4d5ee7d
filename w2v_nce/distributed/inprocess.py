"""The in-process backend: K replicas in this process, each its own ``Trainer`` (K = 1: one machine).

K = 1 trains the job's model in place (no copy) on the calling thread, so the loop's tick
(progress, the divergence probe, a checkpoint falling due, a signal) runs between its chunks.
K > 1 replicas each hold a copy of the model and run concurrently (one Python thread each,
driving its Trainer's T worker threads; the kernels release the GIL), while the calling thread
ticks; this is for tests and for measuring what K does to quality on one machine.

``fail`` injects faults: ``{round: replica}`` makes that replica die at the end of its span in
that round (its work is in its matrices but never reported, as when a process is killed
before answering); a replica in ``gone`` cannot be restarted (its node is gone), so the run
goes on with the others.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from ..artifact.model import Model
from ..config import Config, resolve
from ..phrases.join import run_corpus
from ..run.memory import check_memory
from ..text.corpus import Corpus
from ..train import Tallies, Trainer, TrainState
from ..vocabulary.vocab import Vocab
from .replica import (
    ReplicaGone,
    ReplicaLost,
    RoundPlan,
    RoundResult,
    copy_state,
    replica_config,
    replica_trainer,
    train_span,
)
from .sync import BOTH, SyncStats, average_touched, stretches

TICK_SECONDS = 0.5


class LocalBackend:
    name = "local"
    counts_remotely = False

    def __init__(self, replicas: int, fail: dict[int, int] | None = None, gone: set[int] | None = None):
        self.replicas = replicas
        self.fail = dict(fail or {})
        self.gone = set(gone or ())
        self.rounds = 0
        self.trainers: list[Trainer | None] = [None] * replicas
        self._corpora: list[Corpus] = []
        self._closing = threading.Lock()
        self._round_start: list[Tallies] = []
        self._job_corpus: Corpus | None = None

    def open(self, cfg: Config, corpus: Corpus) -> None:
        self._job_corpus = corpus  # one machine: the job has checked it (K = 1 reads it: stdin is spooled once)
        self.threads = resolve(cfg, self.replicas).threads

    def count(self, cfg: Config, corpus: Corpus) -> None:
        return None  # one machine: the job's own parallel count is the count

    def start(self, cfg: Config, vocab: Vocab, model: Model, states: list[TrainState]) -> None:
        self.job_cfg, self.cfg, self.vocab = cfg, replica_config(cfg, self.replicas), vocab
        if self.replicas > 1:  # one replica trains the job's model, checked when the vocabulary was
            check_memory(len(vocab), self.cfg, copies=self.replicas, where="in-process ")
        for k in range(self.replicas):
            self.trainers[k] = self._trainer(k, model, states[k])

    def _trainer(self, k: int, model: Model, state: TrainState) -> Trainer:
        """Replica k: the model itself (K = 1) or a copy of its matrices, its position, its parts."""
        if self.replicas > 1:
            model = Model.from_arrays(model.words, model.counts, model.input_table().copy(), model.w_out.copy(),
                                      model.bias.copy(), dict(model.config))
        corpus = self._job_corpus if self.replicas == 1 and self._job_corpus is not None else self._new_corpus()
        return replica_trainer(self.cfg, corpus, self.vocab, model, copy_state(state), k, self.replicas)

    def _new_corpus(self) -> Corpus:
        """A reader of its own for a replica of K > 1, as on a cluster."""
        corpus = run_corpus(self.cfg)
        self._corpora.append(corpus)
        return corpus

    def train_round(self, plans: dict[int, RoundPlan], stop: threading.Event,
                    tick) -> dict[int, RoundResult | ReplicaLost]:
        """Every planned replica's span; ``tick`` runs on this thread every ``TICK_SECONDS`` and
        may set ``stop`` (the spans end at their next chunk boundary)."""
        self.rounds += 1
        doomed = self.fail.pop(self.rounds, None)
        self._round_start = [t.tallies() for t in self.trainers]
        on_tick = (lambda _: tick()) if self.replicas == 1 else None  # K > 1: this thread ticks below

        def span(k: int) -> RoundResult | ReplicaLost:
            r = train_span(self.trainers[k], plans[k], stop, on_tick, self._tick_seconds())
            if k == doomed:
                return ReplicaLost(k, f"injected failure in round {self.rounds}")
            return r

        if self.replicas == 1:
            return {k: span(k) for k in plans}
        with ThreadPoolExecutor(max_workers=max(1, len(plans))) as pool:
            futures = {k: pool.submit(span, k) for k in plans}
            while wait(futures.values(), timeout=self._tick_seconds()).not_done:
                tick()
            return {k: f.result() for k, f in futures.items()}  # a DivergenceError propagates

    def _tick_seconds(self) -> float:
        """Ticks come every half second, or as often as progress records are asked for."""
        return min(TICK_SECONDS, self.cfg.progress_every)

    def progress(self) -> Tallies:
        """This round's tallies so far, over the replicas (read without locks)."""
        out = Tallies()
        for t, start in zip(self.trainers, self._round_start):
            out = out.plus(t.tallies().minus(start))
        return out

    def check_finite(self) -> bool:
        return all(t.check_finite() for t in self.trainers)

    def sync(self, rows: int, skip: frozenset[int] = frozenset(), every_row: bool = False) -> SyncStats:
        """Average rows [0, rows) over the replicas not in ``skip`` (lost: refilled afterwards);
        ``every_row``: as if every replica had touched every row."""
        live = [t for k, t in enumerate(self.trainers) if k not in skip]
        mats = [(t.model.input_table(), t.model.w_out, t.model.bias) for t in live]
        marks = [t.touched() for t in live]
        if every_row:
            marks = [np.full_like(m, BOTH) for m in marks]
        sent = 0
        for lo, hi, bits in stretches(rows, len(self.vocab), self.cfg.subword_settings(), self.cfg.dim):
            sent += average_touched(mats, marks, hi, len(live), lo, bits).bytes
            for t in live:
                t.clear_touched(hi, lo, bits)
        return SyncStats(rows, sent)

    def restore(self, replica: int, peer: int, state: TrainState) -> None:
        """A fresh replica (as a restarted process would be), refilled with ``peer``'s model."""
        if replica in self.gone:
            raise ReplicaGone(f"replica {replica} is gone")
        old, self.trainers[replica] = self.trainers[replica], None
        old.close()
        self.trainers[replica] = self._trainer(replica, self.trainers[peer].model, state)

    def shrink(self, gone: list[int], states: list[TrainState]) -> None:
        """Go on with the others, renumbered from 0, each keeping its (synced) model and taking
        the position ``states`` gives it (the lost replicas' parts handed out)."""
        models = [t.model for k, t in enumerate(self.trainers) if k not in gone]
        for t in self.trainers:
            t.close()
        self.replicas -= len(gone)
        self.gone = set()
        self.cfg = replica_config(self.job_cfg, self.replicas, self.cfg.threads)
        self.trainers = [replica_trainer(self.cfg, self._new_corpus(), self.vocab, m,
                                         copy_state(s), k, self.replicas) for k, (m, s) in enumerate(zip(models, states))]

    def arrays(self, replica: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = self.trainers[replica].model
        return m.input_table(), m.w_out, m.bias

    def close(self) -> None:
        """Stop the replicas' readers and close their corpora; idempotent and thread-safe. One
        replica lets go of its model: the job's outputs hold the same matrices and free them once
        written (peak RSS); K replicas keep theirs (``arrays`` reads them after the run)."""
        with self._closing:
            for t in self.trainers:
                if t is not None:
                    t.close()
                    if self.replicas == 1:
                        t.model = None
            for c in self._corpora:
                c.close()
            self._corpora = []
