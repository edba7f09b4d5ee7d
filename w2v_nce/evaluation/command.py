"""Scoring embeddings: full sigmoid/softmax loss over all classes, word analogies, word-pair similarity.

* ``full_sigmoid_loss_pairs`` / ``full_softmax_loss_pairs``: the evaluation losses over the whole
  vocabulary (nce-spec §4) for held-out (centre, context) pairs; logits by BLAS matmul in tiles of
  pairs × classes, each reduced by a Numba kernel while in cache, tallies in float64.
* ``evaluate_analogies``: questions-words.txt accuracy with gensim 4.4's
  ``KeyedVectors.evaluate_word_analogies`` semantics (3CosAdd), or 3CosMul.
* ``evaluate_similarity``: Spearman/Pearson against human scores (WordSim-353, SimLex-999, MEN, RW,
  MTurk-771, gensim's tab-separated files).
"""

from __future__ import annotations

import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba
import numpy as np
from numba import njit

from ..artifact.embeddings import METHODS, RESTRICT_VOCAB, Embeddings, unit_rows
from ..errors import FormatError, UsageError
from ..io import json_safe
from ..kernels.numerics import exp32_nonpositive
from . import blas

# Only the flags the style guide allows: keeps NaN/Inf semantics ('nnan'/'ninf' are left out);
# 'reassoc' lets LLVM vectorise the per-row sums.
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Tiles: a worker's logits are [rows, _TILE_CLASSES] float32, at most _TILE_ROWS rows (pairs):
# 512 x 512 x 4 B = 1 MiB, so a tile stays in its core's L2 cache (2 MiB here) between the BLAS
# product that writes it and the reduction that reads it (``python scripts/bench_eval.py``).
_TILE_ROWS = 512
_TILE_CLASSES = 512


# ---------------------------------------------------------------------------------------------
# Full sigmoid / softmax loss over all classes
# ---------------------------------------------------------------------------------------------


@njit(cache=True, inline="always", fastmath=_FASTMATH)
def _exp_nonpositive(a):
    """e**a for -40 <= a <= 0, branch-free so LLVM vectorises it (libm exp is a scalar call).

    e**a = (e**(a/256))**256: a degree-10 Taylor polynomial on |a/256| <= 0.157 (truncation
    < 3e-17), then 8 squarings (relative error grows to ~256 ulp ≈ 6e-14): far below the float32
    rounding of the logits themselves.
    """
    y = a * (1.0 / 256.0)
    p = 1.0 / 3628800.0
    p = p * y + 1.0 / 362880.0
    p = p * y + 1.0 / 40320.0
    p = p * y + 1.0 / 5040.0
    p = p * y + 1.0 / 720.0
    p = p * y + 1.0 / 120.0
    p = p * y + 1.0 / 24.0
    p = p * y + 1.0 / 6.0
    p = p * y + 0.5
    p = p * y + 1.0
    p = p * y + 1.0
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    return p


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _sigmoid_tile(tile, bias, targets, v0, acc):
    """Adds one tile of classes to each row's full sigmoid cross-entropy, in float64.

    tile float32 [n, C] = logits of classes v0 … v0 + C − 1 (x_i · W_outᵀ, without bias); bias
    float32 [C] (those classes'); targets int64 [n]; acc float64 [3, n], zeroed by the caller:
    acc[0] += Σ max(z, 0), acc[1] += Σ log1p(e^−|z|), acc[2] = z_target once its tile passes, so
    that after the last tile the loss is acc[0] + acc[1] − acc[2] (Σ_v softplus(z_v) − z_target).
    The log1p terms are summed as log Π(1 + e^−|z|) over the tile (factors in (1, 2], a product
    below 2**C for C ≤ 1023): one log per row and tile instead of one per class. For |z| > 40,
    1 + e^−|z| rounds to 1 in float64, so clamping the exponent at −40 changes nothing.
    z = logit + bias and e^−|z| are float32 (the float32 exp is 8 lanes a vector, twice the
    float64 one's; its error < 8e-8 is about what the logit's own rounding does to e^−|z|),
    the sums and products float64: a 249k-class loss moved by ~1e-10 relative (measured).
    The inner loop indexes slices from 0: an index LLVM cannot prove non-negative gets Numba's
    wraparound select, and the loop is then vectorised with gathers (2x slower, measured).
    """
    n, c = tile.shape
    for i in range(n):
        row = tile[i]
        linear = 0.0
        prod = 1.0
        for j in range(c):
            z = row[j] + bias[j]
            linear += np.float64(max(z, np.float32(0.0)))
            prod *= 1.0 + np.float64(exp32_nonpositive(max(-abs(z), np.float32(-40.0))))
        acc[0, i] += linear
        acc[1, i] += math.log(prod)
        t = targets[i] - v0
        if 0 <= t < c:
            acc[2, i] = np.float64(row[t]) + np.float64(bias[t])


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _softmax_tile(tile, bias, targets, v0, acc):
    """Adds one tile of classes to each row's full softmax cross-entropy (online logsumexp).

    Shapes as ``_sigmoid_tile``; acc[0] = running max m (−inf before the first tile), acc[1] =
    Σ e^(z − m) over the classes so far (rescaled when m grows), acc[2] = z_target: after the last
    tile the loss is acc[0] + log acc[1] − acc[2]. Terms with z − m < −40 (each < 4.3e-18 of the
    largest so far, so of the final largest too) are dropped.
    """
    n, c = tile.shape
    for i in range(n):
        row = tile[i]
        m = acc[0, i]
        for j in range(c):
            m = max(m, np.float64(row[j]) + np.float64(bias[j]))
        total = 0.0
        for j in range(c):
            d = np.float64(row[j]) + np.float64(bias[j]) - m
            e = _exp_nonpositive(max(d, -40.0))
            total += e if d >= -40.0 else 0.0
        acc[1, i] = acc[1, i] * math.exp(acc[0, i] - m) + total if acc[0, i] > -np.inf else total
        acc[0, i] = m
        t = targets[i] - v0
        if 0 <= t < c:
            acc[2, i] = np.float64(row[t]) + np.float64(bias[t])


