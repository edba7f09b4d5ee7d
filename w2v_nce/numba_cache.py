"""Keep Numba's on-disk cache consistent with the package's sources.

Numba keys a cached function on its own file's timestamp only: when ``kernels/sgns.py``
changes but ``kernels/chunk.py`` does not, ``train_chunk`` is loaded from the cache with the
old SGNS code compiled into it (jitted callees from other modules are compiled in, not
linked). So whenever any module that uses Numba differs from the last run's, the package's
cached machine code is dropped and recompiled on first use; an unchanged checkout or install
keeps its cache.
"""

from __future__ import annotations

import glob
import hashlib
import os

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_STAMP = os.path.join(_PACKAGE, "__pycache__", "numba-sources.sha256")


def _numba_sources() -> list[str]:
    paths = sorted(glob.glob(os.path.join(_PACKAGE, "*.py")) + glob.glob(os.path.join(_PACKAGE, "*", "*.py")))
    out = []
    for p in paths:
        with open(p, "rb") as fh:
            if b"numba" in fh.read():
                out.append(p)
    return out


def _digest(paths: list[str]) -> str:
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            h.update(os.path.relpath(path, _PACKAGE).encode() + b"\0" + fh.read())
    return h.hexdigest()


def _cache_dirs(paths: list[str]) -> set[str]:
    dirs = {os.path.join(os.path.dirname(p), "__pycache__") for p in paths}
    custom = os.environ.get("NUMBA_CACHE_DIR")
    if custom:  # Numba mirrors the source directory below its cache directory
        dirs |= {os.path.join(custom, os.path.dirname(p).lstrip(os.sep)) for p in paths}
    return dirs


def invalidate_if_changed() -> None:
    """Drop the package's cached machine code if a Numba module changed since it was written."""
    paths = _numba_sources()
    digest = _digest(paths)
    try:
        with open(_STAMP) as fh:
            if fh.read().strip() == digest:
                return
    except OSError:
        pass
    for d in _cache_dirs(paths):
        for path in glob.glob(os.path.join(d, "*.nb[ic]")):
            try:
                os.unlink(path)
            except OSError:
                pass
    try:
        os.makedirs(os.path.dirname(_STAMP), exist_ok=True)
        with open(_STAMP, "w") as fh:
            fh.write(digest + "\n")
    except OSError:  # a read-only install: Numba caches elsewhere, keyed by the files' fresh mtimes
        pass
