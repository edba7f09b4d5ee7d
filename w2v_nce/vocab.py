"""Counting, pruning, frequency order, save/load, and encoding token bytes to ids.

Ids are assigned by decreasing count; ties keep the order of first occurrence in the corpus
(as gensim does), so the same corpus always gives the same ids. The log-uniform sampler
relies on this order (id 0 = most frequent).

Encoding runs in a Numba kernel over a whole text block (no Python per token): an
open-addressing hash table (FNV-1a 64-bit over the token's UTF-8 bytes) maps tokens to ids.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from numba import njit

from .corpus import Corpus, ReadStats
from .errors import CorpusError, FormatError
from .formats import atomic_output

SENTENCE_END = -1  # id stream separator between sentences


class WordCounter:
    """Exact token counts in a Numba hash table: ids in order of first occurrence.

    Memory is a few arrays that grow with the number of distinct words (about 20 bytes per
    word plus its UTF-8 bytes), not Python objects; counting runs without the GIL.
    Tokens are split exactly as ``bytes.split()`` does (ASCII whitespace).
    """

    def __init__(self) -> None:
        self.slots = np.full(1 << 16, -1, dtype=np.int32)
        self.arena = np.empty(1 << 20, dtype=np.uint8)
        self.offsets = np.zeros((1 << 15) + 1, dtype=np.int64)
        self.counts = np.zeros(1 << 15, dtype=np.int64)
        # [0] distinct words, [1] arena bytes used, [2] tokens, [3] arena bytes a stopped token needs
        self.state = np.zeros(4, dtype=np.int64)

    @property
    def distinct(self) -> int:
        return int(self.state[0])

    @property
    def tokens(self) -> int:
        return int(self.state[2])

    def add(self, data: bytes) -> None:
        buf = np.frombuffer(data, dtype=np.uint8)
        pos = 0
        while pos < len(buf):
            pos = _count_tokens(buf, pos, self.slots, self.arena, self.offsets, self.counts, self.state)
            if pos < len(buf):
                self._grow()

    def _grow(self) -> None:
        n, used, need = (int(x) for x in self.state[[0, 1, 3]])
        if (n + 1) * 2 > len(self.slots):
            self.slots = np.full(2 * len(self.slots), -1, dtype=np.int32)
            _fill_table(self.slots, self.arena, self.offsets[: n + 1])
        if n + 1 >= len(self.counts):
            self.counts = np.concatenate([self.counts, np.zeros(len(self.counts), np.int64)])
            self.offsets = np.concatenate([self.offsets, np.zeros(len(self.offsets) - 1, np.int64)])
        if used + need > len(self.arena):
            arena = np.empty(max(2 * len(self.arena), used + need), dtype=np.uint8)
            arena[:used] = self.arena[:used]
            self.arena = arena
        self.state[3] = 0

    def word(self, i: int) -> bytes:
        return self.arena[self.offsets[i]:self.offsets[i + 1]].tobytes()

    def as_counter(self) -> Counter:
        """A collections.Counter of bytes -> count (for tests and small corpora)."""
        return Counter({self.word(i): int(self.counts[i]) for i in range(self.distinct)})


@dataclass
class CountResult:
    counter: WordCounter
    tokens: int
    stats: ReadStats


def count_words(corpus: Corpus, progress=None) -> CountResult:
    """Exact token counts over one pass (memory grows with the vocabulary, not the corpus)."""
    counter = WordCounter()
    stats = ReadStats()
    for block in corpus.blocks():
        counter.add(block.data)
        stats.add(block.stats)
        if progress is not None:
            progress(block.stats.bytes)
    return CountResult(counter, counter.tokens, stats)


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
    def build(cls, counter: "WordCounter | Counter", min_count: int, max_vocab: int = 0) -> "Vocab":
        """Keep words with count >= min_count, most frequent first (ties: first seen first)."""
        if isinstance(counter, Counter):  # bytes -> count, insertion order = first seen
            keys = list(counter)
            counts = np.fromiter((counter[k] for k in keys), dtype=np.int64, count=len(keys))
            word_of = keys.__getitem__
        else:
            counts = counter.counts[: counter.distinct]
            word_of = counter.word
        kept = np.flatnonzero(counts >= min_count)
        kept = kept[np.argsort(-counts[kept], kind="stable")]  # ids are first-seen order: ties stay so
        if max_vocab and len(kept) > max_vocab:
            kept = kept[:max_vocab]
        words = [word_of(int(i)).decode("utf-8") for i in kept]
        return cls(words, counts[kept].copy())

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
            f"no word occurs at least {min_count} times ({result.counter.distinct} distinct words, "
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
def _probe(buf, start, end, slots, word_bytes, offsets):
    """Slot of buf[start:end] in the table: the slot holding its id, or the empty slot where it
    would go (linear probing; bytes compared on hash-slot hits). The table must have a free slot."""
    mask = np.uint64(slots.shape[0] - 1)
    slot = _hash(buf, start, end) & mask
    n = end - start
    while True:
        w = slots[slot]
        if w == -1:
            return slot
        a = offsets[w]
        if offsets[w + 1] - a == n:
            same = True
            for i in range(n):
                if word_bytes[a + i] != buf[start + i]:
                    same = False
                    break
            if same:
                return slot
        slot = (slot + np.uint64(1)) & mask


@njit(cache=True, nogil=True)
def _lookup(buf, start, end, slots, word_bytes, offsets):
    """Id of buf[start:end], or -1."""
    return slots[_probe(buf, start, end, slots, word_bytes, offsets)]


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


@njit(cache=True, nogil=True)
def _count_tokens(buf, pos, slots, arena, offsets, counts, state):
    """Count the tokens of buf[pos:]; returns where it stopped (len(buf) when done).

    Stops early, before a new word, when a table is full: the caller grows it and calls again
    (state[3] = arena bytes the pending word needs). state: see WordCounter.
    """
    n = buf.shape[0]
    i = pos
    while i < n:
        while i < n and _is_space(buf[i]):
            i += 1
        if i >= n:
            break
        start = i
        while i < n and not _is_space(buf[i]):
            i += 1
        length = i - start
        slot = _probe(buf, start, i, slots, arena, offsets)
        w = slots[slot]
        if w == -1:  # a new word: make sure every table has room first
            nw = state[0]
            used = state[1]
            if (nw + 1) * 2 > slots.shape[0] or nw + 1 >= counts.shape[0] or used + length > arena.shape[0]:
                state[3] = length
                return start
            for j in range(length):
                arena[used + j] = buf[start + j]
            offsets[nw + 1] = used + length
            state[1] = used + length
            slots[slot] = nw
            state[0] = nw + 1
            w = nw
        counts[w] += 1
        state[2] += 1
    return n
