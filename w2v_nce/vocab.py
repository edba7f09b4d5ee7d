"""Counting, pruning, frequency order, save/load, and encoding token bytes to ids.

Ids are assigned by decreasing count; ties keep the order of first occurrence in the corpus
(as gensim does), so the same corpus always gives the same ids. The log-uniform sampler
relies on this order (id 0 = most frequent).

Encoding runs in a Numba kernel over a whole text block (no Python per token): an
open-addressing hash table (FNV-1a 64-bit over the token's UTF-8 bytes) maps tokens to ids.
"""

from __future__ import annotations

from collections import Counter
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numba import njit

from .corpus import BLOCK_BYTES, SPACE_BYTES, WHITESPACE, Corpus, ReadStats, continuation_bytes
from .errors import CorpusError, FormatError
from .io import atomic_output
from .readahead import read_ahead
from .spill import SpillRuns, run_write_bytes

SENTENCE_END = -1  # id stream separator between sentences


# Tokens longer than this many UTF-8 bytes are not words (the library's default; the job passes
# Config.max_token_bytes, the same 1000): URLs and words of any script fit, base64 blobs do not.
MAX_TOKEN_BYTES = 1000

_COUNT_READ_AHEAD = 4  # decompressed blocks (1 MiB each) held ahead of a single-part count
MIN_RANGE = 1 << 14  # words per thread below which a merge's lookups run on one (threads cost more)


