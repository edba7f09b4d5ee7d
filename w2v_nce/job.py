"""The whole training batch job: checks first, vocabulary, training, checkpoints, outputs.

Order matters for a batch job: everything that can fail cheaply (settings, output
directory, corpus paths) is checked before the first token is counted; memory is estimated
before the matrices are allocated; every output is written to a temp file and renamed.

Two entry points: ``run_training(cfg)`` starts a run, ``resume_training(out_dir)`` continues
an interrupted one from its checkpoint. Both end in the same ``_Run``.

Outputs in the output directory: ``vectors.txt`` (+ ``vectors.bin`` with ``binary``),
``model.npz``, ``vocab.tsv``, ``config.yaml``, ``train.jsonl``, ``metrics.json``; while a run is
unfinished, ``checkpoint.npz`` (removed once the final outputs are written).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from . import kernels as K
from .checkpoint import CHECKPOINT_FILE, Checkpoint, check_fingerprint, load_checkpoint, save_checkpoint
from .config import Config, to_yaml, validate, validate_against_vocab
from .corpus import Corpus, ReadStats
from .errors import CorpusError, DivergenceError, Interrupted, OutputError, ResourceError, W2VError
from .events import EpochEnd, EventLog, Progress, is_terminal, to_record
from .formats import atomic_output
from .lock import OutputLock
from .model import MODEL_FILE, Model, model_save_bytes
from .pairs import HeldOut, ReaderCounts, heldout_examples, id_chunks
from .splits import make_splits, split_note
from .train import Tallies, Trainer, TrainState, build_tables, init_model
from .vocab import CountResult, Vocab, build_vocab, read_vocab_tsv, vocab_from_count

OUTPUT_FILES = ("vectors.txt", "vectors.bin", MODEL_FILE, "vocab.tsv", "config.yaml", "train.jsonl",
                "metrics.json", CHECKPOINT_FILE)
PROBE_SECONDS = 5.0  # how often the divergence probe reads a few rows of the matrices

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# checks before any work
# ---------------------------------------------------------------------------------------
def prepare_output_dir(path: str, force: bool) -> None:
    """Create ``path`` or check it can be used; refuses a non-empty directory unless ``force``."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputError(f"{path}: output path is a file; choose a directory with -o")
    if os.path.isdir(path) and os.listdir(path) and not force:
        raise OutputError(f"{path}: output directory is not empty; pass --force to overwrite or choose another -o")
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".w2v-nce-write-test")
        with open(probe, "wb") as fh:
            fh.write(b"ok")
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{path}: output directory is not writable ({exc.strerror})") from None


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def estimate_memory(V: int, cfg: Config, word_bytes: int = 0) -> int:
    """Bytes the training allocates: w_in, w_out [V, D] float32, bias, noise tables, per-worker
    scratch, one more V x D float32 copy for writing outputs, and what saving the model or a
    checkpoint adds (``model_save_bytes``: the words' ``word_bytes`` of UTF-8, not their longest)."""
    matrices = 3 * V * cfg.dim * 4 + V * 4
    tables = K.tables_bytes(V)
    scratch = cfg.resolved_threads() * K.scratch_bytes(V, cfg.dim, cfg.num_sampled, cfg.resolved_batch_size(),
                                                         cfg.window, cfg.max_sentence_len)
    return matrices + tables + scratch + model_save_bytes(V, cfg.dim, word_bytes)


def check_memory(V: int, cfg: Config, word_bytes: int = 0) -> None:
    need = estimate_memory(V, cfg, word_bytes)
    avail = _available_memory()
    if avail is not None and need > 0.9 * avail:
        raise ResourceError(
            f"training needs about {need / 2**30:.1f} GiB for {V} words x {cfg.dim} dims but only "
            f"{avail / 2**30:.1f} GiB is available; lower --dim or --max-vocab, or raise --min-count"
        )


def _remove_stale_outputs(out: str) -> None:
    """With --force: a previous run's files must not survive next to the new ones (a stale
    checkpoint could be resumed, a stale vectors.bin mistaken for this run's)."""
    for name in OUTPUT_FILES:
        try:
            os.unlink(os.path.join(out, name))
        except FileNotFoundError:
            pass
    _remove_stale_spills(out)


