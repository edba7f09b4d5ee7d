"""A slow, obvious Python reference of phrase counting, scoring and joining (gensim 4's rules,
written from their description): the kernels are checked against it."""

from __future__ import annotations

import math
from collections import Counter


def sentences(text: bytes) -> list[list[bytes]]:
    """Lines, each split on ASCII whitespace (the reader's tokens; a line feed ends a sentence)."""
    return [line.split() for line in text.split(b"\n")]


def count(sents: list[list[bytes]], connectors: set[bytes]) -> tuple[Counter, int]:
    """(counts of words and of candidates, a candidate being a tuple of its tokens; token total)."""
    counts: Counter = Counter()
    total = 0
    for sent in sents:
        start, between = None, []
        for w in sent:
            total += 1
            if w in connectors:
                if start is not None:
                    between.append(w)
                continue
            counts[w] += 1
            if start is not None:
                counts[(start, *between, w)] += 1
            start, between = w, []
    return counts, total


def score(scoring: str, ca: int, cb: int, cab: int, min_count: int, words: int, entries: int) -> float:
    if scoring == "word2vec":
        if ca < min_count or cb < min_count:
            return -math.inf
        return (cab - min_count) / ca / cb * words
    if scoring == "gensim":
        return (cab - min_count) / (ca * cb) * entries
    if cab < min_count or cab >= words:
        return -math.inf
    pa, pb, pab = ca / words, cb / words, cab / words
    return math.log(pab / (pa * pb)) / -math.log(pab)


def phrases(counts: Counter, total: int, scoring: str, min_count: int, threshold: float) -> dict[tuple, tuple]:
    """{candidate tokens: (count, score)} of the candidates scoring above the threshold."""
    out = {}
    for key, c in counts.items():
        if isinstance(key, tuple):
            s = score(scoring, counts[key[0]], counts[key[-1]], c, min_count, total, len(counts))
            if s > threshold:
                out[key] = (c, s)
    return out


def join(sents: list[list[bytes]], found: set[tuple], connectors: set[bytes], delimiter: bytes) -> list[list[bytes]]:
    """Greedy left to right: a word, its connectors and the next word become one token when
    they are a phrase; otherwise the next word starts the next candidate."""
    out = []
    for sent in sents:
        res: list[bytes] = []
        start, between = None, []
        for w in sent:
            if w in connectors:
                if start is None:
                    res.append(w)
                else:
                    between.append(w)
                continue
            if start is not None:
                if (start, *between, w) in found:
                    res.append(delimiter.join((start, *between, w)))
                    start, between = None, []
                    continue
                res.extend([start, *between])
            start, between = w, []
        if start is not None:
            res.extend([start, *between])
        out.append(res)
    return out


def table(text: bytes, scoring: str, min_count: int, threshold: float, connectors: set[bytes], passes: int,
          delimiter: bytes = b"_") -> list[dict]:
    """Per pass: {candidate: (count, score)}; pass p reads pass p - 1's joined text."""
    sents, out = sentences(text), []
    for _ in range(passes):
        counts, total = count(sents, connectors)
        found = phrases(counts, total, scoring, min_count, threshold)
        out.append(found)
        sents = join(sents, set(found), connectors, delimiter)
    return out