def _sigmoid_start(acc: np.ndarray) -> None:
    acc[:] = 0.0


def _sigmoid_finish(acc: np.ndarray) -> np.ndarray:
    return acc[0] + acc[1] - acc[2]


def _softmax_start(acc: np.ndarray) -> None:
    acc[:] = 0.0
    acc[0] = -np.inf


def _softmax_finish(acc: np.ndarray) -> np.ndarray:
    return acc[0] + np.log(acc[1]) - acc[2]


# A loss over all classes: its tile kernel, how its [3, n] tallies start, and their final loss.
_SIGMOID = (_sigmoid_tile, _sigmoid_start, _sigmoid_finish)
_SOFTMAX = (_softmax_tile, _softmax_start, _softmax_finish)


def _check_pairs(w_in, w_out, bias, centres, contexts) -> tuple:
    w_in = np.ascontiguousarray(w_in, dtype=np.float32)
    w_out = np.ascontiguousarray(w_out, dtype=np.float32)
    if w_in.ndim != 2 or w_in.shape != w_out.shape:
        raise ValueError(f"w_in {w_in.shape} and w_out {w_out.shape} must both be [V, D]")
    v_count = w_out.shape[0]
    bias = np.zeros(v_count, np.float32) if bias is None else np.ascontiguousarray(bias, dtype=np.float32)
    if bias.shape != (v_count,):
        raise ValueError(f"bias has shape {bias.shape}, expected ({v_count},)")
    centres = np.asarray(centres).astype(np.int64, copy=False).ravel()
    contexts = np.asarray(contexts).astype(np.int64, copy=False).ravel()
    if centres.shape != contexts.shape:
        raise ValueError(f"{centres.size} centres but {contexts.size} contexts")
    if centres.size == 0:
        raise ValueError("no (centre, context) pairs to score")
    for name, ids in (("centres", centres), ("contexts", contexts)):
        if ids.min() < 0 or ids.max() >= v_count:
            raise ValueError(f"{name} must be word ids in [0, {v_count}); got range [{ids.min()}, {ids.max()}]")
    for name, arr in (("w_in", w_in), ("w_out", w_out), ("bias", bias)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} holds NaN or Inf: the model diverged; its loss is undefined")
    return w_in, w_out, bias, centres, contexts