def _remove_stale_spills(out: str) -> None:
    """Spill directories of a counting pass that was killed (SIGKILL, OOM): safe to remove
    while this run holds the directory's lock."""
    import glob
    import shutil

    for d in glob.glob(os.path.join(out, ".w2v-nce-count-*")):
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# the entry points
# ---------------------------------------------------------------------------------------
@dataclass
class JobResult:
    output: str
    vocab_size: int
    totals: Tallies
    seconds: float
    metrics: dict = field(default_factory=dict)


class _Signals:
    """SIGINT/SIGTERM set ``halt`` and remember which signal; restored on exit."""

    def __init__(self, halt: threading.Event, enabled: bool):
        self.halt = halt
        self.signum = 0
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self._old = {}

    def __enter__(self):
        if self.enabled:
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signum = signum
        self.halt.set()

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


def _log_for(cfg: Config, log: Log | None) -> Log:
    return log or (lambda m: None if cfg.quiet else _stderr(m))


def run_training(cfg: Config, force: bool = False, log: Log | None = None, handle_signals: bool = False,
                 halt: threading.Event | None = None) -> JobResult:
    """Run a whole training job: count, train, write the outputs into ``cfg.output``.

    ``halt`` (or SIGINT/SIGTERM with ``handle_signals``) stops the run: after the vocabulary
    pass has begun, a checkpoint is written and ``Interrupted`` raised (exit 130/143).
    """
    t_start = time.time()
    halt = halt or threading.Event()
    validate(cfg)
    cfg.corpus = [p if p == "-" else os.path.abspath(p) for p in cfg.corpus]  # a resume may start elsewhere
    cfg.heldout = [os.path.abspath(p) for p in cfg.heldout]
    cfg.vocab = os.path.abspath(cfg.vocab) if cfg.vocab else None
    log = _log_for(cfg, log)
    with _Signals(halt, handle_signals) as sig:
        # Inputs first (cheap, and a typo must not create an output directory), then the output.
        corpus = Corpus(cfg.corpus, lowercase=cfg.lowercase, spool_dir=cfg.output)
        try:
            heldout_corpus = Corpus(cfg.heldout, lowercase=cfg.lowercase) if cfg.heldout else None
            given = vocabulary_from_file(cfg, log) if cfg.vocab else None
            prepare_output_dir(cfg.output, force)
            with _locked(cfg.output, log):  # before --force removes anything: it may be another run's
                if force:
                    _remove_stale_outputs(cfg.output)
                t_count = time.time()
                vocab, counted = given or _count_vocabulary(cfg, corpus, halt, sig, log)
                seconds = {"vocabulary": time.time() - t_count}
                tables = build_tables(vocab.counts, cfg)
                start = Checkpoint(cfg, init_model(cfg, vocab, tables), TrainState(), corpus.fingerprint(), Tallies(),
                                   [])
                run = _Run(start, corpus, heldout_corpus, vocab, halt, sig, log, counted, seconds)
                return run.finish(t_start)
        finally:
            corpus.close()


def resumed_config(cfg: Config, out_dir: str, threads: int | None, quiet: bool | None) -> Config:
    """A checkpoint's settings for its resume: only the thread count and quietness may change."""
    if threads is not None:
        cfg.threads = threads
    if quiet is not None:
        cfg.quiet = quiet
    cfg.output = out_dir
    return validate(cfg)


def resume_training(out_dir: str, threads: int | None = None, quiet: bool | None = None, log: Log | None = None,
                    handle_signals: bool = False, halt: threading.Event | None = None) -> JobResult:
    """Continue the interrupted run in ``out_dir`` from its checkpoint (corpus and settings come
    from it; only the thread count and quietness may change)."""
    t_start = time.time()
    halt = halt or threading.Event()
    ck = load_checkpoint(out_dir)
    cfg = resumed_config(ck.cfg, out_dir, threads, quiet)
    log = _log_for(cfg, log)
    with _Signals(halt, handle_signals) as sig:
        corpus = Corpus(cfg.corpus, lowercase=cfg.lowercase)
        try:
            heldout_corpus = Corpus(cfg.heldout, lowercase=cfg.lowercase) if cfg.heldout else None
            check_fingerprint(ck.fingerprint, corpus)
            with _locked(out_dir, log):
                _remove_stale_spills(out_dir)
                log(f"resuming {out_dir}: epoch {ck.state.epoch + 1}/{cfg.epochs}, {ck.state.clock:,} words done")
                vocab = Vocab(ck.model.words, ck.model.counts)
                run = _Run(ck, corpus, heldout_corpus, vocab, halt, sig, log, None, {})
                return run.finish(t_start)
        finally:
            corpus.close()


