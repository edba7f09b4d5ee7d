"""The whole training batch job: checks first, vocabulary, training, checkpoints, outputs.

Order matters for a batch job: everything that can fail cheaply (settings, output
directory, corpus paths) is checked before the first token is counted; memory is estimated
before the matrices are allocated; every output is written to a temp file and renamed.

Two entry points: ``run_training(cfg)`` starts a run, ``resume_training(out_dir)`` continues
an interrupted one from its checkpoint. Both end in the same ``Run`` (``loop.py``).

Outputs in the output directory: ``vectors.txt`` (+ ``vectors.bin`` with ``binary``),
``model.npz``, ``vocab.tsv``, ``config.yaml``, ``train.jsonl``, ``metrics.json``; while a run is
unfinished, ``checkpoint.npz`` (removed once the final outputs are written).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ..config import Config, validate
from ..distributed.replica import Backend
from ..errors import UsageError
from ..phrases.join import open_corpus, run_corpus
from ..stream import HeldOut, heldout_examples, id_chunks
from ..text.corpus import Corpus
from ..text.splits import make_splits, split_note
from ..train import Tallies, TrainState
from ..vocabulary.vocab import Vocab
from .checkpoint import (
    CHECKPOINT_FILE,
    Checkpoint,
    check_fingerprint,
    check_unchanged,
    load_checkpoint,
)
from .events import EVENTS_FILE
from .init import check_init, initial_model, replay_changed, replay_sources
from .loop import Run
from .memory import check_memory, one_malloc_arena
from .outputs import write_outputs
from .prepare import (
    Log,
    Signals,
    locked_output,
    prepare_output_dir,
    refuse_output_in_corpus,
    refuse_special_inputs,
    remove_stale_outputs,
    remove_stale_spills,
    stderr_log,
)
from .vocabulary import (
    EarlyCount,
    counts_early,
    vocabulary_counts,
    vocabulary_for_run,
    vocabulary_from_file,
)


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


def log_for(cfg: Config, log: Log | None) -> Log:
    """stderr, or with ``quiet`` only the warnings (a full disk must not wait in silence)."""
    return log or (lambda m: None if cfg.quiet and not m.startswith("warning:") else stderr_log(m))


def _backend(backend: Backend | None, replicas: int) -> Backend:
    from ..distributed.backends import make_backend

    return backend if backend is not None else make_backend(None, replicas)


def run_training(cfg: Config, force: bool = False, log: Log | None = None, handle_signals: bool = False,
                 halt: threading.Event | None = None, backend: Backend | None = None,
                 on_round: Callable[[Run], None] | None = None) -> JobResult:
    """Run a whole training job: count, train ``cfg.replicas`` replicas on ``backend`` (default:
    in this process; K = 1 is one machine), write the outputs into ``cfg.output``.

    ``halt`` (or SIGINT/SIGTERM/SIGHUP with ``handle_signals``) stops the run: after the vocabulary
    pass has begun, a checkpoint is written and ``Interrupted`` raised (exit 130/143/129).
    """
    t_start = time.time()
    one_malloc_arena()
    halt = halt or threading.Event()
    validate(cfg)
    backend = _backend(backend, cfg.replicas)
    cfg.replicas = backend.replicas
    cfg.corpus = [p if p == "-" else os.path.abspath(p) for p in cfg.corpus]  # a resume may start elsewhere
    cfg.heldout = [os.path.abspath(p) for p in cfg.heldout]
    cfg.vocab, cfg.init, cfg.phrases = (os.path.abspath(p) if p else None for p in (cfg.vocab, cfg.init, cfg.phrases))
    recorded = cfg.replay > 0 and not cfg.replay_corpus  # the text the --init run recorded, not the user's
    cfg.replay_corpus = replay_sources(cfg)  # read every epoch with the corpus, so known before it is opened
    changed = replay_changed(cfg, cfg.replay_corpus) if recorded else []
    refuse_output_in_corpus(cfg)
    refuse_special_inputs(cfg)
    if "-" in cfg.corpus and backend.replicas > 1:
        raise UsageError("replicas each read their own parts of the corpus; give files, not stdin ('-')")
    log = log_for(cfg, log)
    for warning in changed:
        log(f"warning: {warning}")
    created = not os.path.lexists(cfg.output)  # made by this run: removed again if it ends empty
    with Signals(halt, handle_signals) as sig:
        # Inputs first (cheap, and a typo must not create an output directory), then the output.
        corpus = run_corpus(cfg, spool_dir=cfg.output, stop=lambda: (sig.signum or signal.SIGINT) if halt.is_set() else 0)
        early = None
        try:
            heldout_corpus = open_corpus(cfg.heldout, cfg.lowercase, cfg.phrases) if cfg.heldout else None
            corpus.check_readable()  # before --force removes anything
            fingerprint = corpus.fingerprint()  # before any counting (an early count starts below)
            check_init(cfg)
            given = vocabulary_from_file(cfg, log) if cfg.vocab else None
            if given is None and backend.counts_remotely and counts_early(corpus):
                early = EarlyCount(cfg, corpus)  # counted here while the cluster starts
            seconds = _open(backend, cfg, corpus, log)  # metrics.json "seconds": this process's phases
            prepare_output_dir(cfg.output, force)
            with locked_output(cfg.output, log):  # before --force removes anything: it may be another run's
                if force:
                    remove_stale_spills(cfg.output)
                t_count = time.time()
                vocab, counted = given or vocabulary_for_run(cfg, corpus, backend, early, halt, sig, log)
                check_unchanged(fingerprint, corpus, "while it was counted")
                seconds["vocabulary"] = time.time() - t_count
                vocab, model, note, lineage = initial_model(cfg, vocab)  # --init: an earlier model's rows
                if force:  # only now: a corpus that fails while counting, or a bad --init, keeps the old run
                    remove_stale_outputs(cfg.output)
                figures = vocabulary_counts(vocab, counted)  # of the vocabulary trained (--init: merged)
                del counted, given  # the counter's tables are not needed past here (peak RSS)
                if note:
                    log(note)
                start = Checkpoint(cfg, model, [TrainState() for _ in range(backend.replicas)], fingerprint,
                                   Tallies(), [], init=lineage)
                del model  # ``start`` holds it; the outputs free its matrices when they are written (peak RSS)
                return _train_and_write(backend, start, corpus, heldout_corpus, vocab, halt, sig, log,
                                        figures, seconds, on_round, t_start)
        finally:
            if early is not None:  # an error before its result was taken: stop it (a no-op once it ended)
                early.cancel()
            backend.close()
            corpus.close()  # (removes a stdin spool)
            if created:  # a run that stopped before writing anything (counting, a signal while spooling)
                _remove_if_empty(cfg.output)


def _remove_if_empty(out: str) -> None:
    """The output directory this run made, when nothing in it says anything: no file but an
    empty event log (a run that diverged or failed before its first record). Anything else stays."""
    log = os.path.join(out, EVENTS_FILE)
    with contextlib.suppress(OSError):
        if os.listdir(out) == [EVENTS_FILE] and os.lstat(log).st_size == 0:
            os.unlink(log)
        os.rmdir(out)  # only if empty


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
    if cfg.init:  # lineage: the file the model started from, as the run read it (a resume does not reread it)
        metrics["init"] = start.init or {"path": os.path.abspath(cfg.init), "sha256": None}
    seconds["train"] = time.time() - t
    model = run.model()
    start.model = None  # the outputs hold the model now (K = 1: the same matrices): they free them (peak RSS)
    # The replicas are no longer needed: stopping them (Ray's shutdown takes ~1 s) overlaps with
    # writing and evaluating. The caller's ``backend.close()`` waits for it (idempotent, thread-safe).
    closing = threading.Thread(target=backend.close, name="w2v-nce-close-backend", daemon=True)
    closing.start()
    write_outputs(cfg, model, vocab, cfg.output, metrics, log, seconds, halt)
    closing.join()
    try:
        os.unlink(os.path.join(cfg.output, CHECKPOINT_FILE))
    except FileNotFoundError:
        pass
    except OSError as exc:  # e.g. something else made it a directory: the outputs are written, say so
        log(f"warning: {CHECKPOINT_FILE} could not be removed ({exc.strerror}); the run is complete, remove it")
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
    one_malloc_arena()
    halt = halt or threading.Event()
    ck = load_checkpoint(out_dir)
    k = backend.replicas if backend is not None else replicas or len(ck.states)
    cfg = resumed_config(ck.cfg, out_dir, threads, quiet, k)
    check_memory(len(ck.model.words), cfg)  # what the checkpoint's settings allocate (with this thread count)
    backend = _backend(backend, k)
    log = log_for(cfg, log)
    with Signals(halt, handle_signals) as sig:
        corpus = run_corpus(cfg)
        try:
            heldout_corpus = open_corpus(cfg.heldout, cfg.lowercase, cfg.phrases) if cfg.heldout else None
            check_fingerprint(ck.fingerprint, corpus)
            seconds = _open(backend, cfg, corpus, log)
            with locked_output(out_dir, log):
                remove_stale_spills(out_dir)
                log(f"resuming {out_dir}: epoch {min(s.epoch for s in ck.states) + 1}/{cfg.epochs}, "
                    f"{ck.states[0].clock:,} words done" + (f", {k} replicas" if k > 1 else ""))
                vocab = Vocab(ck.model.words, ck.model.counts, ck.epoch_words)
                return _train_and_write(backend, ck, corpus, heldout_corpus, vocab, halt, sig, log, None, seconds,
                                        on_round, t_start)
        finally:
            backend.close()
            corpus.close()


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
