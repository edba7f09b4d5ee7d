"""Word-pair similarity: Spearman/Pearson against human scores (WordSim-353, SimLex-999, MEN, RW,
MTurk-771, gensim's tab-separated files).
"""

from __future__ import annotations

import math
import os
from typing import Callable

import numpy as np

from ..artifact.embeddings import unit_rows
from ..errors import FormatError
from .datasets import read_lines, vocab_lookup


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_similarity_pairs(path: str | os.PathLike) -> tuple[list[tuple[str, str, float]], str]:
    """Read a word-pair similarity file; return ``([(word1, word2, score), ...], layout)``.

    The layout is detected from the first non-comment line:
    * fields split on TAB if it holds one, else on ',' if it holds one, else on spaces;
    * it is a header when its third field is not a number: the score column is then
      ``SimLex999`` if present (SimLex-999), else the third;
    * ``#`` lines (gensim's files) and blank lines are skipped; CRLF and trailing whitespace
      (MTurk-771's stray TAB) are ignored.
    Covers WordSim-353 combined.csv, SimLex-999.txt, MEN, RW (extra rating columns), MTurk-771,
    the WordSim similarity/relatedness gold standards and gensim's ``word1<TAB>word2<TAB>score``.
    A line without two words and a numeric score raises FormatError naming file and line.
    """
    name = os.fspath(path)
    lines = [(no, line.strip()) for no, line in enumerate(read_lines(path), start=1)]
    lines = [(no, line) for no, line in lines if line and not line.startswith("#")]
    if not lines:
        raise FormatError(f"{name}: no word pairs found")
    first = lines[0][1]
    sep = "\t" if "\t" in first else ("," if "," in first else None)
    layout = {"\t": "tsv", ",": "csv", None: "space-separated"}[sep]
    head = [f.strip() for f in first.split(sep)]
    column = 2
    if len(head) >= 3 and not _is_number(head[2]):
        column = head.index("SimLex999") if "SimLex999" in head else 2
        layout += f" with header (score column {head[column]!r})"
        lines = lines[1:]
    pairs = []
    for line_no, line in lines:
        fields = [f.strip() for f in line.split(sep)]
        if len(fields) <= column or not fields[0] or not fields[1]:
            raise FormatError(
                f"{name}: line {line_no}: expected 'word1 word2 score' ({layout}), found {line[:60]!r}"
            )
        try:
            score = float(fields[column])
        except ValueError:
            raise FormatError(f"{name}: line {line_no}: score {fields[column][:30]!r} is not a number") from None
        pairs.append((fields[0], fields[1], score))
    if not pairs:
        raise FormatError(f"{name}: no word pairs found")
    return pairs, layout


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n (float64) with ties given their average rank (scipy's ``rankdata`` 'average')."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    # Runs of equal values: each gets the mean of the ranks it spans.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation Σ(x−x̄)(y−ȳ) / sqrt(Σ(x−x̄)² Σ(y−ȳ)²) in float64; NaN when n < 2
    or either side is constant."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) < 2:
        return float("nan")
    dx = x - x.mean()
    dy = y - y.mean()
    denom = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(dx @ dy) / denom if denom > 0 else float("nan")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho: Pearson correlation of the ranks, ties given average ranks."""
    return pearson(rankdata(x), rankdata(y))


def evaluate_similarity(
    words: list[str],
    vectors: np.ndarray,
    path: str | os.PathLike,
    case_insensitive: bool = True,
    restrict_vocab: int | None = None,
    lookup: dict[str, int] | None = None,
    unseen: Callable[[str], np.ndarray] | None = None,
) -> dict:
    """Correlation of cosine similarity with human scores on a word-pair file.

    words: V strings in frequency order; vectors: float32 [V, D]; path: any layout
    ``read_similarity_pairs`` reads. Lookup as in ``evaluate_analogies`` (upper-cased keys, first
    row wins, optionally only the first ``restrict_vocab`` words). Pairs with a missing word are
    skipped and counted in ``oov``. ``lookup``: ``vocab_lookup(words, restrict_vocab,
    case_insensitive)``'s index when the caller scores several files (it is O(V) to build: 0.6 s
    at V = 1.5M). ``unseen``: a vector for a word outside the vocabulary (a subword model's
    n-gram mean, as fastText scores its rare-word set); then no pair is skipped and ``unseen``
    counts the pairs that needed one. Returns a dict: ``spearman`` (ties: average ranks),
    ``pearson``, ``pairs`` (used), ``oov`` (skipped), ``total``, ``layout``, ``path``.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ValueError(f"{len(words)} words but vectors have shape {vectors.shape}")
    pairs, layout = read_similarity_pairs(path)
    index = lookup if lookup is not None else vocab_lookup(words, restrict_vocab, case_insensitive)[0]
    fold = str.upper if case_insensitive else (lambda w: w)
    rows1, rows2, human = [], [], []
    extra: dict[str, int] = {}  # unseen words: rows after the V of ``vectors``
    def row(word: str) -> int:
        r = index.get(fold(word), -1)
        if r < 0 and unseen is not None:
            r = -1 - extra.setdefault(word, len(extra))
        return r

    for w1, w2, score in pairs:
        r1, r2 = row(w1), row(w2)
        if unseen is not None or (r1 >= 0 and r2 >= 0):
            rows1.append(r1)
            rows2.append(r2)
            human.append(score)
    used = len(human)
    if used:
        model = _cosines(vectors, rows1, rows2, extra, unseen)
    else:
        model = np.zeros(0)
    result = {
        "spearman": spearman(human, model),
        "pearson": pearson(human, model),
        "pairs": used,
        "oov": len(pairs) - used,
        "total": len(pairs),
        "layout": layout,
        "path": os.fspath(path),
    }
    if unseen is not None:
        result["unseen"] = sum(1 for r1, r2 in zip(rows1, rows2) if r1 < 0 or r2 < 0)
    return result


def _cosines(vectors: np.ndarray, rows1: list[int], rows2: list[int], extra: dict[str, int],
             unseen: Callable[[str], np.ndarray] | None) -> np.ndarray:
    """float64[n]: cosine of each pair; row -1 - i is the i-th unseen word of ``extra``."""
    known = np.asarray(vectors, np.float32)
    others = np.stack([unseen(w) for w in extra]).astype(np.float32) if extra else np.zeros((0, known.shape[1]), np.float32)

    def gather(rows):
        rows = np.asarray(rows, np.int64)
        out = known[np.maximum(rows, 0)]
        outside = rows < 0
        out[outside] = others[-1 - rows[outside]]
        return unit_rows(out).astype(np.float64)

    return np.einsum("ij,ij->i", gather(rows1), gather(rows2))