@contextlib.contextmanager
def _locked(out: str, log: Log):
    """Hold the output directory's lock (one writer per directory); a stale one taken over is logged."""
    with OutputLock(out, argv=sys.argv) as lock:
        if lock.note is not None:
            log(lock.note)
        yield lock


def _count_vocabulary(cfg: Config, corpus: Corpus, halt: threading.Event, sig: _Signals,
                      log: Log) -> tuple[Vocab, CountResult]:
    """The counting pass (see ``count_corpus``); checks what needs the vocabulary's size."""
    vocab, counted = count_corpus(cfg, corpus, halt, sig.signum, cfg.output, log)
    _check_vocabulary(cfg, vocab)
    return vocab, counted


def vocabulary_of_count(cfg: Config, corpus: Corpus, counted: CountResult, log: Log) -> Vocab:
    """The vocabulary of a count made elsewhere (a cluster's tasks over the corpus splits):
    the same vocabulary, checks and log line as the counting pass here."""
    vocab = vocab_from_count(corpus, counted, cfg.min_count, cfg.max_vocab, cfg.max_token_bytes)
    log(_vocabulary_line(vocab, counted, cfg))
    _check_vocabulary(cfg, vocab)
    return vocab


def _check_vocabulary(cfg: Config, vocab: Vocab) -> None:
    validate_against_vocab(cfg, len(vocab))
    check_memory(len(vocab), cfg, sum(len(w.encode("utf-8")) for w in vocab.words))


def counting_interrupted(signum: int) -> Interrupted:
    """The error of a run stopped while counting (by ``signum``; 0: a request): nothing to resume."""
    return Interrupted("stopped while counting the vocabulary; nothing to resume, start the run again",
                       signum or signal.SIGINT)


def count_corpus(cfg: Config, corpus: Corpus, halt: threading.Event, signum: int, spill_dir: str | None,
                 log: Log) -> tuple[Vocab, CountResult]:
    """Count the corpus with ``cfg.resolved_threads()`` threads and a byte progress bar (on a
    terminal); the summary line goes to ``log``. ``halt`` stops it (``Interrupted``)."""
    from tqdm import tqdm

    def progress(nbytes: int) -> None:
        bar.update(nbytes)
        if halt.is_set():  # nothing trained yet: nothing to checkpoint
            raise counting_interrupted(signum)

    threads = cfg.resolved_threads()
    if threads > 1:
        note = split_note(corpus, make_splits(corpus, threads))
        if note:
            log(f"counting: {note}")
    bar_off = cfg.quiet or not is_terminal(sys.stderr)  # a log file gets the summary line only
    with tqdm(unit="B", unit_scale=True, desc="vocabulary", disable=bar_off, file=sys.stderr, leave=False) as bar:
        vocab, counted = build_vocab(corpus, cfg.min_count, cfg.max_vocab, progress=progress,
                                     max_token_bytes=cfg.max_token_bytes, count_memory=cfg.count_memory,
                                     spill_dir=spill_dir, threads=threads)
    log(_vocabulary_line(vocab, counted, cfg))
    return vocab, counted


def vocab_header(cfg: Config, tokens: int | None, distinct: int | None = None) -> dict[str, int]:
    """The header of a vocab.tsv: the corpus's token total and what it was counted with."""
    head = {} if tokens is None else {"tokens": tokens}
    if distinct is not None:
        head["distinct"] = distinct
    head.update(min_count=cfg.min_count, max_vocab=cfg.max_vocab, lowercase=int(cfg.lowercase),
                max_token_bytes=cfg.max_token_bytes)
    return head


