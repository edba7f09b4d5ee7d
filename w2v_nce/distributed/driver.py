"""The distributed training loop, one for every backend: rounds, syncs, events, checkpoints, faults.

A round: every replica still in the epoch trains ``round_words`` in-vocabulary tokens of its
share (``shares.trainer_share``) from its own position, then the replicas average the rows
they touched (``sync``): the top ``tier_rows(n, sync_base, V)`` rows at sync n; all rows once
every replica has ended the epoch, before a checkpoint, and after a replica was lost.

The lr clock: each replica's ``TrainState.clock`` is the global position in the epoch's id
stream (a replica's clock also advances over the chunks it skips), so the lr of every chunk is
the one a single machine would use for it; K = 1 with one thread and a seed is the
single-machine run bit for bit. Rounds are synchronous: the driver waits for every replica,
so a run is deterministic for a given K with one thread per replica.

Faults: a replica that dies in a round (``ReplicaLost``) loses that round's work; the others'
rows are fully synced, it is refilled with a healthy peer's model and restarts from its
position at the end of the previous round (its share since then is trained again). The rows
it had changed but not yet synced (rarer rows, since their last sync) are lost with it.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from ..checkpoint import CHECKPOINT_FILE, check_fingerprint
from ..config import Config, validate
from ..corpus import Corpus
from ..errors import ClusterError, Interrupted, UsageError
from ..events import EpochEnd, EventLog, Progress, ReplicaLost as ReplicaLostEvent, to_record
from ..job import (
    JobResult,
    Log,
    _count_vocabulary,
    _locked,
    _log_for,
    _remove_stale_outputs,
    _remove_stale_spills,
    _Signals,
    _write_outputs,
    counting_interrupted,
    finish_epoch_record,
    heldout_set,
    prepare_output_dir,
    resumed_config,
    vocabulary_of_count,
    vocabulary_counts,
)
from ..model import Model
from ..pairs import ReaderCounts
from ..splits import make_splits
from ..train import Tallies, TrainState, build_tables, init_model, learning_rate, total_clock
from ..vocab import CountBoundReached, CountResult, Vocab, count_splits, merge_counted
from .checkpoint import DistStart, load_distributed, save_distributed
from .sync import SyncStats, tier_rows


@dataclass
class RoundResult:
    """What one replica reports after its span of a round."""

    tallies: Tallies  # of the span
    state: TrainState  # its position after the span (a copy)
    epoch_ended: bool
    epoch_reader: ReaderCounts | None  # with epoch_ended: the reader's counts over the epoch


class ReplicaLost(Exception):
    """A replica's process (or, in-process, its injected failure) died during a call."""

    def __init__(self, replica: int, reason: str):
        super().__init__(f"replica {replica}: {reason}")
        self.replica, self.reason = replica, reason


