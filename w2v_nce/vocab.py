"""Counting, pruning, frequency order, save/load, and encoding token bytes to ids.

Ids are assigned by decreasing count; ties keep the order of first occurrence in the corpus
(as gensim does), so the same corpus always gives the same ids. The log-uniform sampler
relies on this order (id 0 = most frequent).

Encoding runs in a Numba kernel over a whole text block (no Python per token): an
open-addressing hash table (FNV-1a 64-bit over the token's UTF-8 bytes) maps tokens to ids.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import numpy as np
from numba import njit

from .corpus import Corpus, ReadStats
from .errors import CorpusError, FormatError
from .formats import atomic_output

SENTENCE_END = -1  # id stream separator between sentences


@dataclass
class CountResult:
    counter: Counter
    tokens: int
    stats: ReadStats


def count_words(corpus: Corpus, progress=None) -> CountResult:
    """Exact token counts over one pass (memory grows with the vocabulary, not the corpus)."""
    counter: Counter = Counter()
    tokens = 0
    stats = ReadStats()
    for block in corpus.blocks():
        words = block.data.split()
        tokens += len(words)
        counter.update(words)
        stats.add(block.stats)
        if progress is not None:
            progress(block.stats.bytes)
    return CountResult(counter, tokens, stats)


class Vocab:
    """Words (str) in id order with their int64 counts, plus the encoder table."""

    def __init__(self, words: list[str], counts: np.ndarray):
        self.words = list(words)
        self.counts = np.asarray(counts, dtype=np.int64)
        self._table = None

    def __len__(self) -> int:
        return len(self.words)

    @property
    def total(self) -> int:
        """Retained tokens in the corpus (sum of counts): the words one epoch trains on."""
        return int(self.counts.sum())

    @classmethod
    def build(cls, counter: Counter, min_count: int, max_vocab: int = 0) -> "Vocab":
        """Keep words with count >= min_count, most frequent first (ties: first seen first)."""
        kept = [(w, c) for w, c in counter.items() if c >= min_count]
        kept.sort(key=lambda wc: -wc[1])  # stable: equal counts keep insertion (first-seen) order
        if max_vocab and len(kept) > max_vocab:
            kept = kept[:max_vocab]
        words = [w.decode("utf-8") for w, _ in kept]
        counts = np.array([c for _, c in kept], dtype=np.int64)
        return cls(words, counts)

    # -- encoding -------------------------------------------------------------------
    def table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(slots int32[M], word_bytes uint8[N], offsets int64[V+1]) for ``encode_block``."""
        if self._table is None:
            encoded = [w.encode("utf-8") for w in self.words]
            offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
            np.cumsum([len(b) for b in encoded], out=offsets[1:])
            word_bytes = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
            size = 1 << max(4, int(2 * max(len(encoded), 1) - 1).bit_length())
            slots = np.full(size, -1, dtype=np.int32)
            _fill_table(slots, word_bytes, offsets)
            self._table = (slots, word_bytes, offsets)
        return self._table

    def encode(self, data: bytes, max_sentence_len: int) -> np.ndarray:
        """Ids of a text block with SENTENCE_END after each sentence (convenience, for tests/eval)."""
        slots, word_bytes, offsets = self.table()
        buf = np.frombuffer(data, dtype=np.uint8)
        out = np.empty(len(buf) // 2 + 2, dtype=np.int32)
        state = np.zeros(4, dtype=np.int64)
        n = encode_block(buf, slots, word_bytes, offsets, max_sentence_len, True, out, state)
        return out[:n]

    def ids_of(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    # -- persistence ----------------------------------------------------------------
    def save_tsv(self, path: str) -> None:
        """``word<TAB>count`` per line, id order."""
        with atomic_output(path, "w") as fh:
            for w, c in zip(self.words, self.counts.tolist()):
                fh.write(f"{w}\t{c}\n")

    @classmethod
    def load_tsv(cls, path: str) -> "Vocab":
        words, counts = [], []
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 2 or not parts[1].isdigit():
                    raise FormatError(f"{path}: line {lineno}: expected 'word<TAB>count'")
                words.append(parts[0])
                counts.append(int(parts[1]))
        return cls(words, np.array(counts, dtype=np.int64))


def build_vocab(corpus: Corpus, min_count: int, max_vocab: int = 0, progress=None) -> tuple[Vocab, CountResult]:
    """Count the corpus and build the vocabulary; an empty result is a CorpusError saying what to do."""
    result = count_words(corpus, progress)
    if result.tokens == 0:
        raise CorpusError(f"{', '.join(corpus.paths)}: corpus is empty (no tokens)")
    vocab = Vocab.build(result.counter, min_count, max_vocab)
    if len(vocab) == 0:
        raise CorpusError(
            f"no word occurs at least {min_count} times ({len(result.counter)} distinct words, "
            f"{result.tokens} tokens); try a smaller --min-count"
        )
    return vocab, result


# ---------------------------------------------------------------------------------------
# Numba: hash table and block encoder
# ---------------------------------------------------------------------------------------

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)


@njit(cache=True, nogil=True)
def _hash(buf, start, end):
    h = _FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
    return h


@njit(cache=True, nogil=True)
def _fill_table(slots, word_bytes, offsets):
    mask = np.uint64(slots.shape[0] - 1)
    for w in range(offsets.shape[0] - 1):
        slot = _hash(word_bytes, offsets[w], offsets[w + 1]) & mask
        while slots[slot] != -1:
            slot = (slot + np.uint64(1)) & mask
        slots[slot] = w


@njit(cache=True, nogil=True)
def _lookup(buf, start, end, slots, word_bytes, offsets):
    """Id of buf[start:end] or -1 (linear probing; compares bytes on hash-slot hits)."""
    mask = np.uint64(slots.shape[0] - 1)
    slot = _hash(buf, start, end) & mask
    n = end - start
    while True:
        w = slots[slot]
        if w == -1:
            return -1
        a = offsets[w]
        if offsets[w + 1] - a == n:
            same = True
            for i in range(n):
                if word_bytes[a + i] != buf[start + i]:
                    same = False
                    break
            if same:
                return w
        slot = (slot + np.uint64(1)) & mask


@njit(cache=True, nogil=True)
def _is_space(c):
    return c == 32 or (9 <= c <= 13)


@njit(cache=True, nogil=True)
def encode_block(buf, slots, word_bytes, offsets, max_sentence_len, block_ends_sentence, out, state):
    """Encode a text block to ids, appending SENTENCE_END (-1) after each sentence.

    buf uint8[n]: text ending at a token boundary. out int32[>= n//2 + 2]: receives ids.
    state int64[4] (in/out): [0] raw tokens in the current sentence piece (carried across
    blocks of one line), [1] += raw tokens, [2] += out-of-vocabulary tokens (dropped),
    [3] += sentences split because they reached ``max_sentence_len`` raw tokens.
    A sentence ends at LF, after ``max_sentence_len`` raw tokens, or at the block's end when
    ``block_ends_sentence``. Empty sentences emit nothing. Returns the number of ints written.
    """
    n = buf.shape[0]
    k = 0
    piece = state[0]
    emitted = False  # an id was written since the last separator
    if k == 0 and piece > 0:
        emitted = True  # ids of this piece were emitted in an earlier block (caller carries them)
    i = 0
    while i < n:
        c = buf[i]
        if c == 10:
            if emitted:
                out[k] = -1
                k += 1
            emitted = False
            piece = 0
            i += 1
            continue
        if _is_space(c):
            i += 1
            continue
        start = i
        while i < n and not _is_space(buf[i]):
            i += 1
        w = _lookup(buf, start, i, slots, word_bytes, offsets)
        state[1] += 1
        if w >= 0:
            out[k] = w
            k += 1
            emitted = True
        else:
            state[2] += 1
        piece += 1
        if piece >= max_sentence_len:
            if emitted:
                out[k] = -1
                k += 1
            emitted = False
            piece = 0
            state[3] += 1
    if block_ends_sentence:
        if emitted:
            out[k] = -1
            k += 1
        piece = 0
    state[0] = piece
    return k
