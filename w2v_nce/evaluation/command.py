"""The ``w2v-nce eval`` command's library side: score a model directory or a vectors file with
the full loss (held-out text), analogies and similarity, and format the report.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..artifact.embeddings import RESTRICT_VOCAB
from ..errors import UsageError
from ..io import json_safe
from ..phrases.join import open_corpus
from .analogies import evaluate_analogies
from .datasets import default_analogy_files, default_similarity_files, lookup_of
from .full_loss import full_sigmoid_loss_examples
from .similarity import evaluate_similarity, read_similarity_pairs

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
    unicode_errors: str = "strict",
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
        words, vectors, unseen = model.words, model.word_vectors(), model.unseen_vectors()
        report["source"] = os.fspath(model_dir)
    elif vectors_file is not None:
        words, vectors = load_word2vec(vectors_file, binary=binary, unicode_errors=unicode_errors)
        unseen = None
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
        report["heldout"] = heldout_report(model, heldout, max_pairs, window, threads)
    analogy_files = [Path(p) for p in analogies] if analogies else default_analogy_files()
    report["analogies"] = {
        p.name: evaluate_analogies(words, vectors, p, restrict_vocab=restrict_vocab, method=method)
        for p in analogy_files
    }
    similarity_files = [Path(p) for p in similarity] if similarity else default_similarity_files()
    report["similarity"] = similarity_scores(words, vectors, similarity_files, unseen)
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


def similarity_scores(words: list[str], vectors, files: list[Path], unseen=None) -> dict:
    """{file stem: ``evaluate_similarity`` report} over the whole vocabulary, case-insensitive;
    the word lookup (O(V)) is built once for all the files, for their words only. ``unseen``: a
    subword model's vectors for words outside the vocabulary (``Model.unseen_vectors``)."""
    wanted = {w for path in files for a, b, _ in read_similarity_pairs(path)[0] for w in (a, b)}
    lookup = lookup_of(words, wanted, True) if files else None
    return {Path(p).stem: evaluate_similarity(words, vectors, p, lookup=lookup, unseen=unseen) for p in files}


def bundled_unseen(unseen: Callable[[str], np.ndarray]) -> Callable[[str], np.ndarray]:
    """``unseen`` for the words of the bundled similarity sets, computed now: the evaluation
    then runs without the model's n-gram rows (the job frees them before it writes the rest)."""
    words = {w for path in default_similarity_files() for a, b, _ in read_similarity_pairs(path)[0] for w in (a, b)}
    return {w: unseen(w) for w in words}.__getitem__


def bundled_scores(words: list[str], vectors, unseen=None) -> dict:
    """``analogy`` (the first bundled analogy set's report) and ``similarity`` ({file stem:
    report}) on the bundled evaluation sets found; a key is absent when no set is."""
    scores: dict = {}
    analogy_files = default_analogy_files()
    if analogy_files:
        scores["analogy"] = evaluate_analogies(words, vectors, analogy_files[0])
    sims = similarity_scores(words, vectors, default_similarity_files(), unseen)
    if sims:
        scores["similarity"] = sims
    return scores


def heldout_report(model, heldout: list[str], max_pairs: int, window: int | None, threads: int | None) -> dict:
    """The full loss of a model on held-out text, with the model's own settings (window,
    architecture, lowercasing, sentence length)."""
    from ..config import from_saved
    from ..stream import heldout_examples, id_chunks
    from ..vocabulary.vocab import Vocab

    cfg = from_saved(model.config or {})
    window = window or cfg.window
    corpus = open_corpus(list(heldout), cfg.lowercase, cfg.phrases)
    corpus.check_readable()  # UTF-16 or a corrupt .gz: an error, not 0 pairs scored
    vocab = Vocab(model.words, model.counts)
    ex = heldout_examples(id_chunks(corpus, vocab, cfg.max_sentence_len), window, max_pairs, cfg.arch)
    result: dict = {"files": list(heldout), "window": window, "pairs": len(ex)}
    if len(ex) == 0:
        return result
    vectors = model.word_vectors()  # with subwords, each word's mean of its rows (CBOW: a mean of those means)
    mean, stderr, n = full_sigmoid_loss_examples(vectors, model.w_out, model.bias, ex, cfg.cbow_mean, threads)
    result["full_sigmoid"] = {"mean": mean, "stderr": stderr}
    if cfg.loss == "sampled_softmax":
        mean, stderr, n = full_sigmoid_loss_examples(vectors, model.w_out, model.bias, ex, cfg.cbow_mean, threads,
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
