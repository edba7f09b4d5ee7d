"""One replica of K, whatever hosts it: how it is built, what it is told each round, what it reports.

K = 1 is the single-machine run: one replica reading every part with T threads, one round per
epoch (ended early for a checkpoint or a signal), no sync. K > 1 replicas each read only their
own run of the corpus's K x T parts (``train.parts_of``), T readers kept open across rounds,
and train ``RoundPlan.seconds`` (or ``words``) between two syncs.

The lr clock: at each round's start every replica is told the global clock G (the tokens all
replicas have trained); during the round a replica counts each of its tokens K times
(``Trainer.clock_scale``), so its clock estimates the global position as pWord2Vec does (local
count x ranks). After the round the loop adds up what each replica trained: G' = G + sum of
(clock_k - G) / K, exact in integers. K = 1 is the single machine's clock, bit for bit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from ..artifact.model import Model
from ..config import Config, resolve
from ..stream import ReaderCounts, StreamState
from ..text.corpus import BLOCK_BYTES, Corpus
from ..train import Tallies, Trainer, TrainState, parts_of
from ..vocabulary.count import CountResult
from ..vocabulary.vocab import Vocab
from .sync import SyncStats

# Text per chunk of a replica of K > 1: a round ends at a chunk boundary, so chunks of ~11k
# tokens (15-60 ms of a thread, by loss) keep the wait for the last one to a few % of a 1 s round.
# One machine (K = 1) keeps the reader's 1 MiB blocks (and its results, bit for bit).
REPLICA_BLOCK_BYTES = 64 << 10


@dataclass
class RoundPlan:
    """What a replica is told at a round's start."""

    clock: int  # the global lr clock G
    seconds: float | None = None  # train this long (measured on the replica), or
    words: int | None = None  # this many in-vocab tokens (whole chunks); neither: to the epoch's end


@dataclass
class RoundResult:
    """What one replica reports after its span of a round."""

    tallies: Tallies  # of the span
    state: TrainState  # its position after the span (a copy)
    epoch_ended: bool
    epoch_reader: ReaderCounts | None  # with epoch_ended: the reader's counts over the epoch
    bytes_read: int = 0  # the replica's corpus bytes read (decompressed) since it started


class ReplicaLost(Exception):
    """A replica's process (or, in-process, its injected failure) died or hung during a call."""

    def __init__(self, replica: int, reason: str):
        super().__init__(f"replica {replica}: {reason}")
        self.replica, self.reason = replica, reason


class ReplicaGone(Exception):
    """A lost replica cannot be restarted (no node has room for it): the run goes on without it."""


class Backend(Protocol):
    """Where the replicas live. ``open`` checks what can be checked before counting (the
    cluster, the corpus on every node); ``start`` allocates the replicas (memory checked first)."""

    replicas: int
    threads: int  # per replica, known once ``open`` has run
    name: str
    counts_remotely: bool  # ``count`` counts on the cluster (else it returns None and the job counts)

    def open(self, cfg: Config, fingerprint: list) -> None: ...
    def count(self, cfg: Config, corpus: Corpus) -> CountResult | None: ...
    def start(self, cfg: Config, vocab: Vocab, model: Model, states: list[TrainState]) -> None: ...
    def train_round(self, plans: dict[int, RoundPlan], stop, tick: Callable[[], None]) -> dict: ...
    def progress(self) -> Tallies | None: ...  # this round's tallies so far (None: known at its end)
    def check_finite(self) -> bool: ...
    def sync(self, rows: int, skip: frozenset[int] = frozenset(), every_row: bool = False) -> SyncStats: ...
    def restore(self, replica: int, peer: int, state: TrainState) -> None: ...  # or ReplicaGone
    def shrink(self, gone: list[int], states: list[TrainState]) -> None: ...  # the others, these positions
    def arrays(self, replica: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...  # (input table, w_out, bias)
    def close(self) -> None: ...


def copy_state(s: TrainState) -> TrainState:
    return TrainState.from_json(s.to_json(), None if s.rng is None else s.rng.copy())


def replica_config(cfg: Config, replicas: int, threads: int | None = None) -> Config:
    """The settings a replica's Trainer runs with: its thread count (``resolve``'s unless given)
    and the lr schedule times ``resolve``'s lr factor."""
    r = resolve(cfg, replicas)
    return dataclasses.replace(cfg, threads=threads or r.threads, alpha=cfg.alpha * r.lr_factor,
                               min_alpha=cfg.min_alpha * r.lr_factor)


def replica_trainer(cfg: Config, corpus: Corpus, vocab: Vocab, model: Model, state: TrainState, replica: int,
                    replicas: int) -> Trainer:
    """Replica ``replica`` of ``replicas`` (``cfg`` from ``replica_config``), training ``model`` in place."""
    many = replicas > 1
    return Trainer(cfg, corpus, vocab, model, state, track_touched=many, replica=(replica, replicas),
                   clock_scale=replicas, block_bytes=REPLICA_BLOCK_BYTES if many else BLOCK_BYTES)


def train_span(trainer: Trainer, plan: RoundPlan, stop=None, on_tick=None, tick_seconds: float = 0.5) -> RoundResult:
    """A replica's part of a round: from the global clock, for the plan's time or tokens."""
    trainer.state.clock = plan.clock
    r = trainer.run(budget_words=plan.words, seconds=plan.seconds, stop=stop, on_tick=on_tick,
                    tick_seconds=tick_seconds)
    return RoundResult(r.tallies, copy_state(r.state), r.epoch_ended, r.epoch_reader, trainer.corpus.bytes_read)


def regroup(states: list[TrainState], replicas: int) -> list[TrainState]:
    """Saved replicas' positions handed to ``replicas`` replicas (a resume with another K): the
    epoch in progress keeps its P parts, each with its saved position, and replica k reads
    ``parts_of(k, replicas, P)`` of them (a replica that had ended the epoch had read all its
    parts). Every new position starts at the global clock; worker RNGs are derived anew."""
    if len(states) == replicas:
        return states
    epoch = min(s.epoch for s in states)
    current = [s for s in states if s.epoch == epoch]
    parts = current[0].parts
    streams: list[StreamState] = [StreamState()] * parts
    done = [True] * parts
    for k, s in enumerate(states):
        mine = list(parts_of(k, len(states), parts))
        if s.epoch > epoch or not mine:
            continue
        got = [s.stream] if len(mine) == 1 else s.streams
        ended = [bool(s.done and s.done[0])] if len(mine) == 1 else s.done
        for i, st, d in zip(mine, got, ended):
            streams[i], done[i] = st, d
    out = []
    for k in range(replicas):
        mine = list(parts_of(k, replicas, parts))
        new = TrainState(epoch=epoch, clock=states[0].clock, parts=parts, block_bytes=current[0].block_bytes)
        if len(mine) == 1:  # one part: its position, and "done" only when it was read to its end
            new.stream, new.done = streams[mine[0]], [True] if done[mine[0]] else []
        elif mine:
            new.streams, new.done = [streams[i] for i in mine], [done[i] for i in mine]
        out.append(new)
    return out
