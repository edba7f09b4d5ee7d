"""Whether bytes are valid UTF-8, checked without the GIL (so reading threads run at once).

Valid means exactly what Python's strict ``bytes.decode("utf-8")`` accepts: the well-formed
sequences of the Unicode standard (Table 3-7), so no overlong forms, no surrogates
(U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequence at the end.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_HIGH_BITS = np.uint64(0x8080808080808080)  # one per byte: set in every non-ASCII byte


def is_utf8(data: bytes) -> bool:
    """``data.decode("utf-8")`` would succeed (the GIL is released while it is checked)."""
    return _valid(np.frombuffer(data, dtype=np.uint8))


@njit(cache=True, nogil=True)
def _valid(buf):
    """buf uint8[n]: True when every byte belongs to a well-formed UTF-8 sequence."""
    n = buf.shape[0]
    words = buf[: n - n % 8].view(np.uint64)  # ASCII runs are skipped 8 bytes at a time
    i = 0
    while i < n:
        c = buf[i]
        if c < 0x80:
            i += 1
            while i & 7 == 0 and (i >> 3) < words.shape[0] and words[i >> 3] & _HIGH_BITS == 0:
                i += 8
            continue
        if 0xC2 <= c <= 0xDF:
            need, lo, hi = 1, 0x80, 0xBF
        elif 0xE0 <= c <= 0xEF:
            need = 2
            lo = 0xA0 if c == 0xE0 else 0x80  # E0: no overlong forms
            hi = 0x9F if c == 0xED else 0xBF  # ED: no surrogates
        elif 0xF0 <= c <= 0xF4:
            need = 3
            lo = 0x90 if c == 0xF0 else 0x80  # F0: no overlong forms
            hi = 0x8F if c == 0xF4 else 0xBF  # F4: nothing above U+10FFFF
        else:  # a continuation byte first, C0/C1 (overlong), F5..FF
            return False
        if i + need >= n:  # truncated at the end
            return False
        if not lo <= buf[i + 1] <= hi:
            return False
        for k in range(2, need + 1):
            if not 0x80 <= buf[i + k] <= 0xBF:
                return False
        i += need + 1
    return True
