"""One training run over time, for any number of replicas K: rounds, syncs, events, checkpoints, faults.

A round: every replica still in the epoch trains from the global lr clock for
``resolve(cfg).sync_seconds`` (or ``round_words`` tokens) on its own parts of the corpus, then
the replicas average the rows they touched (``backend.sync``): the top
``tier_rows(n, sync_base, V)`` rows at sync n; all rows once every replica has ended the epoch,
before a checkpoint, and after a replica was lost. K = 1 is one machine: a round runs to the
epoch's end (or until a checkpoint falls due or a signal arrives) and nothing is synced; with
one thread and a seed it is the single-machine run bit for bit.

While a round runs, ``_tick`` (every half second, on this thread) moves the progress bar,
writes progress records, probes the matrices for NaN and ends the round early when a
checkpoint is due or the run was asked to stop.

Faults (K > 1): a replica that dies in a round (``ReplicaLost``) loses that round's work; the
others' rows are fully synced, it is refilled with a healthy peer's model and restarts from its
position at the end of the previous round. The rows it had changed but not yet synced (rarer
rows, since their last sync) are lost with it.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from typing import Callable

from ..artifact.model import Model
from ..config import Config, resolve
from ..distributed.replica import (
    Backend,
    ReplicaGone,
    ReplicaLost,
    RoundPlan,
    copy_state,
    regroup,
)
from ..distributed.sync import SyncStats, tier_rows
from ..errors import (
    ClusterError,
    DivergenceError,
    Interrupted,
    OutputError,
)
from ..stream import HeldOut, ReaderCounts
from ..text.corpus import Corpus
from ..text.splits import make_splits
from ..train import DIVERGED_HINT, MAX_WEIGHT, Tallies, learning_rate, total_clock
from ..vocabulary.vocab import Vocab
from .checkpoint import CHECKPOINT_FILE, Checkpoint, check_unchanged, save_checkpoint
from .events import EVENTS_FILE, EpochEnd, EventLog, Progress, to_record
from .events import ReplicaLost as ReplicaLostEvent

PROBE_SECONDS = 5.0  # how often the divergence probe reads a few rows of the matrices

Log = Callable[[str], None]


class _AnyOf:
    """Set when any of its events is (a signal's ``halt`` ends a round at once, not at the next tick)."""

    def __init__(self, *events: threading.Event):
        self._events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)


