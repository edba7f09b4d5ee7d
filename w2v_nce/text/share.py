"""A share of a text's lines, chosen by a hash of each line's head (``--replay``'s rehearsal).

A line is kept when the splitmix64 mix of the FNV-1a hash of its first ``HEAD_BYTES`` bytes (its
line feed included when it is shorter), as a uniform in [0, 1), is below the share. A line
longer than a reader's block reaches the sampler in pieces: the decision made at its head is
carried to the pieces that continue it (``keep_share``'s ``carried``, kept in the reader's
``Position`` for a resume), so the whole line is kept or dropped. The choice depends on the
text alone: the same lines every epoch, on resume, at any block size (the count reads 1 MiB
blocks, a replica 64 KiB), and in any cut into parts, except where a part starts inside a line
(only a line longer than the cut's 1 MiB window is cut inside: that part decides its first piece
by its own head). Lines with the same head (empty ones, repeated boilerplate) go together.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..rng import GOLDEN_GAMMA, mix64

HEAD_BYTES = 64  # of a line, hashed: within any block (blocks are >= 4 KiB), so the same at any block size
UNKNOWN = -1  # ``carried``: the bytes start a line (no decision to carry); 0 = drop, 1 = keep
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_UNIT = 1.0 / 9007199254740992.0  # 2^-53: the top 53 bits of a uint64 as a float in [0, 1)


def keep_share(data: bytes, share: float, carried: int = UNKNOWN) -> tuple[bytes, int]:
    """(the kept lines of ``data``, the decision to carry): each line with its line feed; the
    first bytes continue a line decided ``carried`` (0 drop, 1 keep) unless it is ``UNKNOWN``;
    the decision returned is the last line's when ``data`` ends inside it, else ``UNKNOWN``."""
    buf = np.frombuffer(data, dtype=np.uint8)
    out = np.empty(len(buf), dtype=np.uint8)
    state = np.array([carried], dtype=np.int64)
    n = _keep_lines(buf, float(share), out, state)
    return out[:n].tobytes(), int(state[0])


@njit(cache=True, nogil=True)
def line_uniform(buf, start, end):
    """The uniform in [0, 1) of the bytes buf[start:end]."""
    h = _FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
    return float(mix64(h + GOLDEN_GAMMA) >> np.uint64(11)) * _UNIT


@njit(cache=True, nogil=True)
def _keep_lines(buf, share, out, state):
    """Copy the kept lines of buf (uint8[n]) to out (uint8[>= n]); the bytes written. state[0]:
    in, the decision for a first line that continues one (UNKNOWN: none); out, the decision for
    a last line that buf ends inside (UNKNOWN when buf ends at a line feed)."""
    n = buf.shape[0]
    written = 0
    start = 0
    decision = state[0]
    while start < n:
        end = start
        while end < n and buf[end] != 10:
            end += 1
        end = min(end + 1, n)  # the line feed belongs to its line
        if start > 0 or decision == UNKNOWN:
            decision = 1 if line_uniform(buf, start, min(end, start + HEAD_BYTES)) < share else 0
        if decision == 1:
            out[written:written + end - start] = buf[start:end]
            written += end - start
        start = end
    if n > 0 and buf[n - 1] == 10:
        decision = UNKNOWN
    state[0] = decision
    return written
