"""Orchestration over time: model initialisation, the lr clock, worker threads, spans of training.

``Trainer`` is the library core: it trains a budget of words from a given position of the
(epoch, id stream) and returns its tallies, so a job can be resumed, checkpointed, or split
across processes. The whole batch job (outputs, vocabulary, checkpoints, signals, the log)
is ``w2v_nce.run.job``.

Threads: one Python thread per worker. The corpus is cut into parts (``splits``; by default
replicas x workers, this trainer reading its replica's run of them) and each worker reads its
own part (``pairs.id_chunks`` on a read-ahead thread of its own, kept across spans, so
decompressing and encoding overlap its training; both release the GIL), then takes the next
part nobody reads yet. A ``_Dispatcher`` hands the chunks out under one lock, advancing the lr
clock and each part's stream position, and ends the span; each worker runs the ``nogil``
kernel on its chunks against the shared matrices (Hogwild).

Reproducibility contract: with ``threads == 1`` and a fixed seed, training is bit-for-bit
deterministic, including across an interruption and resume (one part: the whole corpus, in
order, as a single reader reads it). With several threads, each reads its own part and the
Hogwild updates interleave, so results are statistically equivalent, not identical.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import kernels as kern
from .artifact.model import Model
from .config import Config
from .errors import DivergenceError, ResumeError
from .rng import worker_states
from .sampling import (
    build_alias_table,
    fixed_unigram_probability,
    keep_probabilities,
    log_uniform_probability,
    uniform_probability,
    unigram_weights,
)
from .stream import IdChunk, ReaderCounts, StreamState, first_sentence, id_chunks
from .subwords import subword_rows
from .text.corpus import BLOCK_BYTES, Corpus, Position
from .text.readahead import ReadAhead
from .text.splits import Split, make_splits
from .threads import ThreadGroup
from .vocabulary.vocab import Vocab

LOSS_KINDS = {"nce": kern.LOSS_NCE, "neg": kern.LOSS_NEG, "sampled_softmax": kern.LOSS_SSM}
ARCHS = {"skipgram": kern.ARCH_SKIPGRAM, "cbow": kern.ARCH_CBOW}
SAMPLER_KINDS = {"log_uniform": kern.SAMPLER_LOG_UNIFORM, "unigram": kern.SAMPLER_UNIGRAM, "uniform": kern.SAMPLER_UNIFORM}


def learning_rate(clock: float, total: float, alpha: float, min_alpha: float) -> float:
    """The schedule, from Python: ``kernels.learning_rate`` (one definition for both sides)."""
    return float(kern.learning_rate(float(clock), float(total), float(alpha), float(min_alpha)))


# ---------------------------------------------------------------------------------------
# what the kernels need, built once per run
# ---------------------------------------------------------------------------------------
def build_tables(counts: np.ndarray, cfg: Config, words: list[str] | None = None) -> kern.Tables:
    """Subsampling keep-probabilities and the noise distributions of the run's sampler; with
    ``words`` and ``cfg.subwords``, each word's input rows (``subwords.subword_rows``)."""
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
    sub = subword_rows(words, cfg.subword_settings()) if cfg.subwords and words else None
    return kern.make_tables(keep, prob, ap, ai, neg_p, neg_a, cfg.num_sampled,  # make_tables casts P to float32
                            *(sub if sub is not None else ()))


def total_clock(cfg: Config, epoch_words: int) -> int:
    """The lr clock's end: in-vocab tokens over all epochs (``Vocab.epoch_words`` each), less
    the held-out fraction's expected share (never trained on)."""
    return max(1, round(cfg.epochs * epoch_words * (1.0 - cfg.holdout_fraction)))


