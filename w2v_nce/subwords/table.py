"""A subword model's rows: which rows of the input table make each word's vector.

The input table of a subword run is float32[V + buckets, D]: row w < V is word w's own row, row
V + b is n-gram bucket b. A word's vector is the mean of its own row and its n-grams' rows
(fastText's ``getWordVector``); a word outside the vocabulary gets the mean of its n-grams'
rows alone (zero when it has none). ``SubwordRows`` holds each vocabulary word's rows once, as
CSR arrays the kernels read (never recomputed per token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from ..artifact.words import pack_words
from .hashing import fill_rows, ngram_counts

# fastText's defaults (its skip-gram and cbow modes)
DEFAULT_MINN = 3
DEFAULT_MAXN = 6
DEFAULT_BUCKETS = 2_000_000


@dataclass(frozen=True)
class SubwordSettings:
    """n-grams of ``minn``..``maxn`` characters, hashed into ``buckets`` rows."""

    minn: int = DEFAULT_MINN
    maxn: int = DEFAULT_MAXN
    buckets: int = DEFAULT_BUCKETS

    @classmethod
    def from_config(cls, config: dict) -> "SubwordSettings | None":
        """The settings a model's (or a run's) config dict names, None for a word-only model."""
        if not config.get("subwords"):
            return None
        settings = cls(int(config["minn"]), int(config["maxn"]), int(config["buckets"]))
        if settings.minn < 1 or settings.maxn < 0 or settings.buckets < 1:
            raise ValueError(f"invalid subword settings {settings}")
        return settings


class SubwordRows(NamedTuple):
    """CSR: word w's input rows are rows[start[w]:start[w + 1]], its own row (w) first."""

    start: np.ndarray  # int64[V + 1]
    rows: np.ndarray  # int32[start[V]]: < V + buckets

    @property
    def longest(self) -> int:
        """Rows of the word with the most (sizes the kernels' bag buffers)."""
        return int(np.max(np.diff(self.start))) if len(self.start) > 1 else 1


def subword_rows(words: Sequence[str], settings: SubwordSettings) -> SubwordRows:
    """Each word's rows under ``settings`` (two passes of the Numba hash over the packed words)."""
    data, offsets = pack_words(list(words))
    counts = ngram_counts(data, offsets, settings.minn, settings.maxn, settings.buckets)
    start = np.zeros(len(words) + 1, np.int64)
    np.cumsum(counts + 1, out=start[1:])
    rows = np.empty(int(start[-1]), np.int32)  # row ids < V + buckets: buckets <= 2^30 (config.UPPER_BOUNDS), V far less
    fill_rows(data, offsets, settings.minn, settings.maxn, settings.buckets, start, rows)
    return SubwordRows(start, rows)


def word_vectors(table: np.ndarray, sub: SubwordRows, out: np.ndarray | None = None) -> np.ndarray:
    """float32[V, D]: each vocabulary word's vector, the mean of its rows of ``table``
    (float32[V + buckets, D]), summed in float32 in CSR order, as fastText sums them; written
    into ``out`` (float32[V, D], not part of ``table``) when given."""
    V = len(sub.start) - 1
    out = np.empty((V, table.shape[1]), np.float32) if out is None else out
    block = 256  # words per gather: bounds the temporary to block x (rows a word) x D floats (~3 MB at D = 100)
    for a in range(0, V, block):
        b = min(V, a + block)
        lo, hi = sub.start[a], sub.start[b]
        sums = np.add.reduceat(table[sub.rows[lo:hi]], sub.start[a:b] - lo, axis=0, dtype=np.float32)
        out[a:b] = sums / np.diff(sub.start[a:b + 1]).astype(np.float32)[:, None]
    return out


def ngram_buckets(word: str, settings: SubwordSettings) -> np.ndarray:
    """int64[n]: the buckets of ``word``'s n-grams, in fastText's order (repeats kept)."""
    data, offsets = pack_words([word])
    counts = ngram_counts(data, offsets, settings.minn, settings.maxn, settings.buckets)
    start = np.array([0, counts[0] + 1], np.int64)
    rows = np.empty(int(start[-1]), np.int64)
    fill_rows(data, offsets, settings.minn, settings.maxn, settings.buckets, start, rows)
    return rows[1:] - 1  # rows are V + bucket with V = 1


def unseen_vector(table: np.ndarray, V: int, word: str, settings: SubwordSettings) -> np.ndarray:
    """float32[D]: a word outside the vocabulary, the mean of its n-grams' rows (zeros if none)."""
    buckets = ngram_buckets(word, settings)
    if len(buckets) == 0:
        return np.zeros(table.shape[1], np.float32)
    return (table[V + buckets].sum(axis=0, dtype=np.float32) / np.float32(len(buckets))).astype(np.float32)
