"""Orchestration over time: epochs, the lr schedule, worker threads, progress, divergence.

``Trainer`` is the library core: it trains a budget of words from a given position of the
(epoch, id stream) and returns its tallies, so a job can be resumed, checkpointed, or split
across processes. The whole batch job (outputs, vocabulary, checkpoints, signals) is
``w2v_nce.job``.

Threads: one Python thread per worker; each repeatedly takes the next chunk of whole
sentences (encoded under a lock by whichever worker asks: reading, decompressing and the
Numba encoder run at hundreds of MB/s, far above what the kernels consume) and runs the
``nogil`` kernel on it against the shared matrices (Hogwild).

Reproducibility contract: with ``threads == 1`` and a fixed seed, training is bit-for-bit
deterministic, including across an interruption and resume. With several threads, chunks go
to whichever worker is free and the Hogwild updates interleave, so results are
statistically equivalent, not identical.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import kernels as K
from .config import Config
from .corpus import Corpus
from .errors import DivergenceError
from .model import Model
from .pairs import IdChunk, StreamState, id_chunks
from .sampling import (
    build_alias_table,
    fixed_unigram_probability,
    keep_probabilities,
    log_uniform_probability,
    seed_streams,
    uniform_probability,
    unigram_weights,
)
from .vocab import Vocab

_LOSS_KIND = {"nce": K.LOSS_NCE, "neg": K.LOSS_NEG, "sampled_softmax": K.LOSS_SSM}
_SAMPLER_KIND = {"log_uniform": K.SAMPLER_LOG_UNIFORM, "unigram": K.SAMPLER_UNIGRAM, "uniform": K.SAMPLER_UNIFORM}
_PAD = 16  # tally/RNG rows are padded to 128 bytes so threads never share a cache line


def learning_rate(clock: float, total: float, alpha: float, min_alpha: float) -> float:
    """Linear decay: ``alpha - (alpha - min_alpha) * clock / total``, floored at ``min_alpha``.

    ``clock`` counts in-vocabulary tokens read over all epochs so far (subsampled ones
    included, as word2vec.c does); ``total = epochs * tokens per epoch``.
    """
    return max(min_alpha, alpha - (alpha - min_alpha) * clock / total)


@dataclass
class NoiseTables:
    """Everything the kernels need about the vocabulary's distributions (arrays only)."""

    keep_prob: np.ndarray  # float32[V] subsampling keep probability
    sampler_prob: np.ndarray  # float32[V] P(k) of the nce/ssm sampler (TF's float32 values)
    alias_prob: np.ndarray  # float64[V] alias tables of the nce/ssm sampler (unigram only)
    alias_idx: np.ndarray  # int32[V]
    neg_alias_prob: np.ndarray  # float64[V] word2vec's unigram^distortion noise, for ``neg``
    neg_alias_idx: np.ndarray

    @classmethod
    def build(cls, counts: np.ndarray, cfg: Config) -> "NoiseTables":
        V = len(counts)
        ids = np.arange(V)
        keep = keep_probabilities(counts, cfg.sample)
        neg_p, neg_a = build_alias_table(unigram_weights(counts, cfg.distortion))
        if cfg.sampler == "unigram":
            prob = fixed_unigram_probability(ids, counts, cfg.distortion)
            ap, ai = neg_p, neg_a
        else:
            prob = log_uniform_probability(ids, V) if cfg.sampler == "log_uniform" else uniform_probability(ids, V)
            ap, ai = np.ones(1), np.zeros(1, np.int32)
        return cls(keep, prob.astype(np.float32), ap, ai, neg_p, neg_a)


class _Scratch:
    """One worker's private buffers (allocated once, reused for every chunk)."""

    def __init__(self, V: int, D: int, S: int, B: int, max_sentence_len: int):
        self.sent = np.empty(max_sentence_len, np.int32)
        self.centres = np.empty(B, np.int32)
        self.contexts = np.empty(B, np.int32)
        self.run_start = np.zeros(B + 1, np.int32)
        self.samples = np.empty(S, np.int64)
        self.stamp = np.zeros(V, np.int64)
        self.pos = np.zeros(V, np.int32)
        self.u = np.empty((B, S), np.float32)
        self.coef = np.empty((B, S), np.float32)
        self.gt = np.empty(B, np.float32)
        self.dx = np.empty((B, D), np.float32)
        self.logq_s = np.empty(S, np.float32)
        self.logq_t = np.empty(B, np.float32)
        self.neu1e = np.empty(D, np.float32)
        self.batch_counter = np.zeros(1, np.int64)


@dataclass
class TrainState:
    """Exact position of a run: what a checkpoint stores and ``Trainer.run`` advances."""

    epoch: int = 0
    stream: StreamState = field(default_factory=StreamState)
    clock: int = 0  # in-vocab tokens handed to workers over all epochs (the lr clock)
    rng: np.ndarray | None = None  # uint64[threads, _PAD]; column 0 is each worker's state

    def to_json(self) -> dict:
        return {"epoch": self.epoch, "stream": self.stream.to_json(), "clock": self.clock}

    @classmethod
    def from_json(cls, d: dict, rng: np.ndarray) -> "TrainState":
        return cls(int(d["epoch"]), StreamState.from_json(d["stream"]), int(d["clock"]), rng)


