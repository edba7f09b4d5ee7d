"""Averaging K replicas: each row over the replicas that touched it, on a frequency-tiered schedule.

Rows are vocabulary ids, and ids are sorted by decreasing frequency, so "the top n rows" are
the n most frequent words. At sync number n (1-based) the top ``base * 2**tz(n)`` rows are
averaged (tz = trailing zeros of n; pWord2Vec's schedule): the hottest rows every sync, rarer
ones exponentially less often; all rows before each checkpoint and the outputs, and at each
epoch's end unless ``full_sync`` is end.

A replica's ``touched`` mask (uint8[V], ``kernels.TOUCHED_IN`` / ``TOUCHED_OUT`` bits) marks the
rows it may have changed since that row's last sync; it is cleared only for the rows synced.
Averaging a row over its touchers only (not over all K) keeps a rare word's update whole
(Spark's fix for SPARK-24666); a row no replica touched keeps its value, which all replicas
share since its last sync. After a sync of the top n rows every replica holds the same rows
[0, n).

With subwords the input is the table (``Model.input_table``) and the mask spans its rows too:
``sync_ranges`` says which rows of which matrices a sync averages (the n-gram rows, shared by
words of every frequency, at every sync).

The reduce is sharded by row blocks: block j's pieces (one per replica: the touched rows of the
block, as ids + values) go to one reducer, whose averaged block goes back to every replica.
``average_touched`` runs that in one process; the Ray backend runs one reducer per actor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..kernels.records import TOUCHED_IN, TOUCHED_OUT
from ..subwords import SubwordSettings


def trailing_zeros(n: int) -> int:
    """Trailing zero bits of n >= 1 (tz(1) = 0, tz(8) = 3)."""
    if n < 1:
        raise ValueError(f"sync numbers start at 1, got {n}")
    return (n & -n).bit_length() - 1


def tier_rows(sync_number: int, base: int, V: int) -> int:
    """Rows averaged at sync ``sync_number`` (1-based): the top min(V, base * 2**tz(n))."""
    return min(V, base << trailing_zeros(sync_number))


def row_blocks(rows: int, parts: int) -> list[tuple[int, int]]:
    """[0, rows) cut into ``parts`` contiguous (lo, hi) blocks of near-equal size (some may be empty)."""
    edges = np.linspace(0, rows, parts + 1).round().astype(np.int64)
    return [(int(edges[j]), int(edges[j + 1])) for j in range(parts)]


@dataclass
class Piece:
    """The touched rows of one replica (or, reduced, their averages) in block [lo, hi).

    ``in_ids`` int32[n] rows of w_in with ``w_in`` float32[n, D]; ``out_ids`` int32[m] rows of
    w_out and bias with ``w_out`` float32[m, D], ``bias`` float32[m]."""

    lo: int
    hi: int
    in_ids: np.ndarray
    w_in: np.ndarray
    out_ids: np.ndarray
    w_out: np.ndarray
    bias: np.ndarray

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.in_ids, self.w_in, self.out_ids, self.w_out, self.bias))


BOTH = TOUCHED_IN | TOUCHED_OUT
SYNC_STREAM_BYTES = 256 << 20  # rows of w_in + w_out + bias synced at a time (a full sync in stretches)


def sync_ranges(rows: int, V: int, sub: SubwordSettings | None) -> list[tuple[int, int, int]]:
    """(lo, hi, bits) for a sync of the top ``rows`` words of a V-word model: rows [lo, hi) of
    the input table (bits & TOUCHED_IN) and of w_out and bias (bits & TOUCHED_OUT). Word-only:
    the words' rows. Subwords: every touched row at every sync, the n-gram buckets' too
    (fastText's layout: the table's rows after V; compact: the whole table, which has no word
    rows). The tiers do not apply: n-gram rows averaged every sync beside rare words' rows
    averaged seldom diverged (mix8, K = 2, seed 2, at 10% of the epoch); every row trained (0.520
    analogy against K = 1's 0.525), for about twice the bytes a sync (docs/subwords.md)."""
    if sub is None:
        return [(0, rows, BOTH)]
    if sub.word_rows:
        return [(0, V, BOTH), (V, sub.table_rows(V), TOUCHED_IN)]
    return [(0, V, TOUCHED_OUT), (0, sub.table_rows(V), TOUCHED_IN)]


def stretches(rows: int, V: int, sub: SubwordSettings | None, dim: int) -> list[tuple[int, int, int]]:
    """``sync_ranges`` cut into (lo, hi, bits) stretches of at most ``SYNC_STREAM_BYTES`` of rows,
    so that no sync holds more than a stretch of pieces and their float64 sums at once."""
    step = max(1, SYNC_STREAM_BYTES // ((2 * dim + 1) * 4))
    return [(lo, min(last, lo + step), bits) for first, last, bits in sync_ranges(rows, V, sub)
            for lo in range(first, last, step)]


def extract_piece(w_in: np.ndarray, w_out: np.ndarray, bias: np.ndarray, touched: np.ndarray, lo: int,
                  hi: int, bits: int = BOTH) -> Piece:
    """One replica's touched rows of [lo, hi), of the matrices ``bits`` names: copies, or views
    of the block when every row of it is marked (a full sync, the hottest rows: no gather). A
    piece is read before any mean is applied (``average_touched``, ``mesh.average_on_mesh``)."""
    t = touched[lo:hi]

    def rows(bit: int, *matrices: np.ndarray) -> tuple:
        if not bits & bit:
            return (np.zeros(0, np.int32), *(m[:0] for m in matrices))
        ids = np.flatnonzero(t & bit)
        if len(ids) == hi - lo:
            return (np.arange(lo, hi, dtype=np.int32), *(m[lo:hi] for m in matrices))
        ids = (ids + lo).astype(np.int32)
        return (ids, *(m[ids] for m in matrices))

    in_ids, in_rows = rows(TOUCHED_IN, w_in)
    out_ids, out_rows, out_bias = rows(TOUCHED_OUT, w_out, bias)
    return Piece(lo, hi, in_ids, in_rows, out_ids, out_rows, out_bias)


def _mean_rows(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Per row some part holds: the float64 mean over the parts holding it -> (ids ascending,
    float32 values). Memory follows the rows held, not the block's span (an n-gram block is ~1M
    rows: a dense float64 accumulator was 800 MB at D = 100)."""
    if len(parts) > 1 and all(np.array_equal(ids, parts[0][0]) for ids, _ in parts[1:]):
        return _mean_same_rows(parts)
    shape = parts[0][1].shape[1:]
    rows = np.unique(np.concatenate([ids for ids, _ in parts])) if parts else np.zeros(0, np.int32)
    acc = np.zeros((len(rows),) + shape, np.float64)
    count = np.zeros(len(rows), np.int64)
    for ids, values in parts:  # ids are distinct within a part: plain fancy-index adds are exact
        at = np.searchsorted(rows, ids)
        acc[at] += values
        count[at] += 1
    mean = acc / np.maximum(count, 1).reshape((-1,) + (1,) * len(shape))
    return rows.astype(np.int32), mean.astype(np.float32)


def _mean_same_rows(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """``_mean_rows`` when every part holds the same rows (the hot rows, a full sync): the same
    float64 sums in the same order and the same division, bit for bit, without the index work
    (5x faster on 50k rows of D = 100)."""
    acc = np.zeros(parts[0][1].shape, np.float64)  # from +0.0 as there: -0.0 + -0.0 would stay -0.0
    for _, values in parts:
        acc += values
    acc /= len(parts)
    return parts[0][0].astype(np.int32), acc.astype(np.float32)


def reduce_pieces(pieces: list[Piece]) -> Piece:
    """Average the pieces of one block (one per replica): each row over the pieces holding it.
    One piece reduces to itself bit for bit (a float32 -> float64 -> float32 round trip)."""
    lo, hi = pieces[0].lo, pieces[0].hi
    in_ids, w_in = _mean_rows([(p.in_ids, p.w_in) for p in pieces])
    out_ids, w_out = _mean_rows([(p.out_ids, p.w_out) for p in pieces])
    _, bias = _mean_rows([(p.out_ids, p.bias) for p in pieces])
    return Piece(lo, hi, in_ids, w_in, out_ids, w_out, bias)


def apply_piece(w_in: np.ndarray, w_out: np.ndarray, bias: np.ndarray, piece: Piece) -> None:
    """Write a reduced block's rows into one replica's matrices (in place)."""
    w_in[piece.in_ids] = piece.w_in
    w_out[piece.out_ids] = piece.w_out
    bias[piece.out_ids] = piece.bias


@dataclass
class SyncStats:
    rows: int  # rows [0, rows) were synced
    bytes: int  # pieces up (each replica's touched rows) + reduced blocks down (to every replica)
    seconds: float = 0.0


def average_touched(replicas: list[tuple[np.ndarray, np.ndarray, np.ndarray]], touched: list[np.ndarray],
                    rows: int, parts: int = 1, first: int = 0, bits: int = BOTH) -> SyncStats:
    """Average rows [first, rows) of the replicas' (w_in, w_out, bias) in place (of the matrices
    ``bits`` names), in ``parts`` row blocks, each row over the replicas whose mask marks it;
    clears those marks."""
    sent = 0
    for lo, hi in row_blocks(rows - first, parts):
        pieces = [extract_piece(*m, t, first + lo, first + hi, bits) for m, t in zip(replicas, touched)]
        reduced = reduce_pieces(pieces)
        for m in replicas:
            apply_piece(*m, reduced)
        sent += sum(p.nbytes for p in pieces) + len(replicas) * reduced.nbytes
    for t in touched:
        t[first:rows] &= np.uint8(~bits & 0xFF)
    return SyncStats(rows, sent)
