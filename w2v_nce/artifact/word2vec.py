"""word2vec text and binary files (word2vec.c, gensim, fastText .vec): writing and strict reading.
"""

from __future__ import annotations

import gzip
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Callable, Iterator

import numpy as np

from ..errors import FormatError
from ..io import DEFLATE_MAX_RATIO, atomic_output
from ..text.corpus import WHITESPACE
from .words import pack_words

# Rows formatted or packed per write: bounds memory (≤ ~16 bytes per value) and keeps writes large.
# The text writer holds up to 2 x threads + 1 blocks of BLOCK_ROWS x (16 D + 1) bytes: 2 MB at
# D = 100 with 256 rows (1024 held 8 MB, most of the job's rise in peak RSS while writing outputs).
BLOCK_ROWS = 256
# Threads formatting text blocks (the Numba formatter releases the GIL): formatting is most of a
# text write (70k x 100 values: 1.2 s on one core of the project's machine), the disk rarely.
_FORMAT_THREADS = max(1, min(4, os.cpu_count() or 1))
# Text lines longer than this per value cannot be word2vec text (used to sniff binary files).
_MAX_TEXT_CHARS_PER_VALUE = 64


_ASCII_SPACE = frozenset(WHITESPACE.decode("ascii"))


def check_words(words: list[str]) -> list[bytes]:
    """Validate ``words`` for writing (``validate_words``) and return their UTF-8 encodings."""
    validate_words(words)
    return [word.encode("utf-8") for word in words]


def validate_words(words: list[str]) -> None:
    """A word must be a non-empty ``str`` without ASCII whitespace (space, TAB, LF, CR, VT, FF: what
    the tokeniser splits on, and what word2vec.c's and gensim's readers split on) and must encode
    to UTF-8. Other Unicode spaces (NBSP, U+3000, ...) are ordinary characters of a token, as in
    word2vec.c. Tokenisation makes violations impossible, so one is a bug upstream: ``ValueError``
    naming the word and its row.
    """
    for row, word in enumerate(words):
        if not isinstance(word, str) or not word or any(ch in _ASCII_SPACE for ch in word):
            raise ValueError(
                f"word {word!r} at row {row} is empty or contains whitespace; "
                "it cannot be written in a word2vec file"
            )
        try:
            word.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"word {word!r} at row {row} is not valid Unicode ({exc.reason})") from exc


def check_matrix(words: list, vectors: np.ndarray) -> np.ndarray:
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
    validate_words(words)
    vectors = check_matrix(words, vectors)
    v, d = vectors.shape
    data, offsets = pack_words(words)  # packed, not V bytes objects (peak RSS: ~40 bytes less a word)

    def block(a: int, b: int) -> np.ndarray:
        return floattext.format_packed_rows(vectors[a:b], data[offsets[a]:offsets[b]], offsets[a:b + 1] - offsets[a], " ")

    with atomic_output(path, "wb") as fh:
        fh.write(f"{v} {d}\n".encode("ascii"))
        for text in formatted_blocks(block, v, _FORMAT_THREADS):
            fh.write(text)
    return Path(path)


def formatted_blocks(block: Callable[[int, int], bytes | np.ndarray], rows: int, threads: int) -> Iterator:
    """``block(start, stop)`` for each block of ``BLOCK_ROWS`` of ``rows`` rows, in order, computed
    by ``threads`` threads with at most 2 x threads blocks in memory."""
    starts = range(0, rows, BLOCK_ROWS)
    if threads <= 1:
        for start in starts:
            yield block(start, min(start + BLOCK_ROWS, rows))
        return
    with ThreadPoolExecutor(threads) as pool:
        pending: deque = deque()
        for start in starts:
            pending.append(pool.submit(block, start, min(start + BLOCK_ROWS, rows)))
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
    vectors = check_matrix(words, vectors)
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
    allow_nonfinite: bool = False,
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
    Malformed input raises ``FormatError`` naming the file and the line (text) or record (binary),
    as does a NaN or infinite value unless ``allow_nonfinite`` (no similarity, analogy or
    rotation means anything with one: SVD fails, cosines are NaN).
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
            _check_fits(fh, name, rows, dim, binary)
            read = _read_binary if binary else _read_text
            with np.errstate(over="ignore"):  # a value past float32's range is inf: refused below, not warned
                words, vectors = read(fh, name, rows, dim, unicode_errors)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise FormatError(f"{name}: cannot read ({exc})") from exc
    if not allow_nonfinite:
        require_finite(name, vectors, words)
    return words, vectors


def require_finite(name: str, matrix: np.ndarray, words: list[str] | None = None, rows: int = 1 << 16) -> None:
    """``FormatError`` naming ``name`` and the first row holding NaN or Inf (checked in blocks of
    ``rows``: a whole-matrix mask would be V x D bytes)."""
    for lo in range(0, len(matrix), rows):
        ok = np.isfinite(matrix[lo:lo + rows])
        if not ok.all():
            bad = lo + int(np.flatnonzero(~ok.reshape(len(ok), -1).all(axis=1))[0])
            word = f" ({words[bad]!r})" if words is not None else ""
            raise FormatError(f"{name}: row {bad + 1}{word} holds NaN or Inf; these vectors cannot be used "
                              "(regenerate them)")


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
    if not (0 <= count <= _MAX_HEADER_ROWS and 1 <= dim <= _MAX_HEADER_DIM):
        raise FormatError(f"{name}: line 1: bad header '{count} {dim}' (need 0 <= VOCAB_SIZE <= 2^40 and "
                          f"1 <= DIM <= 2^24)")
    return count, dim


# A header beyond these is not a vector file's (word2vec files have up to ~10^8 rows, 10^4 dims).
_MAX_HEADER_ROWS = 1 << 40
_MAX_HEADER_DIM = 1 << 24
# matrices above this many bytes are allocated only when the file can hold their rows
_CHECKED_ALLOCATION = 64 << 20


def _check_fits(fh: IO[bytes], name: str, rows: int, dim: int, binary: bool) -> None:
    """Before a [rows, dim] matrix over 64 MiB is allocated: the file must be able to hold that many
    rows (a header of 10^11 rows on a few bytes is a damaged file, not a 37 TB allocation). A row
    is at least a 1-byte word, a separator and ``dim`` float32s (binary) or ``dim`` 2-byte fields
    (text)."""
    size = os.fstat(fh.fileno()).st_size if not isinstance(fh, gzip.GzipFile) else None
    if size is None:  # .gz: at most DEFLATE_MAX_RATIO times the compressed bytes
        size = DEFLATE_MAX_RATIO * os.fstat(fh.fileobj.fileno()).st_size
    else:
        size -= fh.tell()
    per_row = 2 + (4 * dim if binary else 2 * dim)
    # a small matrix is allocated anyway: the reader then names the line or record where the file ends
    if rows * per_row > size and rows * dim * 4 > _CHECKED_ALLOCATION:
        raise FormatError(f"{name}: the header says {rows} rows of {dim} values but the file holds at most "
                          f"{size // per_row}: it is truncated or its header is wrong")


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


UNICODE_HINT = "pass --unicode-errors replace or ignore (unicode_errors= in Python) to read it anyway"


def _decode_word(raw: bytes, name: str, where: str, unicode_errors: str) -> str:
    try:
        return raw.decode("utf-8", unicode_errors)
    except UnicodeDecodeError as exc:
        raise FormatError(f"{name}: {where}: word {raw!r} is not valid UTF-8 ({exc.reason}); {UNICODE_HINT}") from None


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
