"""Exact word counts beyond memory: sorted runs on disk and their k-way merge.

When the counting table reaches its memory bound, its words are written as a *run*: sorted
by their UTF-8 bytes (unsigned, shorter prefix first, as Python orders bytes), each with its
count and a first-seen key ``run << 32 | id in the run``. Runs cover consecutive stretches of
the corpus and ids within a run follow first occurrence, so the smallest key of a word over
all runs orders words exactly as one unbounded table's ids would. The merge streams every
run from disk through fixed-size windows, sums the counts of equal words, keeps the smallest
key, and keeps only words counted ``min_count`` times or more (the rest cannot enter the
vocabulary); the survivors come back in first-seen order.

A run is two files: ``run-K.words`` (the words' bytes, concatenated in sorted order) and
``run-K.index`` (int64 triples: end offset of the word in ``.words``, count, first-seen key).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass

import numpy as np
from numba import njit

from ..errors import OutputError

_WRITE_ENTRIES = 1 << 14  # words written per chunk of a run
_WRITE_BYTES = 1 << 20  # their bytes are gathered and written this many at a time (plus one word)
_MIN_WINDOW = 64 << 10  # bytes of a run's merge window (words + entries), at least
_ENTRY_FIELDS = 3  # end, count, first-seen key (int64 each) in the .index file
_WINDOW_ENTRY_BYTES = 32  # a loaded entry: start, end, count, key (int64 each)


def run_write_bytes(n: int) -> int:
    """Memory (bytes) that writing a run of ``n`` words allocates beyond the table: the 8-byte
    prefix keys, their argsort and a tie-sort buffer (8 bytes each a word), and the chunk buffers
    (64 bytes an entry, 2 MiB of gathered words at most)."""
    return 24 * n + 64 * _WRITE_ENTRIES + 2 * _WRITE_BYTES


@dataclass
class Merged:
    """Words counted >= min_count, in first-seen order: word i is arena[offsets[i]:offsets[i+1]]."""

    arena: np.ndarray  # uint8[N]
    offsets: np.ndarray  # int64[K+1]
    counts: np.ndarray  # int64[K]
    distinct: int  # distinct words over all runs, kept or not


class SpillRuns:
    """Sorted runs in a private temp directory made (on the first run) inside ``parent``
    (None = the system's temp dir). A context manager: the directory is removed on exit,
    on error too. OS errors are ``OutputError`` saying what to do."""

    def __init__(self, parent: str | None = None):
        self.parent = parent
        self.directory: str | None = None
        self.sizes: list[int] = []  # entries per run
        self.longest = 0  # bytes of the longest word written: a merge window must hold it
        self._lock = threading.Lock()  # parallel counters write runs of their own

    @property
    def runs(self) -> int:
        return len(self.sizes)

    @property
    def bytes(self) -> int:
        """Bytes on disk over all runs."""
        return sum(os.path.getsize(self._path(r, ext)) for r in range(self.runs) for ext in ("words", "index"))

    def __enter__(self) -> "SpillRuns":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def _path(self, run: int, ext: str) -> str:
        return os.path.join(self.directory, f"run-{run:05d}.{ext}")

    def _fail(self, exc: OSError) -> OutputError:
        where = self.directory or self.parent or tempfile.gettempdir()
        return OutputError(f"{where}: cannot write the vocabulary count's spill files ({exc.strerror or exc}); "
                           "free disk space there or raise --count-memory")

    # -- writing --------------------------------------------------------------------
    def write(self, arena: np.ndarray, offsets: np.ndarray, counts: np.ndarray, n: int, key_run: int | None = None) -> None:
        """Write words 0..n-1 of a table (arena uint8, offsets int64[n+1], counts int64[n]) as the next run.

        ``key_run`` (< 2**31; default: the run's number) is the first-seen key's high part: runs
        written by parallel counters pass (part << 16 | their own run number), so the keys still
        order words as the corpus does. Safe to call from several threads."""
        order = sort_words(arena, offsets, n)
        with self._lock:
            run = self.runs
            self.sizes.append(0)  # reserves the number; the size is set once written
        key = run if key_run is None else key_run
        with self._lock:
            self.longest = max(self.longest, int(np.diff(offsets[: n + 1]).max(initial=0)))
            try:
                if self.directory is None:
                    self.directory = tempfile.mkdtemp(prefix=".w2v-nce-count-", dir=self.parent)
            except OSError as exc:
                raise self._fail(exc) from None
        try:
            with open(self._path(run, "words"), "wb") as fw, open(self._path(run, "index"), "wb") as fi:
                end = 0  # bytes written to .words
                for lo in range(0, n, _WRITE_ENTRIES):
                    chunk = order[lo:lo + _WRITE_ENTRIES]
                    ends = np.cumsum(offsets[chunk + 1] - offsets[chunk])  # within the chunk
                    entries = np.empty((len(chunk), _ENTRY_FIELDS), dtype=np.int64)
                    entries[:, 0] = ends + end
                    entries[:, 1] = counts[chunk]
                    entries[:, 2] = (key << 32) | chunk
                    fi.write(entries)
                    _write_words(fw, arena, offsets, chunk, ends)
                    end += int(ends[-1])
        except OSError as exc:
            raise self._fail(exc) from None
        self.sizes[run] = n

    # -- merging --------------------------------------------------------------------
    def merge(self, min_count: int, memory: int) -> Merged:
        """Merge all runs; windows and output buffers take about ``memory`` / 2 bytes in all
        (at least 64 KiB and twice the longest word a run), the kept words come on top."""
        k = self.runs
        window = max(_MIN_WINDOW, 4 * self.longest, memory // (4 * max(k, 1)))
        wbytes = window // 2  # words' bytes per run window
        wentries = max(1, (window - wbytes) // _WINDOW_ENTRY_BYTES)
        words = np.empty(k * wbytes, dtype=np.uint8)
        starts = np.empty(k * wentries, dtype=np.int64)
        ends = np.empty(k * wentries, dtype=np.int64)
        counts = np.empty(k * wentries, dtype=np.int64)
        keys = np.empty(k * wentries, dtype=np.int64)
        out_words = np.empty(k * wbytes, dtype=np.uint8)
        out = np.empty((k * wentries, 3), dtype=np.int64)  # end, count, key of each kept word
        pos = np.zeros(k, dtype=np.int64)
        hi = np.zeros(k, dtype=np.int64)
        more = np.array([size > 0 for size in self.sizes], dtype=np.bool_)  # entries still on disk
        readers = [_RunReader(self._path(r, "words"), self._path(r, "index"), self.sizes[r]) for r in range(k)]
        kept_words, kept_entries = [], []
        tally = np.zeros(1, dtype=np.int64)  # distinct words
        try:
            while True:
                for r, reader in enumerate(readers):
                    if pos[r] == hi[r] and more[r]:
                        lo = r * wentries
                        m = reader.read(words, r * wbytes, wbytes, starts, ends, counts, keys, lo, wentries)
                        pos[r], hi[r] = lo, lo + m
                        more[r] = not reader.done
                if not np.any(pos < hi):
                    break
                kept = _merge_step(words, starts, ends, counts, keys, pos, hi, more, min_count, out_words, out, tally)
                if kept:
                    used = int(out[kept - 1, 0])
                    kept_words.append(out_words[:used].copy())
                    kept_entries.append(out[:kept].copy())
        except OSError as exc:
            raise OutputError(f"{self.directory}: cannot read the vocabulary count's spill files ({exc.strerror}); "
                              "was the directory removed?") from None
        finally:
            for reader in readers:
                reader.close()
        del words, starts, ends, counts, keys, out_words, out
        return _first_seen_order(kept_words, kept_entries, int(tally[0]))


class _RunReader:
    """Reads one run forward into a merge window."""

    def __init__(self, words_path: str, index_path: str, n: int):
        self.fw = open(words_path, "rb")
        self.fi = open(index_path, "rb")
        self.n = n
        self.next = 0  # next entry to read
        self.byte = 0  # bytes of .words consumed

    @property
    def done(self) -> bool:
        return self.next >= self.n

    def read(self, words, wlo, wcap, starts, ends, counts, keys, elo, ecap) -> int:
        """Load the next entries whose words fit in words[wlo:wlo+wcap] (and at most ``ecap``) at
        entry index ``elo``; returns how many (at least one: wcap holds the longest word)."""
        self.fi.seek(self.next * _ENTRY_FIELDS * 8)
        m = min(ecap, self.n - self.next)
        raw = np.fromfile(self.fi, dtype=np.int64, count=m * _ENTRY_FIELDS).reshape(-1, _ENTRY_FIELDS)
        rel = raw[:, 0] - self.byte  # ends relative to the window
        m = max(1, int(np.searchsorted(rel, wcap, side="right")))
        rel = rel[:m]
        nbytes = int(rel[-1])
        if self.fw.readinto(memoryview(words)[wlo:wlo + nbytes]) != nbytes:
            raise OSError(0, "a spill file is shorter than its index")
        ends[elo:elo + m] = wlo + rel
        starts[elo] = wlo
        starts[elo + 1:elo + m] = ends[elo:elo + m - 1]
        counts[elo:elo + m] = raw[:m, 1]
        keys[elo:elo + m] = raw[:m, 2]
        self.next += m
        self.byte += nbytes
        return m

    def close(self) -> None:
        self.fw.close()
        self.fi.close()


def _write_words(fh, arena: np.ndarray, offsets: np.ndarray, ids: np.ndarray, ends: np.ndarray) -> None:
    """Write the words of ``ids`` (``ends``: their cumulative lengths) in pieces of about
    ``_WRITE_BYTES``."""
    a = 0
    while a < len(ids):
        base = int(ends[a - 1]) if a else 0
        b = max(a + 1, int(np.searchsorted(ends, base + _WRITE_BYTES, side="right")))
        out = np.empty(int(ends[b - 1]) - base, dtype=np.uint8)
        _gather(arena, offsets, ids[a:b], out)
        fh.write(out)
        a = b


def _first_seen_order(kept_words: list[np.ndarray], kept_entries: list[np.ndarray], distinct: int) -> Merged:
    """Concatenate the merge's output (byte order) and reorder it by first-seen key."""
    if not kept_entries:
        return Merged(np.zeros(0, np.uint8), np.zeros(1, np.int64), np.zeros(0, np.int64), distinct)
    arena = np.concatenate(kept_words)
    ends = np.concatenate([e[:, 0] for e in kept_entries])
    base = np.cumsum([0] + [len(w) for w in kept_words[:-1]])  # each chunk's ends start at 0
    ends += np.repeat(base, [len(e) for e in kept_entries])
    counts = np.concatenate([e[:, 1] for e in kept_entries])
    keys = np.concatenate([e[:, 2] for e in kept_entries])
    del kept_words[:], kept_entries[:]
    offsets = np.zeros(len(ends) + 1, dtype=np.int64)
    offsets[1:] = ends
    order = np.argsort(keys)  # keys are distinct
    lengths = offsets[order + 1] - offsets[order]
    out = np.empty(len(arena), dtype=np.uint8)
    _gather(arena, offsets, order, out)
    new_offsets = np.zeros(len(order) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    return Merged(out, new_offsets, counts[order], distinct)


# ---------------------------------------------------------------------------------------
# sorting a table's words by their bytes
# ---------------------------------------------------------------------------------------
def sort_words(arena: np.ndarray, offsets: np.ndarray, n: int) -> np.ndarray:
    """Ids 0..n-1 ordered by their words' bytes (int64[n]): NumPy sorts 8-byte big-endian
    prefixes, then words sharing a prefix are merge-sorted by their full bytes."""
    keys = np.empty(n, dtype=np.uint64)
    _prefix_keys(arena, offsets, keys)
    order = np.argsort(keys)
    _sort_ties(order, keys, arena, offsets)
    return order


@njit(cache=True, nogil=True)
def _prefix_keys(arena, offsets, keys):
    """keys uint64[n]: the first 8 bytes of word i, big-endian, zero-padded (orders as bytes do,
    except that ties, including b"a" vs b"a\\x00", need the full comparison)."""
    for i in range(keys.shape[0]):
        a = offsets[i]
        m = min(offsets[i + 1] - a, 8)
        k = np.uint64(0)
        for j in range(8):
            k = k << np.uint64(8)
            if j < m:
                k = k | np.uint64(arena[a + j])
        keys[i] = k


@njit(cache=True, nogil=True)
def _less(wa, a0, a1, wb, b0, b1):
    """bytes wa[a0:a1] < bytes wb[b0:b1] (unsigned, a proper prefix is smaller)."""
    na = a1 - a0
    nb = b1 - b0
    for j in range(min(na, nb)):
        x = wa[a0 + j]
        y = wb[b0 + j]
        if x != y:
            return x < y
    return na < nb


@njit(cache=True, nogil=True)
def _equal(wa, a0, a1, wb, b0, b1):
    if a1 - a0 != b1 - b0:
        return False
    for j in range(a1 - a0):
        if wa[a0 + j] != wb[b0 + j]:
            return False
    return True


@njit(cache=True, nogil=True)
def _sort_ties(order, keys, arena, offsets):
    """Within each run of equal prefix keys in ``order`` (int64[n], sorted by key), sort ids by
    their full bytes: bottom-up merge sort, scratch the size of the largest run."""
    n = order.shape[0]
    biggest = 0
    i = 0
    while i < n:
        j = i + 1
        while j < n and keys[order[j]] == keys[order[i]]:
            j += 1
        biggest = max(biggest, j - i)
        i = j
    if biggest < 2:
        return
    tmp = np.empty(biggest, dtype=np.int64)
    i = 0
    while i < n:
        j = i + 1
        while j < n and keys[order[j]] == keys[order[i]]:
            j += 1
        if j - i > 1:
            _merge_sort(order[i:j], tmp, arena, offsets)
        i = j


@njit(cache=True, nogil=True)
def _merge_sort(ids, tmp, arena, offsets):
    """Sort ids (int64 view) by word bytes in place; tmp int64[>= len(ids)]."""
    n = ids.shape[0]
    src = ids
    dst = tmp[:n]
    in_tmp = False  # whether src is tmp
    width = 1
    while width < n:
        lo = 0
        while lo < n:
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            a, b, k = lo, mid, lo
            while a < mid and b < hi:
                x = src[a]
                y = src[b]
                if _less(arena, offsets[y], offsets[y + 1], arena, offsets[x], offsets[x + 1]):
                    dst[k] = y
                    b += 1
                else:
                    dst[k] = x
                    a += 1
                k += 1
            while a < mid:
                dst[k] = src[a]
                a += 1
                k += 1
            while b < hi:
                dst[k] = src[b]
                b += 1
                k += 1
            lo = hi
        src, dst = dst, src
        in_tmp = not in_tmp
        width *= 2
    if in_tmp:
        ids[:] = src


@njit(cache=True, nogil=True)
def _gather(arena, offsets, ids, out):
    """out uint8[sum of lengths]: the words of ``ids`` concatenated in that order."""
    k = 0
    for i in ids:
        for j in range(offsets[i], offsets[i + 1]):
            out[k] = arena[j]
            k += 1


# ---------------------------------------------------------------------------------------
# one step of the k-way merge
# ---------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _merge_step(words, starts, ends, counts, keys, pos, hi, more, min_count, out_words, out, tally):
    """Merge the loaded windows of k runs as far as is safe; returns the number of words kept.

    Run r's window is entries pos[r]..hi[r]-1 (word e is words[starts[e]:ends[e]]); more[r]
    says whether the run has entries still on disk, all larger than its window's last word.
    So every word up to the smallest such last word (the bound) has all its copies loaded:
    those are merged (counts summed, smallest key kept) and the window of the bound's run is
    emptied. Kept words (count >= min_count) go to out_words / out (end, count, key), in byte
    order; tally[0] += distinct words merged.
    """
    k = pos.shape[0]
    bound = -1
    for r in range(k):
        if more[r] and pos[r] < hi[r]:
            e = hi[r] - 1
            if bound < 0 or _less(words, starts[e], ends[e], words, starts[bound], ends[bound]):
                bound = e
    kept = 0
    used = 0
    while True:
        m = -1
        for r in range(k):
            if pos[r] < hi[r]:
                e = pos[r]
                if m < 0 or _less(words, starts[e], ends[e], words, starts[m], ends[m]):
                    m = e
        if m < 0:
            break
        if bound >= 0 and _less(words, starts[bound], ends[bound], words, starts[m], ends[m]):
            break
        s0 = starts[m]
        s1 = ends[m]
        total = 0
        key = keys[m]
        for r in range(k):
            e = pos[r]
            if e < hi[r] and _equal(words, starts[e], ends[e], words, s0, s1):
                total += counts[e]
                key = min(key, keys[e])
                pos[r] = e + 1
        tally[0] += 1
        if total >= min_count:
            for j in range(s0, s1):
                out_words[used] = words[j]
                used += 1
            out[kept, 0] = used
            out[kept, 1] = total
            out[kept, 2] = key
            kept += 1
    return kept