class WordCounter:
    """Exact token counts in a Numba hash table: ids in order of first occurrence.

    Memory is a few arrays that grow with the number of distinct words (about 20 bytes per
    word plus its UTF-8 bytes), not Python objects; counting runs without the GIL.
    Tokens are split exactly as ``bytes.split()`` does (ASCII whitespace). Tokens longer than
    ``max_token_bytes`` (0 = no limit) are tallied as long tokens, not counted as words.
    With ``memory_limit`` > 0 (bytes) the tables never grow past it (a run's write included,
    see ``spill.run_write_bytes``): ``add`` stops early and the caller spills and ``clear``s.
    """

    def __init__(self, max_token_bytes: int = 0, memory_limit: int = 0) -> None:
        self.max_token_bytes = max_token_bytes
        self.memory_limit = memory_limit
        self.slots = np.full(1 << 16, -1, dtype=np.int32)
        self.arena = np.empty(1 << 20, dtype=np.uint8)
        self.offsets = np.zeros((1 << 15) + 1, dtype=np.int64)
        self.counts = np.zeros(1 << 15, dtype=np.int64)
        # [0] distinct words, [1] arena bytes used, [2] tokens, [3] arena bytes a stopped token needs,
        # [4] tokens longer than max_token_bytes, [5] the longest of them (bytes)
        self.state = np.zeros(6, dtype=np.int64)
        self.spilled = 0  # runs written from this table

    @property
    def distinct(self) -> int:
        return int(self.state[0])

    @property
    def tokens(self) -> int:
        return int(self.state[2])

    @property
    def long_tokens(self) -> int:
        return int(self.state[4])

    @property
    def longest_token_bytes(self) -> int:
        return int(self.state[5])

    def add(self, data: bytes, start: int = 0) -> int:
        """Count the tokens of data[start:] (which starts at a token boundary); returns where it
        stopped: len(data), or earlier only when ``memory_limit`` is reached (then spill, clear,
        and call again from there)."""
        buf = np.frombuffer(data, dtype=np.uint8)
        self._index()
        pos = start
        while pos < len(buf):
            pos = _count_tokens(buf, pos, self.max_token_bytes, self.slots, self.arena, self.offsets, self.counts,
                                self.state)
            if pos < len(buf) and not self._grow():
                break
        return pos

    def merge(self, other: "WordCounter", threads: int = 1, index: bool = True) -> None:
        """Add ``other``'s words and counts (new words take ids after ours, in ``other``'s order)
        and its token tallies: counting two consecutive stretches of text apart, then merging,
        gives the counts and ids of counting them together. ``threads`` look ``other``'s words
        up in our table at once (read-only); only appending the new ones is serial.
        ``index=False`` (a last merge, whose words and counts are only read) leaves the hash
        slots unbuilt; ``add`` and ``merge`` build them when next called."""
        self._index()
        n = other.distinct
        new = np.empty(n, dtype=np.bool_)  # other's words that are not ours
        _in_ranges(threads, n, lambda lo, hi: _add_known(other.arena, other.offsets, other.counts, lo, hi, self.slots,
                                                         self.arena, self.offsets, self.counts, new))
        self._append(other, np.flatnonzero(new), index)
        self.add_tallies(other)

    def _append(self, other: "WordCounter", new: np.ndarray, index: bool) -> None:
        """Append ``other``'s words ``new`` (indices in its order, none of them ours) with their
        counts, each table grown at most once, to its final size (the slots only if ``index``)."""
        n, used = self.distinct, int(self.state[1])
        total = n + len(new)
        nbytes = int((other.offsets[new + 1] - other.offsets[new]).sum())
        if total + 1 >= len(self.counts):  # one array at a time: the copy is the only transient
            self.counts = _extended(self.counts, total + 2 - len(self.counts))
            self.offsets = _extended(self.offsets, total + 3 - len(self.offsets))
        if used + nbytes > len(self.arena):
            self.arena = _extended(self.arena, used + nbytes - len(self.arena))
        _append_words(other.arena, other.offsets, other.counts, new, self.arena, self.offsets, self.counts, self.state)
        if not index:
            self.slots = None
        elif 2 * (total + 1) > len(self.slots):  # rebuilt once at the size that holds them all
            self.slots = None
            self._index()
        else:
            _insert_words(self.slots, self.arena, self.offsets, n, total)

    def _index(self) -> None:
        """Build the hash slots if a ``merge(index=False)`` left them out: the smallest power of
        two that keeps the load under 1/2 with one more word (what ``add`` needs)."""
        if self.slots is None:
            n = self.distinct
            self.slots = np.full(1 << max(4, (2 * (n + 1) - 1).bit_length()), -1, dtype=np.int32)
            _insert_words(self.slots, self.arena, self.offsets, 0, n)

    def add_tallies(self, other: "WordCounter") -> None:
        """Add ``other``'s token tallies (tokens, long tokens, the longest) to ours."""
        self.state[2] += other.state[2]
        self.state[4] += other.state[4]
        self.state[5] = max(int(self.state[5]), int(other.state[5]))

    def add_long_token(self, nbytes: int) -> None:
        """Tally one over-long token seen outside ``add`` (one split across blocks by the reader)."""
        self.state[2] += 1
        self.state[4] += 1
        self.state[5] = max(int(self.state[5]), nbytes)

    def _grow(self) -> bool:
        n, used, need = (int(x) for x in self.state[[0, 1, 3]])
        grow_slots = (n + 1) * 2 > len(self.slots)
        grow_words = n + 1 >= len(self.counts)
        grow_arena = used + need > len(self.arena)
        new_arena = max(2 * len(self.arena), used + need) if grow_arena else len(self.arena)
        if self.memory_limit and n > 0 and not self._fits(grow_slots, grow_words, new_arena):
            return False
        if grow_slots:
            self.slots = np.full(2 * len(self.slots), -1, dtype=np.int32)
            _fill_table(self.slots, self.arena, self.offsets[: n + 1])
        if grow_words:  # one array at a time, no temporaries: the copy is the only transient
            self.counts = _extended(self.counts, len(self.counts))
            self.offsets = _extended(self.offsets, len(self.offsets) - 1)
        if grow_arena:
            arena = np.empty(new_arena, dtype=np.uint8)
            arena[:used] = self.arena[:used]
            self.arena = arena
        self.state[3] = 0
        return True

    def _fits(self, grow_slots: bool, grow_words: bool, new_arena: int) -> bool:
        """Whether growing keeps the tables, plus the larger of one array's copy while it grows
        and a run's write buffers (24 bytes a word), under ``memory_limit``."""
        slots = self.slots.nbytes * (2 if grow_slots else 1)
        words = len(self.counts) * (2 if grow_words else 1)
        after = slots + new_arena + 16 * words + 8
        copy = max(self.slots.nbytes if grow_slots else 0, self.offsets.nbytes if grow_words else 0,
                   self.arena.nbytes if new_arena > len(self.arena) else 0)
        return after + max(copy, run_write_bytes(words)) <= self.memory_limit

    def clear(self) -> None:
        """Forget the words (after a spill), keep the tables' memory and the token tallies."""
        n = self.distinct
        self._index()
        self.slots.fill(-1)
        self.counts[:n] = 0
        self.offsets[: n + 1] = 0
        self.state[[0, 1, 3]] = 0

    @classmethod
    def from_arrays(cls, arena: np.ndarray, offsets: np.ndarray, counts: np.ndarray, tallies: "WordCounter",
                    max_token_bytes: int = 0) -> "WordCounter":
        """A counter holding these words (first-seen order) with ``tallies``' token counts."""
        n = len(counts)
        wc = cls(max_token_bytes)
        wc.arena = np.ascontiguousarray(arena, dtype=np.uint8)
        wc.offsets = np.zeros(n + 2, dtype=np.int64)  # room for one more word: add() keeps working
        wc.offsets[: n + 1] = offsets
        wc.counts = np.zeros(n + 1, dtype=np.int64)
        wc.counts[:n] = counts
        wc.slots = np.full(1 << max(4, int(2 * (n + 1)).bit_length()), -1, dtype=np.int32)
        _fill_table(wc.slots, wc.arena, wc.offsets[: n + 1])
        wc.state[:] = tallies.state
        wc.state[0], wc.state[1], wc.state[3] = n, int(offsets[n]), 0
        return wc

    def word(self, i: int) -> bytes:
        return self.arena[self.offsets[i]:self.offsets[i + 1]].tobytes()

    def as_counter(self) -> Counter:
        """A collections.Counter of bytes -> count (for tests and small corpora)."""
        return Counter({self.word(i): int(self.counts[i]) for i in range(self.distinct)})


