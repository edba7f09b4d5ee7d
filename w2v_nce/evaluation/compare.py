"""``w2v-nce compare A B``: what changed between two models of the same words.

B is aligned onto A by orthogonal Procrustes over their most frequent shared words (weighted by
frequency), then compared word by word: drift (1 − cosine between A's vector and aligned B's),
neighbour overlap@k of the most frequent words (each model's neighbours among the shared words,
so the overlap needs no alignment), the words that moved most and least, the words gained and
lost, and the bundled evaluation scores of both. Vectors are compared as unit rows (cosine
geometry, as every query of the package).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ..artifact.embeddings import Embeddings, unit_rows
from ..errors import FormatError, UsageError

ALIGN_WORDS = 10_000  # most frequent shared words the rotation is fitted on
OVERLAP_WORDS = 1_000  # most frequent shared words whose neighbour lists are compared
OVERLAP_K = 10
SHOWN = 10  # words listed as moved most / least, gained, lost


@dataclass
class Vectors:
    """A model's words in frequency order (most frequent first), unit rows, and counts (None
    for a word2vec file: its row order is taken as the frequency order)."""

    source: str
    words: list[str]
    unit: np.ndarray
    counts: np.ndarray | None
    model: object = None  # the Model of a run directory or model.npz (its output side: held-out loss)


def load_vectors(source: str, unicode_errors: str = "strict") -> Vectors:
    """A run directory or model.npz (input vectors and counts), or a word2vec text/binary file."""
    from ..artifact.model import Model
    from ..artifact.word2vec import load_word2vec

    path = os.fspath(source)
    if os.path.isdir(path) or path.endswith(".npz"):
        model = Model.load(path)
        return Vectors(path, list(model.words), unit_rows(model.word_vectors()), np.asarray(model.counts, np.int64), model)
    if not os.path.exists(path):
        raise FormatError(f"{path}: not found (give a run directory, model.npz or a word2vec .txt/.bin file)")
    words, vectors = load_word2vec(path, unicode_errors=unicode_errors)
    return Vectors(path, words, unit_rows(vectors), None)


def procrustes(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """R (D x D, orthogonal) minimising sum_i w_i |b_i R - a_i|^2: with M = b^T diag(w) a = U S V^T,
    R = U V^T (Schönemann 1966). a, b: float [n, D]; weights: [n] >= 0. float64."""
    m = (b.astype(np.float64) * weights[:, None]).T @ a.astype(np.float64)
    u, _, vt = np.linalg.svd(m)
    return u @ vt


@dataclass
class Alignment:
    """B aligned onto A: the shared words' rows (in A's frequency order), how many of the most
    frequent of them the rotation was fitted on, and each shared word's drift (1 − cosine)."""

    rows_a: np.ndarray  # int64 [n]
    rows_b: np.ndarray  # int64 [n]
    aligned_on: int
    drift: np.ndarray  # float64 [n]


def align(a: Vectors, b: Vectors, align_words: int = ALIGN_WORDS) -> Alignment:
    """Rotate B onto A (``procrustes`` over their ``align_words`` most frequent shared words,
    weighted by frequency) and measure every shared word's drift. ``UsageError`` for models of
    different dimensions or with fewer than two shared words."""
    if a.unit.shape[1] != b.unit.shape[1]:
        raise UsageError(f"{a.source} has {a.unit.shape[1]} dimensions and {b.source} {b.unit.shape[1]}: "
                         "models of different sizes cannot be aligned")
    rows_b = {w: i for i, w in enumerate(b.words)}
    shared = [(i, rows_b[w]) for i, w in enumerate(a.words) if w in rows_b]  # in A's frequency order
    if len(shared) < 2:
        raise UsageError(f"{a.source} and {b.source} share {len(shared)} words: nothing to compare")
    ia, ib = (np.array(x, np.int64) for x in zip(*shared))
    n = min(align_words, len(shared))
    rotation = procrustes(a.unit[ia[:n]], b.unit[ib[:n]], _frequency_weights(a, ia[:n]))
    aligned = (b.unit[ib].astype(np.float64) @ rotation)
    cosine = np.einsum("nd,nd->n", a.unit[ia].astype(np.float64), aligned)
    return Alignment(ia, ib, n, 1.0 - cosine)


def compare(a: Vectors, b: Vectors, align_words: int = ALIGN_WORDS, overlap_words: int = OVERLAP_WORDS,
            k: int = OVERLAP_K, evaluate: bool = True, heldout: list[str] | None = None,
            max_pairs: int = 100_000, alignment: Alignment | None = None) -> dict:
    """The comparison as a JSON-ready dict (see the module docstring); ``heldout``: text files
    whose full sigmoid loss both models get (each with its own vocabulary and window);
    ``alignment``: ``align(a, b, align_words)`` when the caller has it already."""
    if heldout and (a.model is None or b.model is None):
        raise UsageError("--heldout needs two models (run directories or model.npz): a word2vec file has no "
                         "output weights")
    al = alignment or align(a, b, align_words)
    ia, ib, n, drift = al.rows_a, al.rows_b, al.aligned_on, al.drift
    report = {
        "a": a.source, "b": b.source, "words_a": len(a.words), "words_b": len(b.words), "shared": len(ia),
        "aligned_on": n,
        "drift": _summary(drift), "drift_aligned_words": _summary(drift[:n]),
        "moved_most": _ranked(a.words, ia[:n], drift[:n], descending=True),
        "moved_least": _ranked(a.words, ia[:n], drift[:n], descending=False),
        "overlap": _neighbour_overlap(a, b, ia, ib, min(overlap_words, len(ia)), k),
        "gained": _missing(b.words, set(a.words)), "lost": _missing(a.words, set(b.words)),
    }
    if evaluate:
        report["evaluation"] = {"a": _bundled_scores(a), "b": _bundled_scores(b)}
    if heldout:
        from .command import heldout_report

        report["heldout"] = {"a": heldout_report(a.model, heldout, max_pairs, None, None),
                             "b": heldout_report(b.model, heldout, max_pairs, None, None)}
    return report