def kernel_params(cfg: Config, clock_total: int, prefetch_pairs: int = kern.PREFETCH_PAIRS) -> kern.Params:
    """The kernels' scalars for a run (the one mapping from settings to ``kern.Params``)."""
    return kern.Params(
        loss_kind=LOSS_KINDS[cfg.loss], arch=ARCHS[cfg.arch], cbow_mean=cfg.cbow_mean,
        cbow_exact=cfg.cbow_update == "exact", window=cfg.window, num_sampled=cfg.num_sampled,
        batch_size=cfg.resolved_batch_size(), remove_hits=cfg.resolved_remove_hits(), unique=cfg.unique,
        sampler_kind=SAMPLER_KINDS[cfg.sampler], alpha=float(cfg.alpha), min_alpha=float(cfg.min_alpha),
        total_words=float(clock_total), prefetch_pairs=prefetch_pairs, shared_negatives=cfg.negatives != "pair")


def initial_bias(counts: np.ndarray, cfg: Config, tables: kern.Tables | None = None) -> np.ndarray:
    """log(S * P(k)) under the run's sampler: the -log Q term of the logits starts cancelled, so
    NCE starts from SGNS's logits (x.w) instead of x.w - log Q (measured: +3.6 analogy points on
    mix8, 1 epoch; scripts/bench_quality.py --nce-flags '--bias-init zero' reproduces the other)."""
    tables = tables if tables is not None else build_tables(counts, cfg)
    return np.log(tables.sampler_prob.astype(np.float64) * cfg.num_sampled).astype(np.float32)


def init_model(cfg: Config, vocab: Vocab, tables: kern.Tables | None = None) -> Model:
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
    block_bytes: int = BLOCK_BYTES  # the reader's block size: positions count its blocks (fixed for the epoch)

    def to_json(self) -> dict:
        d = {"epoch": self.epoch, "stream": self.stream.to_json(), "clock": self.clock,
             "reader": self.reader.to_json(), "parts": self.parts, "block_bytes": self.block_bytes}
        if self.streams:
            d["streams"] = [s.to_json() for s in self.streams]
        if self.done:
            d["done"] = list(self.done)
        return d

    @classmethod
    def from_json(cls, d: dict, rng: np.ndarray) -> "TrainState":
        return cls(int(d["epoch"]), StreamState.from_json(d["stream"]), int(d["clock"]), rng,
                   ReaderCounts.from_json(d.get("reader", {})), int(d.get("parts", 1)),  # older: one reader
                   [StreamState.from_json(s) for s in d.get("streams", [])], [bool(x) for x in d.get("done", [])],
                   int(d.get("block_bytes", BLOCK_BYTES)))


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
        return cls(float(s[kern.T_LOSS]), float(s[kern.T_EXAMPLES]), float(s[kern.T_WORDS]), float(s[kern.T_KEPT]),
                   float(s[kern.T_BATCHES]))

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