def _pair_losses(loss, w_in, w_out, bias, centres, contexts, threads, block) -> tuple[float, float, int]:
    """Tiled driver for (centre, context) pairs: the inputs are W_in[centres]."""
    w_in, w_out, bias, centres, contexts = _check_pairs(w_in, w_out, bias, centres, contexts)
    return _blocked_losses(loss, lambda a, b: w_in[centres[a:b]], w_out, bias, contexts, threads, block)


def _blocked_losses(loss, inputs, w_out, bias, targets, threads, block) -> tuple[float, float, int]:
    """Per-row losses over all V classes for rows = inputs(start, stop) (float32 [rows, D]) against
    ``targets``; returns (mean, stderr, n).

    Blocks of ``block`` rows (default: at most _TILE_ROWS, fewer so that every worker gets one)
    are shared out among ``threads`` worker threads. A worker walks its block through W_out one
    tile of _TILE_CLASSES classes at a time: a single-threaded BLAS product writes the tile's
    logits, the loss's Numba kernel adds them to the block's float64 tallies while the tile is
    still in the core's cache. The logits never travel to memory, and no thread pool waits on
    another (a multi-threaded BLAS beside a parallel reduction spends its spare cores spinning).
    Where the BLAS's threads cannot be set (blas.py), one worker drives the BLAS's own threads."""
    n = targets.size
    workers = numba.get_num_threads() if threads is None else max(1, int(threads))
    if block is not None and block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    losses = np.empty(n, dtype=np.float64)
    with blas.single_threaded() as per_core:
        workers = workers if per_core else 1
        rows = block if block is not None else max(1, min(_TILE_ROWS, -(-n // workers)))
        starts = list(range(0, n, rows))
        shards = [starts[k::workers] for k in range(min(workers, len(starts)))]
        job = (loss, inputs, w_out, bias, targets, losses)
        if len(shards) == 1:
            _loss_worker(*job, shards[0], rows)
        else:
            with ThreadPoolExecutor(len(shards)) as pool:
                for done in [pool.submit(_loss_worker, *job, shard, rows) for shard in shards]:
                    done.result()
    mean = float(losses.mean())
    stderr = float(losses.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return mean, stderr, n


def _loss_worker(loss, inputs, w_out, bias, targets, losses, starts, rows) -> None:
    """Scores the blocks of rows beginning at ``starts`` into ``losses`` (see _blocked_losses)."""
    tile_kernel, start, finish = loss
    v_count = w_out.shape[0]
    tile = np.empty(rows * min(_TILE_CLASSES, v_count), dtype=np.float32)
    for a in starts:
        b = min(a + rows, targets.size)
        x, t, tally = inputs(a, b), targets[a:b], np.empty((3, b - a))
        start(tally)
        for v0 in range(0, v_count, _TILE_CLASSES):
            v1 = min(v0 + _TILE_CLASSES, v_count)
            z = tile[: (b - a) * (v1 - v0)].reshape(b - a, v1 - v0)  # contiguous, so BLAS writes it
            np.matmul(x, w_out[v0:v1].T, out=z)
            tile_kernel(z, bias[v0:v1], t, v0, tally)
        losses[a:b] = finish(tally)


def _bag_inputs(w_in: np.ndarray, ex, cbow_mean: bool):
    """inputs(start, stop) for held-out examples: each example's bag rows summed (float32),
    divided by the bag size for the mean."""
    def inputs(a: int, b: int) -> np.ndarray:
        lo, hi = int(ex.start[a]), int(ex.start[b])
        x = np.add.reduceat(w_in[ex.ids[lo:hi]], (ex.start[a:b] - lo).astype(np.intp), axis=0)
        if cbow_mean:
            x /= np.diff(ex.start[a:b + 1]).astype(np.float32)[:, None]
        return x
    return inputs


def full_sigmoid_loss_examples(w_in, w_out, bias, ex, cbow_mean: bool = True, threads: int | None = None,
                               block: int | None = None, softmax: bool = False) -> tuple[float, float, int]:
    """``full_sigmoid_loss_pairs`` (or the softmax one) for held-out examples (``pairs.HeldOut``):
    the input of example e is the mean (``cbow_mean``) or sum of its bag's w_in rows — a CBOW
    model's inputs; a skip-gram model's bags are single centres, and this equals the pairs
    function on (centres, contexts)."""
    if len(ex) == 0:
        raise ValueError("no held-out examples to score")
    w_in, w_out, bias, _, labels = _check_pairs(w_in, w_out, bias, ex.ids[ex.start[:-1]], ex.labels)
    if len(ex.ids) and (ex.ids.min() < 0 or ex.ids.max() >= w_in.shape[0]):
        raise ValueError("held-out bags must hold word ids of the model")
    inputs = (lambda a, b: w_in[ex.ids[a:b]]) if len(ex.ids) == len(ex) else _bag_inputs(w_in, ex, cbow_mean)
    return _blocked_losses(_SOFTMAX if softmax else _SIGMOID, inputs, w_out, bias, labels, threads, block)


def full_sigmoid_loss_pairs(
    w_in: np.ndarray,
    w_out: np.ndarray,
    bias: np.ndarray | None,
    centres: np.ndarray,
    contexts: np.ndarray,
    threads: int | None = None,
    block: int | None = None,
) -> tuple[float, float, int]:
    """Mean full sigmoid loss over (centre, context) pairs: TF's ``nce_loss`` eval recipe (§4).

    w_in, w_out float32 [V, D]; bias float32 [V] (None = zeros, for models without one);
    centres, contexts int [N] word ids. Per pair, with z_v = w_in[c] · w_out[v] + bias[v]:
        loss = Σ_v softplus(z_v) − z_ctx   (sigmoid cross-entropy against the one-hot context,
                                            stable form max(z,0) − z·y + log1p(e^−|z|))
    Logits are float32 (BLAS) in tiles of ``block`` pairs (default: at most 512) × 512 classes,
    each reduced in float64 by a Numba kernel while it is in cache; ``threads`` workers (None:
    Numba's current setting) score blocks of pairs side by side.
    Returns ``(mean, stderr, n)``: stderr = std(per-pair losses, ddof=1) / sqrt(n) (NaN for n = 1).
    Raises ValueError for mismatched shapes, ids out of range, no pairs, or NaN/Inf weights.
    """
    return _pair_losses(_SIGMOID, w_in, w_out, bias, centres, contexts, threads, block)


def full_softmax_loss_pairs(
    w_in: np.ndarray,
    w_out: np.ndarray,
    bias: np.ndarray | None,
    centres: np.ndarray,
    contexts: np.ndarray,
    threads: int | None = None,
    block: int | None = None,
) -> tuple[float, float, int]:
    """Mean full softmax cross-entropy over (centre, context) pairs (for sampled-softmax models).

    Same inputs, blocking and return value as ``full_sigmoid_loss_pairs``; per pair
        loss = logsumexp_v(z_v) − z_ctx,   z_v = w_in[c] · w_out[v] + bias[v].
    """
    return _pair_losses(_SOFTMAX, w_in, w_out, bias, centres, contexts, threads, block)


# ---------------------------------------------------------------------------------------------
# Bundled evaluation sets
# ---------------------------------------------------------------------------------------------

_ANALOGY_FILES = ("questions-words.txt",)
_SIMILARITY_FILES = (
    "wordsim353_combined.csv",
    "SimLex-999.txt",
    "MEN_dataset_natural_form_full",
    "rw.txt",
    "MTURK-771.csv",
    "wordsim_similarity_goldstandard.txt",
    "wordsim_relatedness_goldstandard.txt",
)


def eval_data_dir() -> Path:
    """Where the bundled evaluation sets are: ``data/eval`` of the checkout holding this package
    (editable install), else ``<prefix>/share/w2v-nce/eval`` (pyproject's data-files, for a
    regular ``pip install``). May not exist."""
    checkout = Path(__file__).resolve().parents[2] / "data" / "eval"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "w2v-nce" / "eval"


def default_analogy_files() -> list[Path]:
    """The bundled analogy sets that exist (questions-words.txt); [] when not bundled."""
    return [p for p in (eval_data_dir() / name for name in _ANALOGY_FILES) if p.is_file()]


def default_similarity_files() -> list[Path]:
    """The bundled word-pair similarity sets that exist, WordSim-353 first; [] when not bundled."""
    return [p for p in (eval_data_dir() / name for name in _SIMILARITY_FILES) if p.is_file()]


# ---------------------------------------------------------------------------------------------
# Lookup shared by analogies and similarity
# ---------------------------------------------------------------------------------------------


def _lookup(words: list[str], restrict_vocab: int | None, case_insensitive: bool) -> tuple[dict[str, int], list[str]]:
    """gensim's restricted vocabulary: key -> row for the first ``restrict_vocab`` words, keys
    upper-cased when ``case_insensitive``; among case variants the first (most frequent) row wins.
    Also returns each row's key."""
    rows = words if restrict_vocab is None else words[:restrict_vocab]
    keys = list(map(str.upper, rows)) if case_insensitive else list(rows)
    # built from the last row to the first, so that the first row of each key is what stays
    # (a C-level loop: it runs once per evaluation set over the whole vocabulary)
    index = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1)))
    return index, keys


def _read_lines(path: str | os.PathLike) -> list[str]:
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise FormatError(f"{name}: cannot read ({exc.strerror or exc})") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = data.count(b"\n", 0, exc.start) + 1
        raise FormatError(f"{name}: line {line_no}: not valid UTF-8") from None
    return text.split("\n")


# ---------------------------------------------------------------------------------------------
# Word analogies
# ---------------------------------------------------------------------------------------------


def read_analogies(path: str | os.PathLike) -> tuple[list[tuple[str, list[tuple[str, str, str, str]]]], int]:
    """Parse a questions-words.txt-style file: ``: section`` headers, then ``a b c d`` lines.

    Returns ``([(section, [(a, b, c, d), ...]), ...], invalid)``, where ``invalid`` counts
    non-blank lines without exactly 4 words (skipped, as gensim does). A question before the first
    header, or a file without questions, raises FormatError.
    """
    name = os.fspath(path)
    sections: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    invalid = 0
    for line_no, line in enumerate(_read_lines(path), start=1):
        if line.startswith(": "):
            sections.append((line.lstrip(": ").strip(), []))
            continue
        fields = line.split()
        if not fields:
            continue
        if not sections:
            raise FormatError(f"{name}: line {line_no}: question before the first ': section' header")
        if len(fields) != 4:
            invalid += 1
            continue
        sections[-1][1].append(tuple(fields))
    if not any(questions for _, questions in sections):
        raise FormatError(f"{name}: no analogy questions found (expected ': section' headers and 'a b c d' lines)")
    return sections, invalid


def is_syntactic(section: str) -> bool:
    """questions-words.txt convention: ``gram*`` sections are syntactic, the others semantic."""
    return section.startswith("gram")


# gensim's evaluate_word_analogies looks at this many most_similar answers per question.
_GENSIM_TOPN = 5


def _gensim_pick(candidates: np.ndarray, question: tuple[int, int, int], key_of_row: np.ndarray) -> int:
    """gensim's answer from the best rows (question rows already excluded, best first, -1 = none):
    the first whose key is not a question key (a case variant of a, b or c is passed over), else
    the last of them; -1 when there is no candidate at all."""
    top = candidates[candidates >= 0]
    for row in top:
        if key_of_row[row] not in question:
            return int(row)
    return int(top[-1]) if top.size else -1


def evaluate_analogies(
    words: list[str],
    vectors: np.ndarray,
    path: str | os.PathLike,
    restrict_vocab: int | None = RESTRICT_VOCAB,
    case_insensitive: bool = True,
    method: str = "3cosadd",
    cosmul_epsilon: float = 1e-3,
) -> dict:
    """Analogy accuracy (a : b :: c : ?) with gensim 4.4 ``evaluate_word_analogies`` semantics.

    words: V strings in frequency order; vectors: float32 [V, D]; path: questions-words.txt style.
    * Only the first ``restrict_vocab`` words are used, for the questions and as answers.
    * ``case_insensitive``: words and questions compared upper-cased (``str.upper``); a question
      word maps to the first (most frequent) row with that key.
    * A question with a word outside that vocabulary is skipped (``skipped``), not answered.
    * The answer is the best-scoring row other than the rows of a, b, c; as in gensim, if that row
      is another case variant of a, b or c, the next of the 5 best is taken. Correct when the
      answer's key equals d's key. Scores: ``3cosadd`` = cos(v, b̂ − â + ĉ) over unit vectors
      (gensim's ``most_similar``); ``3cosmul`` = Levy & Goldberg (2014)'s
      cos'(v,b)·cos'(v,c) / (cos'(v,a) + ε) with cos' = (cos + 1)/2 and ε = ``cosmul_epsilon``
      (their 1e-3; gensim's ``most_similar_cosmul`` uses 1e-6).
    Zero vectors have cosine 0 with everything (gensim would produce NaN).
    Scored by ``Embeddings.nearest_rows`` (the package's one nearest-neighbour routine), all
    questions in one call: 3cosadd through the cosines of the distinct question words, 3cosmul in
    blocks of float32 scores.

    Returns a dict: ``accuracy`` (correct / answered over all sections), ``semantic``,
    ``syntactic`` (the same per group; ``gram*`` sections are syntactic), ``answered``,
    ``skipped``, ``correct``, ``questions`` (answered + skipped), ``invalid_lines``, ``method``,
    ``restrict_vocab``, ``case_insensitive`` and ``sections``: a list of dicts with ``section``,
    ``kind`` ('semantic' | 'syntactic'), ``correct``, ``answered``, ``skipped``, ``accuracy``.
    Accuracies with nothing answered are NaN. Raises FormatError for a malformed file.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ValueError(f"{len(words)} words but vectors have shape {vectors.shape}")
    sections, invalid = read_analogies(path)
    index, keys = _lookup(words, restrict_vocab, case_insensitive)
    r = len(keys)
    embeddings = Embeddings(words[:r], vectors[:r])  # the restricted rows: questions and answers
    key_of_row = np.array([index[k] for k in keys], dtype=np.int64)  # row -> canonical row of its key

    # Questions fully in vocabulary, as canonical rows, with their section number.
    fold = str.upper if case_insensitive else (lambda w: w)
    question_rows, question_section = [], []
    skipped = np.zeros(len(sections), dtype=np.int64)
    for s, (_, questions) in enumerate(sections):
        for question in questions:
            rows = [index.get(fold(w), -1) for w in question]
            if min(rows) < 0:
                skipped[s] += 1
            else:
                question_rows.append(rows)
                question_section.append(s)
    q = np.array(question_rows, dtype=np.int64).reshape(-1, 4)
    q_section = np.array(question_section, dtype=np.int64)
    qa, qb, qc, qd = q.T
    queries = [([b, c], [a]) for a, b, c in zip(qa.tolist(), qb.tolist(), qc.tolist())]
    # gensim asks most_similar for 5 answers, then passes over case variants of a, b, c.
    best, _ = embeddings.nearest_rows(queries, _GENSIM_TOPN, None, method, cosmul_epsilon)
    answer = best[:, 0].copy()
    first_key = key_of_row[np.maximum(answer, 0)]
    variant = (answer < 0) | (first_key == qa) | (first_key == qb) | (first_key == qc)
    for i in np.flatnonzero(variant):  # rare: only with case variants in the vocabulary
        answer[i] = _gensim_pick(best[i], (qa[i], qb[i], qc[i]), key_of_row)
    hit = (answer >= 0) & (key_of_row[np.maximum(answer, 0)] == qd)
    return _analogy_report(sections, q_section, hit, skipped, invalid, method, restrict_vocab, case_insensitive)


def _accuracy(correct: int, answered: int) -> float:
    return correct / answered if answered else float("nan")


def _analogy_report(sections, q_section, hit, skipped, invalid, method, restrict_vocab, case_insensitive) -> dict:
    n_sections = len(sections)
    answered = np.bincount(q_section, minlength=n_sections)
    correct = np.bincount(q_section, weights=hit, minlength=n_sections).astype(np.int64)
    per_section = []
    group = {"semantic": [0, 0], "syntactic": [0, 0]}
    for s, (name, _) in enumerate(sections):
        kind = "syntactic" if is_syntactic(name) else "semantic"
        group[kind][0] += int(correct[s])
        group[kind][1] += int(answered[s])
        per_section.append({
            "section": name, "kind": kind, "correct": int(correct[s]), "answered": int(answered[s]),
            "skipped": int(skipped[s]), "accuracy": _accuracy(int(correct[s]), int(answered[s])),
        })
    total_correct, total_answered = int(correct.sum()), int(answered.sum())
    return {
        "accuracy": _accuracy(total_correct, total_answered),
        "semantic": _accuracy(*group["semantic"]),
        "syntactic": _accuracy(*group["syntactic"]),
        "answered": total_answered,
        "skipped": int(skipped.sum()),
        "correct": total_correct,
        "questions": total_answered + int(skipped.sum()),
        "invalid_lines": invalid,
        "method": method,
        "restrict_vocab": restrict_vocab,
        "case_insensitive": case_insensitive,
        "sections": per_section,
    }


# ---------------------------------------------------------------------------------------------
# Word-pair similarity
# ---------------------------------------------------------------------------------------------


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
    lines = [(no, line.strip()) for no, line in enumerate(_read_lines(path), start=1)]
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
) -> dict:
    """Correlation of cosine similarity with human scores on a word-pair file.

    words: V strings in frequency order; vectors: float32 [V, D]; path: any layout
    ``read_similarity_pairs`` reads. Lookup as in ``evaluate_analogies`` (upper-cased keys, first
    row wins, optionally only the first ``restrict_vocab`` words). Pairs with a missing word are
    skipped and counted in ``oov``. Returns a dict: ``spearman`` (ties: average ranks),
    ``pearson``, ``pairs`` (used), ``oov`` (skipped), ``total``, ``layout``, ``path``.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ValueError(f"{len(words)} words but vectors have shape {vectors.shape}")
    pairs, layout = read_similarity_pairs(path)
    index, _ = _lookup(words, restrict_vocab, case_insensitive)
    fold = str.upper if case_insensitive else (lambda w: w)
    rows1, rows2, human = [], [], []
    for w1, w2, score in pairs:
        r1, r2 = index.get(fold(w1), -1), index.get(fold(w2), -1)
        if r1 >= 0 and r2 >= 0:
            rows1.append(r1)
            rows2.append(r2)
            human.append(score)
    used = len(human)
    if used:
        a = unit_rows(vectors[rows1]).astype(np.float64)
        b = unit_rows(vectors[rows2]).astype(np.float64)
        model = np.einsum("ij,ij->i", a, b)
    else:
        model = np.zeros(0)
    return {
        "spearman": spearman(human, model),
        "pearson": pearson(human, model),
        "pairs": used,
        "oov": len(pairs) - used,
        "total": len(pairs),
        "layout": layout,
        "path": os.fspath(path),
    }


# ---------------------------------------------------------------------------------------------
# The `w2v-nce eval` command's library side: score a model directory or a vectors file
# ---------------------------------------------------------------------------------------------


def run_evaluation(
    model_dir: str | None = None,
    vectors_file: str | None = None,
    binary: bool | None = None,
    heldout: list[str] | None = None,
    max_pairs: int | None = None,
    window: int | None = None,
    analogies: list[str] | None = None,
    restrict_vocab: int | None = RESTRICT_VOCAB,
    method: str = "3cosadd",
    similarity: list[str] | None = None,
    threads: int | None = None,
) -> dict:
    """Score a trained model (``model_dir``) or a word2vec file (``vectors_file``); return a report.

    * held-out text (model only): the first ``max_pairs`` (None: ``Config``'s heldout_max_pairs) (centre, context) pairs with the
      model's window (or ``window``) scored by ``full_sigmoid_loss_pairs``, and by
      ``full_softmax_loss_pairs`` too for a sampled_softmax model;
    * ``analogies`` / ``similarity`` files: ``evaluate_analogies`` / ``evaluate_similarity`` on the
      input vectors (W_in); the bundled sets when none are given.
    The report is a JSON-ready dict (NaN written as None): ``source``, ``vocab_size``, ``dim``,
    ``heldout`` (optional), ``analogies`` and ``similarity`` (file name -> result).
    """
    from ..artifact.word2vec import load_word2vec

    report: dict = {}
    model = None
    if model_dir is not None:
        from ..artifact.model import Model

        model = Model.load(model_dir)
        words, vectors = model.words, model.w_in
        report["source"] = os.fspath(model_dir)
    elif vectors_file is not None:
        words, vectors = load_word2vec(vectors_file, binary=binary)
        report["source"] = os.fspath(vectors_file)
    else:
        raise UsageError("give a model directory or --vectors FILE")
    report["vocab_size"], report["dim"] = int(vectors.shape[0]), int(vectors.shape[1])
    if heldout:
        if model is None:
            raise UsageError("--heldout needs a model directory (its output weights), not a vectors file")
        if max_pairs is None:
            from ..config import Config  # the default's one owner

            max_pairs = Config().heldout_max_pairs
        report["heldout"] = _heldout_report(model, heldout, max_pairs, window, threads)
    analogy_files = [Path(p) for p in analogies] if analogies else default_analogy_files()
    report["analogies"] = {
        p.name: evaluate_analogies(words, vectors, p, restrict_vocab=restrict_vocab, method=method)
        for p in analogy_files
    }
    similarity_files = [Path(p) for p in similarity] if similarity else default_similarity_files()
    report["similarity"] = {p.stem: evaluate_similarity(words, vectors, p) for p in similarity_files}
    # The documented JSON schema: full_sigmoid_loss {mean, stderr, pairs}; analogy = the first
    # analogy file's result (all of them stay under "analogies"); similarity keyed by file stem.
    held = report.get("heldout")
    if held is not None and "full_sigmoid" in held:
        report["full_sigmoid_loss"] = {**held["full_sigmoid"], "pairs": held["pairs"]}
        if "full_softmax" in held:
            report["full_softmax_loss"] = {**held["full_softmax"], "pairs": held["pairs"]}
    if report["analogies"]:
        report["analogy"] = next(iter(report["analogies"].values()))
    return json_safe(report)


def _heldout_report(model, heldout: list[str], max_pairs: int, window: int | None, threads: int | None) -> dict:
    """The full loss of a model on held-out text, with the model's own settings (window,
    architecture, lowercasing, sentence length)."""
    from ..config import from_saved
    from ..stream import heldout_examples, id_chunks
    from ..text.corpus import Corpus
    from ..vocabulary.vocab import Vocab

    cfg = from_saved(model.config or {})
    window = window or cfg.window
    corpus = Corpus(list(heldout), lowercase=cfg.lowercase)
    vocab = Vocab(model.words, model.counts)
    ex = heldout_examples(id_chunks(corpus, vocab, cfg.max_sentence_len), window, max_pairs, cfg.arch)
    result: dict = {"files": list(heldout), "window": window, "pairs": len(ex)}
    if len(ex) == 0:
        return result
    mean, stderr, n = full_sigmoid_loss_examples(model.w_in, model.w_out, model.bias, ex, cfg.cbow_mean, threads)
    result["full_sigmoid"] = {"mean": mean, "stderr": stderr}
    if cfg.loss == "sampled_softmax":
        mean, stderr, n = full_sigmoid_loss_examples(model.w_in, model.w_out, model.bias, ex, cfg.cbow_mean, threads,
                                                     softmax=True)
        result["full_softmax"] = {"mean": mean, "stderr": stderr}
    return result


def _fmt(value, spec: str = ".4f") -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def format_report(report: dict) -> str:
    """The report of ``run_evaluation`` as a few aligned plain-text lines for the terminal."""
    lines = [f"{report['source']}: {report['vocab_size']:,} words x {report['dim']}"]
    held = report.get("heldout")
    if held:
        if "full_sigmoid" in held:
            s = held["full_sigmoid"]
            lines.append(f"held-out full sigmoid loss: {_fmt(s['mean'])} ± {_fmt(s['stderr'])} "
                         f"({held['pairs']:,} pairs, window {held['window']})")
        else:
            lines.append("held-out text: no pairs (no in-vocabulary words?)")
        if "full_softmax" in held:
            s = held["full_softmax"]
            lines.append(f"held-out full softmax loss: {_fmt(s['mean'])} ± {_fmt(s['stderr'])}")
    for name, r in report.get("analogies", {}).items():
        lines.append(f"{name} ({r['method']}, top {r['restrict_vocab']} words): accuracy {_fmt(r['accuracy'])} "
                     f"(semantic {_fmt(r['semantic'])}, syntactic {_fmt(r['syntactic'])}; "
                     f"{r['correct']:,}/{r['answered']:,} answered, {r['skipped']:,} skipped)")
    for name, r in report.get("similarity", {}).items():
        lines.append(f"{name}: spearman {_fmt(r['spearman'])}, pearson {_fmt(r['pearson'])} "
                     f"({r['pairs']:,} pairs, {r['oov']:,} out of vocabulary)")
    return "\n".join(lines)
