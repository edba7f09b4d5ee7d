"""Random numbers on explicit state: Vigna's splitmix64, the one generator of the package.

Every stream is a ``uint64[1]`` state array (or the first word of a padded row) advanced in
place by ``rng_next``; the kernels, the per-worker seeding and the held-out hash all use the
same two steps below (add the golden gamma, mix), so there is one definition to check
against the reference outputs in ``tests/test_sampling.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, nogil=True, inline="always")
def mix64(z):
    """splitmix64's output function: a bijection of uint64 with good avalanche."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def rng_next(state):
    """Advance ``state`` (uint64[>=1], word 0 is the state) and return the next uint64 output."""
    state[0] += GOLDEN_GAMMA
    return mix64(state[0])


@njit(cache=True, nogil=True, inline="always")
def rng_uniform(state):
    """float64 uniform in [0, 1) with 53 random bits."""
    return float(rng_next(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True, inline="always")
def rng_below(state, n):
    """int uniform in [0, n) (multiply-shift on the top 32 bits; bias < n / 2^32)."""
    return np.int64(((rng_next(state) >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))


@njit(cache=True, nogil=True)
def hash_uniform(index, out):
    """out[i] = the first splitmix64 output of state index[i], as a float64 in [0, 1).

    A fixed hash (no state): the same index always gives the same value.
    index int64[n] (taken mod 2^64), out float64[n].
    """
    for i in range(index.shape[0]):
        z = mix64(np.uint64(index[i]) + GOLDEN_GAMMA)
        out[i] = float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


def seed_streams(seed: int, n: int) -> np.ndarray:
    """Consecutive splitmix64 outputs from ``seed mod 2**64``, two per row.

    Row ``i`` holds outputs ``2i`` and ``2i + 1``. A prefix of the rows does not depend on
    ``n``, so more threads keep the first threads' streams. Returns uint64 ``[n, 2]``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    state = np.array([int(seed) & ((1 << 64) - 1)], dtype=np.uint64)
    out = np.empty((n, 2), dtype=np.uint64)
    for i in range(n):
        for j in range(2):
            out[i, j] = rng_next(state)
    return out


def worker_states(seed: int, n: int) -> np.ndarray:
    """The initial splitmix64 state of each of ``n`` workers: word 0 of ``seed_streams`` rows.

    uint64[n]; distinct for distinct rows (splitmix64 outputs of one stream never repeat
    within 2^64 steps).
    """
    return seed_streams(seed, n)[:, 0].copy()
