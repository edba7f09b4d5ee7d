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

from ..artifact.model import MODEL_FILE, Model
from ..config import Config, to_yaml, validate, validate_against_vocab
from ..distributed.replica import Backend
from ..errors import CorpusError, Interrupted, OutputError, UsageError, W2VError
from ..io import atomic_output
from ..stream import HeldOut, heldout_examples, id_chunks
from ..text.corpus import Corpus, ReadStats
from ..text.splits import make_splits, split_note
from ..train import Tallies, TrainState, build_tables, init_model
from ..vocabulary.count import (
    CountBoundReached,
    CountResult,
    count_splits,
    merge_counted,
)
from ..vocabulary.tsv import read_vocab_tsv
from ..vocabulary.vocab import Vocab, build_vocab, vocab_from_count
from .checkpoint import CHECKPOINT_FILE, Checkpoint, check_fingerprint, load_checkpoint
from .events import is_terminal
from .lock import OutputLock
from .loop import Run
from .memory import check_memory

OUTPUT_FILES = ("vectors.txt", "vectors.bin", MODEL_FILE, "vocab.tsv", "config.yaml", "train.jsonl",
                "metrics.json", CHECKPOINT_FILE)

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
        probe = os.path.join(path, f".w2v-nce-write-test-{os.getpid()}")
        # created here or not at all: never through a symlink planted in a shared directory
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{path}: output directory is not writable ({exc.strerror})") from None


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


class Signals:
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


def _refuse_output_in_corpus(cfg: Config) -> None:
    """The output directory must not be, or be inside, a corpus directory (``--force`` would
    delete corpus files named like outputs, and the outputs would become corpus)."""
    out = os.path.realpath(cfg.output)
    for p in cfg.corpus:
        if p != "-" and os.path.isdir(p):
            d = os.path.realpath(p)
            if out == d or out.startswith(d + os.sep):
                raise UsageError(f"{cfg.output}: the output directory is inside the corpus directory {p}; choose "
                                 "an -o outside it")


def _log_for(cfg: Config, log: Log | None) -> Log:
    return log or (lambda m: None if cfg.quiet else _stderr(m))


def _backend(backend: Backend | None, replicas: int) -> Backend:
    from ..distributed.backends import make_backend

    return backend if backend is not None else make_backend(None, replicas)


def run_training(cfg: Config, force: bool = False, log: Log | None = None, handle_signals: bool = False,
                 halt: threading.Event | None = None, backend: Backend | None = None,
                 on_round: Callable[[Run], None] | None = None) -> JobResult:
    """Run a whole training job: count, train ``cfg.replicas`` replicas on ``backend`` (default:
    in this process; K = 1 is one machine), write the outputs into ``cfg.output``.

    ``halt`` (or SIGINT/SIGTERM with ``handle_signals``) stops the run: after the vocabulary
    pass has begun, a checkpoint is written and ``Interrupted`` raised (exit 130/143).
    """
    t_start = time.time()
    halt = halt or threading.Event()
    validate(cfg)
    backend = _backend(backend, cfg.replicas)
    cfg.replicas = backend.replicas
    cfg.corpus = [p if p == "-" else os.path.abspath(p) for p in cfg.corpus]  # a resume may start elsewhere
    cfg.heldout = [os.path.abspath(p) for p in cfg.heldout]
    cfg.vocab = os.path.abspath(cfg.vocab) if cfg.vocab else None
    _refuse_output_in_corpus(cfg)
    if "-" in cfg.corpus and backend.replicas > 1:
        raise UsageError("replicas each read their own parts of the corpus; give files, not stdin ('-')")
    log = _log_for(cfg, log)
    with Signals(halt, handle_signals) as sig:
        # Inputs first (cheap, and a typo must not create an output directory), then the output.
        corpus = Corpus(cfg.corpus, lowercase=cfg.lowercase, spool_dir=cfg.output)
        early = None
        try:
            heldout_corpus = Corpus(cfg.heldout, lowercase=cfg.lowercase) if cfg.heldout else None
            corpus.check_readable()  # before --force removes anything
            given = vocabulary_from_file(cfg, log) if cfg.vocab else None
            if given is None and backend.counts_remotely and _one_part(corpus):
                early = EarlyCount(cfg, corpus)  # counted here while the cluster starts
            seconds = _open(backend, cfg, corpus, log)  # metrics.json "seconds": this process's phases
            prepare_output_dir(cfg.output, force)
            with _locked(cfg.output, log):  # before --force removes anything: it may be another run's
                if force:
                    _remove_stale_outputs(cfg.output)
                t_count = time.time()
                vocab, counted = given or _vocabulary(cfg, corpus, backend, early, halt, sig, log)
                seconds["vocabulary"] = time.time() - t_count
                model = init_model(cfg, vocab, build_tables(vocab.counts, cfg))
                start = Checkpoint(cfg, model, [TrainState() for _ in range(backend.replicas)], corpus.fingerprint(),
                                   Tallies(), [])
                return _train_and_write(backend, start, corpus, heldout_corpus, vocab, halt, sig, log,
                                        vocabulary_counts(vocab, counted), seconds, on_round, t_start)
        finally:
            if early is not None:  # an error before its result was taken: stop it (a no-op once it ended)
                early.cancel()
            backend.close()
            corpus.close()


