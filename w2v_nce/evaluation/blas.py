"""BLAS thread control: single-threaded BLAS products called from our own worker threads.

The full loss (evaluate.py) runs one worker per core, each alternating a small BLAS product
with a Numba reduction of its result while that result is still in the core's cache. A
multi-threaded BLAS call there is twice wrong: its threads spin after each call and take the
core the reduction needs, and two workers' calls would oversubscribe the cores. So for the duration of such work the process's BLAS runs
one thread per call, and its previous setting is restored after.

NumPy does not expose its BLAS's thread count; the library is found among the shared objects
this process has loaded (Linux's /proc/self/maps) and its setter called through ctypes, the
way threadpoolctl does (not a dependency for these few lines). Where no known setter is found
(another OS, another BLAS), ``single_threaded`` yields False and callers use one worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import threading
from collections.abc import Iterator

# (setter, getter) pairs: NumPy 2's bundled OpenBLAS, NumPy 1's, a system OpenBLAS, MKL.
_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
    ("MKL_Set_Num_Threads", "MKL_Get_Max_Threads"),
)

_lock = threading.Lock()  # one caller at a time changes (and restores) the process-wide setting


def _loaded_libraries() -> list[str]:
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "/" in line}
    except OSError:
        return []
    return sorted(p for p in paths if "blas" in p.lower() or "mkl" in p.lower())


def _find_control():
    import numpy  # noqa: F401  (loads NumPy's BLAS, so that it is among the mapped libraries)

    for path in _loaded_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for setter, getter in _SYMBOLS:
            if hasattr(lib, setter) and hasattr(lib, getter):
                return getattr(lib, setter), getattr(lib, getter)
    return None


@functools.cache
def blas_controls():
    """(set, get) of the BLAS's thread count, found once; None when there is none."""
    return _find_control()


@contextlib.contextmanager
def single_threaded() -> Iterator[bool]:
    """Within the block, each BLAS call runs on the calling thread alone; yields whether that
    could be arranged (False: the BLAS's own threading is left as it was). Serialised by a lock:
    a second caller waits for the first to restore the setting."""
    with _lock:
        control = blas_controls()
        if control is None:
            yield False
            return
        set_threads, get_threads = control
        previous = int(get_threads())
        set_threads(1)
        try:
            yield True
        finally:
            set_threads(max(1, previous))
