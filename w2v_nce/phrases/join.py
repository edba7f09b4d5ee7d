"""Phrases applied while reading: the block transforms of phrase counting and phrase joining,
and the corpus a run reads (its paths, ``--replay``'s share, lowercasing and phrase table in
one place: ``run_corpus``).
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from ..config import Config
from ..errors import ConfigError
from ..text.corpus import Corpus
from ..vocabulary.hashtable import word_table
from .kernels import (
    SEP,
    emit_bound,
    emit_candidates,
    join_bound,
    join_phrases,
)
from .table import PhraseTable


def phrase_key(tokens: tuple[str, ...]) -> bytes:
    """A phrase's key in the kernels' tables: its tokens joined by the SEP byte."""
    return bytes([SEP]).join(t.encode("utf-8") for t in tokens)


class PhraseJoiner:
    """bytes -> bytes: the table's phrases joined, pass after pass (each greedy, left to right)."""

    def __init__(self, table: PhraseTable):
        s = table.settings
        self.connectors = word_table([w.encode("utf-8") for w in s.connectors])
        self.passes = []  # (phrase keys, their first words) of each pass that found any (the others change nothing)
        for i in range(1, s.passes + 1):
            found = table.of_pass(i)
            if found:
                firsts = list(dict.fromkeys(p.tokens[0].encode("utf-8") for p in found))
                self.passes.append((word_table([phrase_key(p.tokens) for p in found]), word_table(firsts)))
        self.delimiter = np.frombuffer(s.delimiter.encode("utf-8"), dtype=np.uint8)

    def __call__(self, data: bytes) -> bytes:
        for phrases, firsts in self.passes:
            buf = np.frombuffer(data, dtype=np.uint8)
            out = np.empty(join_bound(len(buf), len(self.delimiter)), dtype=np.uint8)
            key = np.empty(len(buf) + 1, dtype=np.uint8)
            n = join_phrases(buf, out, key, phrases, firsts, self.connectors, self.delimiter)
            data = out[:n].tobytes()
        return data


class CandidateEmitter:
    """bytes -> bytes: the words and candidate keys phrase counting counts (after ``before``,
    the joining of earlier passes), with the token total of every call (``words``; called from
    several counting threads at once)."""

    def __init__(self, connectors: tuple[str, ...], before: Callable[[bytes], bytes] | None = None):
        self.connectors = word_table([w.encode("utf-8") for w in connectors])
        self.before = before
        self.words = 0
        self._lock = threading.Lock()

    def __call__(self, data: bytes) -> bytes:
        if self.before is not None:
            data = self.before(data)
        buf = np.frombuffer(data, dtype=np.uint8)
        out = np.empty(emit_bound(len(buf)), dtype=np.uint8)
        tally = np.zeros(1, dtype=np.int64)
        n = emit_candidates(buf, out, self.connectors, tally)
        with self._lock:
            self.words += int(tally[0])
        return out[:n].tobytes()


def read_for_run(path: str, lowercase: bool) -> PhraseTable:
    """The phrase table a run joins with; ConfigError when it was built for other text
    (lowercased where the run is not, or the reverse)."""
    table = PhraseTable.read(path)
    if table.settings.lowercase != lowercase:
        built = "with" if table.settings.lowercase else "without"
        raise ConfigError(f"phrases: {path} was built {built} --lowercase but this run has lowercase: "
                          f"{str(lowercase).lower()}; use the same setting, or rebuild the table")
    return table


def open_corpus(paths: list[str], lowercase: bool = False, phrases: str | None = None, **kw) -> Corpus:
    """The corpus a run reads: ``paths`` with its lowercasing and, given a phrase table, its
    phrases joined on the fly. ``kw``: Corpus's other arguments."""
    transform = PhraseJoiner(read_for_run(phrases, lowercase)) if phrases else None
    return Corpus(paths, lowercase=lowercase, transform=transform, **kw)


def run_corpus(cfg: Config, **kw) -> Corpus:
    """What a run reads every epoch, and counts: its corpus, then ``cfg.replay`` of the lines of
    ``cfg.replay_corpus`` (resolved by ``run.init.replay_sources``). ``kw``: Corpus's other arguments."""
    shares = [1.0] * len(cfg.corpus) + [cfg.replay] * len(cfg.replay_corpus)
    return open_corpus(cfg.corpus + cfg.replay_corpus, cfg.lowercase, cfg.phrases, shares=shares, **kw)