def _open(backend: Backend, cfg: Config, corpus: Corpus, log: Log) -> dict[str, float]:
    """Start the backend (a cluster: its nodes, each node's view of the corpus); its seconds
    ("cluster", for metrics.json, except on one machine), and a line when replicas would read
    nothing because the corpus cannot be cut."""
    t = time.time()
    backend.open(cfg, corpus)
    if backend.replicas == 1 and backend.name == "local":
        return {}
    note = split_note(corpus, make_splits(corpus, backend.replicas))
    if note:
        log(f"replicas: {note}")
    return {"cluster": time.time() - t}


def _one_part(corpus: Corpus) -> bool:
    """Whether the corpus cannot be cut (e.g. a single .gz)."""
    return sum(1 for s in make_splits(corpus, 2) if s.pieces) == 1


def _vocabulary(cfg: Config, corpus: Corpus, backend: Backend, early: "EarlyCount | None", halt: threading.Event,
                sig: "Signals", log: Log) -> tuple[Vocab, CountResult]:
    """The vocabulary: counted early, by the cluster, or here (spilling if it must)."""
    counted = early.result(halt, sig) if early is not None else backend.count(cfg, corpus)
    if counted is not None:
        return vocabulary_of_count(cfg, corpus, counted, log), counted
    return _count_vocabulary(cfg, corpus, halt, sig, log)


def _train_and_write(backend: Backend, start: Checkpoint, corpus: Corpus, heldout_corpus: Corpus | None, vocab: Vocab,
                     halt: threading.Event, sig: "Signals", log: Log, vocabulary: dict | None, seconds: dict,
                     on_round, t_start: float) -> JobResult:
    """Train (``loop.Run``), then write every output (the model first) and drop the checkpoint.
    ``seconds`` (the earlier phases) gains "setup" and "train"; metrics.json gets them with
    "write" and "evaluate"."""
    t = time.time()
    cfg = start.cfg
    run = Run(backend, start, corpus, vocab, halt, lambda: sig.signum, log, vocabulary,
              lambda splits: heldout_set(cfg, corpus, heldout_corpus, vocab, splits), on_round)
    note = split_note(corpus, make_splits(corpus, run.resolved.threads)) if backend.replicas == 1 else None
    if note:
        log(f"reading for training: {note}")
    seconds["setup"] = time.time() - t
    t = time.time()
    metrics = run.train()
    seconds["train"] = time.time() - t
    model = run.model()
    # The replicas are no longer needed: stopping them (Ray's shutdown takes ~1 s) overlaps with
    # writing and evaluating. The caller's ``backend.close()`` waits for it (idempotent, thread-safe).
    closing = threading.Thread(target=backend.close, name="w2v-nce-close-backend", daemon=True)
    closing.start()
    _write_outputs(cfg, model, vocab, cfg.output, metrics, log, seconds)
    closing.join()
    try:
        os.unlink(os.path.join(cfg.output, CHECKPOINT_FILE))
    except FileNotFoundError:
        pass
    return JobResult(cfg.output, len(vocab), run.totals(), time.time() - t_start, metrics)


