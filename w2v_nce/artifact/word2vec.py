"""Vector files: word2vec text/binary, NumPy and Projector exports, readers."""

from __future__ import annotations

import gzip
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from ..errors import FormatError, OutputError
from ..io import atomic_output
from ..text.corpus import WHITESPACE
from .embeddings import unit_rows

# ---------------------------------------------------------------------------------------------
# Word lists as UTF-8 bytes + offsets (model.npz, checkpoints)
# ---------------------------------------------------------------------------------------------
# A fixed-width str array costs V x (longest word) x 4 bytes: one 1 MB token in a 250k
# vocabulary is 1 TB. Concatenated UTF-8 costs the words' total length plus 8 bytes a word.

_SEPARATOR = 0xFF  # never a byte of valid UTF-8


def pack_words(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(data uint8[N], offsets int64[V+1])``: word i is ``data[offsets[i]:offsets[i+1]]`` in UTF-8.

    N is the words' total UTF-8 length. Vectorised (one join, one encode); a word that cannot be
    encoded (a lone surrogate) raises ``UnicodeEncodeError``.
    """
    joined = "".join(words)
    encoded = joined.encode("utf-8")
    ascii_only = len(encoded) == len(joined)  # then character counts are byte counts
    del joined  # peak: the joined str and its UTF-8, at most 2 x the bytes
    if ascii_only:
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    else:
        lengths = np.fromiter((len(w.encode("utf-8")) for w in words), dtype=np.int64, count=len(words))
    offsets = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return np.frombuffer(encoded, dtype=np.uint8), offsets


def unpack_words(data: np.ndarray, offsets: np.ndarray) -> list[str]:
    """The words of ``pack_words``; ``ValueError`` if the offsets or the UTF-8 are inconsistent.

    Vectorised: a 0xFF separator (never valid UTF-8) is inserted at each boundary, the whole
    buffer decoded once and split.
    """
    data = np.asarray(data, dtype=np.uint8).ravel()
    offsets = np.asarray(offsets, dtype=np.int64).ravel()
    if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(data) or np.any(np.diff(offsets) < 0):
        raise ValueError(f"word offsets do not describe {len(data)} bytes")
    if len(offsets) == 1:
        return []
    inner = offsets[1:-1]
    starts = data[inner[inner < len(data)]]
    if np.any((starts & 0xC0) == 0x80):  # a boundary inside a character
        raise ValueError("a word boundary falls inside a UTF-8 character")
    raw = data.tobytes()
    raw.decode("utf-8")  # strict: raises UnicodeDecodeError (a ValueError) on invalid bytes
    del raw
    text = np.insert(data, inner, _SEPARATOR).tobytes().decode("utf-8", "surrogateescape")
    return text.split(chr(0xDC00 + _SEPARATOR))


# ---------------------------------------------------------------------------------------------
# Exporting vectors: word2vec text/binary (word2vec.c, gensim, fastText readers), .npy, Projector
# ---------------------------------------------------------------------------------------------

FORMATS = ("text", "binary", "npy", "projector")
WHICH = ("in", "out", "sum", "avg")

# Rows formatted or packed per write: bounds memory (≤ ~16 bytes per value) and keeps writes large.
BLOCK_ROWS = 1024
# Threads formatting text blocks (the Numba formatter releases the GIL): formatting is most of a
# text write (70k x 100 values: 1.2 s on one core of the project's machine), the disk rarely.
_FORMAT_THREADS = max(1, min(4, os.cpu_count() or 1))
# Text lines longer than this per value cannot be word2vec text (used to sniff binary files).
_MAX_TEXT_CHARS_PER_VALUE = 64


_ASCII_SPACE = frozenset(WHITESPACE.decode("ascii"))


def check_words(words: list[str]) -> list[bytes]:
    """Validate ``words`` for writing and return their UTF-8 encodings.

    A word must be a non-empty ``str`` without ASCII whitespace (space, TAB, LF, CR, VT, FF: what
    the tokeniser splits on, and what word2vec.c's and gensim's readers split on) and must encode
    to UTF-8. Other Unicode spaces (NBSP, U+3000, ...) are ordinary characters of a token, as in
    word2vec.c. Tokenisation makes violations impossible, so one is a bug upstream: ``ValueError``
    naming the word and its row.
    """
    encoded = []
    for row, word in enumerate(words):
        if not isinstance(word, str) or not word or any(ch in _ASCII_SPACE for ch in word):
            raise ValueError(
                f"word {word!r} at row {row} is empty or contains whitespace; "
                "it cannot be written in a word2vec file"
            )
        try:
            encoded.append(word.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise ValueError(f"word {word!r} at row {row} is not valid Unicode ({exc.reason})") from exc
    return encoded


def _check_matrix(words: list, vectors: np.ndarray) -> np.ndarray:
    """Return ``vectors`` as C-contiguous little-endian float32 ``[V, D]``, checking ``V == len(words)``."""
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be 2-D [V, D], got shape {vectors.shape}")
    if vectors.shape[0] != len(words):
        raise ValueError(f"{len(words)} words but {vectors.shape[0]} vector rows")
    return np.ascontiguousarray(vectors, dtype="<f4")


def write_word2vec_text(path: str | os.PathLike, words: list[str], vectors: np.ndarray) -> Path:
    """Write word2vec text format: header ``"V D\\n"``, then ``word v1 ... vD\\n`` per row, in order.

    words: V strings (no whitespace); vectors: float32 [V, D]. Fields are separated by single
    spaces, no trailing space (gensim's layout; word2vec.c ``distance``-style readers and fastText
    accept it too). Floats: 9 significant digits in ``%.9g`` layout, e.g. ``0.0123456791``,
    ``-1.5e-05``: enough to parse back to the identical float32, so text round-trips exactly.
    Written in blocks of rows through ``atomic_output``; returns ``Path(path)``.
    """
    from . import (
        floattext,  # Numba: imported when first needed (keeps this module light)
    )
    encoded = check_words(words)
    vectors = _check_matrix(words, vectors)
    v, d = vectors.shape
    with atomic_output(path, "wb") as fh:
        fh.write(f"{v} {d}\n".encode("ascii"))
        for text in formatted_blocks(floattext.format_rows, vectors, encoded, _FORMAT_THREADS):
            fh.write(text)
    return Path(path)


def formatted_blocks(format_rows, vectors: np.ndarray, encoded: list[bytes], threads: int) -> Iterator[bytes]:
    """``format_rows`` of each block of ``BLOCK_ROWS`` rows, in order, computed by ``threads``
    threads with at most 2 x threads blocks in memory."""
    blocks = range(0, vectors.shape[0], BLOCK_ROWS)
    if threads <= 1:
        for start in blocks:
            yield format_rows(vectors[start:start + BLOCK_ROWS], encoded[start:start + BLOCK_ROWS], " ")
        return
    with ThreadPoolExecutor(threads) as pool:
        pending: deque = deque()
        for start in blocks:
            pending.append(pool.submit(format_rows, vectors[start:start + BLOCK_ROWS],
                                       encoded[start:start + BLOCK_ROWS], " "))
            if len(pending) >= 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def write_word2vec_binary(path: str | os.PathLike, words: list[str], vectors: np.ndarray) -> Path:
    """Write word2vec.c's binary format exactly (``-binary 1``).

    Layout: ASCII header ``"V D\\n"``; then per row: the word's UTF-8 bytes, one space (0x20),
    D little-endian float32 (4·D bytes), ``"\\n"`` (0x0A). gensim's reader accepts the ``\\n``
    (it strips it from the next word), word2vec.c's tools skip it. words: V strings;
    vectors: float32 [V, D]. Returns ``Path(path)``.
    """
    encoded = check_words(words)
    vectors = _check_matrix(words, vectors)
    v, d = vectors.shape
    row_bytes = 4 * d
    with atomic_output(path, "wb") as fh:
        fh.write(f"{v} {d}\n".encode("ascii"))
        for start in range(0, v, BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, v)
            block = memoryview(vectors[start:stop].tobytes())
            parts: list = []
            for i, word in enumerate(encoded[start:stop]):
                parts += (word, b" ", block[i * row_bytes:(i + 1) * row_bytes], b"\n")
            fh.write(b"".join(parts))
    return Path(path)


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
    vectors = _check_matrix(words, vectors)
    paths = export_paths(out_dir_or_prefix, "npy")
    _make_export_dir(out_dir_or_prefix)
    with atomic_output(paths[0], "wb") as fh:
        np.save(fh, vectors, allow_pickle=False)
    with atomic_output(paths[1], "wb") as fh:
        fh.write(_words_file_bytes(words))
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
    vectors = _check_matrix(words, vectors)
    paths = export_paths(out_dir_or_prefix, "projector")
    _make_export_dir(out_dir_or_prefix)
    with atomic_output(paths[0], "wb") as fh:
        for start in range(0, vectors.shape[0], BLOCK_ROWS):
            fh.write(floattext.format_rows(vectors[start:start + BLOCK_ROWS], None, "\t"))
    with atomic_output(paths[1], "wb") as fh:
        fh.write(_words_file_bytes(words))
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


# ---------------------------------------------------------------------------------------------
# Reading word2vec text/binary (word2vec.c, gensim, fastText .vec)
# ---------------------------------------------------------------------------------------------

_UNICODE_ERRORS = ("strict", "replace", "ignore")
READ_CHUNK = 1 << 22  # bytes per read(): large enough for long lines, small enough to stream


def load_word2vec(
    path: str | os.PathLike,
    binary: bool | None = None,
    limit: int | None = None,
    unicode_errors: str = "strict",
) -> tuple[list[str], np.ndarray]:
    """Read a word2vec text or binary file; return ``(words, vectors float32 [V, D])``.

    Accepts the layouts of word2vec.c (text lines ending ``" \\n"``; binary records ending in
    ``\\n``), gensim (text without trailing space; binary without ``\\n``) and fastText ``.vec``;
    ``.gz`` files are decompressed. ``binary=None`` detects the layout from the first record
    (text when it is one line of a word and D numbers). ``limit`` reads only the first N rows.
    ``unicode_errors`` ('strict' | 'replace' | 'ignore') decodes the words' UTF-8 as gensim does,
    for files whose words word2vec.c cut inside a character.
    Text fields are split on ASCII whitespace only (spaces, tabs, CR), so a word may hold other
    Unicode spaces. Rows past V in the header and bytes after the last record are ignored.
    Malformed input raises ``FormatError`` naming the file and the line (text) or record (binary).
    """
    if unicode_errors not in _UNICODE_ERRORS:
        raise ValueError(f"unicode_errors must be one of {_UNICODE_ERRORS}, got {unicode_errors!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    name = os.fspath(path)
    try:
        fh = gzip.open(name, "rb") if name.endswith(".gz") else open(name, "rb")
    except OSError as exc:
        raise FormatError(f"{name}: cannot open ({exc.strerror or exc})") from exc
    with fh:
        try:
            count, dim = _read_header(fh, name)
            rows = count if limit is None else min(count, limit)
            if binary is None:
                start = fh.tell()
                binary = not _looks_like_text(fh, dim) if rows else False
                fh.seek(start)
            if binary:
                return _read_binary(fh, name, rows, dim, unicode_errors)
            return _read_text(fh, name, rows, dim, unicode_errors)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise FormatError(f"{name}: cannot read ({exc})") from exc


def _read_header(fh: IO[bytes], name: str) -> tuple[int, int]:
    """Parse ``"V D\\n"``: two non-negative integers, D >= 1."""
    line = fh.readline(256)
    fields = line.split()
    try:
        count, dim = (int(x) for x in fields)
    except ValueError:
        shown = line[:60].decode("utf-8", "replace").rstrip()
        raise FormatError(
            f"{name}: line 1: expected a header 'VOCAB_SIZE DIM', found {shown!r}"
            " (files without a header, such as GloVe's, are not supported)"
        ) from None
    if count < 0 or dim < 1:
        raise FormatError(f"{name}: line 1: bad header '{count} {dim}' (need VOCAB_SIZE >= 0, DIM >= 1)")
    return count, dim


def _looks_like_text(fh: IO[bytes], dim: int) -> bool:
    """True when the next line is a word followed by exactly ``dim`` numbers."""
    line = fh.readline(dim * _MAX_TEXT_CHARS_PER_VALUE + 4096)
    if not line.endswith(b"\n"):
        return False
    fields = line.split()
    if len(fields) != dim + 1:
        return False
    try:
        for field in fields[1:]:
            float(field)
    except ValueError:
        return False
    return True


def _decode_word(raw: bytes, name: str, where: str, unicode_errors: str) -> str:
    try:
        return raw.decode("utf-8", unicode_errors)
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"{name}: {where}: word {raw!r} is not valid UTF-8 ({exc.reason}); "
            "pass unicode_errors='replace' or 'ignore' to read it anyway"
        ) from None


def _read_text(fh: IO[bytes], name: str, rows: int, dim: int, unicode_errors: str) -> tuple[list[str], np.ndarray]:
    """Read ``rows`` text lines ``word v1 ... vD`` (line numbers in errors count the header as 1).

    Whole lines are parsed in chunks by ``floattext.parse_text_rows`` (Numba); a line it cannot take
    (a malformed line, or a number outside its exact fast path) goes through ``_parse_text_line``,
    which gives the same values or the FormatError.
    """
    from . import (
        floattext,  # Numba: imported when first needed (keeps this module light)
    )
    words: list[str] = []
    vectors = np.empty((rows, dim), dtype=np.float32)
    word_spans = np.empty((rows, 2), dtype=np.int64)
    row = 0
    carry = b""
    while row < rows:
        data = fh.read(READ_CHUNK)
        chunk = carry + data
        if data:
            cut = chunk.rfind(b"\n") + 1  # whole lines only; the rest waits for the next read
            chunk, carry = chunk[:cut], chunk[cut:]
        elif chunk:
            chunk, carry = chunk + b"\n", b""  # a last line without its newline
        else:
            raise FormatError(f"{name}: line {row + 2}: file ends after {row} of {rows} rows (truncated?)")
        buf = np.frombuffer(chunk, dtype=np.uint8)
        pos = 0
        while row < rows and pos < len(chunk):
            first = row
            row, pos = floattext.parse_text_rows(buf, pos, dim, row, rows, floattext.POW10, vectors, word_spans)
            for r in range(first, row):
                start, stop = word_spans[r]
                words.append(_decode_word(chunk[start:stop], name, f"line {r + 2}", unicode_errors))
            if row < rows and pos < len(chunk):  # the kernel stopped at a line it leaves to Python
                stop = chunk.index(b"\n", pos)
                words.append(_parse_text_line(chunk[pos:stop], name, row + 2, dim, unicode_errors, vectors[row]))
                row += 1
                pos = stop + 1
    return words, vectors


def _parse_text_line(line: bytes, name: str, line_no: int, dim: int, unicode_errors: str, out: np.ndarray) -> str:
    """Parse one line ``word v1 ... vD`` into ``out`` (float32 [D]); return the word."""
    fields = line.split()
    if len(fields) != dim + 1:
        raise FormatError(
            f"{name}: line {line_no}: expected a word and {dim} values, found {max(len(fields) - 1, 0)} values"
        )
    word = _decode_word(fields[0], name, f"line {line_no}", unicode_errors)
    try:
        out[:] = [float(x) for x in fields[1:]]
    except ValueError:
        bad = next(x for x in fields[1:] if not _is_float(x))
        raise FormatError(f"{name}: line {line_no}: bad number {bad[:40].decode('utf-8', 'replace')!r}") from None
    return word


def _is_float(field: bytes) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _read_binary(fh: IO[bytes], name: str, rows: int, dim: int, unicode_errors: str) -> tuple[list[str], np.ndarray]:
    """Read ``rows`` binary records: word bytes, 0x20, ``dim`` little-endian float32, optional ``\\n``.

    Records are found as word2vec.c's and gensim's readers do: scan to the first space, then
    take exactly 4·dim bytes; a ``\\n`` before a word (word2vec.c's record end) is dropped.
    """
    words: list[str] = []
    vectors = np.empty((rows, dim), dtype=np.float32)
    nbytes = 4 * dim
    buf = b""
    pos = 0
    for row in range(rows):
        where = f"record {row + 1} of {rows}"
        while True:
            space = buf.find(b" ", pos)
            if space >= 0:
                break
            if len(buf) - pos > READ_CHUNK:
                raise FormatError(
                    f"{name}: {where}: no space after the word within {READ_CHUNK} bytes (not a word2vec binary file?)"
                )
            more = fh.read(READ_CHUNK)
            if not more:
                raise FormatError(f"{name}: {where}: file ends before the word (truncated? {row} records read)")
            buf = buf[pos:] + more
            pos = 0
        while len(buf) - (space + 1) < nbytes:
            more = fh.read(max(READ_CHUNK, nbytes))
            if not more:
                raise FormatError(f"{name}: {where}: file ends inside the vector (truncated? {row} records read)")
            buf = buf[pos:] + more
            space -= pos
            pos = 0
        raw = buf[pos:space].lstrip(b"\n")
        if not raw:
            raise FormatError(f"{name}: {where}: empty word (wrong DIM in the header, or not a binary file?)")
        words.append(_decode_word(raw, name, where, unicode_errors))
        vectors[row] = np.frombuffer(buf, dtype="<f4", count=dim, offset=space + 1)
        pos = space + 1 + nbytes
    return words, vectors
