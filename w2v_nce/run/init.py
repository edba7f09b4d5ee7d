"""``--init``: a run that starts from an earlier model instead of random vectors.

From a finished run (its directory or model.npz): the vocabulary is the old one plus the new
corpus's words that pass ``min_count`` on the new counts; a kept word's count is old + new; the
words are ordered by that combined count (the samplers and ``restrict_vocab`` assume frequency
order), and each old word keeps its own input vector, output row and bias; new words start as
any run starts them. From a word2vec text/binary file (gensim's ``intersect_word2vec_format``,
fastText's ``-pretrainedVectors``): the vocabulary is the new corpus's, and the words the file
has start from its vectors (input side only). In both cases the lr schedule restarts.
``--replay`` also trains on a share of the earlier run's text (``replay_sources`` finds it).
"""

from __future__ import annotations

import os
import zipfile
from typing import Callable, TypeVar

import numpy as np

from ..artifact.model import MODEL_FILE, Model
from ..config import Config, continues_run
from ..errors import ConfigError, CorpusError, FormatError, UsageError
from ..io import checked_npz, file_sha256, json_value
from ..text.corpus import Corpus
from ..train import build_tables, init_model
from ..vocabulary.vocab import Vocab

T = TypeVar("T")


def initial_model(cfg: Config, vocab: Vocab) -> tuple[Vocab, Model, str | None, dict | None]:
    """(vocabulary, model to start from, a log line saying what ``--init`` carried, lineage):
    the lineage, metrics.json's ``init``, is ``{path, sha256}`` of the file as it was read here
    (None without ``--init``)."""
    if not cfg.init:
        return vocab, init_model(cfg, vocab, build_tables(vocab.counts, cfg)), None, None
    path = cfg.init
    if continues_run(cfg):
        old, lineage = read_once(path, Model.load)
        _check_dim(cfg, old.dim, path)
        merged = merge_vocab(old.words, old.counts, vocab.words, vocab.counts, cfg.min_count, cfg.vocab_update)
        model = init_model(cfg, merged, build_tables(merged.counts, cfg))
        carried = _carry_rows(old, model, path)
        kind = "model"
    else:
        (words, vectors), lineage = read_once(path, _load_word2vec)
        _check_dim(cfg, vectors.shape[1], path)
        merged = vocab
        model = init_model(cfg, merged, build_tables(merged.counts, cfg))
        if model.w_in is None:
            raise ConfigError(_NO_WORD_ROWS.format(path=path))
        to, frm = _matching_rows(model.words, words)
        model.w_in[to] = vectors[frm]
        carried = len(to)
        kind = "word2vec"
    return merged, model, (f"init: {carried:,} of {len(merged):,} words start from {path} ({kind}), "
                           f"{len(merged) - carried:,} from scratch"), lineage


def _load_word2vec(path: str, limit: int | None = None):
    """``load_word2vec`` for ``--init``: train has no --unicode-errors, so a word that is not
    UTF-8 gets the advice that fits here."""
    from ..artifact.word2vec import UNICODE_HINT, load_word2vec

    try:
        return load_word2vec(path, limit=limit)
    except FormatError as exc:
        raise FormatError(str(exc).replace(UNICODE_HINT, "convert the file to UTF-8 (e.g. with iconv) to use it "
                                           "with --init")) from None


def _model_file(path: str) -> str:
    """The model file of ``--init``: a run directory's model.npz, else the path itself."""
    return os.path.join(path, MODEL_FILE) if os.path.isdir(path) else path


def read_once(path: str, load: Callable[[str], T]) -> tuple[T, dict]:
    """``load(path)`` and its lineage ``{path, sha256}``: the SHA-256 is taken just before the
    load, and the file (model.npz for a run directory) must be the same one after it (device,
    inode, size, mtime), so the hash is that of the bytes loaded; a file replaced or rewritten
    meanwhile is a ``FormatError`` (run again once it is complete)."""
    file = _model_file(path)
    before = _identity(file)
    digest = _digest(file)
    loaded = load(path)
    if _identity(file) != before:
        raise FormatError(f"--init {path}: the file changed while it was read; run again once it is complete")
    return loaded, {"path": os.path.abspath(path), "sha256": digest}


_NO_WORD_ROWS = ("{path}: --init from word vectors needs a row per word; a --hash-count model has none "
                 "(drop --hash-count, or continue a compact run by giving its run directory)")


def check_init(cfg: Config) -> None:
    """Before any work: ``--init`` names a readable model or word2vec file of the run's dimension."""
    if not cfg.init:
        return
    path = cfg.init
    if not continues_run(cfg) and cfg.subwords and cfg.hash_count:
        raise ConfigError(_NO_WORD_ROWS.format(path=path))
    if continues_run(cfg):
        file = _model_file(path)
        if not os.path.isfile(file):
            raise FormatError(f"--init {path}: no model here (expected a finished run's directory or model.npz)")
        try:
            with checked_npz(file) as z:
                dim = int(z["w_out"].shape[1])  # a compact subword model has no w_in
        except (KeyError, ValueError, OSError, EOFError, IndexError, zipfile.BadZipFile) as exc:
            raise FormatError(f"--init {file}: not a w2v-nce model ({exc})") from None
    else:
        dim = _load_word2vec(path, limit=0)[1].shape[1]
    _check_dim(cfg, dim, path)


