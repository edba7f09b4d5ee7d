"""Exact token counts in a Numba hash table (``WordCounter``) and its counting kernels.

Ids are given in order of first occurrence; tables of several threads or parts merge exactly.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from .hashtable import (
    empty_slots,
    fill_table,
    fnv1a,
    insert_words,
    is_space,
    probe_hashed,
)
from .spill import run_write_bytes

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
            pos = count_tokens(buf, pos, self.max_token_bytes, self.slots, self.arena, self.offsets, self.counts,
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
        in_ranges(threads, n, lambda lo, hi: _add_known(other.arena, other.offsets, other.counts, lo, hi, self.slots,
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
            self.counts = extended(self.counts, total + 2 - len(self.counts))
            self.offsets = extended(self.offsets, total + 3 - len(self.offsets))
        if used + nbytes > len(self.arena):
            self.arena = extended(self.arena, used + nbytes - len(self.arena))
        _append_words(other.arena, other.offsets, other.counts, new, self.arena, self.offsets, self.counts, self.state)
        if not index:
            self.slots = None
        elif 2 * (total + 1) > len(self.slots):  # rebuilt once at the size that holds them all
            self.slots = None
            self._index()
        else:
            insert_words(self.slots, self.arena, self.offsets, n, total)

    def _index(self) -> None:
        """Build the hash slots if a ``merge(index=False)`` left them out: the smallest power of
        two that keeps the load under 1/2 with one more word (what ``add`` needs)."""
        if self.slots is None:
            n = self.distinct
            self.slots = empty_slots(n + 1)
            insert_words(self.slots, self.arena, self.offsets, 0, n)

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
            fill_table(self.slots, self.arena, self.offsets[: n + 1])
        if grow_words:  # one array at a time, no temporaries: the copy is the only transient
            self.counts = extended(self.counts, len(self.counts))
            self.offsets = extended(self.offsets, len(self.offsets) - 1)
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
        fill_table(wc.slots, wc.arena, wc.offsets[: n + 1])
        wc.state[:] = tallies.state
        wc.state[0], wc.state[1], wc.state[3] = n, int(offsets[n]), 0
        return wc

    def word(self, i: int) -> bytes:
        return self.arena[self.offsets[i]:self.offsets[i + 1]].tobytes()

    def as_counter(self) -> Counter:
        """A collections.Counter of bytes -> count (for tests and small corpora)."""
        return Counter({self.word(i): int(self.counts[i]) for i in range(self.distinct)})


def extended(a: np.ndarray, extra: int) -> np.ndarray:
    """``a`` followed by ``extra`` zeros."""
    out = np.zeros(len(a) + extra, dtype=a.dtype)
    out[: len(a)] = a
    return out


def in_ranges(threads: int, n: int, kernel) -> None:
    """Run ``kernel(lo, hi)`` over ``threads`` consecutive ranges of [0, n) at once (a nogil
    kernel, each range written by one thread only); an error in one is raised here."""
    bounds = [n * t // threads for t in range(threads + 1)]
    if threads <= 1 or n < MIN_RANGE * threads:
        kernel(0, n)
        return
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(kernel, bounds[:-1], bounds[1:]))


COUNT_BATCH = 16  # tokens whose table entries are loaded together before they are counted


@njit(cache=True, nogil=True)
def count_tokens(buf, pos, max_token_bytes, slots, arena, offsets, counts, state):
    """Count the tokens of buf[pos:]; returns where it stopped (len(buf) when done).

    Stops early, before a new word, when a table is full: the caller grows it and calls again
    (state[3] = arena bytes the pending word needs). A token longer than max_token_bytes
    (> 0) is only tallied (state[4], state[5]). state: see WordCounter.
    Tokens go in batches of COUNT_BATCH: their slots, then their words' offsets and counts, are
    loaded in loops of independent reads, so the cache misses of rare words overlap instead
    of following one another; then each token is counted in order, as one at a time would.
    """
    n = buf.shape[0]
    starts = np.empty(COUNT_BATCH, dtype=np.int64)
    ends = np.empty(COUNT_BATCH, dtype=np.int64)
    hashes = np.empty(COUNT_BATCH, dtype=np.uint64)
    seen = np.empty(COUNT_BATCH, dtype=np.int64)  # the loads' values: kept, so they are not optimised away
    mask = np.uint64(slots.shape[0] - 1)
    i = pos
    while i < n:
        m = 0
        while m < COUNT_BATCH:
            while i < n and is_space(buf[i]):
                i += 1
            if i >= n:
                break
            starts[m] = i
            while i < n and not is_space(buf[i]):
                i += 1
            ends[m] = i
            hashes[m] = fnv1a(buf, starts[m], i)
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
            slot = probe_hashed(hashes[k], buf, start, ends[k], slots, arena, offsets)
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
    batches, their slots and offsets loaded first (see count_tokens)."""
    hashes = np.empty(COUNT_BATCH, dtype=np.uint64)
    seen = np.empty(COUNT_BATCH, dtype=np.int64)
    mask = np.uint64(slots.shape[0] - 1)
    for first in range(lo, hi, COUNT_BATCH):
        m = min(COUNT_BATCH, hi - first)
        for k in range(m):
            hashes[k] = fnv1a(src_arena, src_offsets[first + k], src_offsets[first + k + 1])
        for k in range(m):
            seen[k] = slots[hashes[k] & mask]
        for k in range(m):
            if seen[k] >= 0:
                seen[k] = offsets[seen[k]] + counts[seen[k]]
        for k in range(m):
            w = first + k
            v = slots[probe_hashed(hashes[k], src_arena, src_offsets[w], src_offsets[w + 1], slots, arena, offsets)]
            new[w] = v < 0
            if v >= 0:
                counts[v] += src_counts[w]


@njit(cache=True, nogil=True)
def _append_words(src_arena, src_offsets, src_counts, new, arena, offsets, counts, state):
    """Append words ``new`` (int64 indices, in order) of another table with their counts, as ids
    state[0].. on; the arrays must have room. The hash slots are not touched (insert_words)."""
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