def _extended(a: np.ndarray, extra: int) -> np.ndarray:
    """``a`` followed by ``extra`` zeros."""
    out = np.zeros(len(a) + extra, dtype=a.dtype)
    out[: len(a)] = a
    return out


def _in_ranges(threads: int, n: int, kernel) -> None:
    """Run ``kernel(lo, hi)`` over ``threads`` consecutive ranges of [0, n) at once (a nogil
    kernel, each range written by one thread only); an error in one is raised here."""
    bounds = [n * t // threads for t in range(threads + 1)]
    if threads <= 1 or n < MIN_RANGE * threads:
        kernel(0, n)
        return
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(kernel, bounds[:-1], bounds[1:]))


@dataclass
class CountResult:
    counter: WordCounter  # words in first-seen order; after a spill only those counted >= min_count
    tokens: int  # tokens read, over-long ones included (each once)
    stats: ReadStats
    distinct: int = 0  # distinct words (over-long tokens are not words)
    long_tokens: int = 0  # tokens longer than max_token_bytes: not in the vocabulary, never cut
    longest_token_bytes: int = 0  # the longest of them (0 = none)
    spill_runs: int = 0  # sorted runs written because counting reached count_memory (0 = none)
    spill_bytes: int = 0  # their size on disk


def count_words(corpus: Corpus, progress=None, max_token_bytes: int = MAX_TOKEN_BYTES, count_memory: int = 0,
                spill_dir: str | None = None, min_count: int = 1, block_bytes: int = BLOCK_BYTES,
                threads: int = 1) -> CountResult:
    """Exact token counts over one pass.

    Tokens longer than ``max_token_bytes`` (1 <= it < ``block_bytes``) are tallied, not counted
    as words; a token the reader had to split at a block end (longer than a block) is one such
    token, all its pieces together. With ``count_memory`` > 0 (bytes) the counting tables stay
    under it: when full, their words spill as sorted runs to a temp directory made inside
    ``spill_dir`` (None = the system's), removed at the end, also on error; the runs are merged
    into exactly the counts an unbounded pass gives, keeping words counted >= ``min_count``.

    ``threads`` > 1 cuts the corpus into that many parts (``splits.make_splits``) counted at
    once without the GIL, each in its own table (``count_memory`` / threads each), merged in
    part order: the same counts and the same first-seen order as one thread. ``progress`` is
    then called from the counting threads (one at a time). A corpus that is one part (a single
    compressed file) is decompressed on a second thread while the first counts.
    """
    if not 0 < max_token_bytes < block_bytes:
        raise ValueError(f"max_token_bytes must be in [1, {block_bytes}), got {max_token_bytes}")
    from .splits import make_splits

    splits = [s for s in make_splits(corpus, threads) if s.pieces] if threads > 1 else []  # the non-empty parts
    with SpillRuns(spill_dir) as runs:
        if len(splits) > 1:
            parts = _count_parts(corpus, splits, progress, max_token_bytes, count_memory, runs, block_bytes)
        else:
            counter, stats = WordCounter(max_token_bytes, count_memory), ReadStats()
            blocks = corpus.blocks(block_bytes=block_bytes)
            if threads > 1:  # one part holds all the text (a single compressed file): decompressed on a second thread
                blocks = read_ahead(blocks, _COUNT_READ_AHEAD)
            _count_blocks(blocks, counter, _PartRuns(runs), stats, progress)
            parts = [(counter, stats)]
        if not runs.runs:
            return merge_counted(parts)
        # the rest of each table is its part's last run; the merge gives the counts
        for t, (c, _) in enumerate(parts):
            if c.distinct:
                runs.write(c.arena, c.offsets, c.counts, c.distinct, _part_key(t, c.spilled) if len(parts) > 1 else None)
        stats = _summed_stats(parts)
        counter, distinct = _merged(_summed_tallies(parts), runs, min_count, count_memory)
        return CountResult(counter, counter.tokens, stats, distinct, counter.long_tokens, counter.longest_token_bytes,
                           runs.runs, runs.bytes)


