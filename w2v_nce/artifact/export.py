"""``w2v-nce export``: which rows (in, out, sum, avg; a limit), in which format (word2vec text or
binary, .npy, TensorFlow Projector TSV), and the checks made before anything is written.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import OutputError
from ..io import atomic_outputs
from .embeddings import unit_rows
from .word2vec import (
    BLOCK_ROWS,
    check_matrix,
    check_words,
    write_word2vec_binary,
    write_word2vec_text,
)

FORMATS = ("text", "binary", "npy", "projector")
WHICH = ("in", "out", "sum", "avg")


def _words_file_bytes(words: list[str]) -> bytes:
    return "".join(w + "\n" for w in words).encode("utf-8")


def export_paths(out: str | os.PathLike, fmt: str) -> list[Path]:
    """The files ``export_vectors(out, ..., fmt)`` writes, in writing order.

    ``text``/``binary``: ``[out]``. ``npy``: ``vectors.npy`` + ``words.txt``; ``projector``:
    ``vectors.tsv`` + ``metadata.tsv``. For these two-file formats ``out`` is a directory when it
    is an existing directory or ends with a path separator (it is then created if missing);
    otherwise it is a prefix joined with '.', as fastText's ``-output``: ``out.vectors.npy``,
    ``out.words.txt``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    names = {"npy": ("vectors.npy", "words.txt"), "projector": ("vectors.tsv", "metadata.tsv")}
    out_str = os.fspath(out)
    if fmt not in names:
        return [Path(out_str)]
    if _is_directory_target(out_str):
        return [Path(out_str) / name for name in names[fmt]]
    return [Path(f"{out_str}.{name}") for name in names[fmt]]


def _is_directory_target(out: str) -> bool:
    return os.path.isdir(out) or out.endswith(os.sep) or bool(os.altsep and out.endswith(os.altsep))


def _make_export_dir(out: str | os.PathLike) -> None:
    """Create a two-file export's directory (directory mode only; its parent must exist)."""
    out = os.fspath(out)
    if _is_directory_target(out):
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{out}: cannot create directory ({exc.strerror or exc})") from exc


def write_npy(out_dir_or_prefix: str | os.PathLike, words: list[str], vectors: np.ndarray) -> list[Path]:
    """Write ``vectors.npy`` (float32 [V, D], ``np.save``, no pickle) and ``words.txt``
    (UTF-8, one word per line, row order). Paths as in ``export_paths(out, "npy")``."""
    check_words(words)
    vectors = check_matrix(words, vectors)
    paths = export_paths(out_dir_or_prefix, "npy")
    _make_export_dir(out_dir_or_prefix)
    with atomic_outputs(paths) as (vectors_fh, words_fh):  # both replaced, or neither
        np.save(vectors_fh, vectors, allow_pickle=False)
        words_fh.write(_words_file_bytes(words))
    return paths


def write_projector(out_dir_or_prefix: str | os.PathLike, words: list[str], vectors: np.ndarray) -> list[Path]:
    """Write TensorFlow Embedding Projector files: ``vectors.tsv`` (one row of D tab-separated
    floats per word, no header; floats as in ``write_word2vec_text``) and ``metadata.tsv`` (one
    word per line, no header: the Projector expects none for a single column).
    Paths as in ``export_paths(out, "projector")``."""
    from . import (
        floattext,  # Numba: imported when first needed (keeps this module light)
    )
    check_words(words)
    vectors = check_matrix(words, vectors)
    paths = export_paths(out_dir_or_prefix, "projector")
    _make_export_dir(out_dir_or_prefix)
    with atomic_outputs(paths) as (vectors_fh, words_fh):  # both replaced, or neither
        for start in range(0, vectors.shape[0], BLOCK_ROWS):
            vectors_fh.write(floattext.format_rows_array(vectors[start:start + BLOCK_ROWS], None, "\t"))
        words_fh.write(_words_file_bytes(words))
    return paths