def write_vocabulary(cfg: Config, output: str, force: bool = False, log: Log | None = None) -> tuple[Vocab, CountResult]:
    """``w2v-nce vocab``: count ``cfg.corpus`` and write ``output`` (the vocab.tsv training
    writes, with its header), atomically; spill files, if any, go beside it."""
    validate(cfg)
    log = log or _stderr
    corpus = Corpus(cfg.corpus, lowercase=cfg.lowercase)
    try:
        if os.path.isdir(output):
            raise OutputError(f"{output}: is a directory; give the vocabulary file's name with -o")
        if os.path.exists(output) and not force:
            raise OutputError(f"{output}: already exists; pass --force to overwrite it")
        parent = os.path.dirname(os.path.abspath(output))
        if not os.access(parent, os.W_OK):
            raise OutputError(f"{parent}: directory is missing or not writable; choose another -o")
        vocab, counted = count_corpus(cfg, corpus, threading.Event(), 0, parent, log)
        vocab.save_tsv(output, vocab_header(cfg, counted.tokens, counted.distinct))
        return vocab, counted
    finally:
        corpus.close()


def vocabulary_from_file(cfg: Config, log: Log) -> tuple[Vocab, CountResult]:
    """``train --vocab``: the vocabulary of ``cfg.vocab`` under this run's min_count and
    max_vocab, and a CountResult carrying the file's token total (its header's ``tokens``; when
    it has none, the sum of its counts is assumed, and the log says so). Malformed files raise
    FormatError before anything is written."""
    words, counts, header = read_vocab_tsv(cfg.vocab)
    vocab = Vocab.from_counts(words, counts, cfg.min_count, cfg.max_vocab)
    if len(vocab) == 0:
        raise CorpusError(f"{cfg.vocab}: no word is counted at least {cfg.min_count} times; try a smaller --min-count")
    tokens = header.get("tokens")
    if tokens is None:
        tokens = int(counts.sum())
        log(f"{cfg.vocab}: no token total in the file (no '# w2v-nce vocab tokens=N' header): assumed the sum of "
            f"its counts, {tokens:,} (no out-of-vocabulary tokens)")
    if header.get("min_count", 1) > cfg.min_count:
        log(f"{cfg.vocab}: the file holds only words counted >= {header['min_count']}; --min-count {cfg.min_count} "
            "cannot bring back rarer ones")
    if "lowercase" in header and bool(header["lowercase"]) != cfg.lowercase:
        log(f"{cfg.vocab}: counted with lowercase {'on' if header['lowercase'] else 'off'}, this run has it "
            f"{'on' if cfg.lowercase else 'off'}: words spelt otherwise are out of vocabulary")
    counted = CountResult(None, tokens, ReadStats(), header.get("distinct", len(words)))
    log(f"vocabulary from {cfg.vocab}: {len(vocab):,} words kept of {len(words):,} in the file; "
        f"{tokens:,} corpus tokens, {vocab.total:,} in vocabulary (counting skipped)")
    _check_vocabulary(cfg, vocab)
    return vocab, counted


def _vocabulary_line(vocab: Vocab, counted: CountResult, cfg: Config) -> str:
    stats = counted.stats
    return (f"vocabulary: {len(vocab):,} words kept of {counted.distinct:,} distinct; "
            f"{counted.tokens:,} tokens read, {vocab.total:,} in vocabulary, "
            f"{counted.tokens - vocab.total:,} out of vocabulary"
            + (f"; {stats.replaced_chars:,} invalid UTF-8 sequences replaced by U+FFFD" if stats.replaced_chars else "")
            + (f"; {counted.long_tokens:,} tokens longer than --max-token-bytes {cfg.max_token_bytes} left out "
               f"(longest {counted.longest_token_bytes:,} bytes)" if counted.long_tokens else "")
            + (f"; counting reached --count-memory {cfg.count_memory:,} bytes: {counted.spill_runs} sorted runs "
               f"({counted.spill_bytes:,} bytes) spilled to disk and merged" if counted.spill_runs else ""))


def vocabulary_counts(vocab: Vocab, counted: CountResult) -> dict:
    """The counting pass's figures, for metrics.json."""
    return {"words": len(vocab), "distinct": counted.distinct, "tokens": counted.tokens,
            "in_vocab_tokens": vocab.total, "long_tokens": counted.long_tokens,
            "longest_token_bytes": counted.longest_token_bytes, "spill_runs": counted.spill_runs,
            "spill_bytes": counted.spill_bytes}