@dataclass
class Tallies:
    """float64 sums over a span of training (reduced from the per-thread rows)."""

    loss: float = 0.0
    examples: float = 0.0
    words: float = 0.0
    kept: float = 0.0
    batches: float = 0.0

    @classmethod
    def from_rows(cls, rows: np.ndarray) -> "Tallies":
        s = rows.sum(axis=0)
        return cls(float(s[K.T_LOSS]), float(s[K.T_EXAMPLES]), float(s[K.T_WORDS]), float(s[K.T_KEPT]),
                   float(s[K.T_BATCHES]))

    def minus(self, other: "Tallies") -> "Tallies":
        return Tallies(self.loss - other.loss, self.examples - other.examples, self.words - other.words,
                       self.kept - other.kept, self.batches - other.batches)

    @property
    def mean_loss(self) -> float:
        return self.loss / self.examples if self.examples else float("nan")


@dataclass
class SpanResult:
    tallies: Tallies
    state: TrainState
    epoch_ended: bool  # the span stopped because the epoch's corpus was exhausted
    stopped: bool  # the span stopped because ``stop`` was set


class Trainer:
    """Trains ``model`` in place on ``corpus``; owns the position (``state``)."""

    def __init__(self, cfg: Config, corpus: Corpus, vocab: Vocab, model: Model, state: TrainState | None = None):
        self.cfg = cfg
        self.corpus = corpus
        self.vocab = vocab
        self.model = model
        self.threads = cfg.resolved_threads()
        self.tables = NoiseTables.build(vocab.counts, cfg)
        # lr clock total: the held-out fraction of tokens is never trained on (expected value)
        self.total_clock = max(1, round(cfg.epochs * vocab.total * (1.0 - cfg.holdout_fraction)))
        V, D = model.w_in.shape
        self._scratch = [_Scratch(V, D, cfg.num_sampled, cfg.batch_size, cfg.max_sentence_len) for _ in range(self.threads)]
        if state is None:
            state = TrainState()
        if state.rng is None:
            rng = np.zeros((self.threads, _PAD), np.uint64)
            rng[:, 0] = seed_streams(cfg.seed, self.threads)[:, 0]  # splitmix64 state per worker (64 bits)
            state.rng = rng
        if state.rng.shape[0] != self.threads:  # resumed with another thread count: re-derive streams
            rng = np.zeros((self.threads, _PAD), np.uint64)
            rng[:, 0] = seed_streams(cfg.seed + state.clock, self.threads)[:, 0]
            state.rng = rng
        self.state = state
        self._rows = np.zeros((self.threads, _PAD), np.float64)
        self._probe_rng = np.random.default_rng(cfg.seed)  # which rows the divergence probe reads
        self.prefetch_pairs = K.PREFETCH_PAIRS  # a speed knob for benchmarks; results do not depend on it

    # ---------------------------------------------------------------------------------
    def lr(self) -> float:
        return learning_rate(self.state.clock, self.total_clock, self.cfg.alpha, self.cfg.min_alpha)

    def tallies(self) -> Tallies:
        """Running totals (read without locks: each row is written by one thread only)."""
        return Tallies.from_rows(self._rows)

    def _kernel(self, t: int, chunk: IdChunk, clock_start: int) -> None:
        cfg, m, tb, s = self.cfg, self.model, self.tables, self._scratch[t]
        K.train_chunk(
            chunk.ids, m.w_in, m.w_out, m.bias, tb.keep_prob,
            _LOSS_KIND[cfg.loss], cfg.window, cfg.num_sampled, cfg.batch_size, cfg.resolved_remove_hits(), cfg.unique,
            _SAMPLER_KIND[cfg.sampler], tb.sampler_prob, tb.alias_prob, tb.alias_idx, tb.neg_alias_prob, tb.neg_alias_idx,
            cfg.alpha, cfg.min_alpha, float(clock_start), float(self.total_clock), self.prefetch_pairs,
            self.state.rng[t], s.sent, s.centres, s.contexts, s.run_start, s.samples, s.stamp, s.pos,
            s.u, s.coef, s.gt, s.dx, s.logq_s, s.logq_t, s.neu1e, s.batch_counter, self._rows[t],
        )

    def run(
        self,
        budget_words: int | None = None,
        stop: threading.Event | None = None,
        on_tick: Callable[["Trainer"], None] | None = None,
        tick_seconds: float = 0.5,
        pause_request: threading.Event | None = None,
        on_pause: Callable[["Trainer"], None] | None = None,
    ) -> SpanResult:
        """Train from ``self.state`` until the epoch ends, ``budget_words`` in-vocab tokens have
        been handed out (whole chunks: at least the budget), or ``stop`` is set.

        Returns the span's tallies and the new state. Every chunk handed out is finished
        before returning, so the state and the matrices agree (a consistent checkpoint).
        ``on_tick`` runs on the calling thread every ``tick_seconds``; it may raise (e.g.
        ``DivergenceError``), which stops the workers and propagates.
        When ``pause_request`` is set, no new chunk is handed out; once the chunks in flight are
        done, ``on_pause`` runs on the calling thread (state and matrices agree: a checkpoint),
        the request is cleared and training continues with the same reader (no re-reading).
        """
        stop = stop or threading.Event()
        before = self.tallies()
        cond = threading.Condition()
        handed = 0
        in_flight = 0
        gate = {"closed": False}
        flags = {"epoch_ended": False, "abort": False}
        errors: list[BaseException] = []
        ahead = _ReadAhead(id_chunks(self.corpus, self.vocab, self.cfg.max_sentence_len, self.state.stream,
                                     holdout=self.cfg.holdout_fraction), depth=self.threads + 1)

        def next_chunk():
            nonlocal handed, in_flight
            with cond:
                while gate["closed"] and not (stop.is_set() or flags["abort"]):
                    cond.wait(0.1)
                if stop.is_set() or flags["abort"] or (budget_words is not None and handed >= budget_words):
                    return None
                while True:
                    chunk = ahead.get()
                    if chunk is None:
                        flags["epoch_ended"] = True
                        return None
                    # the state advances only for chunks handed to a worker (read-ahead is discarded)
                    clock_start = self.state.clock
                    self.state.clock += chunk.words
                    self.state.stream = chunk.state_after
                    handed += chunk.words
                    if chunk.words:
                        in_flight += 1
                        return chunk, clock_start

        def finished_chunk():
            nonlocal in_flight
            with cond:
                in_flight -= 1
                cond.notify_all()

        def worker(t: int):
            try:
                while True:
                    item = next_chunk()
                    if item is None:
                        return
                    try:
                        self._kernel(t, item[0], item[1])
                    finally:
                        finished_chunk()
                    if self._rows[t, K.T_NONFINITE]:
                        flags["abort"] = True
                        return
            except BaseException as exc:  # surfaced on the calling thread
                flags["abort"] = True
                errors.append(exc)

        def pause_if_requested():
            if pause_request is None or not pause_request.is_set():
                return
            with cond:
                gate["closed"] = True
                while in_flight and not flags["abort"]:
                    cond.wait(0.1)
            try:
                if not flags["abort"] and on_pause is not None:
                    on_pause(self)
            finally:
                pause_request.clear()
                with cond:
                    gate["closed"] = False
                    cond.notify_all()

        workers = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(self.threads)]
        for w in workers:
            w.start()
        try:
            while True:
                alive = [w for w in workers if w.is_alive()]
                if not alive:
                    break
                alive[0].join(tick_seconds)
                if on_tick is not None and not flags["abort"]:
                    on_tick(self)
                pause_if_requested()
        except BaseException:
            flags["abort"] = True
            for w in workers:
                w.join()
            raise
        finally:
            ahead.close()
        if errors:
            raise errors[0]
        if self._rows[:, K.T_NONFINITE].any():
            raise DivergenceError(
                f"training diverged (non-finite loss) in epoch {self.state.epoch + 1} after "
                f"{self.state.clock} words at lr {self.lr():.6g}; try a smaller --alpha"
            )
        if flags["epoch_ended"]:
            self.state.epoch += 1
            self.state.stream = StreamState()
        return SpanResult(self.tallies().minus(before), self.state, flags["epoch_ended"], stop.is_set())

    @property
    def finished(self) -> bool:
        return self.state.epoch >= self.cfg.epochs

    def check_finite(self, rows: int = 256) -> bool:
        """Cheap divergence probe: loss tallies and a few random rows of each matrix."""
        if not math.isfinite(float(self._rows[:, K.T_LOSS].sum())):
            return False
        V = self.model.w_in.shape[0]
        pick = self._probe_rng.integers(0, V, size=min(rows, V))
        return bool(np.isfinite(self.model.w_in[pick]).all() and np.isfinite(self.model.w_out[pick]).all()
                    and np.isfinite(self.model.bias[pick]).all())


class _ReadAhead:
    """Encodes chunks on a background thread, ``depth`` ahead of the workers.

    Reading, decompressing and encoding then overlap with training instead of running under
    the workers' lock. Errors in the reader are re-raised by ``get``.
    """

    _END = object()

    def __init__(self, chunks, depth: int):
        import queue

        self._q: "queue.Queue" = queue.Queue(maxsize=depth)
        self._closed = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._fill, args=(chunks,), daemon=True)
        self._thread.start()

    def _fill(self, chunks) -> None:
        import queue

        try:
            for chunk in chunks:
                while not self._closed.is_set():
                    try:
                        self._q.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._closed.is_set():
                    return
        except BaseException as exc:
            self._error = exc
        while not self._closed.is_set():
            try:
                self._q.put(self._END, timeout=0.1)
                return
            except queue.Full:
                continue

    def get(self) -> IdChunk | None:
        item = self._q.get()
        if item is self._END:
            self._q.put(self._END)  # later callers see the end too
            if self._error is not None:
                raise self._error
            return None
        return item

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
