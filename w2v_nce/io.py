"""Writing files safely: atomic replace with the usual mode, and strict JSON values."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from typing import IO, Iterator

from .errors import OutputError


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import, before any worker thread
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``.

    On any exception the temp file is removed and ``path`` is left as it was, so a reader
    never sees a half-written file (a SIGKILL leaves at worst a stray ``.tmp-*`` file).
    ``OSError(ENOSPC)`` and other OS errors become ``OutputError`` naming the path.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".tmp-", dir=directory)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual mode
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


def json_safe(value):
    """NaN -> None, recursively, so records and reports are strict JSON (NaN is not JSON)."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