def heldout_set(cfg: Config, corpus: Corpus, heldout_corpus: Corpus | None, vocab: Vocab,
                splits: list | None = None) -> HeldOut | None:
    """The held-out examples scored after every epoch: ``--heldout`` text, or the held-out
    fraction of the corpus (each part's held-out side, as the trainer's ``splits`` choose it;
    None: the corpus as one part), or None."""
    if heldout_corpus is not None:
        chunks = id_chunks(heldout_corpus, vocab, cfg.max_sentence_len)
    elif cfg.holdout_fraction > 0:
        parts = splits if splits is not None else [None]
        chunks = itertools.chain.from_iterable(
            id_chunks(corpus, vocab, cfg.max_sentence_len, holdout=cfg.holdout_fraction, heldout_side=True, split=sp)
            for sp in parts)
    else:
        return None
    return heldout_examples(chunks, cfg.window, cfg.heldout_max_pairs, cfg.arch)


def finish_epoch_record(ev: EpochEnd, cfg: Config, model: Model, heldout: HeldOut | None, threads: int,
                        log: Log) -> EpochEnd:
    """Complete an epoch's record: the held-out full loss (with held-out text), and the log line
    about split lines after the first epoch."""
    if heldout is not None and len(heldout):
        from .evaluate import full_sigmoid_loss_examples

        t = time.time()
        mean, stderr, n = full_sigmoid_loss_examples(model.w_in, model.w_out, model.bias, heldout, cfg.cbow_mean,
                                                     threads=threads)
        ev.heldout_loss = {"mean": mean, "stderr": stderr, "pairs": n, "seconds": round(time.time() - t, 3)}
    if ev.reader and ev.reader["split_sentences"] and ev.epoch == 1:
        log(f"{ev.reader['split_sentences']:,} lines longer than --max-sentence-len "
            f"{cfg.max_sentence_len} tokens were split into sentences of that length")
    return ev


# ---------------------------------------------------------------------------------------
# one run over time
# ---------------------------------------------------------------------------------------
class _Ticker:
    """What the training loop does between chunks, on the calling thread: the bar's position,
    the divergence probe, progress events, and when a periodic checkpoint is due."""

    def __init__(self, cfg: Config, events: EventLog, trainer: Trainer):
        now = time.time()
        self.cfg, self.events = cfg, events
        self.checkpoint_due = threading.Event()  # Trainer.run pauses at a chunk boundary and calls back
        self._last_probe = self._last_ckpt = self._last_progress = now
        self._last_tallies = trainer.tallies()

    def tick(self, tr: Trainer) -> None:
        now = time.time()
        self.events.advance(tr.state.clock)
        if now - self._last_probe >= PROBE_SECONDS:
            self._last_probe = now
            if not tr.check_finite():
                raise DivergenceError(
                    f"training diverged (NaN/Inf in the weights) in epoch {tr.state.epoch + 1} after "
                    f"{tr.state.clock:,} words at lr {tr.lr():.6g}; try a smaller --alpha")
        cur = tr.tallies()
        if now - self._last_progress >= self.cfg.progress_every and cur.examples > self._last_tallies.examples:
            d = cur.minus(self._last_tallies)
            self.events.emit(Progress(tr.state.epoch + 1, tr.state.clock, round(d.words / (now - self._last_progress), 1),
                                      tr.lr(), d.mean_loss, d.examples, round(now, 3)))
            self._last_progress, self._last_tallies = now, cur
        every = 60 * self.cfg.checkpoint_every
        if every > 0 and now - self._last_ckpt >= every:
            self.checkpoint_due.set()

    def checkpointed(self) -> None:
        self._last_ckpt = time.time()