def select_vectors(w_in: np.ndarray, w_out: np.ndarray | None, which: str) -> np.ndarray:
    """The matrix to export, float32 [V, D]: ``in`` = W_in (centre-word rows), ``out`` = W_out
    (context/class rows), ``sum`` = W_in + W_out, ``avg`` = (W_in + W_out) / 2.

    w2v-nce trains TensorFlow's direction (inputs are W_in rows of centre words, classes are
    W_out rows of contexts); for the usual "word vectors" export ``in``.
    """
    if which not in WHICH:
        raise ValueError(f"unknown vector choice {which!r}; choose one of {', '.join(WHICH)}")
    if which == "in":
        return np.asarray(w_in, dtype=np.float32)
    if w_out is None:
        raise ValueError(f"vectors={which!r} needs the output matrix W_out, which was not given")
    if np.shape(w_in) != np.shape(w_out):
        raise ValueError(f"W_in {np.shape(w_in)} and W_out {np.shape(w_out)} differ in shape")
    if which == "out":
        return np.asarray(w_out, dtype=np.float32)
    total = np.add(w_in, w_out, dtype=np.float32)
    if which == "avg":
        total *= np.float32(0.5)  # exact: halving a float32 only changes its exponent
    return total


def limit_rows(words: list[str], vectors: np.ndarray, limit: int | None) -> tuple[list[str], np.ndarray]:
    """Keep the first ``limit`` rows (the most frequent words: the vocabulary is frequency-ordered).
    ``None`` keeps all; a limit above V keeps all; ``limit < 1`` is a ``ValueError``."""
    if limit is None:
        return words, vectors
    if limit < 1:
        raise ValueError(f"limit must be a positive number of rows, got {limit}")
    return words[:limit], vectors[:limit]


def export_vectors(
    out_path: str | os.PathLike,
    words: list[str],
    w_in: np.ndarray,
    w_out: np.ndarray | None = None,
    fmt: str = "text",
    which: str = "in",
    limit: int | None = None,
    normalize: bool = False,
    force: bool = False,
) -> list[Path]:
    """Export a model's vectors: select (``which``), keep the first ``limit`` rows, optionally
    L2-normalise, and write in ``fmt`` (text | binary | npy | projector). Returns the paths written.

    words: V strings in vocabulary order; w_in, w_out: float32 [V, D].
    Everything is checked before any work: ``OutputError`` if an output exists and ``force`` is
    false, or its directory is missing or not writable; ``ValueError`` for a bad choice.
    Each file is written atomically (a reader never sees half a file).
    """
    paths = export_paths(out_path, fmt)
    if which not in WHICH:
        raise ValueError(f"unknown vector choice {which!r}; choose one of {', '.join(WHICH)}")
    if len(words) != np.shape(w_in)[0]:
        raise ValueError(f"{len(words)} words but W_in has {np.shape(w_in)[0]} rows")
    creates_dir = fmt in ("npy", "projector") and _is_directory_target(os.fspath(out_path))
    for path in paths:
        _check_writable(path, force, creates_dir)
    words, w_in = limit_rows(words, w_in, limit)
    if w_out is not None:
        w_out = w_out[: len(words)]
    vectors = select_vectors(w_in, w_out, which)
    if normalize:
        vectors = unit_rows(vectors)
    if fmt == "text":
        return [write_word2vec_text(paths[0], words, vectors)]
    if fmt == "binary":
        return [write_word2vec_binary(paths[0], words, vectors)]
    if fmt == "npy":
        return write_npy(out_path, words, vectors)
    return write_projector(out_path, words, vectors)


def _check_writable(path: Path, force: bool, creates_dir: bool = False) -> None:
    """Refuse an existing output (without ``force``), a directory in its place, or a directory
    that is missing or read-only. With ``creates_dir`` the file's own directory may be missing
    (the export creates it); then its parent must exist."""
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; give a file name")
    if path.exists() and not force:
        raise OutputError(f"{path}: already exists; use --force to overwrite it")
    directory = path.parent
    if creates_dir and not directory.exists():
        directory = directory.parent
    if not directory.is_dir():
        raise OutputError(f"{path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: directory {directory} is not writable")
