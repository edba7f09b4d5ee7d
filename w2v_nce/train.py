"""Orchestration over time: model initialisation, the lr clock, worker threads, spans of training.

``Trainer`` is the library core: it trains a budget of words from a given position of the
(epoch, id stream) and returns its tallies, so a job can be resumed, checkpointed, or split
across processes. The whole batch job (outputs, vocabulary, checkpoints, signals, the log)
is ``w2v_nce.job``.

Threads: one Python thread per worker. The corpus is cut into parts (``splits``; by default
as many as workers) and each worker reads its own part (``pairs.id_chunks`` on a read-ahead
thread of its own, so decompressing and encoding overlap its training; both release the GIL),
then takes the next part nobody reads yet. A ``_Dispatcher`` hands the chunks out under one
lock, advancing the global lr clock and each part's stream position, and pauses and stops;
each worker runs the ``nogil`` kernel on its chunks against the shared matrices (Hogwild).

Reproducibility contract: with ``threads == 1`` and a fixed seed, training is bit-for-bit
deterministic, including across an interruption and resume (one part: the whole corpus, in
order, as a single reader reads it). With several threads, each reads its own part and the
Hogwild updates interleave, so results are statistically equivalent, not identical.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import kernels as K
from .config import Config
from .corpus import BLOCK_BYTES, Corpus, Position
from .errors import DivergenceError, ResumeError
from .model import Model
from .pairs import IdChunk, ReaderCounts, StreamState, first_sentence, id_chunks
from .readahead import ReadAhead
from .rng import worker_states
from .sampling import (
    build_alias_table,
    fixed_unigram_probability,
    keep_probabilities,
    log_uniform_probability,
    uniform_probability,
    unigram_weights,
)
from .splits import Split, make_splits
from .vocab import Vocab

LOSS_KINDS = {"nce": K.LOSS_NCE, "neg": K.LOSS_NEG, "sampled_softmax": K.LOSS_SSM}
ARCHS = {"skipgram": K.ARCH_SKIPGRAM, "cbow": K.ARCH_CBOW}
SAMPLER_KINDS = {"log_uniform": K.SAMPLER_LOG_UNIFORM, "unigram": K.SAMPLER_UNIGRAM, "uniform": K.SAMPLER_UNIFORM}


def learning_rate(clock: float, total: float, alpha: float, min_alpha: float) -> float:
    """The schedule, from Python: ``kernels.learning_rate`` (one definition for both sides)."""
    return float(K.learning_rate(float(clock), float(total), float(alpha), float(min_alpha)))


# ---------------------------------------------------------------------------------------
# what the kernels need, built once per run
# ---------------------------------------------------------------------------------------
def build_tables(counts: np.ndarray, cfg: Config) -> K.Tables:
    """Subsampling keep-probabilities and the noise distributions of the run's sampler."""
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
    return K.make_tables(keep, prob, ap, ai, neg_p, neg_a, cfg.num_sampled)  # make_tables casts P to float32


def total_clock(cfg: Config, vocab_total: int) -> int:
    """The lr clock's end: in-vocab tokens over all epochs, less the held-out fraction's
    expected share (never trained on)."""
    return max(1, round(cfg.epochs * vocab_total * (1.0 - cfg.holdout_fraction)))


def kernel_params(cfg: Config, clock_total: int, prefetch_pairs: int = K.PREFETCH_PAIRS) -> K.Params:
    """The kernels' scalars for a run (the one mapping from settings to ``K.Params``)."""
    return K.Params(
        loss_kind=LOSS_KINDS[cfg.loss], arch=ARCHS[cfg.arch], cbow_mean=cfg.cbow_mean,
        cbow_exact=cfg.cbow_update == "exact", window=cfg.window, num_sampled=cfg.num_sampled,
        batch_size=cfg.resolved_batch_size(), remove_hits=cfg.resolved_remove_hits(), unique=cfg.unique,
        sampler_kind=SAMPLER_KINDS[cfg.sampler], alpha=float(cfg.alpha), min_alpha=float(cfg.min_alpha),
        total_words=float(clock_total), prefetch_pairs=prefetch_pairs, shared_negatives=cfg.negatives != "pair")