def resumed_config(cfg: Config, out_dir: str, threads: int | None, quiet: bool | None,
                   replicas: int | None = None) -> Config:
    """A checkpoint's settings for its resume: only the thread count, the replica count and
    quietness may change."""
    if threads is not None:
        cfg.threads = threads
    if quiet is not None:
        cfg.quiet = quiet
    if replicas is not None:
        cfg.replicas = replicas
    cfg.output = out_dir
    return validate(cfg)


def resume_training(out_dir: str, threads: int | None = None, quiet: bool | None = None, log: Log | None = None,
                    handle_signals: bool = False, halt: threading.Event | None = None, backend: Backend | None = None,
                    replicas: int | None = None, on_round: Callable[[Run], None] | None = None) -> JobResult:
    """Continue the interrupted run in ``out_dir`` from its checkpoint (corpus and settings come
    from it; the thread count, quietness and the number of replicas may change: each part of
    the corpus keeps its position, and the parts are handed out to the replicas anew)."""
    t_start = time.time()
    halt = halt or threading.Event()
    ck = load_checkpoint(out_dir)
    k = backend.replicas if backend is not None else replicas or len(ck.states)
    cfg = resumed_config(ck.cfg, out_dir, threads, quiet, k)
    backend = _backend(backend, k)
    log = _log_for(cfg, log)
    with Signals(halt, handle_signals) as sig:
        corpus = Corpus(cfg.corpus, lowercase=cfg.lowercase)
        try:
            heldout_corpus = Corpus(cfg.heldout, lowercase=cfg.lowercase) if cfg.heldout else None
            check_fingerprint(ck.fingerprint, corpus)
            seconds = _open(backend, cfg, corpus, log)
            with _locked(out_dir, log):
                _remove_stale_spills(out_dir)
                log(f"resuming {out_dir}: epoch {min(s.epoch for s in ck.states) + 1}/{cfg.epochs}, "
                    f"{ck.states[0].clock:,} words done" + (f", {k} replicas" if k > 1 else ""))
                vocab = Vocab(ck.model.words, ck.model.counts)
                return _train_and_write(backend, ck, corpus, heldout_corpus, vocab, halt, sig, log, None, seconds,
                                        on_round, t_start)
        finally:
            backend.close()
            corpus.close()


@contextlib.contextmanager
def _locked(out: str, log: Log):
    """Hold the output directory's lock (one writer per directory); a stale one taken over is logged."""
    with OutputLock(out, argv=sys.argv) as lock:
        if lock.note is not None:
            log(lock.note)
        yield lock


def _count_vocabulary(cfg: Config, corpus: Corpus, halt: threading.Event, sig: Signals,
                      log: Log) -> tuple[Vocab, CountResult]:
    """The counting pass (see ``count_corpus``); checks what needs the vocabulary's size."""
    vocab, counted = count_corpus(cfg, corpus, halt, lambda: sig.signum, cfg.output, log)
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


def count_corpus(cfg: Config, corpus: Corpus, halt: threading.Event, signum: Callable[[], int], spill_dir: str | None,
                 log: Log) -> tuple[Vocab, CountResult]:
    """Count the corpus with ``cfg.resolved_threads()`` threads and a byte progress bar (on a
    terminal); the summary line goes to ``log``. ``halt`` stops it (``Interrupted``)."""
    from tqdm import tqdm

    def progress(nbytes: int) -> None:
        bar.update(nbytes)
        if halt.is_set():  # nothing trained yet: nothing to checkpoint
            raise counting_interrupted(signum())  # the signal that set halt (read now, not at the start)

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
        vocab, counted = count_corpus(cfg, corpus, threading.Event(), lambda: 0, parent, log)
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
    from ..artifact.word2vec import write_word2vec_binary, write_word2vec_text

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
    from ..evaluation.analogies import evaluate_analogies
    from ..evaluation.datasets import default_analogy_files, default_similarity_files
    from ..evaluation.similarity import evaluate_similarity

    scores: dict = {}
    analogy_files = default_analogy_files()
    if analogy_files:
        scores["analogy"] = evaluate_analogies(model.words, model.w_in, analogy_files[0])
    sims = {os.path.splitext(os.path.basename(p))[0]: evaluate_similarity(model.words, model.w_in, p)
            for p in default_similarity_files()}
    if sims:
        scores["similarity"] = sims
    return scores


class EarlyCount:
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

    def result(self, halt: threading.Event, sig: Signals) -> CountResult | None:
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