class Backend(Protocol):
    """Where the replicas live. ``open`` checks what can be checked before counting (the
    cluster, the corpus on every node); ``start`` allocates the replicas (memory checked first)."""

    replicas: int
    name: str
    counts_remotely: bool  # ``count`` counts on the cluster (else it returns None and the driver counts)

    def open(self, cfg: Config, fingerprint: list) -> None: ...
    def count(self, cfg: Config, corpus: Corpus) -> CountResult | None: ...  # None: the driver counts
    def start(self, cfg: Config, vocab: Vocab, model: Model, states: list[TrainState]) -> None: ...
    def train_round(self, budgets: dict[int, int]) -> dict[int, "RoundResult | ReplicaLost"]: ...
    def sync(self, rows: int, skip: frozenset[int] = frozenset(), every_row: bool = False) -> SyncStats: ...
    def restore(self, replica: int, peer: int, state: TrainState) -> None: ...
    def arrays(self, replica: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    def close(self) -> None: ...


def copy_state(s: TrainState) -> TrainState:
    return TrainState.from_json(s.to_json(), None if s.rng is None else s.rng.copy())


def lr_factor(cfg: Config, replicas: int) -> float:
    """What each replica multiplies the lr schedule by: K with ``replica_lr_scale`` (an average of
    K replicas' updates is 1/K of their sum; measured in the README), else 1."""
    return float(replicas) if cfg.replica_lr_scale else 1.0


def replica_config(cfg: Config, replicas: int, threads: int) -> Config:
    """The settings a replica's Trainer runs with: its thread count and the scaled lr schedule."""
    f = lr_factor(cfg, replicas)
    return dataclasses.replace(cfg, threads=threads, alpha=cfg.alpha * f, min_alpha=cfg.min_alpha * f)


def round_words(cfg: Config, replicas: int) -> int:
    """Tokens each replica trains a round: ``--round-words``, else 4M / K² for K <= 4 and
    16M / K³ past it (at least 25k). With K × the lr (``lr_factor``) the replicas drift apart K
    times faster per token, and there are K of them to average: K = 2 with 1M and K = 4 with 250k
    keep analogy within a point of one process at 5 epochs, K = 4 with 1M does not; K = 8 needed
    31,250 (62,500: 3 points short). Measured in the README."""
    if cfg.round_words is not None:
        return cfg.round_words
    if replicas <= 4:
        return 4_000_000 // (replicas * replicas)
    return max(25_000, 16_000_000 // replicas**3)


def replica_threads(cfg: Config, replicas: int, cpus: int | None = None) -> int:
    """Threads per replica: ``--threads``, else the CPUs shared out (at least 1)."""
    return cfg.threads if cfg.threads else max(1, (cpus or os.cpu_count() or 1) // replicas)


# ---------------------------------------------------------------------------------------
# the entry points (the counterparts of job.run_training / job.resume_training)
# ---------------------------------------------------------------------------------------
def run_distributed(cfg: Config, backend: Backend, force: bool = False, log: Log | None = None,
                    handle_signals: bool = False, halt: threading.Event | None = None,
                    on_round: Callable[["_DistRun"], None] | None = None) -> JobResult:
    """Count, train K replicas with ``backend``, write the outputs into ``cfg.output``."""
    t_start = time.time()
    halt = halt or threading.Event()
    validate(cfg)
    cfg.corpus = [p if p == "-" else os.path.abspath(p) for p in cfg.corpus]
    cfg.heldout = [os.path.abspath(p) for p in cfg.heldout]
    if "-" in cfg.corpus:
        raise UsageError("distributed training reads the corpus on every replica; give files, not stdin ('-')")
    log = _log_for(cfg, log)
    with _Signals(halt, handle_signals) as sig:
        corpus = Corpus(cfg.corpus, lowercase=cfg.lowercase, spool_dir=cfg.output)
        early = None
        try:
            heldout_corpus = Corpus(cfg.heldout, lowercase=cfg.lowercase) if cfg.heldout else None
            one_part = sum(1 for s in make_splits(corpus, 2) if s.pieces) == 1  # e.g. a single .gz: it cannot be cut
            early = _EarlyCount(cfg, corpus) if backend.counts_remotely and one_part else None
            t = time.time()
            backend.open(cfg, corpus.fingerprint())  # the cluster and every node's corpus, before any output
            seconds = {"cluster": time.time() - t}  # metrics.json "seconds": this process's phases
            prepare_output_dir(cfg.output, force)
            with _locked(cfg.output, log):
                if force:
                    _remove_stale_outputs(cfg.output)
                t = time.time()  # "vocabulary": counting, or with an early count what is left of it
                counted = early.result(halt, sig) if early is not None else backend.count(cfg, corpus)
                if counted is not None:
                    vocab = vocabulary_of_count(cfg, corpus, counted, log)
                else:
                    vocab, counted = _count_vocabulary(cfg, corpus, halt, sig, log)
                seconds["vocabulary"] = time.time() - t
                model = init_model(cfg, vocab, build_tables(vocab.counts, cfg))
                start = DistStart(cfg, model, [TrainState() for _ in range(backend.replicas)], 0, corpus.fingerprint(),
                                  Tallies(), [])
                run = _DistRun(backend, start, corpus, heldout_corpus, vocab, halt, sig, log, counted, on_round)
                return run.finish(t_start, seconds)
        finally:
            if early is not None:  # an error before its result was taken: stop it (a no-op once it ended)
                early.cancel()
            backend.close()
            corpus.close()


class _EarlyCount:
    """A corpus of one part (a single compressed file: it cannot be cut) is counted by one
    process wherever that runs, so the driver counts it on a thread while the backend starts
    the cluster, instead of one actor counting it afterwards. The count is the one an actor's
    would be (``vocab.count_splits`` of the one split, then ``merge_counted``)."""

    def __init__(self, cfg: Config, corpus: Corpus):
        self._stop, self._done = threading.Event(), threading.Event()
        self._result: CountResult | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._count, args=(cfg, corpus), name="w2v-nce-count", daemon=True)
        self._thread.start()

    def _count(self, cfg: Config, corpus: Corpus) -> None:
        def progress(_nbytes: int) -> None:
            if self._stop.is_set():
                raise _CountCancelled()

        try:
            self._result = merge_counted([count_splits(corpus, make_splits(corpus, 1), cfg.max_token_bytes,
                                                       cfg.count_memory, progress=progress)])
        except CountBoundReached:
            self._result = None  # it must spill: the driver's counting pass does that
        except BaseException as exc:  # raised by ``result`` on the caller's thread
            self._error = exc
        finally:
            self._done.set()

    def result(self, halt: threading.Event, sig: _Signals) -> CountResult | None:
        """The count; None when it reached ``count_memory`` (the driver then counts, spilling).
        ``halt`` stops the wait and the count (``Interrupted``)."""
        while not self._done.wait(0.1):
            if halt.is_set():
                self.cancel()
                raise counting_interrupted(sig.signum)
        if self._error is not None:
            raise self._error
        return self._result

    def cancel(self) -> None:
        """Stop the count (it checks between blocks) and wait a little for its thread."""
        self._stop.set()
        self._thread.join(timeout=5.0)


class _CountCancelled(Exception):
    pass


def resume_distributed(out_dir: str, backend: Backend, threads: int | None = None, quiet: bool | None = None,
                       log: Log | None = None, handle_signals: bool = False, halt: threading.Event | None = None,
                       on_round: Callable[["_DistRun"], None] | None = None) -> JobResult:
    """Continue the distributed run in ``out_dir`` from its checkpoint (same K, any backend)."""
    t_start = time.time()
    halt = halt or threading.Event()
    start = load_distributed(out_dir)
    if len(start.states) != backend.replicas:
        raise UsageError(f"the checkpoint has {len(start.states)} replicas; resume with --replicas "
                         f"{len(start.states)} (each replica's share of the corpus depends on it)")
    cfg = resumed_config(start.cfg, out_dir, threads, quiet)
    log = _log_for(cfg, log)
    with _Signals(halt, handle_signals) as sig:
        corpus = Corpus(cfg.corpus, lowercase=cfg.lowercase)
        try:
            heldout_corpus = Corpus(cfg.heldout, lowercase=cfg.lowercase) if cfg.heldout else None
            check_fingerprint(start.fingerprint, corpus)
            t = time.time()
            backend.open(cfg, start.fingerprint)
            seconds = {"cluster": time.time() - t}
            with _locked(out_dir, log):
                _remove_stale_spills(out_dir)
                clock = min(s.clock for s in start.states)
                log(f"resuming {out_dir}: epoch {min(s.epoch for s in start.states) + 1}/{cfg.epochs}, "
                    f"{clock:,} words done, {backend.replicas} replicas")
                vocab = Vocab(start.model.words, start.model.counts)
                run = _DistRun(backend, start, corpus, heldout_corpus, vocab, halt, sig, log, None, on_round)
                return run.finish(t_start, seconds)
        finally:
            backend.close()
            corpus.close()


# ---------------------------------------------------------------------------------------
# one distributed run over time
# ---------------------------------------------------------------------------------------
class _DistRun:
    def __init__(self, backend: Backend, start: DistStart, corpus: Corpus, heldout_corpus: Corpus | None, vocab: Vocab,
                 halt: threading.Event, sig: _Signals, log: Log, counted: CountResult | None,
                 on_round: Callable[["_DistRun"], None] | None):
        self.backend, self.cfg, self.vocab, self.halt, self.sig, self.log = backend, start.cfg, vocab, halt, sig, log
        self.out, self.fingerprint, self.history = start.cfg.output, start.fingerprint, start.history
        self.base, self.done = start.totals, Tallies()  # before this process / trained by it
        self.states = [copy_state(s) for s in start.states]
        self.syncs = start.syncs
        self.sync_totals = {"rounds": 0, "syncs": 0, "full_syncs": 0, "bytes": 0, "seconds": 0.0, "round_seconds": 0.0,
                            "replicas_lost": 0, **start.sync_totals}
        self.vocabulary = vocabulary_counts(vocab, counted) if counted is not None else None
        self.heldout = heldout_set(self.cfg, corpus, heldout_corpus, vocab)
        self.total_clock = total_clock(self.cfg, vocab.total)
        self.checkpoint_request = threading.Event()  # set by on_round (tests) or when checkpoint_every is due
        self.on_round = on_round
        self._words, self._counts = start.model.words, start.model.counts
        backend.start(self.cfg, vocab, start.model, self.states)
        start.model.w_in = start.model.w_out = start.model.bias = None  # each replica holds its own copy

    # -- what the run reports -----------------------------------------------------------
    @property
    def epoch(self) -> int:
        """The epoch in progress: the one the slowest replica is in."""
        return min(s.epoch for s in self.states)

    @property
    def clock(self) -> int:
        """The global lr clock: the position every replica has reached."""
        return min(s.clock for s in self.states)

    def lr(self) -> float:
        """The replicas' lr at the global clock (the scaled schedule, see ``lr_factor``)."""
        f = lr_factor(self.cfg, self.backend.replicas)
        return learning_rate(self.clock, self.total_clock, self.cfg.alpha * f, self.cfg.min_alpha * f)

    def totals(self) -> Tallies:
        return self.base.plus(self.done)

    def model(self) -> Model:
        """Replica 0's matrices as a Model (after a full sync: every replica's)."""
        w_in, w_out, bias = self.backend.arrays(0)
        return Model(list(self._words), self._counts, w_in, w_out, bias, self.cfg.to_dict())

    # -- the loop -----------------------------------------------------------------------
    def finish(self, t_start: float, seconds: dict) -> JobResult:
        """Train, then write the outputs; ``seconds`` (the earlier phases: "cluster" = starting
        the backend and its replicas, "vocabulary") gains "train" (filling the replicas, the
        rounds, the last sync), and metrics.json gets them with "write" and "evaluate"."""
        t = time.time()
        metrics = self.train()
        seconds["train"] = time.time() - t
        model = self.model()
        # The replicas are no longer needed: stopping them (Ray's shutdown takes ~1 s, mostly
        # waiting on its processes) overlaps with writing and evaluating. The caller's
        # ``backend.close()`` waits for it (every backend's close is idempotent and thread-safe).
        closing = threading.Thread(target=self.backend.close, name="w2v-nce-close-backend", daemon=True)
        closing.start()
        _write_outputs(self.cfg, model, self.vocab, self.out, metrics, self.log, seconds)
        closing.join()
        try:
            os.unlink(os.path.join(self.out, CHECKPOINT_FILE))
        except FileNotFoundError:
            pass
        return JobResult(self.out, len(self.vocab), self.totals(), time.time() - t_start, metrics)

    def train(self) -> dict:
        cfg = self.cfg
        append = bool(self.history) or self.clock > 0
        with EventLog(os.path.join(self.out, "train.jsonl"), append, self.total_clock, self.clock, cfg.epochs,
                      cfg.quiet, self.log) as events:
            self.events = events
            self._interval_start(time.time())
            self._epoch_start, self._t_epoch = self.totals(), time.time()
            self._last_ckpt = time.time()
            while self.epoch < cfg.epochs:
                self._round()
        return self._metrics()

    def _round(self) -> None:
        cfg, epoch = self.cfg, self.epoch
        t0 = time.time()
        words = round_words(cfg, self.backend.replicas)
        budgets = {k: words for k, s in enumerate(self.states) if s.epoch == epoch}
        results = self.backend.train_round(budgets)
        before = list(self.states)  # a replica lost in this round restarts from here
        lost, readers, spans = [], [], {}
        for k, r in sorted(results.items()):
            if isinstance(r, ReplicaLost):
                lost.append(r)
                continue
            self.states[k] = r.state
            spans[k] = r.tallies
            if r.epoch_ended:
                readers.append(r.epoch_reader)
        t1 = time.time()
        epoch_over = all(s.epoch > epoch for s in self.states)
        every = 60 * cfg.checkpoint_every
        if every > 0 and t1 - self._last_ckpt >= every:
            self.checkpoint_request.set()
        full = epoch_over or bool(lost) or self.checkpoint_request.is_set() or self.halt.is_set()
        stats = self._sync_survivors(full, lost, before)
        for k, tallies in spans.items():
            if all(r.replica != k for r in lost):
                self.done = self.done.plus(tallies)
        epoch_over = all(s.epoch > epoch for s in self.states)
        self._account(t1 - t0, stats)
        gone = {r.replica for r in lost}
        for r in lost:
            self._refill(r, next(j for j in range(self.backend.replicas) if j not in gone))
        self.events.advance(self.clock)
        self._maybe_progress()
        if epoch_over:
            self._end_epoch(next((x for x in readers if x is not None), ReaderCounts()))
        if self.on_round is not None:
            self.on_round(self)
        if self.checkpoint_request.is_set() or self.halt.is_set():
            if not full:  # on_round asked after the sync
                self._account(0.0, self._sync(True), rounds=0)
            self.save_checkpoint()
            self.checkpoint_request.clear()
            if self.halt.is_set() and self.epoch < cfg.epochs:
                self._interrupt()

    def _sync_survivors(self, full: bool, lost: list[ReplicaLost], before: list[TrainState]) -> SyncStats:
        """The round's sync among the replicas alive; one that dies during it is lost too (its
        round undone), and the sync is redone among the others as a full average of every row
        (some may have applied the interrupted sync already)."""
        every_row = False
        while True:
            try:
                return self._sync(full or bool(lost), frozenset(r.replica for r in lost), every_row)
            except ReplicaLost as r:
                lost.append(r)
                self.states[r.replica] = before[r.replica]
                every_row = True
                if len(lost) >= self.backend.replicas:
                    raise ClusterError("every replica was lost; resume from the last checkpoint with "
                                       f"w2v-nce train --resume {self.out}") from None

    def _sync(self, full: bool, skip: frozenset[int] = frozenset(), every_row: bool = False) -> SyncStats:
        self.syncs += 1
        V = len(self.vocab)
        rows = V if full else tier_rows(self.syncs, self.cfg.sync_base, V)
        t = time.time()
        stats = self.backend.sync(rows, skip, every_row)
        stats.seconds = time.time() - t
        self.sync_totals["full_syncs"] += int(rows == V)
        return stats

    def _account(self, round_seconds: float, stats: SyncStats, rounds: int = 1) -> None:
        st = self.sync_totals
        st["rounds"] += rounds
        st["syncs"] += 1
        st["bytes"] += stats.bytes
        st["seconds"] += stats.seconds
        st["round_seconds"] += round_seconds
        self._iv_rounds += rounds
        self._iv_sync_s += stats.seconds
        self._iv_sync_b += stats.bytes

    def _refill(self, lost: ReplicaLost, peer: int) -> None:
        """After the full sync among the survivors: the lost replica gets the healthy ``peer``'s
        model and its own position from the end of the previous round (its share since is requeued)."""
        k = lost.replica
        self.backend.restore(k, peer, self.states[k])
        self.sync_totals["replicas_lost"] += 1
        self.events.emit(ReplicaLostEvent(k, self.states[k].clock, lost.reason, peer, round(time.time(), 3)))

    def _interval_start(self, now: float) -> None:
        self._last_progress, self._last_tallies = now, self.done
        self._iv_rounds, self._iv_sync_s, self._iv_sync_b = 0, 0.0, 0

    def _maybe_progress(self) -> None:
        now = time.time()
        if now - self._last_progress < self.cfg.progress_every or self.done.examples <= self._last_tallies.examples:
            return
        d = self.done.minus(self._last_tallies)
        self.events.emit(Progress(self.epoch + 1, self.clock, round(d.words / (now - self._last_progress), 1), self.lr(),
                                  d.mean_loss, d.examples, round(now, 3), self._iv_rounds, round(self._iv_sync_s, 4),
                                  self._iv_sync_b))
        self._interval_start(now)

    def _end_epoch(self, reader: ReaderCounts) -> None:
        d = self.totals().minus(self._epoch_start)
        now = time.time()
        ev = EpochEnd(self.epoch, self.clock, round(d.words / max(now - self._t_epoch, 1e-9), 1), self.lr(),
                      d.mean_loss, d.examples, round(now, 3), kept=d.kept, reader=reader.to_json())
        threads = replica_threads(self.cfg, 1)
        finish_epoch_record(ev, self.cfg, self.model() if self.heldout is not None else None, self.heldout, threads,
                            self.log)
        self.history.append(to_record(ev))
        self.events.emit(ev)
        self._epoch_start, self._t_epoch = self.totals(), now

    def save_checkpoint(self) -> str:
        """Only after a full sync: every replica holds the model stored."""
        path = save_distributed(self.out, DistStart(self.cfg, self.model(), self.states, self.syncs, self.fingerprint,
                                                    self.totals(), self.history, dict(self.sync_totals)))
        self._last_ckpt = time.time()
        return path

    def _interrupt(self) -> None:
        signum = self.sig.signum or signal.SIGINT
        name = signal.Signals(signum).name if self.sig.signum else "request"
        raise Interrupted(f"stopped by {name} after {self.clock:,} words; checkpoint "
                          f"{os.path.join(self.out, CHECKPOINT_FILE)}; resume with: w2v-nce train --resume {self.out}",
                          signum)

    def _metrics(self) -> dict:
        final = self.totals()
        metrics = {"epochs": self.history, "train_loss": final.mean_loss, "examples": final.examples,
                   "words": final.words, "kept_tokens": final.kept, "negative_draws": final.batches}
        if self.vocabulary is not None:
            metrics["vocabulary"] = self.vocabulary
        if self.history and "reader" in self.history[0]:
            metrics["reader"] = self.history[0]["reader"]
        st = self.sync_totals
        rounds = max(st["rounds"], 1)
        metrics["distributed"] = {
            "backend": self.backend.name, "replicas": self.backend.replicas,
            "threads_per_replica": replica_threads(self.cfg, self.backend.replicas),
            "round_words": round_words(self.cfg, self.backend.replicas), "sync_base": self.cfg.sync_base,
            "lr_factor": lr_factor(self.cfg, self.backend.replicas), **st,
            "bytes_per_round": st["bytes"] / rounds, "sync_seconds_per_round": st["seconds"] / rounds,
            "sync_fraction": st["seconds"] / max(st["seconds"] + st["round_seconds"], 1e-9)}
        return metrics