def initial_bias(counts: np.ndarray, cfg: Config, tables: K.Tables | None = None) -> np.ndarray:
    """log(S * P(k)) under the run's sampler: the -log Q term of the logits starts cancelled, so
    NCE starts from SGNS's logits (x.w) instead of x.w - log Q (measured: +3.6 analogy points on
    mix8, 1 epoch; scripts/bench_quality.py --nce-flags '--bias-init zero' reproduces the other)."""
    tables = tables if tables is not None else build_tables(counts, cfg)
    return np.log(tables.sampler_prob.astype(np.float64) * cfg.num_sampled).astype(np.float32)


def init_model(cfg: Config, vocab: Vocab, tables: K.Tables | None = None) -> Model:
    """The one initialisation of a run's model (the job, the library, benchmarks and tests):
    word2vec.c's w_in and w_out (``Model.initial``), and the class bias of ``cfg.bias_init``."""
    model = Model.initial(vocab.words, vocab.counts, cfg.dim, cfg.seed, cfg.to_dict())
    if cfg.loss != "neg" and cfg.bias_init == "log_q":
        model.bias[:] = initial_bias(vocab.counts, cfg, tables)
    return model


# ---------------------------------------------------------------------------------------
# position and tallies
# ---------------------------------------------------------------------------------------
@dataclass
class TrainState:
    """Exact position of a run: what a checkpoint stores and ``Trainer.run`` advances.

    With one part (``parts`` == 1, or a trainer given one split) ``stream`` is its position;
    with several, ``streams`` holds each part's position and ``done`` whether it has been read
    to its end this epoch (in the order of the trainer's splits)."""

    epoch: int = 0
    stream: StreamState = field(default_factory=StreamState)
    clock: int = 0  # in-vocab tokens handed to workers over all epochs (the lr clock)
    rng: np.ndarray | None = None  # uint64[threads, ROW_PAD]; word 0 of each row is a worker's state
    reader: ReaderCounts = field(default_factory=ReaderCounts)  # what the reader saw this epoch so far
    parts: int = 0  # the corpus is cut into this many parts for reading (0 = not chosen yet)
    streams: list[StreamState] = field(default_factory=list)
    done: list[bool] = field(default_factory=list)
    chunk: int = 0  # chunks of this epoch's stream handed out so far (a replica's share is by index)

    def to_json(self) -> dict:
        d = {"epoch": self.epoch, "stream": self.stream.to_json(), "clock": self.clock,
             "reader": self.reader.to_json(), "parts": self.parts, "chunk": self.chunk}
        if self.streams:
            d["streams"] = [s.to_json() for s in self.streams]
            d["done"] = list(self.done)
        return d

    @classmethod
    def from_json(cls, d: dict, rng: np.ndarray) -> "TrainState":
        return cls(int(d["epoch"]), StreamState.from_json(d["stream"]), int(d["clock"]), rng,
                   ReaderCounts.from_json(d.get("reader", {})), int(d.get("parts", 1)),  # older: one reader
                   [StreamState.from_json(s) for s in d.get("streams", [])], [bool(x) for x in d.get("done", [])],
                   int(d.get("chunk", 0)))


@dataclass
class Tallies:
    """float64 sums over a span of training (reduced from the per-worker rows)."""

    loss: float = 0.0
    examples: float = 0.0
    words: float = 0.0
    kept: float = 0.0  # tokens kept by subsampling
    batches: float = 0.0  # negative draws

    @classmethod
    def from_rows(cls, rows: np.ndarray) -> "Tallies":
        s = rows.sum(axis=0)
        return cls(float(s[K.T_LOSS]), float(s[K.T_EXAMPLES]), float(s[K.T_WORDS]), float(s[K.T_KEPT]),
                   float(s[K.T_BATCHES]))

    def minus(self, other: "Tallies") -> "Tallies":
        return Tallies(**{k: v - getattr(other, k) for k, v in self.__dict__.items()})

    def plus(self, other: "Tallies") -> "Tallies":
        return Tallies(**{k: v + getattr(other, k) for k, v in self.__dict__.items()})

    @property
    def mean_loss(self) -> float:
        return self.loss / self.examples if self.examples else float("nan")


@dataclass
class SpanResult:
    tallies: Tallies
    state: TrainState
    epoch_ended: bool  # the span stopped because the epoch's corpus was exhausted
    stopped: bool  # the span stopped because ``stop`` was set
    epoch_reader: ReaderCounts | None = None  # with epoch_ended: what the reader saw over the whole epoch


# ---------------------------------------------------------------------------------------
# handing out chunks
# ---------------------------------------------------------------------------------------
_PART_END = object()  # _Dispatcher.next: the part has no chunk left
_SKIP = object()  # _Dispatcher.next: a chunk of another replica's share (read, not trained)


