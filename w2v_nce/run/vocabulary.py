"""Where a run's vocabulary comes from: counted here (spilling if it must), counted by the cluster
or early on a thread while it starts, or read from a vocab.tsv; and ``w2v-nce vocab``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable

from ..config import Config, validate, validate_against_vocab
from ..distributed.replica import Backend
from ..errors import CorpusError, Interrupted
from ..io import check_output_file
from ..phrases.join import run_corpus
from ..text.corpus import Corpus, ReadStats
from ..text.splits import make_splits, split_note
from ..threads import ThreadGroup
from ..vocabulary.count import (
    CountBoundReached,
    CountResult,
    count_splits,
    merge_counted,
)
from ..vocabulary.tsv import read_vocab_tsv
from ..vocabulary.vocab import Vocab, build_vocab, vocab_from_count
from .checkpoint import check_unchanged
from .events import is_terminal
from .memory import check_memory
from .prepare import Log, Signals, stderr_log


def vocabulary_for_run(cfg: Config, corpus: Corpus, backend: Backend, early: "EarlyCount | None", halt: threading.Event,
                sig: "Signals", log: Log) -> tuple[Vocab, CountResult]:
    """The vocabulary: counted early, by the cluster, or here (spilling if it must)."""
    counted = early.result(halt, sig) if early is not None else backend.count(cfg, corpus)
    if counted is not None:
        return vocabulary_of_count(cfg, corpus, counted, log), counted
    return _count_vocabulary(cfg, corpus, halt, sig, log)


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
    log = log or stderr_log
    corpus = run_corpus(cfg)
    try:
        check_output_file(output, force, corpus.sources)
        corpus.check_readable()  # as train does: UTF-16 or a damaged .gz is an error, not a vocabulary
        parent = os.path.dirname(os.path.abspath(output))
        fingerprint = corpus.fingerprint()
        vocab, counted = count_corpus(cfg, corpus, threading.Event(), lambda: 0, parent, log)
        check_unchanged(fingerprint, corpus, "while it was counted")  # as train does
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
            "in_vocab_tokens": vocab.epoch_words, "long_tokens": counted.long_tokens,
            "longest_token_bytes": counted.longest_token_bytes, "spill_runs": counted.spill_runs,
            "spill_bytes": counted.spill_bytes}


# A corpus up to this size is counted by the driver while the cluster starts: one thread counts
# it in a few seconds, hidden by the start (Ray's took 4.9 s on mix8, docs/distributed.md),
# where the actors would count it after they start
EARLY_COUNT_BYTES = 256 << 20


def counts_early(corpus: Corpus) -> bool:
    """Whether the driver counts the corpus (``EarlyCount``) while a cluster starts: a corpus that
    cannot be cut (a single .gz: one process counts it wherever it runs) or a small one."""
    if sum(1 for s in make_splits(corpus, 2) if s.pieces) == 1:
        return True
    return sum(os.path.getsize(p) for p in corpus.sources) <= EARLY_COUNT_BYTES


class EarlyCount:
    """A corpus of one part (a single compressed file: it cannot be cut) is counted by one
    process wherever that runs, and a small one in seconds, so the driver counts it on a thread
    while the backend starts the cluster (``counts_early``), instead of the actors afterwards. The count is the one an actor's
    would be (``vocab.count_splits`` of the one split, then ``merge_counted``)."""

    def __init__(self, cfg: Config, corpus: Corpus):
        self._stop = threading.Event()
        self._result: CountResult | None = None
        self._counter = ThreadGroup(1, lambda _t: self._count(cfg, corpus), name="w2v-nce-early-count")

    def _count(self, cfg: Config, corpus: Corpus) -> None:
        def progress(_nbytes: int) -> None:
            if self._stop.is_set():
                raise _CountCancelled()

        try:
            self._result = merge_counted([count_splits(corpus, make_splits(corpus, 1), cfg.max_token_bytes,
                                                       cfg.count_memory, progress=progress)])
        except CountBoundReached:
            self._result = None  # it must spill: the driver's counting pass does that

    def result(self, halt: threading.Event, sig: Signals) -> CountResult | None:
        """The count; None when it reached ``count_memory`` (the driver then counts, spilling).
        ``halt`` stops the wait and the count (``Interrupted``)."""
        while not self._counter.wait(0.1):
            if halt.is_set():
                self.cancel()
                raise counting_interrupted(sig.signum)
        self._counter.raise_error()
        return self._result

    def ended(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the counting thread; whether it has ended."""
        self._counter.join(timeout)
        return not self._counter.alive()

    @property
    def counted(self) -> CountResult | None:
        """The finished count, or None (still counting, cancelled, or it must spill)."""
        return self._result

    def cancel(self) -> None:
        """Stop the count (it checks between blocks) and wait a little for its thread."""
        self._stop.set()
        self._counter.join(timeout=5.0)


class _CountCancelled(Exception):
    pass
