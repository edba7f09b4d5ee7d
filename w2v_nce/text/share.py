"""A share of a text's lines, chosen by a hash of each line's bytes (``--replay``'s rehearsal).

A line is kept when the splitmix64 mix of its FNV-1a hash, as a uniform in [0, 1), is below the
share. The choice depends on the line's bytes alone: the same lines every epoch, on resume, and
whatever the cut of the corpus into parts; identical lines (empty ones, repeated boilerplate)
are kept or dropped together. A "line" is what a block holds between line feeds; a line longer
than a block (a text8-like file has one line) is cut by the reader at whitespace and each piece
is chosen on its own, so such a file is sampled by stretches of about a block.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..rng import GOLDEN_GAMMA, mix64

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_UNIT = 1.0 / 9007199254740992.0  # 2^-53: the top 53 bits of a uint64 as a float in [0, 1)


def keep_share(data: bytes, share: float) -> bytes:
    """The lines of ``data`` (each with its line feed; a last one without) that a share of
    ``share`` keeps (see the module): all of them at 1, none at 0."""
    if share >= 1.0:
        return data
    buf = np.frombuffer(data, dtype=np.uint8)
    out = np.empty(len(buf), dtype=np.uint8)
    n = _keep_lines(buf, float(share), out)
    return out[:n].tobytes()


@njit(cache=True, nogil=True)
def line_uniform(buf, start, end):
    """The uniform in [0, 1) of the line buf[start:end] (its line feed included when it has one)."""
    h = _FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
    return float(mix64(h + GOLDEN_GAMMA) >> np.uint64(11)) * _UNIT


@njit(cache=True, nogil=True)
def _keep_lines(buf, share, out):
    """Copy the kept lines of buf (uint8[n]) to out (uint8[>= n]); the bytes written."""
    n = buf.shape[0]
    written = 0
    start = 0
    while start < n:
        end = start
        while end < n and buf[end] != 10:
            end += 1
        end = min(end + 1, n)  # the line feed belongs to its line
        if line_uniform(buf, start, end) < share:
            out[written:written + end - start] = buf[start:end]
            written += end - start
        start = end
    return written