class _Run:
    """One training run from a start (fresh or a checkpoint) to its outputs."""

    def __init__(self, start: Checkpoint, corpus: Corpus, heldout_corpus: Corpus | None, vocab: Vocab,
                 halt: threading.Event, sig: _Signals, log: Log, counted: CountResult | None, seconds: dict):
        t_setup = time.time()
        self.seconds = seconds  # wall seconds per phase of this process (metrics.json "seconds")
        self.cfg, self.corpus, self.vocab, self.halt, self.sig, self.log = start.cfg, corpus, vocab, halt, sig, log
        self.out = start.cfg.output
        self.model = start.model
        self.fingerprint = start.fingerprint
        self.base = start.totals  # tallies of the processes before this one (a resume)
        self.history = start.history
        self.vocabulary = vocabulary_counts(vocab, counted) if counted is not None else None
        self.trainer = Trainer(self.cfg, corpus, vocab, self.model, start.state)
        note = split_note(corpus, self.trainer.splits)
        if note:
            log(f"reading for training: {note}")
        self.heldout = self._heldout_examples(heldout_corpus)
        seconds["setup"] = time.time() - t_setup

    def _heldout_examples(self, heldout_corpus: Corpus | None) -> HeldOut | None:
        return heldout_set(self.cfg, self.corpus, heldout_corpus, self.vocab, self.trainer.splits)

    def totals(self) -> Tallies:
        """Tallies over the whole run, earlier processes (before a resume) included."""
        return self.base.plus(self.trainer.tallies())

    def save_checkpoint(self, *_) -> str:
        return save_checkpoint(self.out, Checkpoint(self.cfg, self.model, self.trainer.state, self.fingerprint,
                                                    self.totals(), self.history))

    # -- the loop ---------------------------------------------------------------------
    def finish(self, t_start: float) -> JobResult:
        """Train to the end, then write every output (the model first) and drop the checkpoint."""
        t_train = time.time()
        metrics = self.train()
        self.seconds["train"] = time.time() - t_train
        _write_outputs(self.cfg, self.model, self.vocab, self.out, metrics, self.log, self.seconds)
        try:
            os.unlink(os.path.join(self.out, CHECKPOINT_FILE))
        except FileNotFoundError:
            pass
        return JobResult(self.out, len(self.vocab), self.totals(), time.time() - t_start, metrics)

    def train(self) -> dict:
        cfg, tr = self.cfg, self.trainer
        append = bool(self.history) or tr.state.clock > 0
        with EventLog(os.path.join(self.out, "train.jsonl"), append, tr.total_clock, tr.state.clock, cfg.epochs,
                      cfg.quiet, self.log) as events:
            ticker = _Ticker(cfg, events, tr)

            def periodic_checkpoint(_: Trainer) -> None:
                self.save_checkpoint()
                ticker.checkpointed()

            epoch_start, t_epoch = tr.tallies(), time.time()
            while not tr.finished:
                span = tr.run(stop=self.halt, on_tick=ticker.tick, pause_request=ticker.checkpoint_due,
                              on_pause=periodic_checkpoint)
                if span.epoch_ended:  # before any stop: the epoch's record must not be lost
                    events.emit(self._end_epoch(epoch_start, t_epoch, span.epoch_reader))
                    epoch_start, t_epoch = tr.tallies(), time.time()
                if span.stopped and not tr.finished:
                    self._interrupt()
        return self._metrics()

    def _metrics(self) -> dict:
        final = self.totals()
        metrics = {"epochs": self.history, "train_loss": final.mean_loss, "examples": final.examples,
                   "words": final.words, "kept_tokens": final.kept, "negative_draws": final.batches,
                   # what the settings left null (config.yaml keeps null) resolved to in this run
                   "resolved": {"threads": self.cfg.resolved_threads(), "batch_size": self.cfg.resolved_batch_size(),
                                "remove_accidental_hits": self.cfg.resolved_remove_hits()}}
        if self.vocabulary is not None:
            metrics["vocabulary"] = self.vocabulary
        if self.history and "reader" in self.history[0]:
            metrics["reader"] = self.history[0]["reader"]  # the first full pass over the corpus
        return metrics

    def _interrupt(self) -> None:
        path = self.save_checkpoint()
        signum = self.sig.signum or signal.SIGINT
        name = signal.Signals(signum).name if self.sig.signum else "request"
        raise Interrupted(f"stopped by {name} after {self.trainer.state.clock:,} words; checkpoint {path}; "
                          f"resume with: w2v-nce train --resume {self.out}", signum)

    def _end_epoch(self, epoch_start: Tallies, t_epoch: float, reader: ReaderCounts) -> EpochEnd:
        """The record of the epoch that just ended (appended to the history), with the held-out
        full loss when there is held-out text."""
        tr = self.trainer
        d = tr.tallies().minus(epoch_start)
        now = time.time()
        ev = EpochEnd(tr.state.epoch, tr.state.clock, round(d.words / max(now - t_epoch, 1e-9), 1), tr.lr(),
                      d.mean_loss, d.examples, round(now, 3), kept=d.kept, reader=reader.to_json())
        finish_epoch_record(ev, self.cfg, self.model, self.heldout, tr.threads, self.log)
        self.history.append(to_record(ev))
        return ev


