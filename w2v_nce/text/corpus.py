"""Streaming text into whitespace-delimited tokens, in bounded blocks. Knows nothing of ids.

Rules (word2vec.c's, made explicit):
- Tokens are separated by ASCII whitespace: space, TAB, LF, CR, VT, FF. A line (LF) is a
  sentence; CRLF files behave like LF files. No lowercasing unless asked.
- Invalid UTF-8 is replaced by U+FFFD (Python's ``errors="replace"``), so every token is
  valid UTF-8; the number of replacement characters introduced is counted and reported.
- Files are read in blocks of ``BLOCK_BYTES`` *uncompressed* bytes at fixed offsets
  (block k covers bytes [k*B, (k+1)*B) of a source), each cut after its last whitespace byte;
  the cut-off partial token is carried into the next block. Memory is O(block), whatever
  the line length (a 100 MB single-line text8 file streams like any other).
- A token longer than a whole block (only seen in binary junk) is split at the block end
  (before its last character when that one would be cut: up to 3 bytes carried) and counted
  in ``forced_splits``; the next block says ``continues_split`` (its first bytes end that
  token), so counting treats all the pieces as one over-long token.
- Sources: files, directories (regular files inside, recursively, sorted by path, hidden
  files skipped), ``.gz``/``.bz2``/``.xz`` by extension, and ``-`` for stdin (spooled to a
  temporary file on first read, because training reads the corpus once per epoch).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import re
import select
import shutil
import stat
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

import numpy as np

from ..errors import CorpusError, Interrupted
from .share import UNKNOWN, keep_share
from .utf8 import is_utf8

BLOCK_BYTES = 1 << 20
# The token separators, the one definition of them (word2vec.c's set); LF also ends a sentence.
WHITESPACE = b" \t\n\r\x0b\x0c"
# The same set as a byte table, for the Numba scanners (a global array is a compile-time constant).
SPACE_BYTES = np.zeros(256, dtype=np.bool_)
SPACE_BYTES[list(WHITESPACE)] = True
_WHITESPACE_RE = re.compile(b"[" + re.escape(WHITESPACE) + b"]")
_REPLACEMENT = "\ufffd"
_REPLACEMENT_BYTES = _REPLACEMENT.encode("utf-8")


@dataclass
class ReadStats:
    """What the reader touched, to report (never silently)."""

    bytes: int = 0
    replaced_chars: int = 0  # U+FFFD introduced for invalid UTF-8
    forced_splits: int = 0  # tokens longer than a block, split at the block end (between two characters)

    def add(self, other: "ReadStats") -> None:
        self.bytes += other.bytes
        self.replaced_chars += other.replaced_chars
        self.forced_splits += other.forced_splits


@dataclass
class Position:
    """Where a reader is: source index, next block index, the carried partial token, whether
    the previous block ended inside a token it had to split (``split``), and, in a source read
    by a share of its lines, the decision for the line the previous block ended inside
    (``kept``: ``share.UNKNOWN`` when it ended at a line feed)."""

    source: int = 0
    block: int = 0
    carry: bytes = b""
    split: bool = False
    kept: int = UNKNOWN

    def to_json(self) -> dict:
        d = {"source": self.source, "block": self.block, "carry": self.carry.hex()}
        if self.split:  # absent in positions written before it existed
            d["split"] = True
        if self.kept != UNKNOWN:
            d["kept"] = self.kept
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Position":
        kept = int(d.get("kept", UNKNOWN))
        if kept not in (UNKNOWN, 0, 1):
            raise ValueError(f"a position's 'kept' is {kept}, not -1, 0 or 1")
        return cls(int(d["source"]), int(d["block"]), bytes.fromhex(d["carry"]), bool(d.get("split", False)), kept)


@dataclass(frozen=True)
class Piece:
    """Bytes [start, end) of source ``source`` (uncompressed offsets; ``end`` None = to its end).
    ``start`` is 0 or follows a whitespace byte, so a piece begins at a token boundary."""

    source: int
    start: int = 0
    end: int | None = None

    def to_json(self) -> list:
        return [self.source, self.start, self.end]

    @classmethod
    def from_json(cls, d: list) -> "Piece":
        return cls(int(d[0]), int(d[1]), None if d[2] is None else int(d[2]))


@dataclass
class Block:
    """A piece of text ending at a token boundary. ``source_end`` marks a source's last block."""

    data: bytes
    position_after: Position
    source_end: bool
    stats: ReadStats = field(default_factory=ReadStats)
    continues_split: bool = False  # data starts with the rest of a token split at the previous block's end