def _frequency_weights(v: Vectors, rows: np.ndarray) -> np.ndarray:
    """log(1 + count): frequent words anchor the rotation, rare ones still count. Without counts
    (a word2vec file), Zipf's law from the rank: log(1 + n / (rank + 1))."""
    if v.counts is not None:
        return np.log1p(v.counts[rows].astype(np.float64))
    return np.log1p(len(rows) / (np.arange(len(rows), dtype=np.float64) + 1.0))


def _summary(x: np.ndarray) -> dict:
    q = np.quantile(x, [0.1, 0.5, 0.9]) if len(x) else [math.nan] * 3
    return {"mean": float(np.mean(x)), "p10": float(q[0]), "median": float(q[1]), "p90": float(q[2])}


def _ranked(words: list[str], rows: np.ndarray, drift: np.ndarray, descending: bool) -> list[dict]:
    order = np.argsort(-drift if descending else drift, kind="stable")[:SHOWN]
    return [{"word": words[int(rows[i])], "drift": float(drift[i])} for i in order]


def _neighbour_overlap(a: Vectors, b: Vectors, ia: np.ndarray, ib: np.ndarray, n: int, k: int) -> dict:
    """Mean |N_A(w) ∩ N_B(w)| / k over the n most frequent shared words, each model's k nearest
    neighbours taken among the shared words (its own space: no alignment needed)."""
    k = min(k, len(ia) - 1)
    if n == 0 or k < 1:
        return {"words": 0, "k": k, "mean": math.nan}
    names = [str(i) for i in range(len(ia))]  # rows of the shared words, in A's frequency order
    queries = [([i], []) for i in range(n)]
    na = Embeddings(names, a.unit[ia]).nearest_rows(queries, k)[0]
    nb = Embeddings(names, b.unit[ib]).nearest_rows(queries, k)[0]
    shared = [len(set(na[i].tolist()) & set(nb[i].tolist())) / k for i in range(n)]
    return {"words": n, "k": k, "mean": float(np.mean(shared))}


def _missing(words: list[str], other: set) -> dict:
    gone = [w for w in words if w not in other]
    return {"count": len(gone), "most_frequent": gone[:SHOWN]}


def _bundled_scores(v: Vectors) -> dict:
    """Analogy accuracy and similarity Spearman of the bundled sets (as ``eval`` reports them)."""
    from .command import bundled_scores

    scores = bundled_scores(v.words, v.unit)
    out = {"analogy": scores["analogy"]["accuracy"]} if "analogy" in scores else {}
    out.update({name: r["spearman"] for name, r in scores.get("similarity", {}).items()})
    return out


def format_comparison(r: dict) -> str:
    """The text summary of ``compare``'s dict."""
    d, o = r["drift"], r["overlap"]
    lines = [
        f"A: {r['a']} ({r['words_a']:,} words)",
        f"B: {r['b']} ({r['words_b']:,} words); {r['shared']:,} shared, B aligned onto A on the "
        f"{r['aligned_on']:,} most frequent",
        f"drift (1 - cosine after alignment), all shared words: mean {d['mean']:.4f}, median {d['median']:.4f}, "
        f"p90 {d['p90']:.4f}",
        f"neighbour overlap@{o['k']} of the {o['words']:,} most frequent: {o['mean']:.3f}",
        "moved most:  " + ", ".join(f"{m['word']} {m['drift']:.3f}" for m in r["moved_most"]),
        "moved least: " + ", ".join(f"{m['word']} {m['drift']:.3f}" for m in r["moved_least"]),
        f"gained {r['gained']['count']:,}: " + " ".join(r["gained"]["most_frequent"]),
        f"lost {r['lost']['count']:,}: " + " ".join(r["lost"]["most_frequent"]),
    ]
    if "heldout" in r:
        la, lb = (r["heldout"][x].get("full_sigmoid", {}).get("mean") for x in ("a", "b"))
        lines.append(f"held-out full sigmoid loss: A {_score(la)} ({r['heldout']['a']['pairs']:,} pairs), "
                     f"B {_score(lb)} ({r['heldout']['b']['pairs']:,} pairs), B - A {_delta(la, lb)}")
    for name, a in r.get("evaluation", {}).get("a", {}).items():
        b = r["evaluation"]["b"].get(name)
        lines.append(f"{name}: A {_score(a)}, B {_score(b)}, B - A {_delta(a, b)}")
    return "\n".join(lines)


def _score(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


def _delta(a, b) -> str:
    if _score(a) == "n/a" or _score(b) == "n/a":
        return "n/a"
    return f"{b - a:+.4f}"
