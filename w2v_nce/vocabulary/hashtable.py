"""The token hash table shared by counting and encoding: FNV-1a 64-bit over a token's UTF-8
bytes, open addressing with linear probing, in Numba.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ..text.corpus import (
    SPACE_BYTES,
)


class WordTable(NamedTuple):
    """A set of byte strings in this module's layout (what the lookups take)."""

    slots: np.ndarray  # int32, a power of two long, -1 = empty
    arena: np.ndarray  # uint8: the strings end to end
    offsets: np.ndarray  # int64[n + 1]: string i is arena[offsets[i]:offsets[i + 1]]


def empty_slots(n: int) -> np.ndarray:
    """Hash slots for n strings: the smallest power of two >= 2n (load <= 1/2), at least 16."""
    return np.full(1 << max(4, (2 * max(n, 1) - 1).bit_length()), -1, dtype=np.int32)


def word_table(words: list[bytes]) -> WordTable:
    """The table of distinct byte strings ``words`` (ids in list order)."""
    offsets = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum([len(w) for w in words], out=offsets[1:])
    arena = np.frombuffer(b"".join(words), dtype=np.uint8).copy()
    slots = empty_slots(len(words))
    fill_table(slots, arena, offsets)
    return WordTable(slots, arena, offsets)


_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)


@njit(cache=True, nogil=True)
def fnv1a(buf, start, end):
    h = _FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
    return h


@njit(cache=True, nogil=True, inline="always")
def next_token_hashed(buf, i, n, byte):
    """The first token at or after i, read once: (start, end, line feeds before it, its fnv1a,
    whether ``byte`` occurs in it); start == n when there is none."""
    lf = 0
    while i < n and is_space(buf[i]):
        if buf[i] == 10:
            lf += 1
        i += 1
    s = i
    h = _FNV_OFFSET
    found = False
    while i < n:
        c = buf[i]
        if is_space(c):
            break
        found |= c == byte
        h = (h ^ np.uint64(c)) * _FNV_PRIME
        i += 1
    return s, i, lf, h, found


@njit(cache=True, nogil=True)
def fill_table(slots, word_bytes, offsets):
    """Put every word of offsets (int64[V+1]) in the empty hash slots."""
    insert_words(slots, word_bytes, offsets, 0, offsets.shape[0] - 1)


@njit(cache=True, nogil=True)
def insert_words(slots, word_bytes, offsets, first, last):
    """Put ids first..last-1 (words not yet in the table, all distinct) in the hash slots."""
    mask = np.uint64(slots.shape[0] - 1)
    for w in range(first, last):
        slot = fnv1a(word_bytes, offsets[w], offsets[w + 1]) & mask
        while slots[slot] != -1:
            slot = (slot + np.uint64(1)) & mask
        slots[slot] = w


@njit(cache=True, nogil=True)
def probe(buf, start, end, slots, word_bytes, offsets):
    """Slot of buf[start:end] in the table: the slot holding its id, or the empty slot where it
    would go (linear probing; bytes compared on hash-slot hits). The table must have a free slot."""
    return probe_hashed(fnv1a(buf, start, end), buf, start, end, slots, word_bytes, offsets)


@njit(cache=True, nogil=True)
def probe_hashed(h, buf, start, end, slots, word_bytes, offsets):
    """``probe`` given h = fnv1a(buf, start, end)."""
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
def lookup(buf, start, end, slots, word_bytes, offsets):
    """Id of buf[start:end], or -1."""
    return slots[probe(buf, start, end, slots, word_bytes, offsets)]


@njit(cache=True, nogil=True)
def is_space(c):
    return SPACE_BYTES[c]
