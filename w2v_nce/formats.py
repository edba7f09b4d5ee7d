"""Bytes on disk: atomic writes, word2vec text/binary, NumPy and Projector exports, readers."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from typing import IO, Iterator

from .errors import OutputError


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``.

    On any exception the temp file is removed and ``path`` is left as it was, so a reader
    never sees a half-written file (a SIGKILL leaves at worst a stray ``.tmp-*`` file).
    ``OSError(ENOSPC)`` and other OS errors become ``OutputError`` naming the path.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".tmp-", dir=directory)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
            reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            raise OutputError(f"{path}: cannot write ({reason}); previous file left unchanged") from exc
        raise