def replay_sources(cfg: Config) -> list[str]:
    """The text ``--replay`` rehearses, as absolute paths: ``--replay-corpus``, or the corpus the
    ``--init`` run trained on as its model.npz records it (its own --replay text is not included).
    ConfigError, naming what to do, when there is none to read."""
    if not cfg.replay > 0 or cfg.replay_corpus:
        return [os.path.abspath(p) for p in cfg.replay_corpus]
    check_init(cfg)
    if not continues_run(cfg):
        raise ConfigError(f"--replay: --init {cfg.init} is a vectors file, which records no corpus; name the "
                          "earlier text with --replay-corpus")
    file = _model_file(cfg.init)
    try:
        with checked_npz(file) as z:
            saved = json_value(str(z["config"])).get("corpus")
    except (KeyError, ValueError, OSError, EOFError, AttributeError, zipfile.BadZipFile) as exc:
        raise FormatError(f"--init {file}: its config cannot be read ({exc})") from None
    if not saved or not isinstance(saved, list) or not all(isinstance(p, str) for p in saved):
        raise ConfigError(f"--replay: {file} does not record its corpus; name it with --replay-corpus")
    if "-" in saved:
        raise ConfigError(f"--replay: the run in {cfg.init} read standard input, which cannot be read again; name "
                          "that text with --replay-corpus")
    for p in saved:
        if not os.path.exists(p):
            raise CorpusError(f"--replay: {p}, the corpus of {cfg.init}, is not there any more; name where it is "
                              "now with --replay-corpus")
    return [os.path.abspath(p) for p in saved]


def replay_changed(cfg: Config, recorded: list[str]) -> list[str]:
    """Warnings for the --init run's ``recorded`` corpus (what ``replay_sources`` found in its
    model.npz) where a file, or a file inside a directory of it, was modified after that
    model.npz was written: the rehearsal then reads other lines than that run learnt from (a
    heuristic by mtime: model.npz records no fingerprint of its corpus)."""
    model_time = os.stat(_model_file(cfg.init)).st_mtime_ns
    return [f"--replay: {e['path']}, of the corpus of {cfg.init}, was modified after that run ended; the rehearsal "
            "reads it as it is now" for e in Corpus(recorded).fingerprint() if e["mtime_ns"] > model_time]


def merge_vocab(old_words: list[str], old_counts: np.ndarray, new_words: list[str], new_counts: np.ndarray,
                min_count: int, policy: str = "merge") -> Vocab:
    """The vocabulary of a continued run, by decreasing combined count (ties: old words first,
    in their old order, then new words in theirs). ``policy`` merge: old words (count old + new)
    and the new words counted at least ``min_count`` times in the new text (``new_words`` are the
    new vocabulary, already pruned); keep: the old words only; replace: the new words only (an
    old one among them counts old + new).

    Its ``epoch_words`` (the lr clock's unit) are the new text's counts of its words: the old
    counts are in the samplers' tables, but an epoch reads only the new text. An old word seen
    fewer than ``min_count`` times in the new text is not among ``new_words``: its few tokens
    are trained but not clocked (the last of them at ``min_alpha``)."""
    if policy == "replace":
        old_count = dict(zip(old_words, (int(c) for c in old_counts)))
        counts = np.array([int(c) + old_count.get(w, 0) for w, c in zip(new_words, new_counts)], dtype=np.int64)
        order = np.argsort(-counts, kind="stable")
        return Vocab([new_words[i] for i in order], counts[order], int(np.sum(new_counts)))
    new = dict(zip(new_words, (int(c) for c in new_counts)))
    known = set(old_words)
    added = [] if policy == "keep" else [w for w in new_words if w not in known and new[w] >= min_count]
    words = list(old_words) + added
    counts = np.array([int(c) + new.get(w, 0) for w, c in zip(old_words, old_counts)]
                      + [new[w] for w in words[len(old_words):]], dtype=np.int64)
    order = np.argsort(-counts, kind="stable")
    return Vocab([words[i] for i in order], counts[order], sum(new.get(w, 0) for w in words))


def _carry_rows(old: Model, model: Model, path: str) -> int:
    """Copy the old model's rows (input, output, bias) to its words' rows in ``model``, and a
    subword model's n-gram rows (both models must hash n-grams alike)."""
    if old.subwords != model.subwords:
        raise ConfigError(f"{path}: --init needs the same subword settings as that run "
                          f"(it has {_subword_flags(old)}, this run {_subword_flags(model)})")
    to, frm = _matching_rows(model.words, old.words)
    model.w_out[to], model.bias[to] = old.w_out[frm], old.bias[frm]
    if model.w_in is not None:
        model.w_in[to] = old.w_in[frm]
    if model.table is not None:  # the n-gram buckets, the table's last rows in either layout
        buckets = model.subwords.buckets
        model.table[-buckets:] = old.table[-buckets:]
    return len(to)


def _subword_flags(model: Model) -> str:
    s = model.subwords
    return "no --subwords" if s is None else (f"--subwords --minn {s.minn} --maxn {s.maxn} --buckets {s.buckets} "
                                              f"--hash-count {s.hash_count}")


def _matching_rows(words: list[str], source_words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(rows in ``words``, rows in ``source_words``) of the words both hold, int64 (may be empty)."""
    rows = {w: i for i, w in enumerate(source_words)}
    pairs = [(i, rows[w]) for i, w in enumerate(words) if w in rows]
    to = np.array([i for i, _ in pairs], np.int64)
    return to, np.array([j for _, j in pairs], np.int64)


def _check_dim(cfg: Config, dim: int, path: str) -> None:
    if dim != cfg.dim:
        raise UsageError(f"--init {path}: its vectors have {dim} dimensions, the run {cfg.dim}; pass --dim {dim}")


def _identity(file: str) -> tuple | None:
    try:
        st = os.stat(file)
    except OSError:
        return None  # the loader then says what is wrong
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _digest(file: str) -> str | None:
    """SHA-256 of ``file`` (None if it cannot be read: the loader then says why)."""
    try:
        return file_sha256(file)
    except OSError:
        return None
