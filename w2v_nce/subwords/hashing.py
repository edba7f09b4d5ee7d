"""fastText's character n-grams and their hash, over words packed as UTF-8 bytes + offsets.

A word w contributes the n-grams of ``<w>`` of n = minn..maxn characters (UTF-8 characters, not
bytes; the one-character n-grams "<" and ">" are never taken), each hashed with 32-bit FNV-1a
where every byte is first sign-extended (fastText hashes ``int8_t(c)``, so bytes >= 0x80 differ
from textbook FNV-1a), and its bucket is ``hash % buckets``. Repeated n-grams are kept, as
fastText keeps them (each counts once more in the mean). Matching fastText bucket for bucket is
what lets its tools read our .bin and our model read its n-gram rows.

The compact layout (``hash_count`` H >= 1, floret's manner) has no word rows: the whole marked
word ``<w>`` is one more entry before its n-grams, and each entry takes H rows: its fastText
bucket, then H - 1 more from the same hash remixed (``_remix``), so a collision of two n-grams
in one row is undone by the others.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
BOW = ord("<")  # fastText's begin-of-word and end-of-word markers
EOW = ord(">")


@njit(cache=True, nogil=True)
def _sign_extended(b):
    """A byte as fastText's ``uint32_t(int8_t(c))``: bytes >= 0x80 get their high 24 bits set."""
    return np.uint64(b) | np.uint64(0xFFFFFF00) if b >= 128 else np.uint64(b)


@njit(cache=True, nogil=True)
def _step(h, b):
    """One FNV-1a step on a uint32 value held in a uint64 (Numba widens uint32 products)."""
    return ((h ^ _sign_extended(b)) * np.uint64(FNV_PRIME)) & np.uint64(0xFFFFFFFF)


@njit(cache=True, nogil=True)
def fnv1a_hash(data):
    """fastText's hash of the bytes ``data`` (uint8[:]): the uint32 FNV-1a over sign-extended bytes."""
    h = np.uint64(FNV_OFFSET)
    for b in data:
        h = _step(h, b)
    return h


@njit(cache=True, nogil=True)
def _remix(h, k):
    """The k-th (k >= 1) extra hash of a uint32 hash ``h``: splitmix64's finaliser of h + k x its
    golden-ratio increment (uint64 arithmetic wraps)."""
    z = h + np.uint64(k) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def _emit(h, buckets, hash_count, out, at, offset):
    """Write an entry's rows (offset + bucket; ``hash_count`` of them, at least 1) to out[at:]
    while ``out`` has room; returns how many."""
    for k in range(max(hash_count, 1)):
        if at + k < out.shape[0]:
            r = h if k == 0 else _remix(h, k)
            out[at + k] = offset + np.int64(r % np.uint64(buckets))
    return max(hash_count, 1)


@njit(cache=True, nogil=True)
def _word_ngrams(data, a, b, minn, maxn, buckets, out, at, offset, scratch, hash_count=0):
    """``offset`` + the bucket of each n-gram of ``<`` + data[a:b] + ``>``, written to out[at:]
    (when ``out`` has room, else only counted); returns how many. ``scratch``: uint8[>= b - a + 2].
    ``hash_count`` >= 1 (the compact layout): the whole ``<word>`` first, each entry's rows
    ``hash_count`` times (``_emit``)."""
    L = b - a + 2
    scratch[0] = BOW
    scratch[1:L - 1] = data[a:b]
    scratch[L - 1] = EOW
    count = 0
    if hash_count > 0:
        count += _emit(fnv1a_hash(scratch[:L]), buckets, hash_count, out, at, offset)
    for i in range(L):
        if (scratch[i] & 0xC0) == 0x80:  # a continuation byte does not start a character
            continue
        h = np.uint64(FNV_OFFSET)
        j = i
        n = 1
        while j < L and n <= maxn:
            h = _step(h, scratch[j])
            j += 1
            while j < L and (scratch[j] & 0xC0) == 0x80:
                h = _step(h, scratch[j])
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == L)):
                count += _emit(h, buckets, hash_count, out, at + count, offset)
            n += 1
    return count


@njit(cache=True, nogil=True)
def _word_scratch(offsets):
    """uint8[longest word + 2]: room for any packed word with its two markers."""
    longest = 0
    for w in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[w + 1] - offsets[w])
    return np.empty(longest + 2, np.uint8)


@njit(cache=True, nogil=True)
def ngram_counts(data, offsets, minn, maxn, buckets, hash_count=0):
    """int64[V]: how many hashed rows each packed word has (the CSR's row lengths, less the word's
    own row in fastText's layout)."""
    V = offsets.shape[0] - 1
    counts = np.zeros(V, np.int64)
    scratch = _word_scratch(offsets)
    none = np.empty(0, np.int64)
    for w in range(V):
        counts[w] = _word_ngrams(data, offsets[w], offsets[w + 1], minn, maxn, buckets, none, 0, 0, scratch,
                                 hash_count)
    return counts


@njit(cache=True, nogil=True)
def fill_rows(data, offsets, minn, maxn, buckets, start, rows, hash_count=0, own_rows=True):
    """The CSR rows (``start`` int64[V+1] from ``ngram_counts``, + 1 per word with ``own_rows``).
    fastText's layout (``hash_count`` 0, ``own_rows``): word w's rows are w, then V + the bucket of
    each of its n-grams in fastText's order. The compact layout (``hash_count`` >= 1, no own
    rows): the rows ``_word_ngrams`` gives, < buckets."""
    V = offsets.shape[0] - 1
    scratch = _word_scratch(offsets)
    offset = V if own_rows else 0
    for w in range(V):
        at = start[w]
        if own_rows:
            rows[at] = w
            at += 1
        _word_ngrams(data, offsets[w], offsets[w + 1], minn, maxn, buckets, rows[:start[w + 1]], at, offset,
                     scratch, hash_count)