def _write_outputs(cfg: Config, model: Model, vocab: Vocab, out: str, metrics: dict, log: Log,
                   seconds: dict | None = None) -> None:
    """The model first (whatever fails later, the trained matrices are on disk), then the rest;
    a failure after the model is an ``OutputError`` saying what was written (exit 1).

    ``seconds``: wall seconds of this process's earlier phases; "write" and "evaluate" are
    added and metrics.json gets them all as "seconds" (the job's fixed costs, for benchmarks)."""
    seconds = dict(seconds or {})
    t_write = time.time()
    model.config = cfg.to_dict()
    model.save(os.path.join(out, MODEL_FILE))
    written = [MODEL_FILE]
    step = "writing vectors.txt"
    try:
        _write_the_rest(cfg, model, vocab, out, written, metrics)
        seconds["write"] = time.time() - t_write
        step = "scoring the bundled evaluation sets"
        t_eval = time.time()
        metrics.update(_score_bundled(model))
        seconds["evaluate"] = time.time() - t_eval
        metrics["seconds"] = {k: round(v, 3) for k, v in seconds.items()}
        step = "writing metrics.json"
        with atomic_output(os.path.join(out, "metrics.json"), "w") as fh:
            json.dump(metrics, fh, indent=2)
    except Exception as exc:  # noqa: BLE001 -- any failure here must still point to the saved model
        detail = str(exc) if isinstance(exc, W2VError) else f"{type(exc).__name__}: {exc}"
        raise OutputError(f"{step} failed ({detail}); the trained model is saved: {', '.join(written)} in {out} "
                          f"(w2v-nce export {out} writes the vectors again)") from None
    if "analogy" in metrics:
        log(f"analogy accuracy {metrics['analogy']['accuracy']:.4f} ({metrics['analogy']['answered']} answered)")


def _write_the_rest(cfg: Config, model: Model, vocab: Vocab, out: str, written: list[str], metrics: dict) -> None:
    from .formats import write_word2vec_binary, write_word2vec_text

    model.w_out = model.bias = None  # saved; only w_in is written and scored below (peak RSS)
    write_word2vec_text(os.path.join(out, "vectors.txt"), model.words, model.w_in)
    written.append("vectors.txt")
    if cfg.binary:
        write_word2vec_binary(os.path.join(out, "vectors.bin"), model.words, model.w_in)
        written.append("vectors.bin")
    counted = metrics.get("vocabulary") or {}
    tokens = counted.get("tokens", (metrics.get("reader") or {}).get("tokens"))  # a resume: the first epoch's reader
    vocab.save_tsv(os.path.join(out, "vocab.tsv"), vocab_header(cfg, tokens, counted.get("distinct")))
    written.append("vocab.tsv")
    with atomic_output(os.path.join(out, "config.yaml"), "w") as fh:
        fh.write(to_yaml(cfg))
    written.append("config.yaml")


def _score_bundled(model: Model) -> dict:
    """Analogy and similarity scores on the bundled evaluation sets (those found)."""
    from .evaluate import default_analogy_files, default_similarity_files, evaluate_analogies, evaluate_similarity

    scores: dict = {}
    analogy_files = default_analogy_files()
    if analogy_files:
        scores["analogy"] = evaluate_analogies(model.words, model.w_in, analogy_files[0])
    sims = {os.path.splitext(os.path.basename(p))[0]: evaluate_similarity(model.words, model.w_in, p)
            for p in default_similarity_files()}
    if sims:
        scores["similarity"] = sims
    return scores