class Run:
    """One run from a start (fresh or a checkpoint) to its metrics; the job writes the outputs.

    ``halt`` stops it at the next chunk boundary (a checkpoint, then ``Interrupted`` naming
    ``signum``'s signal); ``on_round`` (tests) runs after every round's sync."""

    def __init__(self, backend: Backend, start: Checkpoint, corpus: Corpus, vocab: Vocab, halt: threading.Event,
                 signum: Callable[[], int], log: Log, vocabulary: dict | None, heldout: Callable[[list | None], HeldOut | None],
                 on_round: Callable[["Run"], None] | None = None):
        self.backend, self.cfg, self.vocab, self.halt, self.signum, self.log = (backend, start.cfg, vocab, halt,
                                                                                  signum, log)
        self.K, self.corpus = backend.replicas, corpus
        self.resolved = dataclasses.replace(resolve(self.cfg, self.K), threads=backend.threads)
        self.out, self.fingerprint, self.history = start.cfg.output, start.fingerprint, start.history
        self.base, self.done = start.totals, Tallies()  # before this process / trained by it
        self.states = regroup([copy_state(s) for s in start.states], self.K)
        self.clock = self.states[0].clock  # the global lr clock: tokens every replica has trained, summed
        self.syncs, self.init = start.syncs, start.init
        self.sync_totals = {"rounds": 0, "syncs": 0, "full_syncs": 0, "bytes": 0, "seconds": 0.0, "round_seconds": 0.0,
                            "replicas_lost": 0, **start.sync_totals}
        self.vocabulary = vocabulary
        self.bytes_read = [0] * self.K  # each replica's corpus bytes read by its process (metrics)
        self._epoch_reader = ReaderCounts()  # the readers' counts of the epoch in progress, over the replicas
        parts = self.states[0].parts or self.K * self.resolved.threads  # the parts' cut matters for a holdout only
        self.heldout = heldout(make_splits(corpus, parts) if self.cfg.holdout_fraction > 0 else None)
        self.epoch_words = vocab.epoch_words
        self.total_clock = total_clock(self.cfg, self.epoch_words)
        self.checkpoint_request = threading.Event()  # set by on_round (tests) or when checkpoint_every is due
        self.on_round = on_round
        self._round_stop = threading.Event()
        self._words, self._counts = start.model.words, start.model.counts
        backend.start(self.cfg, vocab, start.model, self.states)
        if self.K > 1:
            start.model.w_in = start.model.w_out = start.model.bias = start.model.table = None  # each replica holds its own copy

    # -- what the run reports -----------------------------------------------------------
    @property
    def epoch(self) -> int:
        """Epochs every replica has ended (the one in progress is epoch + 1)."""
        return min(s.epoch for s in self.states)

    def lr(self, clock: int | None = None) -> float:
        """The replicas' lr at the global clock, or at ``clock`` (times ``resolve``'s lr factor)."""
        f = self.resolved.lr_factor
        return learning_rate(self.clock if clock is None else clock, self.total_clock, self.cfg.alpha * f,
                             self.cfg.min_alpha * f)

    def totals(self) -> Tallies:
        """Tallies over the whole run, earlier processes (before a resume) included."""
        return self.base.plus(self.done)

    def model(self) -> Model:
        """Replica 0's matrices as a Model (after a full sync: every replica's)."""
        inputs, w_out, bias = self.backend.arrays(0)
        return Model.from_arrays(list(self._words), self._counts, inputs, w_out, bias, self.cfg.to_dict())

    # -- the loop -----------------------------------------------------------------------
    def train(self) -> dict:
        """Rounds until every replica has trained every epoch; returns the metrics."""
        cfg = self.cfg
        append = bool(self.history) or self.clock > 0
        with EventLog(os.path.join(self.out, EVENTS_FILE), append, self.total_clock, self.clock, cfg.epochs,
                      cfg.quiet, self.log) as events:
            self.events = events
            now = time.time()
            self._interval_start(now, self.done)
            self._epoch_start, self._t_epoch = self.totals(), now
            self._last_ckpt = self._last_probe = now
            while self.epoch < cfg.epochs:
                self._round()
            self._probe()  # a short run may end between probes: nothing diverged is written
        return self._metrics()

    def _round(self) -> None:
        cfg, epoch, r = self.cfg, self.epoch, self.resolved
        t0 = time.time()
        self._round_stop.clear()
        plans = {k: RoundPlan(self.clock, r.sync_seconds, r.round_words)
                 for k, s in enumerate(self.states) if s.epoch == epoch}
        results = self.backend.train_round(plans, _AnyOf(self._round_stop, self.halt), self._tick)
        before = list(self.states)  # a replica lost in this round restarts from here
        lost, spans = [], {}
        for k, res in sorted(results.items()):
            if isinstance(res, ReplicaLost):
                lost.append(res)
                continue
            self.states[k], spans[k] = res.state, res.tallies
            self.bytes_read[k] = res.bytes_read
            if res.epoch_ended and res.epoch_reader is not None:
                self._epoch_reader.merge(res.epoch_reader)
        t1 = time.time()
        self._note_checkpoint_due(t1)
        full = self._full_sync_due(epoch) or bool(lost) or self.checkpoint_request.is_set() or self.halt.is_set()
        stats = self._sync_survivors(full, lost, before) if self.K > 1 else SyncStats(0, 0)
        gone = {x.replica for x in lost}
        self._advance_clock({k: t for k, t in spans.items() if k not in gone})
        self._account(t1 - t0, stats)
        self._recover(lost)
        self.events.advance(self.clock)
        self._maybe_progress()
        if self._epoch_over(epoch):
            check_unchanged(self.fingerprint, self.corpus, "during training")  # not a run short of its text
            self._end_epoch(self._epoch_reader)
            self._epoch_reader = ReaderCounts()
        if self.on_round is not None:
            self.on_round(self)
        if self.checkpoint_request.is_set() or self.halt.is_set():
            if self.K > 1 and not full:  # asked for after the round's sync (a signal, on_round)
                more: list[ReplicaLost] = []
                self._account(0.0, self._sync_survivors(True, more, list(self.states)), rounds=0)
                self._recover(more)
            if self.halt.is_set():
                self.save_checkpoint()  # the resume depends on it: a failure ends the run
            else:
                self._periodic_checkpoint()
            self.checkpoint_request.clear()
            if self.halt.is_set() and self.epoch < cfg.epochs:
                self._interrupt()

    def _full_sync_due(self, epoch: int) -> bool:
        """Every row is averaged when the last epoch ends (the outputs are replica 0's model), and
        at every epoch's end with ``full_sync`` epoch or a held-out loss (scored on replica 0)."""
        if not self._epoch_over(epoch):
            return False
        return self.cfg.full_sync == "epoch" or self.heldout is not None or epoch + 1 >= self.cfg.epochs

    def _epoch_over(self, epoch: int) -> bool:
        return all(s.epoch > epoch for s in self.states)

    def _advance_clock(self, spans: dict[int, Tallies]) -> None:
        """G' = G + each replica's tokens of the round (its clock advanced K per token, see
        ``distributed.replica``); every position then starts the next round at G'."""
        G = self.clock
        self.clock = G + sum((self.states[k].clock - G) // self.K for k in spans)
        for k, tallies in spans.items():
            self.done = self.done.plus(tallies)
        for s in self.states:
            s.clock = self.clock

    def _tick(self) -> None:
        """While a round runs (on this thread): the bar, progress records, the divergence probe,
        and the round's early end when a checkpoint is due or a stop was asked for."""
        now = time.time()
        live = self.backend.progress()
        self.events.advance(self.clock + (int(live.words) if live is not None else 0))
        if now - self._last_probe >= PROBE_SECONDS:
            self._last_probe = now
            self._probe()
        if live is not None:
            self._maybe_progress(live)
        self._note_checkpoint_due(now)
        if self.checkpoint_request.is_set() or self.halt.is_set():
            self._round_stop.set()

    def _probe(self) -> None:
        """DivergenceError when a few rows of the weights are NaN, Inf or past MAX_WEIGHT."""
        if not self.backend.check_finite():
            self._round_stop.set()
            raise DivergenceError(
                f"training diverged (weights NaN, Inf or past {MAX_WEIGHT:g}) in epoch {min(self.epoch + 1, self.cfg.epochs)} "
                f"after {self.clock:,} words at lr {self.lr():.6g}; {DIVERGED_HINT}")

    def _sync_survivors(self, full: bool, lost: list[ReplicaLost], before: list) -> SyncStats:
        """The round's sync among the replicas alive; one that dies during it is lost too (its
        round undone), and the sync is redone among the others as a full average of every row
        (some may have applied the interrupted sync already)."""
        every_row = False
        while True:
            try:
                return self._sync(full or bool(lost), frozenset(x.replica for x in lost), every_row)
            except ReplicaLost as x:
                lost.append(x)
                self.states[x.replica] = before[x.replica]
                every_row = True
                if len(lost) >= self.K:
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
        st["syncs"] += int(self.K > 1)
        st["bytes"] += stats.bytes
        st["seconds"] += stats.seconds
        st["round_seconds"] += round_seconds
        self._iv_rounds += rounds
        self._iv_sync_s += stats.seconds
        self._iv_sync_b += stats.bytes

    def _recover(self, lost: list[ReplicaLost]) -> None:
        """After the full sync among the survivors: each lost replica is restarted with a healthy
        peer's model and its own position from the end of the previous round (its parts since
        are read again); those that cannot be restarted are dropped together (``_shrink``)."""
        down = {x.replica for x in lost}
        gone = []
        for x in lost:
            k, peer = x.replica, next(j for j in range(self.K) if j not in down)
            self.states[k].clock = self.clock
            try:
                self.backend.restore(k, peer, self.states[k])
            except ReplicaGone:
                gone.append(x)
                continue
            down.discard(k)
            self._lost_event(x, peer)
        if gone:
            self._shrink([x.replica for x in gone])
            for x in gone:
                self._lost_event(x, None)

    def _lost_event(self, lost: ReplicaLost, peer: int | None) -> None:
        self.sync_totals["replicas_lost"] += 1
        self.events.emit(ReplicaLostEvent(lost.replica, self.clock, lost.reason, peer, round(time.time(), 3)))

    def _shrink(self, gone: list[int]) -> None:
        """K - len(gone) replicas from now on: every part keeps its position (a lost replica's
        from the end of the previous round) and the parts are handed out to the others (``regroup``)."""
        if len(gone) >= self.K:
            raise ClusterError("every replica was lost; resume from the last checkpoint with "
                               f"w2v-nce train --resume {self.out}")
        states = regroup(self.states, self.K - len(gone))
        self.backend.shrink(gone, states)
        self.K -= len(gone)
        self.states = [copy_state(s) for s in states]
        self.bytes_read = [b for k, b in enumerate(self.bytes_read) if k not in gone]
        self.resolved = dataclasses.replace(self.resolved, replicas=self.K,
                                            lr_factor=resolve(self.cfg, self.K).lr_factor)

    # -- records ------------------------------------------------------------------------
    def _note_checkpoint_due(self, now: float) -> None:
        """``checkpoint_request`` once ``checkpoint_every`` minutes have passed since the last one."""
        every = 60 * self.cfg.checkpoint_every
        if every > 0 and now - self._last_ckpt >= every:
            self.checkpoint_request.set()

    def _interval_start(self, now: float, tallies: Tallies) -> None:
        self._last_progress, self._last_tallies = now, tallies
        self._iv_rounds, self._iv_sync_s, self._iv_sync_b = 0, 0.0, 0

    def _maybe_progress(self, live: Tallies | None = None) -> None:
        now = time.time()
        cur = self.done if live is None else self.done.plus(live)
        if now - self._last_progress < self.cfg.progress_every or cur.examples <= self._last_tallies.examples:
            return
        d = cur.minus(self._last_tallies)
        many = self.K > 1
        clock = self.clock + (int(live.words) if live is not None else 0)
        self.events.emit(Progress(min(self.epoch + 1, self.cfg.epochs), clock,
                                  round(d.words / (now - self._last_progress), 1), self.lr(clock), d.mean_loss, d.examples,
                                  round(now, 3), self._iv_rounds if many else None,
                                  round(self._iv_sync_s, 4) if many else None, self._iv_sync_b if many else None))
        self._interval_start(now, cur)

    def _end_epoch(self, reader: ReaderCounts) -> None:
        d = self.totals().minus(self._epoch_start)
        now = time.time()
        ev = EpochEnd(self.epoch, self.clock, round(d.words / max(now - self._t_epoch, 1e-9), 1), self.lr(),
                      d.mean_loss, d.examples, round(now, 3), kept=d.kept, reader=reader.to_json())
        model = self.model() if self.heldout is not None else None
        finish_epoch_record(ev, self.cfg, model, self.heldout, resolve(self.cfg, 1).threads, self.log)
        self.history.append(to_record(ev))
        self.events.emit(ev)
        self._epoch_start, self._t_epoch = self.totals(), now

    def save_checkpoint(self) -> str:
        """Between rounds, after a full sync when K > 1: every replica holds the model stored."""
        path = save_checkpoint(self.out, Checkpoint(self.cfg, self.model(), self.states, self.fingerprint,
                                                    self.totals(), self.history, self.syncs, dict(self.sync_totals),
                                                    self.init, self.epoch_words))
        self._last_ckpt = time.time()
        return path

    def _periodic_checkpoint(self) -> None:
        """A checkpoint nobody is waiting on: one that cannot be written (a full disk) is a warning,
        the previous checkpoint stays intact (atomic replace), and training goes on; the next try
        is ``checkpoint_every`` minutes later. A checkpoint on a signal is not this: it raises."""
        try:
            self.save_checkpoint()
        except OutputError as exc:
            self._last_ckpt = time.time()
            self.log(f"warning: {exc}; training goes on, the next checkpoint is tried in "
                     f"{self.cfg.checkpoint_every:g} minutes")

    def _interrupt(self) -> None:
        signum = self.signum() or signal.SIGINT
        name = signal.Signals(signum).name if self.signum() else "request"
        raise Interrupted(f"stopped by {name} after {self.clock:,} words; checkpoint "
                          f"{os.path.join(self.out, CHECKPOINT_FILE)}; resume with: w2v-nce train --resume {self.out}",
                          signum)

    def _metrics(self) -> dict:
        final = self.totals()
        metrics = {"epochs": self.history, "train_loss": final.mean_loss, "examples": final.examples,
                   "words": final.words, "kept_tokens": final.kept, "negative_draws": final.batches,
                   # what the settings left null (config.yaml keeps null) resolved to in this run
                   "resolved": self.resolved.to_json()}
        if self.vocabulary is not None:
            metrics["vocabulary"] = self.vocabulary
        if self.history and "reader" in self.history[0]:
            metrics["reader"] = self.history[0]["reader"]  # the first full pass over the corpus
        if self.cfg.replicas > 1:  # started with several (K may have shrunk since)
            st = self.sync_totals
            rounds = max(st["rounds"], 1)
            metrics["distributed"] = {
                "backend": self.backend.name, "replicas": self.K, "threads_per_replica": self.resolved.threads,
                "sync_seconds": self.resolved.sync_seconds, "round_words": self.resolved.round_words,
                "sync_base": self.cfg.sync_base, "lr_factor": self.resolved.lr_factor, **st,
                "bytes_read": list(self.bytes_read),
                "bytes_per_round": st["bytes"] / rounds, "sync_seconds_per_round": st["seconds"] / rounds,
                "sync_fraction": st["seconds"] / max(st["seconds"] + st["round_seconds"], 1e-9)}
        return metrics


def finish_epoch_record(ev: EpochEnd, cfg: Config, model: Model, heldout: HeldOut | None, threads: int,
                        log: Log) -> EpochEnd:
    """Complete an epoch's record: the held-out full loss (with held-out text), and the log line
    about split lines after the first epoch."""
    if heldout is not None and len(heldout):
        from ..evaluation.full_loss import full_sigmoid_loss_examples

        t = time.time()
        mean, stderr, n = full_sigmoid_loss_examples(model.word_vectors(), model.w_out, model.bias, heldout, cfg.cbow_mean,
                                                     threads=threads)
        ev.heldout_loss = {"mean": mean, "stderr": stderr, "pairs": n, "seconds": round(time.time() - t, 3)}
    if ev.reader and ev.reader["split_sentences"] and ev.epoch == 1:
        log(f"{ev.reader['split_sentences']:,} lines longer than --max-sentence-len "
            f"{cfg.max_sentence_len} tokens were split into sentences of that length")
    return ev