class _Dispatcher:
    """Hands chunks to workers and advances the state for each one handed out (never for
    read-ahead), so that after ``pause`` the state and the matrices agree.

    Every part has one read-ahead thread (opened on first use). A worker ``claim``s the next
    part nobody reads yet; when every part is claimed, it joins the lowest part still being
    read, so a corpus of fewer parts than workers (one big .gz is one part) keeps every worker
    busy, its chunks shared among them as by a single reader. ``next`` takes a part's next
    chunk and counts it as handed out in one step under the lock, so a part's position always
    follows the chunks handed out in order; it returns None when the budget is spent or the
    span is stopped or aborted, and waits while paused. The epoch has ended when every part
    has been read to its end.

    ``share = (k, K, block_bytes)`` (a distributed replica, reading the corpus as one part): only the chunks
    whose index in the epoch's stream is k mod K are trained; the others are read and skipped,
    and the lr clock still advances by their words, so it is the global token position, the
    same on every replica.
    """

    def __init__(self, trainer: "Trainer", budget_words: int | None, stop: threading.Event):
        self._tr, self._state, self._budget, self._stop = trainer, trainer.state, budget_words, stop
        self._cond = threading.Condition()
        self._in_flight = 0
        self._handed = 0
        self._paused = False
        self.aborted = False
        n = len(trainer.splits)
        self._done = list(self._state.done) if n > 1 else [False]
        self._claimed = list(self._done)
        self._readers: dict[int, ReadAhead] = {}

    def _closed(self) -> bool:
        return self._stop.is_set() or self.aborted

    @property
    def epoch_ended(self) -> bool:
        return all(self._done)

    def claim(self) -> int | None:
        """A part for this worker: the lowest nobody reads yet, else the lowest still being read;
        None when every part is read to its end."""
        with self._cond:
            for i, taken in enumerate(self._claimed):
                if not taken:
                    self._claimed[i] = True
                    return i
            for i, done in enumerate(self._done):
                if not done:
                    return i
            return None

    def next(self, part: int):
        """(chunk, lr clock at its start) of ``part``, ``_PART_END``, or None (span closed)."""
        with self._cond:
            while self._paused and not self._closed():
                self._cond.wait(0.1)
            if self._closed() or (self._budget is not None and self._handed >= self._budget):
                return None
            if self._done[part]:
                return _PART_END
            if part not in self._readers:
                self._readers[part] = self._tr._open_part(part)
            chunk = self._readers[part].get()
            if chunk is None:
                self._done[part] = True
                if self._tr.parts_in_state:
                    self._state.done[part] = True
                return _PART_END
            st = self._state
            clock_start, index = st.clock, st.chunk
            st.clock += chunk.words
            st.chunk += 1
            self._tr._set_stream(part, chunk.state_after)
            st.reader.add(chunk)
            share = self._tr.share
            if share is not None and index % share[1] != share[0]:
                return _SKIP  # another replica's chunk
            self._handed += chunk.words
            if chunk.words:
                self._in_flight += 1
            return chunk, clock_start

    def done(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def abort(self) -> None:
        with self._cond:
            self.aborted = True
            self._cond.notify_all()

    def close(self) -> None:
        """Stop every part's read-ahead (what they read beyond the handed chunks is dropped)."""
        for reader in self._readers.values():
            reader.close()

    def pause(self) -> None:
        """Hand out nothing more; return once the chunks in flight are done."""
        with self._cond:
            self._paused = True
            while self._in_flight and not self.aborted:
                self._cond.wait(0.1)

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()


class Trainer:
    """Trains ``model`` in place on ``corpus``; owns the position (``state``).

    ``model`` defaults to ``init_model(cfg, vocab)``: pass one only to continue training it.
    ``splits`` (parts of one ``splits.make_splits(corpus, K)``) are the parts this trainer
    reads each epoch, e.g. a replica's share; by default the corpus is cut into as many parts
    as threads (or, when ``state`` is a saved position, into its ``parts`` until the epoch
    ends). One part, the whole corpus, reads it in order as a single reader did.
    A distributed replica passes ``track_touched`` (the workers mark the rows they may change:
    ``touched``, ``clear_touched``) and ``share = (k, K, block_bytes)`` (it trains the chunks of
    index k mod K of the corpus read as one part, in chunks of ``block_bytes`` of text).
    """

    def __init__(self, cfg: Config, corpus: Corpus, vocab: Vocab, model: Model | None = None,
                 state: TrainState | None = None, prefetch_pairs: int = K.PREFETCH_PAIRS,
                 splits: list[Split] | None = None, track_touched: bool = False,
                 share: tuple[int, int, int] | None = None):
        self.cfg = cfg
        self.corpus = corpus
        self.vocab = vocab
        self.threads = cfg.resolved_threads()
        self.tables = build_tables(vocab.counts, cfg)
        self.model = model if model is not None else init_model(cfg, vocab, self.tables)
        self.total_clock = total_clock(cfg, vocab.total)
        self.prefetch_pairs = prefetch_pairs  # a speed knob for benchmarks; results do not depend on it
        self.state = state if state is not None else TrainState()
        self.state.rng = self._worker_rng(self.state)
        self.share = share
        if share is not None and splits is None:  # a share is by chunk index in one stream
            splits = make_splits(corpus, 1)
        self._given_splits = splits is not None
        self._use_splits(list(splits) if splits is not None else
                         make_splits(corpus, self.state.parts or self.threads))
        self._rows = np.zeros((self.threads, K.ROW_PAD), np.float64)
        params = kernel_params(cfg, self.total_clock)
        V, D = self.model.w_in.shape
        self._scratch = [K.make_scratch(V, D, params, cfg.max_sentence_len, self.state.rng[t], self._rows[t],
                                        track_touched=track_touched) for t in range(self.threads)]
        self._probe_rng = np.random.default_rng(cfg.seed)  # which rows the divergence probe reads

    def _worker_rng(self, state: TrainState) -> np.ndarray:
        """Each worker's RNG row: the saved one, or streams from the seed (a resume with another
        thread count re-derives them from seed + clock)."""
        if state.rng is not None and state.rng.shape[0] == self.threads:
            return state.rng
        rng = np.zeros((self.threads, K.ROW_PAD), np.uint64)
        rng[:, 0] = worker_states(self.cfg.seed + (state.clock if state.rng is not None else 0), self.threads)
        return rng

    # -- parts of the corpus -----------------------------------------------------------
    def _use_splits(self, splits: list[Split]) -> None:
        """Read these parts (each one's position in ``state``: fresh, or the checkpoint's)."""
        if not splits or len({s.count for s in splits}) != 1 or len({s.index for s in splits}) != len(splits):
            raise ValueError("splits must be distinct parts of one make_splits(corpus, K)")
        st = self.state
        self.splits = splits
        st.parts = splits[0].count
        if len(splits) == 1:
            if st.streams:
                raise ResumeError(f"the saved position has {len(st.streams)} parts but this trainer reads one")
            if st.stream.sentences == 0 and st.stream.position == Position():  # a fresh stream
                st.stream = self._fresh_stream(0)
        elif not st.streams:
            st.streams = [self._fresh_stream(i) for i in range(len(splits))]
            st.done = [False] * len(splits)
        elif len(st.streams) != len(splits):
            raise ResumeError(f"the saved position has {len(st.streams)} parts but this trainer reads {len(splits)}")

    @property
    def parts_in_state(self) -> bool:
        """Whether each part's position is in ``state.streams`` (several parts) or ``state.stream``."""
        return len(self.splits) > 1

    def _fresh_stream(self, part: int) -> StreamState:
        return StreamState(sentences=first_sentence(self.splits[part]))

    def _stream(self, part: int) -> StreamState:
        return self.state.streams[part] if self.parts_in_state else self.state.stream

    def _set_stream(self, part: int, stream: StreamState) -> None:
        if self.parts_in_state:
            self.state.streams[part] = stream
        else:
            self.state.stream = stream

    def _next_epoch(self) -> None:
        """Fresh positions; the corpus is cut again for the current thread count, unless the parts
        were given, or held-out sentences are chosen by their place in their part (holdout)."""
        st = self.state
        st.epoch += 1
        st.stream, st.streams, st.done = StreamState(), [], []
        st.chunk = 0
        st.reader = ReaderCounts()
        splits = self.splits
        if not self._given_splits and self.cfg.holdout_fraction <= 0 and st.parts != self.threads:
            splits = make_splits(self.corpus, self.threads)
        self._use_splits(splits)

    # ---------------------------------------------------------------------------------
    def lr(self) -> float:
        return learning_rate(self.state.clock, self.total_clock, self.cfg.alpha, self.cfg.min_alpha)

    def tallies(self) -> Tallies:
        """Running totals (read without locks: each row is written by one worker only)."""
        return Tallies.from_rows(self._rows)

    def touched(self) -> np.ndarray:
        """uint8[V]: the union over workers of the TOUCHED_* bits since they were last cleared."""
        return np.bitwise_or.reduce([s.touched for s in self._scratch])

    def clear_touched(self, rows: int) -> None:
        """Forget the marks of rows [0, rows) (they were synced); call between spans."""
        for s in self._scratch:
            s.touched[:rows] = 0

    @property
    def finished(self) -> bool:
        return self.state.epoch >= self.cfg.epochs

    def _kernel(self, scratch: K.Scratch, chunk: IdChunk, clock_start: int) -> None:
        m = self.model
        K.train_chunk(chunk.ids, float(clock_start), K.Weights(m.w_in, m.w_out, m.bias), self.tables, self._params,
                      scratch)

    def _open_part(self, part: int) -> "ReadAhead":
        """A read-ahead of ``part``'s chunks from its position."""
        block = BLOCK_BYTES if self.share is None else self.share[2]
        return ReadAhead(id_chunks(self.corpus, self.vocab, self.cfg.max_sentence_len, self._stream(part),
                                   block_bytes=block, holdout=self.cfg.holdout_fraction, split=self.splits[part]),
                         depth=2)

    def _worker(self, t: int, dispatcher: _Dispatcher, errors: list) -> None:
        """Train on the chunks of the parts it claims until every part is read or the span closes."""
        try:
            scratch = self._scratch[t]
            while (part := dispatcher.claim()) is not None:
                while (item := dispatcher.next(part)) is not _PART_END:
                    if item is None:
                        return
                    if item is _SKIP:
                        continue
                    chunk, clock_start = item
                    if not chunk.words:
                        continue
                    try:
                        self._kernel(scratch, chunk, clock_start)
                    finally:
                        dispatcher.done()
                    if self._rows[t, K.T_NONFINITE]:
                        dispatcher.abort()
                        return
        except BaseException as exc:  # surfaced on the calling thread
            errors[t] = exc
            dispatcher.abort()

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
        self._params = kernel_params(self.cfg, self.total_clock, self.prefetch_pairs)
        dispatcher = _Dispatcher(self, budget_words, stop)
        errors: list[BaseException | None] = [None] * self.threads
        workers = [threading.Thread(target=self._worker, args=(t, dispatcher, errors), daemon=True)
                   for t in range(self.threads)]
        for w in workers:
            w.start()
        try:
            while any(w.is_alive() for w in workers):
                next(w for w in workers if w.is_alive()).join(tick_seconds)
                if on_tick is not None and not dispatcher.aborted:
                    on_tick(self)
                if pause_request is not None and pause_request.is_set():
                    self._pause(dispatcher, pause_request, on_pause)
        except BaseException:
            dispatcher.abort()
            for w in workers:
                w.join()
            raise
        finally:
            dispatcher.close()
        return self._span_result(before, dispatcher, errors, stop)

    def _pause(self, dispatcher: _Dispatcher, request: threading.Event, on_pause) -> None:
        dispatcher.pause()
        try:
            if not dispatcher.aborted and on_pause is not None:
                on_pause(self)
        finally:
            request.clear()
            dispatcher.resume()

    def _span_result(self, before: Tallies, dispatcher: _Dispatcher, errors: list, stop: threading.Event) -> SpanResult:
        for exc in errors:
            if exc is not None:
                raise exc
        if self._rows[:, K.T_NONFINITE].any():
            raise DivergenceError(
                f"training diverged (non-finite loss) in epoch {self.state.epoch + 1} after "
                f"{self.state.clock} words at lr {self.lr():.6g}; try a smaller --alpha"
            )
        ended = None
        if dispatcher.epoch_ended:
            ended = self.state.reader
            self._next_epoch()
        return SpanResult(self.tallies().minus(before), self.state, dispatcher.epoch_ended, stop.is_set(), ended)

    def check_finite(self, rows: int = 256) -> bool:
        """Cheap divergence probe: loss tallies and a few random rows of each matrix."""
        if not math.isfinite(float(self._rows[:, K.T_LOSS].sum())):
            return False
        V = self.model.w_in.shape[0]
        pick = self._probe_rng.integers(0, V, size=min(rows, V))
        return bool(np.isfinite(self.model.w_in[pick]).all() and np.isfinite(self.model.w_out[pick]).all()
                    and np.isfinite(self.model.bias[pick]).all())
