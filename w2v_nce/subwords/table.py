"""A subword model's rows: which rows of the input table make each word's vector.

The input table of a subword run is float32[V + buckets, D]: row w < V is word w's own row, row
V + b is n-gram bucket b. A word's vector is the mean of its own row and its n-grams' rows
(fastText's ``getWordVector``); a word outside the vocabulary gets the mean of its n-grams'
rows alone (zero when it has none). ``SubwordRows`` holds each vocabulary word's rows once, as
CSR arrays the kernels read (never recomputed per token).

The compact layout (``hash_count`` >= 1, floret's manner) has no word rows: the table is
float32[buckets, D] and any word, in the vocabulary or not, is the mean of the rows its string
hashes to (``hashing._word_ngrams``: ``<word>`` and its n-grams, ``hash_count`` rows each).
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


MAX_HASH_COUNT = 4  # floret's limit: the compact layout's rows per entry


@dataclass(frozen=True)
class SubwordSettings:
    """n-grams of ``minn``..``maxn`` characters, hashed into ``buckets`` rows; ``hash_count`` 0 is
    fastText's layout (a row per word before the buckets), 1..4 the compact one (no word rows)."""

    minn: int = DEFAULT_MINN
    maxn: int = DEFAULT_MAXN
    buckets: int = DEFAULT_BUCKETS
    hash_count: int = 0

    @property
    def word_rows(self) -> bool:
        """Whether the table starts with a row per vocabulary word (fastText's layout)."""
        return self.hash_count == 0

    def table_rows(self, V: int) -> int:
        """Rows of the input table of a V-word model."""
        return V * self.word_rows + self.buckets

    @classmethod
    def from_config(cls, config: dict) -> "SubwordSettings | None":
        """The settings a model's (or a run's) config dict names, None for a word-only model
        (configs written before the compact layout have no ``hash_count``: fastText's)."""
        if not config.get("subwords"):
            return None
        settings = cls(int(config["minn"]), int(config["maxn"]), int(config["buckets"]),
                       int(config.get("hash_count") or 0))
        if (settings.minn < 1 or settings.maxn < 0 or settings.buckets < 1
                or not 0 <= settings.hash_count <= MAX_HASH_COUNT):
            raise ValueError(f"invalid subword settings {settings}")
        return settings

    def _hash(self, words: Sequence[str], own_rows: bool, dtype=np.int64) -> SubwordRows:
        """The CSR of ``words``' rows (with ``own_rows``, word i's own row i first)."""
        data, offsets = pack_words(list(words), "surrogateescape")  # a query's undecodable bytes as they came
        counts = ngram_counts(data, offsets, self.minn, self.maxn, self.buckets, self.hash_count)
        start = np.zeros(len(words) + 1, np.int64)
        np.cumsum(counts + own_rows, out=start[1:])
        rows = np.empty(int(start[-1]), dtype)
        fill_rows(data, offsets, self.minn, self.maxn, self.buckets, start, rows, self.hash_count, own_rows)
        return SubwordRows(start, rows)


class SubwordRows(NamedTuple):
    """CSR: word w's input rows are rows[start[w]:start[w + 1]] (fastText's layout: its own row,
    w, first)."""

    start: np.ndarray  # int64[V + 1]
    rows: np.ndarray  # int32[start[V]]: < the table's rows

    @property
    def longest(self) -> int:
        """Rows of the word with the most (sizes the kernels' bag buffers)."""
        return int(np.max(np.diff(self.start))) if len(self.start) > 1 else 1


def subword_rows(words: Sequence[str], settings: SubwordSettings) -> SubwordRows:
    """Each vocabulary word's rows under ``settings`` (two passes of the Numba hash over the
    packed words); row ids < V + buckets fit int32 (buckets <= 2^30 by config.UPPER_BOUNDS, V far less)."""
    return settings._hash(words, settings.word_rows, np.int32)


def word_vectors(table: np.ndarray, sub: SubwordRows, out: np.ndarray | None = None) -> np.ndarray:
    """float32[V, D]: each vocabulary word's vector, the mean of its rows of ``table``
    (float32[table_rows(V), D]), summed in float32 in CSR order, as fastText sums them; written
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
    """int64[n]: the buckets of ``word``'s hashed rows (fastText's layout: its n-grams', in
    fastText's order; compact: ``<word>``'s, then its n-grams', ``hash_count`` each), repeats kept."""
    return settings._hash([word], own_rows=False).rows


def unseen_vector(table: np.ndarray, V: int, word: str, settings: SubwordSettings) -> np.ndarray:
    """float32[D]: a word outside the vocabulary, the mean of its hashed rows (zeros if none);
    ``table`` float32[settings.table_rows(V), D]."""
    buckets = ngram_buckets(word, settings)
    if len(buckets) == 0:
        return np.zeros(table.shape[1], np.float32)
    first = V if settings.word_rows else 0  # the buckets' first row
    return (table[first + buckets].sum(axis=0, dtype=np.float32) / np.float32(len(buckets))).astype(np.float32)