def _part_key(part: int, run: int) -> int:
    """The spill key's high part of a parallel counter's run: parts in corpus order, then runs."""
    return part << 16 | run


class _PartRuns:
    """Where one counter spills: the shared runs, under keys that keep its part's place."""

    def __init__(self, runs: SpillRuns, part: int | None = None):
        self.runs, self.part, self.written = runs, part, 0

    def write(self, counter: WordCounter) -> None:
        key = None if self.part is None else _part_key(self.part, self.written)
        self.runs.write(counter.arena, counter.offsets, counter.counts, counter.distinct, key)
        self.written += 1
        counter.spilled = self.written


def _count_blocks(blocks, counter: WordCounter, runs: _PartRuns, stats: ReadStats, progress,
                  halt: threading.Event | None = None) -> None:
    """Count a stream of blocks into ``counter`` (spilling into ``runs`` when it is full)."""
    split_bytes = 0  # bytes so far of a token split across blocks (0 = none in progress)
    for block in blocks:
        if halt is not None and halt.is_set():
            return
        stats.add(block.stats)
        start = 0
        if block.stats.forced_splits:  # the whole block is one piece of an over-long token
            split_bytes += len(block.data)
        elif block.continues_split:  # its first bytes end that token
            start = continuation_bytes(block)
            counter.add_long_token(split_bytes + start)
            split_bytes = 0
        if not block.stats.forced_splits:
            _add_spilling(counter, runs, block.data, start)
        if progress is not None:
            progress(block.stats.bytes)