def parts_of(replica: int, replicas: int, parts: int) -> range:
    """The parts (indices into ``make_splits(corpus, parts)``) that replica ``replica`` of
    ``replicas`` reads: a contiguous run, [k P / K, (k + 1) P / K). With P = K x T each replica
    reads T parts; a resume with another K hands the saved parts out the same way."""
    return range(replica * parts // replicas, (replica + 1) * parts // replicas)


class _Dispatcher:
    """Hands chunks to workers for one span and advances the state for each one handed out
    (never for read-ahead), so that when the span ends the state and the matrices agree.

    Every part has one read-ahead thread, owned by the trainer and kept across spans (a
    compressed file is decompressed once per epoch, however many spans the epoch takes). A
    worker ``claim``s the next part nobody reads yet; when every part is claimed, it joins the
    lowest part still being read, so a corpus of fewer parts than workers (one big .gz is one
    part) keeps every worker busy, its chunks shared among them as by a single reader. ``next``
    takes a part's next chunk under that part's lock (so a part's position follows its chunks
    handed out in order) and counts it as handed out under the shared lock, which is never held
    while a reader is waited for: a worker whose part's text is not ready yet holds up no other
    part. It returns None when the budget (tokens or a deadline) is spent or the span is
    stopped or aborted, checked before the wait: a chunk waited for is handed out, so a span may
    run up to one chunk per part past its budget or stop. The epoch has ended when every part
    has been read to its end.

    The lr clock advances by ``clock_scale`` x a chunk's tokens: a replica of K counts its
    tokens K times, so its clock estimates the global position (pWord2Vec's local count x ranks).
    """

    def __init__(self, trainer: "Trainer", budget_words: int | None, deadline: float | None, stop: threading.Event):
        self._tr, self._state, self._budget, self._deadline = trainer, trainer.state, budget_words, deadline
        self._stop = stop
        self._lock = threading.Lock()  # the shared state: claims, the budget, the clock, the reader counts
        self._part_locks = [threading.Lock() for _ in trainer.splits]  # each part's reader and position
        self._handed = 0
        self.aborted = False
        n = len(trainer.splits)
        self._done = list(self._state.done) if self._state.done else [False] * n
        self._claimed = list(self._done)

    def _closed(self) -> bool:
        return self._stop.is_set() or self.aborted

    def _spent(self) -> bool:
        if self._budget is not None and self._handed >= self._budget:
            return True
        return self._deadline is not None and time.monotonic() >= self._deadline

    @property
    def epoch_ended(self) -> bool:
        return all(self._done)

    def claim(self) -> int | None:
        """A part for this worker: the lowest nobody reads yet, else the lowest still being read;
        None when every part is read to its end."""
        with self._lock:
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
        with self._part_locks[part]:
            with self._lock:
                if self._closed() or self._spent():
                    return None
                if self._done[part]:
                    return _PART_END
            chunk = self._tr._reader(part).get()  # the one wait, under this part's lock only
            with self._lock:
                if chunk is None:
                    self._done[part] = True
                    if self._tr.parts_in_state:
                        self._state.done[part] = True
                    return _PART_END
                st = self._state
                clock_start = st.clock
                st.clock += chunk.words * self._tr.clock_scale
                self._tr._set_stream(part, chunk.state_after)
                st.reader.add(chunk)
                self._handed += chunk.words
                return chunk, clock_start

    def abort(self) -> None:
        self.aborted = True  # read by the other workers at their next chunk


# Weights past this magnitude mean a diverged run: trained rows stay within a few units (biases
# within ~30 of log Q), so 1e4 is never reached by a healthy run and always by an exploding one.
MAX_WEIGHT = 1e4
# Nor does a healthy run's mean loss per example (a few units: softplus terms of bounded logits).
MAX_MEAN_LOSS = 1e4
# What a divergence error suggests (one text for every place that raises it).
DIVERGED_HINT = ("try a smaller --alpha (or look for lines of one token repeated thousands of times: tables, "
                 "separators)")

# Columns of Trainer.worker_seconds(). A worker holds the GIL for dispatch_cpu plus its own Python
# between calls (wall - kernel - dispatch): the serial fraction that bounds how far threads scale
# (docs/benchmarks.md); waiting for text (dispatch - dispatch_cpu) is not serial: each part has its reader.
WORKER_SECONDS = ("wall", "kernel", "dispatch", "dispatch_cpu")


class Trainer:
    """Trains ``model`` in place on ``corpus``; owns the position (``state``).

    ``model`` defaults to ``init_model(cfg, vocab)``: pass one only to continue training it.
    Each epoch the corpus is cut into ``replicas`` x ``threads`` parts and this trainer reads
    the ``parts_of(replica, replicas, ...)`` run of them (one machine: every part); a saved
    position (``state.parts``) keeps its cut until its epoch ends. ``splits`` (parts of one
    ``splits.make_splits(corpus, P)``) fixes the parts for every epoch instead. One part, the
    whole corpus, reads it in order as a single reader does.
    A replica of K > 1 passes ``track_touched`` (the workers mark the rows they may change:
    ``touched``, ``clear_touched``), ``clock_scale`` K (see ``_Dispatcher``) and smaller chunks
    (``block_bytes``: a round ends at a chunk boundary).
    Readers persist across ``run`` calls until the epoch ends or ``close``.
    """

    def __init__(self, cfg: Config, corpus: Corpus, vocab: Vocab, model: Model | None = None,
                 state: TrainState | None = None, prefetch_pairs: int = kern.PREFETCH_PAIRS,
                 splits: list[Split] | None = None, track_touched: bool = False,
                 replica: tuple[int, int] = (0, 1), clock_scale: int = 1, block_bytes: int = BLOCK_BYTES):
        self.cfg = cfg
        self.corpus = corpus
        self.vocab = vocab
        self.threads = cfg.resolved_threads()
        self.tables = build_tables(vocab.counts, cfg, vocab.words)
        self.model = model if model is not None else init_model(cfg, vocab, self.tables)
        self.total_clock = total_clock(cfg, vocab.epoch_words)
        self.prefetch_pairs = prefetch_pairs  # a speed knob for benchmarks; results do not depend on it
        self.state = state if state is not None else TrainState()
        self.replica, self.clock_scale, self.block_bytes = replica, clock_scale, block_bytes
        self.state.rng = self._worker_rng(self.state)
        if not self.state.parts:  # a fresh position: read in this trainer's blocks (a saved one keeps its own)
            self.state.block_bytes = block_bytes
        self._given_splits = splits is not None
        self._readers: dict[int, ReadAhead] = {}
        self._use_splits(list(splits) if splits is not None else self._cut(self.state.parts or self._parts_wanted()))
        self._rows = np.zeros((self.threads, kern.ROW_PAD), np.float64)
        self._seconds = np.zeros((self.threads, len(WORKER_SECONDS)), np.float64)
        params = kernel_params(cfg, self.total_clock)
        V, D = len(self.model), self.model.dim
        width = int(np.diff(self.tables.sub_start).max(initial=1))  # the most input rows of a word
        self._scratch = [kern.make_scratch(V, D, params, cfg.max_sentence_len, self.state.rng[t], self._rows[t],
                                        track_touched=track_touched, bag_width=width,
                                        marked_rows=len(self.model.input_table())) for t in range(self.threads)]
        self._probe_rng = np.random.default_rng(cfg.seed)  # which rows the divergence probe reads

    def _worker_rng(self, state: TrainState) -> np.ndarray:
        """Each worker's RNG row: the saved one, or streams from seed + replica index + lr clock (a
        fresh run: the seed; a resume with another thread count or onto another K: new streams)."""
        if state.rng is not None and state.rng.shape[0] == self.threads:
            return state.rng
        rng = np.zeros((self.threads, kern.ROW_PAD), np.uint64)
        base = self.cfg.seed + self.replica[0] + state.clock
        rng[:, 0] = worker_states(base, self.threads)
        return rng

    # -- parts of the corpus -----------------------------------------------------------
    def _parts_wanted(self) -> int:
        return self.replica[1] * self.threads

    def _cut(self, parts: int) -> list[Split]:
        """This trainer's run of the corpus cut into ``parts`` (see ``parts_of``)."""
        every = make_splits(self.corpus, parts)
        return [every[i] for i in parts_of(*self.replica, parts)]

    def _use_splits(self, splits: list[Split]) -> None:
        """Read these parts (each one's position in ``state``: fresh, or the checkpoint's); none:
        this trainer has no text this epoch (a resume onto more replicas than saved parts)."""
        if len({s.count for s in splits}) > 1 or len({s.index for s in splits}) != len(splits):
            raise ValueError("splits must be distinct parts of one make_splits(corpus, K)")
        st = self.state
        self.splits = splits
        st.parts = splits[0].count if splits else st.parts
        if len(splits) == 1:
            if st.streams:
                raise ResumeError(f"the saved position has {len(st.streams)} parts but this trainer reads one")
            if st.stream.sentences == 0 and st.stream.position == Position():  # a fresh stream
                st.stream = self._fresh_stream(0)
        elif len(splits) > 1 and not st.streams:
            st.streams = [self._fresh_stream(i) for i in range(len(splits))]
            st.done = [False] * len(splits)
        elif len(splits) > 1 and len(st.streams) != len(splits):
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

    def _reader(self, part: int) -> ReadAhead:
        """``part``'s read-ahead of chunks, opened at its position on first use in the epoch."""
        if part not in self._readers:
            self._readers[part] = ReadAhead(
                id_chunks(self.corpus, self.vocab, self.cfg.max_sentence_len, self._stream(part),
                          block_bytes=self.state.block_bytes, holdout=self.cfg.holdout_fraction,
                          split=self.splits[part]),
                depth=2)
        return self._readers[part]

    def close(self) -> None:
        """Stop every part's read-ahead (what they read beyond the handed chunks is dropped: the
        next ``run`` reopens at the state's positions)."""
        readers, self._readers = self._readers, {}
        for reader in readers.values():
            reader.close()

    def _next_epoch(self) -> None:
        """Fresh positions; the corpus is cut again for the current replicas x threads, unless the
        parts were given, or held-out sentences are chosen by their place in their part (holdout)."""
        self.close()
        st = self.state
        st.epoch += 1
        st.stream, st.streams, st.done = StreamState(), [], []
        st.reader = ReaderCounts()
        st.block_bytes = self.block_bytes
        splits = self.splits
        # held-out sentences are chosen by their place in their part: with a holdout the cut never
        # changes (a replica without parts, after a resume onto more replicas than parts, stays idle)
        if not self._given_splits and self.cfg.holdout_fraction <= 0 and st.parts != self._parts_wanted():
            splits = self._cut(self._parts_wanted())
        self._use_splits(splits)

    # ---------------------------------------------------------------------------------
    def lr(self) -> float:
        return learning_rate(self.state.clock, self.total_clock, self.cfg.alpha, self.cfg.min_alpha)

    def tallies(self) -> Tallies:
        """Running totals (read without locks: each row is written by one worker only)."""
        return Tallies.from_rows(self._rows)

    def worker_rows(self) -> np.ndarray:
        """A copy of each worker's float64 tallies, [threads, ROW_PAD] (columns: ``kern.T_*``)."""
        return self._rows.copy()

    def worker_seconds(self) -> np.ndarray:
        """float64[threads, 4], summed over spans (columns: WORKER_SECONDS): each worker's wall time
        in ``run``; the part of it inside kernel calls (without the GIL, Numba's argument checks
        included); the part in the dispatcher (its locks, the read-ahead's hand-off, waiting for
        the next block of text); and the CPU time the thread spent in the dispatcher (Python,
        under the GIL: waiting costs none)."""
        return self._seconds.copy()

    def touched(self) -> np.ndarray:
        """uint8[max(V, input table rows)]: the union over workers of the TOUCHED_* bits since
        they were last cleared."""
        return np.bitwise_or.reduce([s.touched for s in self._scratch])

    def clear_touched(self, rows: int, first: int = 0, bits: int = kern.TOUCHED_IN | kern.TOUCHED_OUT) -> None:
        """Forget the ``bits`` marks of rows [first, rows) (they were synced); call between spans."""
        for s in self._scratch:
            s.touched[first:rows] &= np.uint8(~bits & 0xFF)

    @property
    def finished(self) -> bool:
        return self.state.epoch >= self.cfg.epochs

    def train_chunk(self, scratch: kern.Scratch, chunk: IdChunk, clock_start: int) -> None:
        """One kernel call: ``chunk``'s ids from lr clock ``clock_start`` (runs without the GIL)."""
        m = self.model
        kern.train_chunk(chunk.ids, float(clock_start), kern.Weights(m.input_table(), m.w_out, m.bias), self.tables, self._params,
                      scratch)

    def _worker(self, t: int, dispatcher: _Dispatcher) -> None:
        """Train on the chunks of the parts it claims until every part is read or the span closes;
        adds its wall, kernel and dispatch seconds to ``worker_seconds`` (a few clock reads a chunk)."""
        scratch, clock, cpu = self._scratch[t], time.perf_counter, time.thread_time
        start, kernel, dispatch, dispatch_cpu = clock(), 0.0, 0.0, 0.0
        try:
            while (part := dispatcher.claim()) is not None:
                while True:
                    asked, asked_cpu = clock(), cpu()
                    item = dispatcher.next(part)
                    handed = clock()
                    dispatch += handed - asked
                    dispatch_cpu += cpu() - asked_cpu
                    if item is _PART_END:
                        break
                    if item is None:
                        return
                    chunk, clock_start = item
                    if not chunk.words:
                        continue
                    self.train_chunk(scratch, chunk, clock_start)
                    kernel += clock() - handed
                    if self._rows[t, kern.T_NONFINITE]:
                        dispatcher.abort()
                        return
        finally:
            self._seconds[t] += (clock() - start, kernel, dispatch, dispatch_cpu)

    def run(
        self,
        budget_words: int | None = None,
        stop: threading.Event | None = None,
        on_tick: Callable[["Trainer"], None] | None = None,
        tick_seconds: float = 0.5,
        seconds: float | None = None,
    ) -> SpanResult:
        """Train from ``self.state`` until the epoch ends, ``budget_words`` in-vocab tokens have
        been handed out (whole chunks: at least the budget), ``seconds`` have passed (no chunk is
        handed out after that), or ``stop`` is set.

        Returns the span's tallies and the new state. Every chunk handed out is finished
        before returning, so the state and the matrices agree (a consistent checkpoint); the
        readers stay open for the next span. ``on_tick`` runs on the calling thread every
        ``tick_seconds``; it may raise (e.g. ``DivergenceError``), which stops the workers and
        propagates, or set ``stop`` to end the span.
        """
        stop = stop or threading.Event()
        before = self.tallies()
        self._params = kernel_params(self.cfg, self.total_clock, self.prefetch_pairs)
        deadline = None if seconds is None else time.monotonic() + seconds
        dispatcher = _Dispatcher(self, budget_words, deadline, stop)
        workers = ThreadGroup(self.threads, lambda t: self._worker(t, dispatcher), on_error=dispatcher.abort,
                              name="w2v-nce-train")
        try:
            while not workers.wait(tick_seconds):
                if on_tick is not None and not dispatcher.aborted:
                    on_tick(self)
        except BaseException:
            dispatcher.abort()
            workers.join()
            self.close()
            raise
        return self._span_result(before, dispatcher, workers, stop)

    def _span_result(self, before: Tallies, dispatcher: _Dispatcher, workers: ThreadGroup,
                     stop: threading.Event) -> SpanResult:
        try:
            workers.raise_error()
        except BaseException:
            self.close()
            raise
        if self._rows[:, kern.T_NONFINITE].any():
            self.close()
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
        """Cheap divergence probe: loss tallies and a few random rows of each matrix, finite and
        below MAX_WEIGHT in magnitude (a diverged run's weights grow for a while before they
        overflow; the probe catches them then, not after the outputs are written)."""
        loss, examples = float(self._rows[:, kern.T_LOSS].sum()), float(self._rows[:, kern.T_EXAMPLES].sum())
        if not math.isfinite(loss) or loss > MAX_MEAN_LOSS * max(examples, 1.0):  # exploded rows the probe missed
            return False
        V, inputs = len(self.model), self.model.input_table()
        pick = self._probe_rng.integers(0, V, size=min(rows, V))
        in_pick = pick if len(inputs) == V else self._probe_rng.integers(0, len(inputs), size=len(pick))
        return all(bool(np.all(np.abs(a) < MAX_WEIGHT))  # False for NaN too
                   for a in (inputs[in_pick], self.model.w_out[pick], self.model.bias[pick]))
