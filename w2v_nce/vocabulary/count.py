"""Counting a corpus: its parts in threads, spilling sorted runs to disk under ``count_memory``,
and the merge into one exact count.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..config import MAX_TOKEN_BYTES
from ..text.corpus import (
    BLOCK_BYTES,
    Corpus,
    ReadStats,
    continuation_bytes,
)
from ..text.readahead import read_ahead
from ..threads import ThreadGroup
from .counter import WordCounter
from .spill import SpillRuns

COUNT_READ_AHEAD = 4  # decompressed blocks (1 MiB each) held ahead of a single-part count


@dataclass
class CountResult:
    counter: WordCounter  # words in first-seen order; after a spill only those counted >= min_count
    tokens: int  # tokens read, over-long ones included (each once)
    stats: ReadStats
    distinct: int = 0  # distinct words (over-long tokens are not words)
    long_tokens: int = 0  # tokens longer than max_token_bytes: not in the vocabulary, never cut
    longest_token_bytes: int = 0  # the longest of them (0 = none)
    spill_runs: int = 0  # sorted runs written because counting reached count_memory (0 = none)
    spill_bytes: int = 0  # their size on disk


def count_words(corpus: Corpus, progress=None, max_token_bytes: int = MAX_TOKEN_BYTES, count_memory: int = 0,
                spill_dir: str | None = None, min_count: int = 1, block_bytes: int = BLOCK_BYTES,
                threads: int = 1) -> CountResult:
    """Exact token counts over one pass.

    Tokens longer than ``max_token_bytes`` (1 <= it < ``block_bytes``) are tallied, not counted
    as words; a token the reader had to split at a block end (longer than a block) is one such
    token, all its pieces together. With ``count_memory`` > 0 (bytes) the counting tables stay
    under it: when full, their words spill as sorted runs to a temp directory made inside
    ``spill_dir`` (None = the system's), removed at the end, also on error; the runs are merged
    into exactly the counts an unbounded pass gives, keeping words counted >= ``min_count``.

    ``threads`` > 1 cuts the corpus into that many parts (``splits.make_splits``) counted at
    once without the GIL, each in its own table (``count_memory`` / threads each), merged in
    part order: the same counts and the same first-seen order as one thread. ``progress`` is
    then called from the counting threads (one at a time). A corpus that is one part (a single
    compressed file) is decompressed on a second thread while the first counts.
    """
    if not 0 < max_token_bytes < block_bytes:
        raise ValueError(f"max_token_bytes must be in [1, {block_bytes}), got {max_token_bytes}")
    from ..text.splits import make_splits

    splits = [s for s in make_splits(corpus, threads) if s.pieces] if threads > 1 else []  # the non-empty parts
    with SpillRuns(spill_dir) as runs:
        if len(splits) > 1:
            parts = _count_parts(corpus, splits, progress, max_token_bytes, count_memory, runs, block_bytes)
        else:
            counter, stats = WordCounter(max_token_bytes, count_memory), ReadStats()
            blocks = corpus.blocks(block_bytes=block_bytes)
            if threads > 1:  # one part holds all the text (a single compressed file): decompressed on a second thread
                blocks = read_ahead(blocks, COUNT_READ_AHEAD)
            _count_blocks(blocks, counter, _PartRuns(runs), stats, progress)
            parts = [(counter, stats)]
        if not runs.runs:
            return merge_counted(parts)
        # the rest of each table is its part's last run; the merge gives the counts
        for t, (c, _) in enumerate(parts):
            if c.distinct:
                runs.write(c.arena, c.offsets, c.counts, c.distinct, _part_key(t, c.spilled) if len(parts) > 1 else None)
        stats = _summed_stats(parts)
        counter, distinct = _merged(_summed_tallies(parts), runs, min_count, count_memory)
        return CountResult(counter, counter.tokens, stats, distinct, counter.long_tokens, counter.longest_token_bytes,
                           runs.runs, runs.bytes)


def _part_key(part: int, run: int) -> int:
    """The spill key's high part of a parallel counter's run: parts in corpus order, then runs."""
    return part << 16 | run


class _PartRuns:
    """Where one counter spills: the shared runs, under keys that keep its part's place."""

    def __init__(self, runs: SpillRuns, part: int | None = None):
        self.runs, self.part, self.written = runs, part, 0

    def write(self, counter: WordCounter) -> None:
        key = None if self.part is None else _part_key(self.part, self.written)
        self.runs.write(counter.arena, counter.offsets, counter.counts, counter.distinct, key)
        self.written += 1
        counter.spilled = self.written


def _count_blocks(blocks, counter: WordCounter, runs: _PartRuns, stats: ReadStats, progress,
                  halt: threading.Event | None = None) -> None:
    """Count a stream of blocks into ``counter`` (spilling into ``runs`` when it is full)."""
    split_bytes = 0  # bytes so far of a token split across blocks (0 = none in progress)
    for block in blocks:
        if halt is not None and halt.is_set():
            return
        stats.add(block.stats)
        start = 0
        if block.stats.forced_splits:  # the whole block is one piece of an over-long token
            split_bytes += len(block.data)
        elif block.continues_split:  # its first bytes end that token
            start = continuation_bytes(block)
            counter.add_long_token(split_bytes + start)
            split_bytes = 0
        if not block.stats.forced_splits:
            _add_spilling(counter, runs, block.data, start)
        if progress is not None:
            progress(block.stats.bytes)


def _count_parts(corpus: Corpus, splits: list, progress, max_token_bytes: int, count_memory: int, runs: SpillRuns,
                 block_bytes: int) -> list[tuple[WordCounter, ReadStats]]:
    """Count the corpus's ``splits`` at once, a thread each; (counter, stats) per split, in
    split order. An error in one thread stops the others and is raised here."""
    from ..text.splits import split_blocks

    threads = len(splits)
    memory = count_memory // threads if count_memory else 0
    parts = [(WordCounter(max_token_bytes, memory), ReadStats()) for _ in splits]
    lock, halt = threading.Lock(), threading.Event()

    def report(nbytes: int) -> None:
        with lock:
            progress(nbytes)

    def count(t: int) -> None:
        blocks = split_blocks(corpus, splits[t], block_bytes=block_bytes)
        if threads == 1:  # one split (a cluster task's single compressed file): decompressed on a second thread
            blocks = read_ahead(blocks, COUNT_READ_AHEAD)
        _count_blocks(blocks, parts[t][0], _PartRuns(runs, t), parts[t][1],
                      report if progress is not None else None, halt)

    group = ThreadGroup(threads, count, on_error=halt.set, name="w2v-nce-count")
    group.join()
    group.raise_error()
    return parts


def _summed_stats(parts: list[tuple[WordCounter, ReadStats]]) -> ReadStats:
    stats = ReadStats()
    for _, part_stats in parts:
        stats.add(part_stats)
    return stats


def _summed_tallies(parts: list[tuple[WordCounter, ReadStats]]) -> WordCounter:
    """The first counter, its words dropped, holding every part's token tallies."""
    first = parts[0][0]
    for c, _ in parts[1:]:
        first.add_tallies(c)
        c.slots = c.arena = c.offsets = c.counts = None
    return first


def _merged_tables(counters: list[WordCounter]) -> WordCounter:
    """One table of all counters' words in part order (so ids stay in first-seen order), freeing
    each counter once merged; the result has no memory bound (it holds the vocabulary)."""
    merged = counters[0]
    merged.memory_limit = 0
    for j, c in enumerate(counters[1:], 2):  # the result is only read: its last merge builds no slots
        merged.merge(c, threads=len(counters), index=j < len(counters))
        c.slots = c.arena = c.offsets = c.counts = None
    return merged


class CountBoundReached(Exception):
    """A ``count_splits`` table reached its memory bound: that count needs spilling (one machine)."""


class _NoSpill(SpillRuns):
    """Runs that refuse to be written: ``count_splits`` stops instead of spilling."""

    def write(self, *_, **__) -> None:
        raise CountBoundReached("a counting table reached its memory bound")


def count_splits(corpus: Corpus, splits: list, max_token_bytes: int = MAX_TOKEN_BYTES, count_memory: int = 0,
                 block_bytes: int = BLOCK_BYTES, progress=None) -> tuple[WordCounter, ReadStats]:
    """Count consecutive ``splits`` of the corpus (a thread each) into one table in their
    order: one contiguous stretch of the corpus, as a cluster task counts its share.
    ``merge_counted`` of such stretches, in corpus order, gives ``count_words``' result.
    ``count_memory`` (bytes, 0 = none) bounds the tables together; reaching it raises
    ``CountBoundReached`` (a count that big spills, which one machine does: ``count_words``).
    ``progress(nbytes)``, if given, is called as bytes are counted (an exception it raises stops the count)."""
    if not splits:
        return WordCounter(max_token_bytes), ReadStats()
    with _NoSpill(None) as runs:
        parts = _count_parts(corpus, splits, progress, max_token_bytes, count_memory, runs, block_bytes)
    return _merged_tables([c for c, _ in parts]), _summed_stats(parts)


def merge_counted(stretches: list[tuple[WordCounter, ReadStats]]) -> CountResult:
    """The ``CountResult`` of consecutive stretches' counts (``count_splits``, or one machine's
    per-thread tables), in corpus order: the counts and first-seen ids of counting them as one
    pass. The first stretch's table becomes the result (its arrays must be writable)."""
    stats = _summed_stats(stretches)
    counter = _merged_tables([c for c, _ in stretches])
    return CountResult(counter, counter.tokens, stats, counter.distinct, counter.long_tokens,
                       counter.longest_token_bytes)


def _add_spilling(counter: WordCounter, runs: _PartRuns, data: bytes, start: int) -> None:
    """counter.add(data[start:]), writing a run and clearing the table each time it is full."""
    pos = counter.add(data, start)
    while pos < len(data):
        runs.write(counter)
        counter.clear()
        pos = counter.add(data, pos)


def _merged(counter: WordCounter, runs: SpillRuns, min_count: int, count_memory: int) -> tuple[WordCounter, int]:
    """Free the table and merge the runs: (a counter of the kept words with ``counter``'s token
    tallies, distinct words over all runs)."""
    counter.slots = counter.arena = counter.offsets = counter.counts = None
    merged = runs.merge(min_count, count_memory)
    return WordCounter.from_arrays(merged.arena, merged.offsets, merged.counts, counter,
                                   counter.max_token_bytes), merged.distinct