def _count_parts(corpus: Corpus, splits: list, progress, max_token_bytes: int, count_memory: int, runs: SpillRuns,
                 block_bytes: int) -> list[tuple[WordCounter, ReadStats]]:
    """Count the corpus's ``splits`` at once, a thread each; (counter, stats) per split, in
    split order. An error in one thread stops the others and is raised here."""
    from .splits import split_blocks

    threads = len(splits)
    memory = count_memory // threads if count_memory else 0
    parts = [(WordCounter(max_token_bytes, memory), ReadStats()) for _ in splits]
    lock, halt = threading.Lock(), threading.Event()
    errors: list[BaseException | None] = [None] * threads

    def report(nbytes: int) -> None:
        with lock:
            progress(nbytes)

    def count(t: int) -> None:
        try:
            blocks = split_blocks(corpus, splits[t], block_bytes=block_bytes)
            if threads == 1:  # one split (a cluster task's single compressed file): decompressed on a second thread
                blocks = read_ahead(blocks, _COUNT_READ_AHEAD)
            _count_blocks(blocks, parts[t][0], _PartRuns(runs, t), parts[t][1],
                          report if progress is not None else None, halt)
        except BaseException as exc:  # raised on the calling thread
            errors[t] = exc
            halt.set()

    workers = [threading.Thread(target=count, args=(t,), daemon=True) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for exc in errors:
        if exc is not None:
            raise exc
    return parts


def _summed_stats(parts: list[tuple[WordCounter, ReadStats]]) -> ReadStats:
    stats = ReadStats()
    for _, part_stats in parts:
        stats.add(part_stats)
    return stats


def _summed_tallies(parts: list[tuple[WordCounter, ReadStats]]) -> WordCounter:
    """The first counter, its words dropped, holding every part's token tallies."""
    first = parts[0][0]
    for c, _ in parts[1:]:
        first.add_tallies(c)
        c.slots = c.arena = c.offsets = c.counts = None
    return first


def _merged_tables(counters: list[WordCounter]) -> WordCounter:
    """One table of all counters' words in part order (so ids stay in first-seen order), freeing
    each counter once merged; the result has no memory bound (it holds the vocabulary)."""
    merged = counters[0]
    merged.memory_limit = 0
    for j, c in enumerate(counters[1:], 2):  # the result is only read: its last merge builds no slots
        merged.merge(c, threads=len(counters), index=j < len(counters))
        c.slots = c.arena = c.offsets = c.counts = None
    return merged


class CountBoundReached(Exception):
    """A ``count_splits`` table reached its memory bound: that count needs spilling (one machine)."""


class _NoSpill(SpillRuns):
    """Runs that refuse to be written: ``count_splits`` stops instead of spilling."""

    def write(self, *_, **__) -> None:
        raise CountBoundReached("a counting table reached its memory bound")


def count_splits(corpus: Corpus, splits: list, max_token_bytes: int = MAX_TOKEN_BYTES, count_memory: int = 0,
                 block_bytes: int = BLOCK_BYTES, progress=None) -> tuple[WordCounter, ReadStats]:
    """Count consecutive ``splits`` of the corpus (a thread each) into one table in their
    order: one contiguous stretch of the corpus, as a cluster task counts its share.
    ``merge_counted`` of such stretches, in corpus order, gives ``count_words``' result.
    ``count_memory`` (bytes, 0 = none) bounds the tables together; reaching it raises
    ``CountBoundReached`` (a count that big spills, which one machine does: ``count_words``).
    ``progress(nbytes)``, if given, is called as bytes are counted (an exception it raises stops the count)."""
    if not splits:
        return WordCounter(max_token_bytes), ReadStats()
    with _NoSpill(None) as runs:
        parts = _count_parts(corpus, splits, progress, max_token_bytes, count_memory, runs, block_bytes)
    return _merged_tables([c for c, _ in parts]), _summed_stats(parts)


def merge_counted(stretches: list[tuple[WordCounter, ReadStats]]) -> CountResult:
    """The ``CountResult`` of consecutive stretches' counts (``count_splits``, or one machine's
    per-thread tables), in corpus order: the counts and first-seen ids of counting them as one
    pass. The first stretch's table becomes the result (its arrays must be writable)."""
    stats = _summed_stats(stretches)
    counter = _merged_tables([c for c, _ in stretches])
    return CountResult(counter, counter.tokens, stats, counter.distinct, counter.long_tokens,
                       counter.longest_token_bytes)


def _add_spilling(counter: WordCounter, runs: _PartRuns, data: bytes, start: int) -> None:
    """counter.add(data[start:]), writing a run and clearing the table each time it is full."""
    pos = counter.add(data, start)
    while pos < len(data):
        runs.write(counter)
        counter.clear()
        pos = counter.add(data, pos)


def _merged(counter: WordCounter, runs: SpillRuns, min_count: int, count_memory: int) -> tuple[WordCounter, int]:
    """Free the table and merge the runs: (a counter of the kept words with ``counter``'s token
    tallies, distinct words over all runs)."""
    counter.slots = counter.arena = counter.offsets = counter.counts = None
    merged = runs.merge(min_count, count_memory)
    return WordCounter.from_arrays(merged.arena, merged.offsets, merged.counts, counter,
                                   counter.max_token_bytes), merged.distinct


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

    @classmethod
    def from_counts(cls, words: list[str], counts: np.ndarray, min_count: int, max_vocab: int = 0) -> "Vocab":
        """``build``'s rule on listed counts: words counted >= min_count, most frequent first, ties
        in list order (a saved vocab.tsv is in id order: the counted vocabulary again)."""
        counts = np.asarray(counts, dtype=np.int64)
        kept = np.flatnonzero(counts >= min_count)
        kept = kept[np.argsort(-counts[kept], kind="stable")]
        if max_vocab and len(kept) > max_vocab:
            kept = kept[:max_vocab]
        return cls([words[int(i)] for i in kept], counts[kept].copy())

    # -- persistence ----------------------------------------------------------------
    def save_tsv(self, path: str, header: dict[str, int] | None = None) -> None:
        """``word<TAB>count`` per line, id order, after an optional header line
        ``# w2v-nce vocab key=value ...`` (``tokens``: the corpus's token total, and the
        settings it was counted with; see ``read_vocab_tsv``)."""
        with atomic_output(path, "w") as fh:
            if header:
                fh.write(" ".join([VOCAB_HEADER] + [f"{k}={v}" for k, v in header.items()]) + "\n")
            for w, c in zip(self.words, self.counts.tolist()):
                fh.write(f"{w}\t{c}\n")

    @classmethod
    def load_tsv(cls, path: str) -> "Vocab":
        """Every word of a vocab.tsv with its count, in file order (see ``read_vocab_tsv``)."""
        words, counts, _ = read_vocab_tsv(path)
        return cls(words, counts)


VOCAB_HEADER = "# w2v-nce vocab"


def read_vocab_tsv(path: str) -> tuple[list[str], np.ndarray, dict[str, int]]:
    """(words, int64 counts, header) of a ``word<TAB>count`` file; the header (the first line,
    when it starts with ``# ``) maps keys to ints. Anything else malformed is a FormatError
    naming the file and line: not two fields, a count that is not an integer >= 1, an empty
    word or one with whitespace, a word seen twice, invalid UTF-8, no words at all."""
    words: list[str] = []
    counts: list[int] = []
    header: dict[str, int] = {}
    seen: dict[str, int] = {}
    try:
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                line = _decoded(raw, path, lineno).rstrip("\n").removesuffix("\r")
                if lineno == 1 and line.startswith("# "):
                    header = _header(line, path)
                    continue
                word, count = _entry(line, path, lineno)
                if word in seen:
                    raise FormatError(f"{path}: line {lineno}: word {word!r} already on line {seen[word]}; "
                                      "each word must appear once")
                seen[word] = lineno
                words.append(word)
                counts.append(count)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read the vocabulary file ({exc.strerror})") from None
    if not words:
        raise FormatError(f"{path}: vocabulary file holds no words; write one with: w2v-nce vocab CORPUS -o {path}")
    if sum(counts) >= 1 << 62:  # the int64 totals the sampler and the lr clock are computed in
        raise FormatError(f"{path}: the counts add up to more than 2^62; is this a vocab.tsv?")
    return words, np.array(counts, dtype=np.int64), header


def _decoded(raw: bytes, path: str, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"{path}: line {lineno}: invalid UTF-8; a vocabulary file is UTF-8 text") from None


# A word counted more often than this is a corrupt or forged file (10^15 tokens of one word).
MAX_COUNT = 10**15


def _entry(line: str, path: str, lineno: int) -> tuple[str, int]:
    parts = line.split("\t")
    if len(parts) != 2:
        raise FormatError(f"{path}: line {lineno}: expected 'word<TAB>count', got {line[:60]!r}")
    word, count = parts
    if not word or any(c in word for c in WHITESPACE.decode()):
        raise FormatError(f"{path}: line {lineno}: word {word!r} is empty or holds whitespace; words are tokens")
    if not (count.isascii() and count.isdigit()) or int(count) < 1:
        raise FormatError(f"{path}: line {lineno}: count {count[:30]!r} is not an integer >= 1")
    if len(count) > 15 or int(count) > MAX_COUNT:
        raise FormatError(f"{path}: line {lineno}: count {count[:30]!r} is above {MAX_COUNT:,} (no corpus holds a "
                          "word that often); is this a vocab.tsv?")
    return word, int(count)


def _header(line: str, path: str) -> dict[str, int]:
    if not line.startswith(VOCAB_HEADER):
        raise FormatError(f"{path}: line 1: unknown header {line[:60]!r}; expected '{VOCAB_HEADER} tokens=N ...'")
    out = {}
    for item in line[len(VOCAB_HEADER):].split():
        key, _, value = item.partition("=")
        if not value.lstrip("-").isdigit():
            raise FormatError(f"{path}: line 1: header field {item!r} is not key=integer")
        out[key] = int(value)
    return out


def build_vocab(corpus: Corpus, min_count: int, max_vocab: int = 0, progress=None,
                max_token_bytes: int = MAX_TOKEN_BYTES, count_memory: int = 0,
                spill_dir: str | None = None, threads: int = 1) -> tuple[Vocab, CountResult]:
    """Count the corpus (see ``count_words``) and build the vocabulary; an empty result is a
    CorpusError saying what to do."""
    result = count_words(corpus, progress, max_token_bytes, count_memory, spill_dir, min_count, threads=threads)
    return vocab_from_count(corpus, result, min_count, max_vocab, max_token_bytes), result


def vocab_from_count(corpus: Corpus, result: CountResult, min_count: int, max_vocab: int,
                     max_token_bytes: int) -> Vocab:
    """The vocabulary of a count; an empty one is a CorpusError saying what to do."""
    if result.tokens == 0:
        raise CorpusError(f"{', '.join(corpus.paths)}: corpus is empty (no tokens)")
    vocab = Vocab.build(result.counter, min_count, max_vocab)
    if len(vocab) == 0:
        long = (f"; {result.long_tokens} tokens longer than --max-token-bytes {max_token_bytes} were left out"
                if result.long_tokens else "")
        raise CorpusError(
            f"no word occurs at least {min_count} times ({result.distinct} distinct words, "
            f"{result.tokens} tokens{long}); try a smaller --min-count"
        )
    return vocab


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
    """Put every word of offsets (int64[V+1]) in the empty hash slots."""
    _insert_words(slots, word_bytes, offsets, 0, offsets.shape[0] - 1)


@njit(cache=True, nogil=True)
def _insert_words(slots, word_bytes, offsets, first, last):
    """Put ids first..last-1 (words not yet in the table, all distinct) in the hash slots."""
    mask = np.uint64(slots.shape[0] - 1)
    for w in range(first, last):
        slot = _hash(word_bytes, offsets[w], offsets[w + 1]) & mask
        while slots[slot] != -1:
            slot = (slot + np.uint64(1)) & mask
        slots[slot] = w


@njit(cache=True, nogil=True)
def _probe(buf, start, end, slots, word_bytes, offsets):
    """Slot of buf[start:end] in the table: the slot holding its id, or the empty slot where it
    would go (linear probing; bytes compared on hash-slot hits). The table must have a free slot."""
    return _probe_hashed(_hash(buf, start, end), buf, start, end, slots, word_bytes, offsets)


@njit(cache=True, nogil=True)
def _probe_hashed(h, buf, start, end, slots, word_bytes, offsets):
    """``_probe`` given h = _hash(buf, start, end)."""
    mask = np.uint64(slots.shape[0] - 1)
    slot = h & mask
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
    return SPACE_BYTES[c]


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


_BATCH = 16  # tokens whose table entries are loaded together before they are counted


@njit(cache=True, nogil=True)
def _count_tokens(buf, pos, max_token_bytes, slots, arena, offsets, counts, state):
    """Count the tokens of buf[pos:]; returns where it stopped (len(buf) when done).

    Stops early, before a new word, when a table is full: the caller grows it and calls again
    (state[3] = arena bytes the pending word needs). A token longer than max_token_bytes
    (> 0) is only tallied (state[4], state[5]). state: see WordCounter.
    Tokens go in batches of _BATCH: their slots, then their words' offsets and counts, are
    loaded in loops of independent reads, so the cache misses of rare words overlap instead
    of following one another; then each token is counted in order, as one at a time would.
    """
    n = buf.shape[0]
    starts = np.empty(_BATCH, dtype=np.int64)
    ends = np.empty(_BATCH, dtype=np.int64)
    hashes = np.empty(_BATCH, dtype=np.uint64)
    seen = np.empty(_BATCH, dtype=np.int64)  # the loads' values: kept, so they are not optimised away
    mask = np.uint64(slots.shape[0] - 1)
    i = pos
    while i < n:
        m = 0
        while m < _BATCH:
            while i < n and _is_space(buf[i]):
                i += 1
            if i >= n:
                break
            starts[m] = i
            while i < n and not _is_space(buf[i]):
                i += 1
            ends[m] = i
            hashes[m] = _hash(buf, starts[m], i)
            m += 1
        for k in range(m):
            seen[k] = slots[hashes[k] & mask]
        for k in range(m):
            if seen[k] >= 0:
                seen[k] = offsets[seen[k]] + counts[seen[k]]
        for k in range(m):  # now counted in order, as one at a time (the loads hit the cache)
            start = starts[k]
            length = ends[k] - start
            if max_token_bytes > 0 and length > max_token_bytes:  # not a word; tallied, never cut
                state[2] += 1
                state[4] += 1
                state[5] = max(state[5], length)
                continue
            slot = _probe_hashed(hashes[k], buf, start, ends[k], slots, arena, offsets)
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


@njit(cache=True, nogil=True)
def _add_known(src_arena, src_offsets, src_counts, lo, hi, slots, arena, offsets, counts, new):
    """For words lo <= w < hi of another table: add its count to ours when the word is here,
    else new[w] = True. Threads may each take a range of w: the slots are only read, and
    distinct words have distinct ids, so no count is written by two threads. Words go in
    batches, their slots and offsets loaded first (see _count_tokens)."""
    hashes = np.empty(_BATCH, dtype=np.uint64)
    seen = np.empty(_BATCH, dtype=np.int64)
    mask = np.uint64(slots.shape[0] - 1)
    for first in range(lo, hi, _BATCH):
        m = min(_BATCH, hi - first)
        for k in range(m):
            hashes[k] = _hash(src_arena, src_offsets[first + k], src_offsets[first + k + 1])
        for k in range(m):
            seen[k] = slots[hashes[k] & mask]
        for k in range(m):
            if seen[k] >= 0:
                seen[k] = offsets[seen[k]] + counts[seen[k]]
        for k in range(m):
            w = first + k
            v = slots[_probe_hashed(hashes[k], src_arena, src_offsets[w], src_offsets[w + 1], slots, arena, offsets)]
            new[w] = v < 0
            if v >= 0:
                counts[v] += src_counts[w]


@njit(cache=True, nogil=True)
def _append_words(src_arena, src_offsets, src_counts, new, arena, offsets, counts, state):
    """Append words ``new`` (int64 indices, in order) of another table with their counts, as ids
    state[0].. on; the arrays must have room. The hash slots are not touched (_insert_words)."""
    nw = state[0]
    used = state[1]
    for k in range(new.shape[0]):
        w = new[k]
        start = src_offsets[w]
        length = src_offsets[w + 1] - start
        arena[used:used + length] = src_arena[start:start + length]
        used += length
        offsets[nw + 1] = used
        counts[nw] = src_counts[w]
        nw += 1
    state[0] = nw
    state[1] = used
