"""Querying word vectors: unit-length rows, cosine nearest neighbours, 3CosAdd and 3CosMul.

The query side of a trained model or of any word2vec file, as gensim's ``KeyedVectors`` and
word2vec.c's ``distance`` / ``word-analogy``. ``unit_rows`` is the one row normalisation of the
package (export, evaluation and queries all use it). Imports only NumPy, so that formats.py and
evaluate.py can build on it (a batch of 3CosAdd queries that share their words imports the Numba
kernel of ``cosadd`` when it is used); loading a model or a file into an ``Embeddings`` is
``model.load_embeddings``.

Speed: queries are answered in blocks, so that one BLAS matrix product ``[block, D] x [D, R]``
scores a whole block against the R candidate rows (reading the matrix once per block, not once
per query), and the k best of each row are found by ``top_k`` without sorting or partitioning
all R scores.
"""

from __future__ import annotations

from functools import cached_property
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import UnknownWordError

# Rows normalised per step: bounds unit_rows' float64 temporary to NORM_BLOCK x D x 8 bytes.
NORM_BLOCK = 2048  # 1.6 MB at D = 100 (8192 rows made it the peak of a job's bundled evaluation)
# float32 scores [block, R] (plus 3CosMul's per-word cosines) held at once, in bytes.
SCORES_BUDGET = 128 << 20
# Queries per block at most: the matrix product gains little beyond this.
_MAX_BLOCK = 256
# top_k's prefilter: a row of R scores is cut into R // _CHUNK strided chunks of _CHUNK columns.
_CHUNK = 128
# 3CosMul's epsilon: score / (product of shifted negative cosines + epsilon). The one value for
# `eval`, `analogy` and the library: Levy & Goldberg's (2014) 1e-3, which defines the method
# (gensim's most_similar_cosmul uses 1e-6; the two differ only in rare near-ties).
COSMUL_EPSILON = 1e-3
METHODS = ("3cosadd", "3cosmul")
# Analogies are answered among this many most frequent words (word2vec.c's compute-accuracy).
RESTRICT_VOCAB = 30000


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, a new float32 [V, D] array: ``v / ||v||``, the norm and the
    division in float64 (then rounded once to float32). All-zero rows stay zero (cosine 0 with
    everything) instead of NaN. Works ``NORM_BLOCK`` rows at a time, so no float64 copy of the
    whole matrix is ever made.
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be 2-D [V, D], got shape {vectors.shape}")
    out = np.empty(vectors.shape, dtype=np.float32)
    for start in range(0, vectors.shape[0], NORM_BLOCK):
        block = vectors[start:start + NORM_BLOCK].astype(np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", block, block))
        norms[norms == 0.0] = 1.0
        np.divide(block, norms[:, None], out=out[start:start + NORM_BLOCK], casting="same_kind")
    return out


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best columns of each row of ``scores`` (float32 [n, R]), best first.

    Returns ``(columns int64 [n, k'], values float32 [n, k'])`` with k' = min(k, R); equal scores
    are ordered by column. Entries scored -inf (excluded words) are never chosen over finite ones;
    where a row has fewer than k' finite scores the rest are column -1, value -inf.

    Exact, and fast for R >> k: the row is cut into m = R // 128 chunks (chunk j = columns
    j, j+m, j+2m, ...; the last R - 128·m columns are always candidates). The k chunks with the
    largest maxima hold the k best scores: a score outside them is at most each of those k maxima,
    so k scores at least as large exist. One elementwise max pass over the row finds the chunk
    maxima, then only 128·k candidates are partitioned.
    """
    n, r = scores.shape
    k = min(int(k), r)
    if k <= 0 or n == 0:
        return np.empty((n, 0), np.int64), np.empty((n, 0), np.float32)
    candidates = _candidate_columns(scores, k)
    if candidates is None:  # R is small next to k: partition the whole row
        cols = np.argpartition(scores, r - k, axis=1)[:, r - k:] if k < r else np.tile(np.arange(r), (n, 1))
    else:
        values = np.take_along_axis(scores, candidates, axis=1)
        best = np.argpartition(values, values.shape[1] - k, axis=1)[:, values.shape[1] - k:]
        cols = np.take_along_axis(candidates, best, axis=1)
    values = np.take_along_axis(scores, cols, axis=1)
    order = np.lexsort((cols, -values), axis=1)
    cols = np.take_along_axis(cols, order, axis=1).astype(np.int64, copy=False)
    values = np.take_along_axis(values, order, axis=1)
    cols[values == -np.inf] = -1
    return cols, values


def _candidate_columns(scores: np.ndarray, k: int) -> np.ndarray | None:
    """Columns int64 [n, 128·k + tail] that contain each row's k best (see ``top_k``), or None
    when that would not be much smaller than the row."""
    n, r = scores.shape
    m = r // _CHUNK
    if 4 * _CHUNK * k > r:
        return None
    # [n, 128, m] view (splitting an axis never copies); max over axis 1 = elementwise max of
    # 128 contiguous runs of m scores, a streaming SIMD pass.
    chunk_max = scores[:, : m * _CHUNK].reshape(n, _CHUNK, m).max(axis=1)
    chunks = np.argpartition(chunk_max, m - k, axis=1)[:, m - k:]
    cols = (chunks[:, :, None] + m * np.arange(_CHUNK)).reshape(n, k * _CHUNK)
    tail = np.arange(m * _CHUNK, r)
    if tail.size:
        cols = np.concatenate([cols, np.broadcast_to(tail, (n, tail.size))], axis=1)
    return cols


def _as_list(words: str | Iterable[str] | None) -> list[str]:
    if words is None:
        return []
    if isinstance(words, str):
        return [words]
    return list(words)


class Embeddings:
    """Words and their vectors, for similarity queries.

    words: V strings (row order: a trained model's is most frequent first); vectors: [V, D],
    kept as float32. ``ids`` maps a word to its row (the first row of a repeated word);
    ``unit`` is the unit-length rows (``unit_rows``), computed once on first use.
    """

    def __init__(self, words: Sequence[str], vectors: np.ndarray, unseen: Callable[[str], np.ndarray] | None = None,
                 known: int | None = None):
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(f"{len(words)} words but vectors have shape {vectors.shape}")
        self.words = list(words)
        self.vectors = vectors
        self.unseen = unseen  # a subword model's vector for a word outside the vocabulary (else None)
        self.known = len(self.words) if known is None else known  # rows that are answers; rows after are unseen words

    def with_unseen(self, words: Iterable[str]) -> "Embeddings":
        """These embeddings, plus a row for each of ``words`` outside the vocabulary when they
        can be built (a subword model: the mean of its n-grams' rows). Those rows can be query
        words but never answers. Copies the matrix once (only when there is such a word)."""
        new = self.missing(words) if self.unseen is not None else []
        if not new:
            return self
        extra = np.stack([self.unseen(w) for w in new]).astype(np.float32)
        return Embeddings(self.words + new, np.vstack([self.vectors, extra]), self.unseen, self.known)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.ids

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @cached_property
    def ids(self) -> dict[str, int]:
        ids: dict[str, int] = {}
        for row, word in enumerate(self.words):
            ids.setdefault(word, row)
        return ids

    @cached_property
    def unit(self) -> np.ndarray:
        return unit_rows(self.vectors)

    def missing(self, words: Iterable[str]) -> list[str]:
        """The words (in order, without repeats) that have no row."""
        return list(dict.fromkeys(w for w in words if w not in self.ids))

    def rows(self, words: Iterable[str]) -> list[int]:
        """Row ids of ``words``; ``UnknownWordError`` naming every unknown one."""
        words = list(words)
        unknown = self.missing(words)
        if unknown:
            raise UnknownWordError(unknown)
        return [self.ids[w] for w in words]

    # -- word-level queries (gensim's names and semantics) ---------------------------------

    def most_similar(
        self,
        positive: str | Iterable[str] | None = None,
        negative: str | Iterable[str] | None = None,
        topn: int = 10,
        restrict_vocab: int | None = None,
    ) -> list[tuple[str, float]]:
        """The ``topn`` words nearest by cosine to the mean of the unit vectors of ``positive``
        minus those of ``negative`` (3CosAdd: ``most_similar(["king", "woman"], ["man"])``),
        the query words excluded: gensim's ``KeyedVectors.most_similar``. Scores are cosines
        with the normalised mean. Candidates are the first ``restrict_vocab`` rows (None: all);
        query words may lie beyond them. ``UnknownWordError`` for words without a row.
        """
        return self.most_similar_batch([(_as_list(positive), _as_list(negative))], topn, restrict_vocab)[0]

    def most_similar_cosmul(
        self,
        positive: str | Iterable[str] | None = None,
        negative: str | Iterable[str] | None = None,
        topn: int = 10,
        restrict_vocab: int | None = None,
        epsilon: float = COSMUL_EPSILON,
    ) -> list[tuple[str, float]]:
        """3CosMul (Levy & Goldberg 2014): score(v) = Π_p cos'(v, p) / (Π_n cos'(v, n) + ε),
        cos' = (cos + 1) / 2, query words excluded: gensim's ``most_similar_cosmul`` (which
        ignores ``restrict_vocab``; here it limits the candidates as in ``most_similar``).
        """
        queries = [(_as_list(positive), _as_list(negative))]
        return self.most_similar_batch(queries, topn, restrict_vocab, "3cosmul", epsilon)[0]

    def analogy(self, a: str, b: str, c: str, topn: int = 10, method: str = "3cosadd",
                restrict_vocab: int | None = None) -> list[tuple[str, float]]:
        """a : b :: c : ?  (b − a + c; ``analogy("man", "king", "woman")`` -> queen)."""
        return self.most_similar_batch([([b, c], [a])], topn, restrict_vocab, method)[0]

    def most_similar_batch(
        self,
        queries: Iterable[tuple[Sequence[str], Sequence[str]]],
        topn: int = 10,
        restrict_vocab: int | None = None,
        method: str = "3cosadd",
        epsilon: float = COSMUL_EPSILON,
    ) -> list[list[tuple[str, float]]]:
        """``most_similar`` (or 3CosMul) for many ``(positive, negative)`` queries at once: the
        fast path, scored a block at a time. Every word must be known (check with ``missing``
        first): ``UnknownWordError`` names the unknown words of the whole batch.
        """
        queries = [(list(p), list(n)) for p, n in queries]
        emb = self.with_unseen(w for p, n in queries for w in (*p, *n))
        unknown = emb.missing(w for p, n in queries for w in (*p, *n))
        if unknown:
            raise UnknownWordError(unknown)
        rows = [([emb.ids[w] for w in p], [emb.ids[w] for w in n]) for p, n in queries]
        cols, values = emb.nearest_rows(rows, topn, restrict_vocab, method, epsilon)
        return [[(emb.words[c], float(v)) for c, v in zip(cr, vr) if c >= 0] for cr, vr in zip(cols, values)]

    # -- row-level queries (evaluation uses these) ------------------------------------------

    def nearest_rows(
        self,
        queries: Sequence[tuple[Sequence[int], Sequence[int]]],
        topn: int,
        restrict_vocab: int | None = None,
        method: str = "3cosadd",
        epsilon: float = COSMUL_EPSILON,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best rows for queries given as ``(positive rows, negative rows)``, query rows excluded.

        Returns ``(rows int64 [n, k], scores float32 [n, k])``, best first, k = min(topn, R),
        R = min(restrict_vocab, V) candidate rows; -1 / -inf pad a query with fewer than k
        candidates left. Scores as in ``most_similar`` (3cosadd) or ``most_similar_cosmul``.
        Many 3CosAdd queries made of few distinct words (analogy sets) are scored through those
        words' cosines (``cosadd``).
        """
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if restrict_vocab is not None and restrict_vocab < 1:
            raise ValueError(f"restrict_vocab must be >= 1, got {restrict_vocab}")
        for positive, negative in queries:
            if not len(positive) and not len(negative):
                raise ValueError("cannot compute similarity with no input words")
            if method == "3cosmul" and not len(positive):
                raise ValueError("3cosmul needs at least one positive word")
        n_rows = self.known if restrict_vocab is None else min(restrict_vocab, self.known)
        k = min(max(int(topn), 0), n_rows)
        out_rows = np.full((len(queries), k), -1, dtype=np.int64)
        out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        if k == 0 or not queries:
            return out_rows, out_scores
        if method == "3cosadd" and len(queries) > 1:
            from . import cosadd  # Numba: imported for batches only
            n_terms = len({r for positive, negative in queries for r in (*positive, *negative)})
            if cosadd.worth_it(len(queries), n_terms):
                return cosadd.cosadd_top_k(self.unit, n_rows, queries, k)
        blocks = list(self._blocks(queries, n_rows, method))
        # One score buffer for all blocks: fresh pages for every block would cost more than the sorting.
        buffer = np.empty((max(stop - start for start, stop in blocks), n_rows), dtype=np.float32)
        for start, stop in blocks:
            block = queries[start:stop]
            scores = buffer[: stop - start]
            if method == "3cosadd":
                self._cosadd_scores(block, n_rows, scores)
            else:
                self._cosmul_scores(block, n_rows, epsilon, scores)
            for i, (positive, negative) in enumerate(block):
                excluded = [r for r in (*positive, *negative) if r < n_rows]
                scores[i, excluded] = -np.inf
            out_rows[start:stop], out_scores[start:stop] = top_k(scores, k)
        return out_rows, out_scores

    def _blocks(self, queries, n_rows: int, method: str) -> Iterable[tuple[int, int]]:
        """Consecutive [start, stop) ranges of queries whose float32 score rows fit the budget
        (3CosMul also holds one row of cosines per query word)."""
        budget_rows = max(1, SCORES_BUDGET // (4 * n_rows))
        start, used = 0, 0
        for i, (positive, negative) in enumerate(queries):
            cost = 1 + (len(positive) + len(negative) if method == "3cosmul" else 0)
            if i > start and (used + cost > budget_rows or i - start >= _MAX_BLOCK):
                yield start, i
                start, used = i, 0
            used += cost
        if start < len(queries):
            yield start, len(queries)

    def _cosadd_scores(self, block, n_rows: int, out: np.ndarray) -> None:
        """Into ``out`` float32 [b, R]: cosine of every candidate row with each query's normalised mean
        (gensim: mean of +unit(p) and −unit(n), then unit length)."""
        unit = self.unit
        if len({(len(p), len(n)) for p, n in block}) == 1:  # one shape (analogies: 2 + 1 words): vectorised
            positive = np.array([p for p, _ in block], dtype=np.int64).reshape(len(block), -1)
            negative = np.array([n for _, n in block], dtype=np.int64).reshape(len(block), -1)
            query = unit[positive].sum(axis=1, dtype=np.float64) - unit[negative].sum(axis=1, dtype=np.float64)
        else:
            query = np.zeros((len(block), self.dim), dtype=np.float64)
            for i, (positive, negative) in enumerate(block):
                query[i] = unit[list(positive)].sum(axis=0, dtype=np.float64)
                query[i] -= unit[list(negative)].sum(axis=0, dtype=np.float64)
        np.matmul(unit_rows(query), unit[:n_rows].T, out=out)

    def _cosmul_scores(self, block, n_rows: int, epsilon: float, out: np.ndarray) -> None:
        """Into ``out`` float32 [b, R]: Π_p cos'(v, p) / (Π_n cos'(v, n) + ε), cos' = (cos + 1) / 2;
        with no negative word the denominator is 1 + ε, as in gensim."""
        unit = self.unit
        terms = sorted({r for positive, negative in block for r in (*positive, *negative)})
        where = {r: i for i, r in enumerate(terms)}
        shifted = unit[terms] @ unit[:n_rows].T  # [t, R] cosines of each distinct query word
        shifted += 1.0
        shifted *= 0.5
        scores = out
        denominator = np.empty(n_rows, dtype=np.float32)
        for i, (positive, negative) in enumerate(block):
            np.copyto(scores[i], shifted[where[positive[0]]])
            for r in positive[1:]:
                scores[i] *= shifted[where[r]]
            denominator.fill(1.0)
            for r in negative:
                denominator *= shifted[where[r]]
            denominator += np.float32(epsilon)
            scores[i] /= denominator
