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

PACKAGE = os.path.dirname(os.path.abspath(__file__))


def numba_sources(package: str = PACKAGE) -> list[str]:
    """The package's modules that use Numba, at every depth, sorted."""
    paths = sorted(glob.glob(os.path.join(package, "**", "*.py"), recursive=True))
    out = []
    for p in paths:
        with open(p, "rb") as fh:
            if b"numba" in fh.read():
                out.append(p)
    return out


def _digest(paths: list[str], package: str) -> str:
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            h.update(os.path.relpath(path, package).encode() + b"\0" + fh.read())
    return h.hexdigest()


def _cache_dirs(paths: list[str]) -> set[str]:
    dirs = {os.path.join(os.path.dirname(p), "__pycache__") for p in paths}
    custom = os.environ.get("NUMBA_CACHE_DIR")
    if custom:  # Numba mirrors the source directory below its cache directory
        dirs |= {os.path.join(custom, os.path.dirname(p).lstrip(os.sep)) for p in paths}
    return dirs


def invalidate_if_changed(package: str = PACKAGE) -> None:
    """Drop the package's cached machine code if a Numba module changed since it was written."""
    paths = numba_sources(package)
    digest = _digest(paths, package)
    stamp = os.path.join(package, "__pycache__", "numba-sources.sha256")
    try:
        with open(stamp) as fh:
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
        os.makedirs(os.path.dirname(stamp), exist_ok=True)
        with open(stamp, "w") as fh:
            fh.write(digest + "\n")
    except OSError:  # a read-only install: Numba caches elsewhere, keyed by the files' fresh mtimes
        pass
