"""Word lists as UTF-8 bytes + offsets, the form model.npz and checkpoints store them in.
"""

from __future__ import annotations

import numpy as np

# A fixed-width str array costs V x (longest word) x 4 bytes: one 1 MB token in a 250k
# vocabulary is 1 TB. Concatenated UTF-8 costs the words' total length plus 8 bytes a word.

_SEPARATOR = 0xFF  # never a byte of valid UTF-8


def pack_words(words: list[str], errors: str = "strict") -> tuple[np.ndarray, np.ndarray]:
    """``(data uint8[N], offsets int64[V+1])``: word i is ``data[offsets[i]:offsets[i+1]]`` in UTF-8.

    N is the words' total UTF-8 length. Vectorised (one join, one encode); a word that cannot be
    encoded (a lone surrogate) raises ``UnicodeEncodeError`` unless ``errors`` says otherwise
    ("surrogateescape": the bytes a query read from argv or stdin had, as fastText hashes them).
    """
    joined = "".join(words)
    encoded = joined.encode("utf-8", errors)
    ascii_only = len(encoded) == len(joined)  # then character counts are byte counts
    del joined  # peak: the joined str and its UTF-8, at most 2 x the bytes
    if ascii_only:
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    else:
        lengths = np.fromiter((len(w.encode("utf-8", errors)) for w in words), dtype=np.int64, count=len(words))
    offsets = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return np.frombuffer(encoded, dtype=np.uint8), offsets


def unpack_words(data: np.ndarray, offsets: np.ndarray) -> list[str]:
    """The words of ``pack_words``; ``ValueError`` if the offsets or the UTF-8 are inconsistent.

    Vectorised: a 0xFF separator (never valid UTF-8) is inserted at each boundary, the whole
    buffer decoded once and split.
    """
    data = np.asarray(data, dtype=np.uint8).ravel()
    offsets = np.asarray(offsets, dtype=np.int64).ravel()
    if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(data) or np.any(np.diff(offsets) < 0):
        raise ValueError(f"word offsets do not describe {len(data)} bytes")
    if len(offsets) == 1:
        return []
    inner = offsets[1:-1]
    starts = data[inner[inner < len(data)]]
    if np.any((starts & 0xC0) == 0x80):  # a boundary inside a character
        raise ValueError("a word boundary falls inside a UTF-8 character")
    raw = data.tobytes()
    raw.decode("utf-8")  # strict: raises UnicodeDecodeError (a ValueError) on invalid bytes
    del raw
    text = np.insert(data, inner, _SEPARATOR).tobytes().decode("utf-8", "surrogateescape")
    return text.split(chr(0xDC00 + _SEPARATOR))