# Compressed sources, by extension: how each is opened (the one list of them).
_DECOMPRESSORS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open, ".lzma": lzma.open}


def is_compressed(path: str) -> bool:
    return path.endswith(tuple(_DECOMPRESSORS))


def _open_binary(path: str) -> BinaryIO:
    for ext, opener in _DECOMPRESSORS.items():
        if path.endswith(ext):
            return opener(path, "rb")
    return open(path, "rb", buffering=0)


def _walk(directory: str) -> list[str]:
    """The files of a corpus directory, recursively, hidden ones (and hidden folders) skipped."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, f) for f in files if not f.startswith("."))
    return found


def _expand(path: str) -> list[str]:
    if os.path.isdir(path):
        found = _walk(path)
        if not found:
            raise CorpusError(f"{path}: directory holds no files")
        for f in found:  # a FIFO here would block the reader forever; a broken link fails later, mid-count
            _check_file(f)
        return sorted(found)
    _check_file(path)
    return [path]


def _check_file(path: str) -> None:
    """A corpus file must exist, be readable and be a regular file (CorpusError otherwise)."""
    if not os.path.exists(path):
        broken = " (a broken symbolic link)" if os.path.islink(path) else ""
        raise CorpusError(f"{path}: corpus not found{broken}")
    if not os.access(path, os.R_OK):
        raise CorpusError(f"{path}: corpus is not readable (check permissions)")
    if not stat.S_ISREG(os.stat(path).st_mode):  # a pipe, FIFO or device: a second read finds nothing
        raise CorpusError(f"{path}: a pipe or device can be read only once and w2v-nce reads its text more than "
                          "once (training: every epoch); write it to a file, or for train's corpus pass '-' and "
                          "send it to standard input (it is then spooled)")


def _copy_stdin(out: BinaryIO, stop: Callable[[], int] | None) -> None:
    """Copy standard input to ``out`` until its end, polling ``stop`` every 0.2 s while the pipe
    is quiet (a blocked read would be restarted after a signal: PEP 475)."""
    try:
        src = sys.stdin.buffer.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's in-memory stdin)
        shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        return
    while True:
        signum = stop() if stop is not None else 0
        if signum:
            raise Interrupted("stopped while reading standard input; nothing was trained, start the run again",
                              signum)
        ready, _, _ = select.select([src], [], [], 0.2)
        if ready:
            data = os.read(src, 1 << 20)
            if not data:
                return
            out.write(data)


class Corpus:
    """A re-iterable sequence of text sources read in blocks.

    ``paths`` are files, directories or ``-`` (stdin). Construction checks every path exists
    and is readable, so a typo fails before any work is done.
    """

    def __init__(self, paths: list[str], lowercase: bool = False, spool_dir: str | None = None,
                 stop: Callable[[], int] | None = None, transform: Callable[[bytes], bytes] | None = None,
                 shares: list[float] | None = None):
        """``stop``: polled while stdin is spooled; a signal number (not 0) ends the spooling with
        ``Interrupted`` (a pipe that stays open must not outlast a SIGINT).

        ``transform`` (e.g. phrase joining) rewrites each block's cleaned text; blocks are then
        cut at their last line break (a sentence end) when they hold one, so that a transform
        that works within sentences sees each sentence whole (a line longer than a block is cut
        at its last whitespace). Blocks holding part of a token longer than a block pass as read.

        ``shares`` (one per path, default all 1): a path with a share below 1 yields only that
        share of its lines (``share.keep_share``, before ``transform``; its blocks are cut at
        line breaks too): ``--replay``'s rehearsal of an earlier run's text."""
        if not paths:
            raise CorpusError("no corpus given: pass one or more files, directories or '-' for stdin")
        self.paths = list(paths)
        self.lowercase = lowercase
        self._spool_dir = spool_dir
        self._stop = stop
        self._stdin_spool: str | None = None
        self.transform = transform
        self._read_lock = threading.Lock()
        self.bytes_read = 0  # uncompressed bytes read or skipped through by decompressing, all readers
        self.sources: list[str] = []
        self.shares: list[float] = []  # of each source's lines read (share.keep_share)
        for p, share in zip(self.paths, [1.0] * len(self.paths) if shares is None else shares, strict=True):
            found = ["-"] if p == "-" else _expand(p)
            self.sources.extend(found)
            self.shares.extend([float(share)] * len(found))

    # -- identity -------------------------------------------------------------------
    def fingerprint(self) -> list[dict]:
        """Size and mtime of every source, to detect a changed corpus on resume."""
        out = []
        for s in self.sources:
            if s == "-":
                out.append({"path": "-"})
                continue
            st = os.stat(s)
            out.append({"path": os.path.abspath(s), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
        return out

    def added_files(self) -> list[str]:
        """Files in the corpus's directories now that were not there when it was opened (sorted)."""
        now = {f for p in self.paths if p != "-" and os.path.isdir(p) for f in _walk(p)}
        return sorted(now - set(self.sources))

    # -- reading --------------------------------------------------------------------
    def open_source(self, index: int) -> BinaryIO:
        """Source ``index`` as a binary stream of its uncompressed bytes (stdin: its spool)."""
        return self._open_source(index)

    def source_size(self, index: int) -> int:
        """Bytes of source ``index`` on disk (compressed size for compressed files; stdin is
        spooled first and counts as a plain file)."""
        path = self.sources[index]
        if path == "-":
            if self._stdin_spool is None:
                self._spool_stdin()
            path = self._stdin_spool
        return os.path.getsize(path)

    def _open_source(self, index: int) -> BinaryIO:
        path = self.sources[index]
        if path == "-":
            if self._stdin_spool is None:
                self._spool_stdin()
            path = self._stdin_spool
        try:
            return _open_binary(path)
        except OSError as exc:
            raise CorpusError(f"{path}: cannot open corpus ({exc.strerror})") from None

    def _spool_stdin(self) -> None:
        fd, tmp = tempfile.mkstemp(prefix="w2v-nce-stdin-", dir=self._spool_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                _copy_stdin(out, self._stop)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._stdin_spool = tmp

    def close(self) -> None:
        if self._stdin_spool is not None:
            try:
                os.unlink(self._stdin_spool)
            except OSError:
                pass
            self._stdin_spool = None

    def blocks(self, start: Position | None = None, block_bytes: int = BLOCK_BYTES) -> Iterator[Block]:
        """Yield blocks from ``start`` to the end of the last source (one pass)."""
        whole = [Piece(i, 0, None) for i in range(len(self.sources))]
        return self.piece_blocks(whole, start, block_bytes)

    def piece_blocks(self, pieces: list["Piece"], start: Position | None = None,
                     block_bytes: int = BLOCK_BYTES) -> Iterator[Block]:
        """Yield the blocks of ``pieces`` (byte ranges of sources, read in order) from ``start``;
        ``Position.source`` then counts pieces, not sources (the same when each piece is a whole
        source, as in ``blocks``). Blocks sit at fixed offsets from each piece's start."""
        pos = start or Position()
        for index in range(pos.source, len(pieces)):
            yield from self._source_blocks(pieces[index], index, pos if index == pos.source else Position(),
                                           block_bytes)

    def _source_blocks(self, piece: "Piece", index: int, resume: Position, block_bytes: int) -> Iterator[Block]:
        """The blocks of ``piece`` (number ``index`` of the pieces read) from ``resume``'s block,
        carried bytes, ``split`` and ``kept`` (a fresh ``Position`` for a piece read from its start)."""
        first_block, carry, split, kept = resume.block, resume.carry, resume.split, resume.kept
        path, share = self.sources[piece.source], self.shares[piece.source]
        by_line = self.transform is not None or share < 1.0  # whole lines for the transform or the share
        with self._open_source(piece.source) as fh:
            try:
                if piece.start or first_block:
                    _skip(fh, piece.start + first_block * block_bytes)
                    if is_compressed(path):  # a compressed stream is decompressed up to there
                        self._count(piece.start + first_block * block_bytes)
                left = None if piece.end is None else piece.end - piece.start - first_block * block_bytes
                k = first_block
                while True:
                    want = block_bytes if left is None else min(block_bytes, left)
                    raw = _read_full(fh, want)
                    self._count(len(raw))
                    if left is not None:
                        left -= len(raw)
                    k += 1
                    at_end = len(raw) < block_bytes or left == 0
                    buf = carry + raw
                    stats = ReadStats(bytes=len(raw))
                    continues, split = split, False
                    if at_end:
                        data, carry = buf, b""
                    else:
                        cut = _block_cut(buf, by_line)
                        if cut < 0:  # one token longer than a block: split it, and say so,
                            # between two characters (a cut inside one would become two U+FFFD)
                            cut = _last_char_start(buf)
                            data, carry, split = buf[:cut], buf[cut:], True
                            stats.forced_splits += 1
                        else:
                            data, carry = buf[: cut + 1], buf[cut + 1 :]
                    data = self._clean(data, stats)
                    if share < 1.0:  # whole lines, a long one by the decision at its head (share.py)
                        data, kept = keep_share(data, share, kept)
                    if self.transform is not None and not (split or continues):
                        data = self.transform(data)
                    after = Position(index + 1, 0, b"") if at_end else Position(index, k, carry, split, kept)
                    yield Block(data, after, at_end, stats, continues)
                    if at_end:
                        return
            except (OSError, EOFError, lzma.LZMAError, zlib_error()) as exc:
                raise CorpusError(f"{path}: cannot read corpus ({exc}); is the file complete?") from None

    def _count(self, nbytes: int) -> None:
        with self._read_lock:
            self.bytes_read += nbytes

    def check_readable(self, nbytes: int = 1 << 16) -> None:
        """Read (decompress) the first ``nbytes`` of every source: a truncated or corrupt
        compressed file, or UTF-16 text, is a ``CorpusError`` before any output is touched."""
        for i, path in enumerate(self.sources):
            if path == "-":
                continue
            try:
                with self._open_source(i) as fh:
                    head = _read_full(fh, nbytes)
            except (OSError, EOFError, lzma.LZMAError, zlib_error()) as exc:
                raise CorpusError(f"{path}: cannot read corpus ({exc}); is the file complete?") from None
            if looks_utf16(head):
                raise CorpusError(f"{path}: looks like UTF-16 text (a byte-order mark or NUL bytes between "
                                  "letters); convert it to UTF-8, e.g. iconv -f UTF-16 -t UTF-8")

    def _clean(self, data: bytes, stats: ReadStats) -> bytes:
        """Apply the UTF-8 policy (replace + count) and optional lowercasing."""
        text = None
        if not data.isascii() and (self.lowercase or not is_utf8(data)):  # valid text stays as it is
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("utf-8", "replace")
                stats.replaced_chars += text.count(_REPLACEMENT) - data.count(_REPLACEMENT_BYTES)
                if not self.lowercase:
                    data = text.encode("utf-8")
        if self.lowercase:
            data = data.lower() if text is None else text.lower().encode("utf-8")
        return data

def looks_utf16(head: bytes) -> bool:
    """A UTF-16 byte-order mark, or NUL in a quarter of the first bytes (ASCII text in UTF-16)."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    sample = head[:4096]
    return len(sample) >= 16 and sample.count(0) * 4 >= len(sample)


def continuation_bytes(block: Block) -> int:
    """Bytes at the start of ``block.data`` that continue a token split at the previous block's
    end (0 if none; all of it when the block is itself one more piece). They are part of that
    over-long token, so counting and encoding skip them rather than read them as a word."""
    if not block.continues_split:
        return 0
    m = _WHITESPACE_RE.search(block.data)
    return m.start() if m else len(block.data)


def zlib_error():
    import zlib

    return zlib.error


def _read_full(fh: BinaryIO, n: int) -> bytes:
    """Read exactly n bytes unless the stream ends (raw files may return short reads)."""
    parts = []
    got = 0
    while got < n:
        chunk = fh.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _skip(fh: BinaryIO, n: int) -> None:
    """Move to uncompressed offset n from the start (compressed streams decompress forward)."""
    try:
        fh.seek(n)
        return
    except (OSError, io.UnsupportedOperation):
        pass
    while n > 0:
        chunk = fh.read(min(n, 1 << 22))
        if not chunk:
            break
        n -= len(chunk)


def _block_cut(buf: bytes, by_line: bool) -> int:
    """Index of the last byte of a block's text in ``buf`` (-1: no whitespace at all): its last
    line break when ``by_line`` and it has one, else its last whitespace."""
    if by_line:
        line_end = buf.rfind(b"\n")
        if line_end >= 0:
            return line_end
    return _last_whitespace(buf)


def _last_whitespace(buf: bytes) -> int:
    return max(buf.rfind(bytes([c])) for c in WHITESPACE)


def _last_char_start(buf: bytes) -> int:
    """Where to cut ``buf`` so that no UTF-8 sequence is split: the start of its last sequence
    when that one is incomplete, else ``len(buf)``. Invalid bytes are cut anywhere (they are
    replaced either way); a buffer of one incomplete sequence is not cut (``len(buf)``)."""
    n = len(buf)
    for back in range(1, min(4, n) + 1):
        b = buf[n - back]
        if b & 0xC0 != 0x80:  # not a continuation byte: the last sequence starts here
            need = 2 if b >> 5 == 0b110 else 3 if b >> 4 == 0b1110 else 4 if b >> 3 == 0b11110 else 1
            return n - back if back < need and back < n else n
    return n
