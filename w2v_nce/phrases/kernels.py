"""The Numba kernels of phrase detection: candidate emission for counting, greedy joining, scoring.

Text is UTF-8 bytes; tokens are split on ``text.corpus.WHITESPACE`` and a line feed ends a
sentence. A phrase *candidate* is a non-connector word, the connector words after it (none
without ``--connectors``) and the next non-connector word, all in one sentence (gensim 4's
rule). Its *key* is those tokens joined by ``SEP`` (0xFF, a byte valid UTF-8 never holds, so a
key can never equal a token of the text, whatever the delimiter: counting is exact). A
token holding 0xFF (not valid UTF-8; the reader never yields one) breaks a candidate chain.

Word tables (connectors, a pass's phrase keys) are the vocabulary's hash tables:
``slots`` (int32, power of two, -1 = empty), ``arena`` (uint8) and ``offsets`` (int64[n+1]).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..vocabulary.hashtable import fnv1a, lookup, next_token_hashed, probe_hashed

SEP = 0xFF
SCORINGS = ("word2vec", "gensim", "npmi")  # codes 0, 1, 2 in score_candidates
_LF = 10
_SPACE = 32


@njit(cache=True, nogil=True, inline="always")
def _member(table, h, buf, s, e):
    """Whether buf[s:e] (FNV-1a hash h) is in ``table`` (an empty table: no probe at all)."""
    if table.offsets.shape[0] == 1:
        return False
    return table.slots[probe_hashed(h, buf, s, e, table.slots, table.arena, table.offsets)] >= 0


@njit(cache=True, nogil=True, inline="always")
def _put(out, o, buf, s, e):
    """Copy buf[s:e] to out[o:]; returns the new end of out."""
    for i in range(s, e):
        out[o] = buf[i]
        o += 1
    return o


@njit(cache=True, nogil=True, inline="always")
def _put_key(out, o, buf, a_s, a_e, mids, nmid, b_s, b_e, sep):
    """Write the candidate a, mids[:nmid] (start, end rows), b joined by ``sep`` (bytes)."""
    o = _put(out, o, buf, a_s, a_e)
    for k in range(nmid):
        o = _put(out, o, sep, 0, sep.shape[0])
        o = _put(out, o, buf, mids[k, 0], mids[k, 1])
    o = _put(out, o, sep, 0, sep.shape[0])
    return _put(out, o, buf, b_s, b_e)


def emit_bound(nbytes: int) -> int:
    """Bytes ``emit_candidates`` may write for ``nbytes`` of text: every token twice as a word
    and at most twice more inside candidates, each with a separator byte."""
    return 5 * nbytes + 16


@njit(cache=True, nogil=True)
def emit_candidates(buf, out, connectors, tally):
    """Write, space-separated into ``out``, what phrase counting counts: every non-connector
    word, and the key of every candidate (a word, the connectors after it, the next word).
    Returns the bytes written. tally[0] += tokens read (connectors included: gensim's
    corpus_word_count)."""
    n = buf.shape[0]
    sep = np.full(1, SEP, dtype=np.uint8)
    mids = np.empty((n // 2 + 1, 2), dtype=np.int64)  # the connectors since the last word
    o, i, nmid = 0, 0, 0
    a_s, a_e = -1, -1  # the last word of this sentence (-1: none)
    while True:
        s, e, lf, h, has_sep = next_token_hashed(buf, i, n, SEP)
        if lf:
            a_s, nmid = -1, 0
        if s >= n:
            return o
        i = e
        tally[0] += 1
        if _member(connectors, h, buf, s, e):
            if a_s >= 0:
                mids[nmid, 0], mids[nmid, 1] = s, e
                nmid += 1
            continue
        if has_sep:
            a_s, nmid = -1, 0
            continue
        o = _put(out, o, buf, s, e)
        out[o] = _SPACE
        o += 1
        if a_s >= 0:
            o = _put_key(out, o, buf, a_s, a_e, mids, nmid, s, e, sep)
            out[o] = _SPACE
            o += 1
        a_s, a_e, nmid = s, e, 0


@njit(cache=True, nogil=True, inline="always")
def _flush(out, o, buf, a_s, a_e, mids, nmid):
    """Write a pending word and the connectors after it as single tokens."""
    if a_s >= 0:
        o = _put(out, o, buf, a_s, a_e)
        out[o] = _SPACE
        o += 1
    for k in range(nmid):
        o = _put(out, o, buf, mids[k, 0], mids[k, 1])
        out[o] = _SPACE
        o += 1
    return o


def join_bound(nbytes: int, delimiter_bytes: int) -> int:
    """Bytes ``join_phrases`` may write for ``nbytes`` of text (every separator may become the
    delimiter, or one byte, and a line feed may follow a space)."""
    return nbytes * (2 + delimiter_bytes) + 16


@njit(cache=True, nogil=True)
def join_phrases(buf, out, key, phrases, firsts, connectors, delim):
    """Join the phrases of one pass greedily left to right (gensim's ``analyze_sentence``):
    a word, the connectors after it and the next word become one token joined by ``delim``
    when their key is in ``phrases``; the word that ends a rejected candidate starts the next
    one. ``firsts`` holds the phrases' first words: a candidate whose first word is not one is
    rejected without building its key (most are). Tokens are written space-separated, with the
    source's line feeds; returns the bytes written. ``key``: scratch of at least len(buf) bytes."""
    n = buf.shape[0]
    sep = np.full(1, SEP, dtype=np.uint8)
    mids = np.empty((n // 2 + 1, 2), dtype=np.int64)
    o, i, nmid = 0, 0, 0
    a_s, a_e, a_first = -1, -1, False
    while True:
        s, e, lf, h, has_sep = next_token_hashed(buf, i, n, SEP)
        if lf:  # every line feed kept: the joined text has the source's lines
            o = _flush(out, o, buf, a_s, a_e, mids, nmid)
            for _ in range(lf):
                out[o] = _LF
                o += 1
            a_s, nmid = -1, 0
        if s >= n:
            return _flush(out, o, buf, a_s, a_e, mids, nmid)
        i = e
        if _member(connectors, h, buf, s, e):
            if a_s >= 0:
                mids[nmid, 0], mids[nmid, 1] = s, e
                nmid += 1
            else:
                o = _put(out, o, buf, s, e)
                out[o] = _SPACE
                o += 1
            continue
        if has_sep:  # never part of a phrase
            o = _flush(out, o, buf, a_s, a_e, mids, nmid)
            o = _put(out, o, buf, s, e)
            out[o] = _SPACE
            o += 1
            a_s, nmid = -1, 0
            continue
        if a_s >= 0:
            if a_first:
                k = _put_key(key, 0, buf, a_s, a_e, mids, nmid, s, e, sep)
                if _member(phrases, fnv1a(key, 0, k), key, 0, k):
                    o = _put_key(out, o, buf, a_s, a_e, mids, nmid, s, e, delim)
                    out[o] = _SPACE
                    o += 1
                    a_s, nmid = -1, 0
                    continue
            o = _flush(out, o, buf, a_s, a_e, mids, nmid)
        a_s, a_e, nmid, a_first = s, e, 0, _member(firsts, h, buf, s, e)


@njit(cache=True, nogil=True)
def _score(scoring, ca, cb, cab, min_count, words, entries):
    """A candidate's score (-inf: never a phrase), by scoring code (see SCORINGS)."""
    if scoring == 0:  # word2vec.c's word2phrase: both words must be counted min_count times
        if ca < min_count or cb < min_count:
            return -math.inf
        return (cab - min_count) / ca / cb * words
    if scoring == 1:  # gensim's original_scorer: its vocabulary's size where word2phrase has the word total
        return (cab - min_count) / (ca * cb) * entries
    if cab < min_count or cab >= words:  # gensim's npmi_scorer (pab = 1 has no NPMI)
        return -math.inf
    pa, pb, pab = ca / words, cb / words, cab / words
    return math.log(pab / (pa * pb)) / -math.log(pab)


@njit(cache=True, nogil=True)
def _has_sep_entry(arena, s, e):
    for i in range(s, e):
        if arena[i] == SEP:
            return True
    return False


@njit(cache=True, nogil=True)
def index_words(arena, offsets, counts, min_count, slots):
    """Put the entries that are words (no SEP) counted >= min_count in the empty hash ``slots``:
    the only words a candidate that can score is made of (c(a), c(b) >= c(ab) >= min_count)."""
    mask = np.uint64(slots.shape[0] - 1)
    for w in range(offsets.shape[0] - 1):
        s, e = offsets[w], offsets[w + 1]
        if counts[w] < min_count or _has_sep_entry(arena, s, e):
            continue
        slot = fnv1a(arena, s, e) & mask
        while slots[slot] != -1:
            slot = (slot + np.uint64(1)) & mask
        slots[slot] = w


@njit(cache=True, nogil=True)
def score_candidates(arena, offsets, counts, slots, scoring, min_count, words, entries, scores):
    """scores[w] = the score of entry w when it is a candidate key counted >= min_count (no
    scoring keeps one counted less: each subtracts min_count or needs it) whose first and last
    words are in ``slots`` (``index_words``), else -inf. ``words`` is the token total,
    ``entries`` the number of distinct entries counted (words and candidates)."""
    for w in range(offsets.shape[0] - 1):
        scores[w] = -math.inf
        if counts[w] < min_count:
            continue
        s, e = offsets[w], offsets[w + 1]
        first, last = -1, -1
        for i in range(s, e):
            if arena[i] == SEP:
                if first < 0:
                    first = i
                last = i
        if first < 0:
            continue
        a = lookup(arena, s, first, slots, arena, offsets)
        b = lookup(arena, last + 1, e, slots, arena, offsets)
        if a >= 0 and b >= 0:
            scores[w] = _score(scoring, float(counts[a]), float(counts[b]), float(counts[w]), float(min_count),
                               float(words), float(entries))
