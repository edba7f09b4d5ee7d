"""Corpus splits: K parts that together hold every token exactly once, each readable on its own.

The corpus's sources are laid end to end (uncompressed files by their size, compressed files
by their compressed size) and cut at K - 1 evenly spaced offsets. A cut inside an
uncompressed file moves forward to just after the next line break (looked for within
``line_window`` bytes), or, in a file without one there (a single huge line), just after the
next whitespace byte: a part never starts inside a token or inside a UTF-8 character.
A cut inside a compressed file moves to that file's end (a compressed stream cannot be entered
in the middle): a single big ``.gz`` is one part, the others are empty. Stdin is spooled and
then cut like a plain file. Parts may be empty (a corpus of fewer than K bytes); the cuts
depend only on the files' bytes and K, so the same corpus always gives the same parts.

Part s is read with ``split_blocks`` (the reader's own ``Corpus.piece_blocks``: the same
blocks, UTF-8 policy, lowercasing, forced splits and ``ReadStats``); with K = 1 the one part is
every source whole, and its blocks are exactly ``Corpus.blocks()``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from .corpus import (
    BLOCK_BYTES,
    WHITESPACE,
    Block,
    Corpus,
    Piece,
    Position,
    is_compressed,
)

_SCAN = 1 << 16  # bytes read at a time while looking for a cut


@dataclass(frozen=True)
class Split:
    """Part ``index`` of ``count``: its pieces in corpus order (empty = a part with no text)."""

    index: int
    count: int
    pieces: tuple[Piece, ...]

    def to_json(self) -> dict:
        return {"index": self.index, "count": self.count, "pieces": [p.to_json() for p in self.pieces]}

    @classmethod
    def from_json(cls, d: dict) -> "Split":
        return cls(int(d["index"]), int(d["count"]), tuple(Piece.from_json(p) for p in d["pieces"]))


def make_splits(corpus: Corpus, k: int, line_window: int = BLOCK_BYTES) -> list[Split]:
    """The corpus cut into ``k`` >= 1 parts (see the module docstring)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k == 1:
        return [Split(0, 1, tuple(Piece(i, 0, None) for i in range(len(corpus.sources))))]
    sizes = [corpus.source_size(i) for i in range(len(corpus.sources))]
    total = sum(sizes)
    cuts = [(0, 0)]  # (source, offset): where each part starts
    for s in range(1, k):
        target = cuts[-1] if total == 0 else _locate(sizes, total * s // k)
        cuts.append(max(cuts[-1], _cut(corpus, sizes, *target, line_window)))
    cuts.append((len(sizes), 0))
    return [Split(s, k, _pieces(sizes, cuts[s], cuts[s + 1])) for s in range(k)]


def split_blocks(corpus: Corpus, split: Split, start: Position | None = None,
                 block_bytes: int = BLOCK_BYTES) -> Iterator[Block]:
    """The blocks of one part from ``start`` (a position within the part) to its end."""
    return corpus.piece_blocks(list(split.pieces), start, block_bytes)


def split_note(corpus: Corpus, splits: list[Split]) -> str | None:
    """One line saying why some parts are empty because compressed files cannot be cut (None if
    every part holds text, or none could)."""
    empty = sum(1 for s in splits if not s.pieces)
    packed = [p for p in corpus.sources if is_compressed(p)]
    if len(splits) < 2 or not empty or not packed:
        return None
    return (f"{len(packed)} compressed file(s) cannot be cut: {len(splits) - empty} of {len(splits)} parts hold "
            f"text, so {len(splits) - empty} reader(s) read it (to use more, cut it with 'w2v-nce split CORPUS -o DIR "
            f"--parts {len(splits)}' and train on DIR)")


def _locate(sizes: list[int], offset: int) -> tuple[int, int]:
    """(source, offset within it) of a global offset into the sources laid end to end."""
    for i, n in enumerate(sizes):
        if offset < n:
            return i, offset
        offset -= n
    return len(sizes), 0


def _cut(corpus: Corpus, sizes: list[int], source: int, offset: int, line_window: int) -> tuple[int, int]:
    """The first valid part start at or after (source, offset)."""
    if source >= len(sizes) or offset == 0:
        return source, offset
    if is_compressed(corpus.sources[source]):
        return source + 1, 0
    with corpus.open_source(source) as fh:
        at = _after(fh, offset - 1, b"\n", line_window)  # the byte before the cut may be the line break
        if at is None:
            at = _after(fh, offset - 1, WHITESPACE, None)
    if at is None or at >= sizes[source]:
        return source + 1, 0
    return source, at


def _after(fh, offset: int, stops: bytes, limit: int | None) -> int | None:
    """Offset just after the first byte of ``stops`` in [offset, offset + limit) (None = to the end)."""
    fh.seek(offset)
    seen = 0
    while limit is None or seen < limit:
        want = _SCAN if limit is None else min(_SCAN, limit - seen)
        buf = fh.read(want)
        if not buf:
            return None
        hits = [i for i in (buf.find(bytes([c])) for c in stops) if i >= 0]
        if hits:
            return offset + seen + min(hits) + 1
        seen += len(buf)
    return None


def _pieces(sizes: list[int], begin: tuple[int, int], end: tuple[int, int]) -> tuple[Piece, ...]:
    """The non-empty byte ranges from ``begin`` up to ``end`` ((source, offset) each)."""
    out = []
    for i in range(begin[0], min(end[0] + 1, len(sizes))):
        lo = begin[1] if i == begin[0] else 0
        hi = end[1] if i == end[0] else sizes[i]
        if hi > lo:
            out.append(Piece(i, lo, None if hi == sizes[i] else hi))
    return tuple(out)
