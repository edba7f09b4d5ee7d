"""Parallel counting: T threads over corpus splits give exactly the serial vocabulary."""

from __future__ import annotations

import gzip
import os
from collections import Counter

import numpy as np
import pytest

from tests.corpora import mixed_corpus
from w2v_nce.text.corpus import Corpus
from w2v_nce.vocabulary.count import count_words
from w2v_nce.vocabulary.counter import WordCounter
from w2v_nce.vocabulary.vocab import Vocab, build_vocab


def _words(res) -> list[tuple[bytes, int]]:
    c = res.counter
    return [(c.word(i), int(c.counts[i])) for i in range(c.distinct)]


def _tie_corpus(path: str, seed: int = 3) -> None:
    """Many ties (counts 1..3) and repeats across the whole file, so first-seen order matters."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 40_000, 120_000)
    lines = [b" ".join(b"t%d" % i for i in ids[k:k + 37]) for k in range(0, len(ids), 37)]
    with open(path, "wb") as fh:
        fh.write(b"\n".join(lines) + "\n\u00e9t\u00e9 \u00e9t\u00e9 caf\u00e9\n".encode())


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_parallel_count_is_the_serial_one(tmp_path, threads):
    path = str(tmp_path / "t.txt")
    _tie_corpus(path)
    serial = count_words(Corpus([path]), max_token_bytes=4)
    par = count_words(Corpus([path]), max_token_bytes=4, threads=threads)
    assert _words(par) == _words(serial)  # same words, counts and first-seen ids
    assert (par.tokens, par.distinct, par.long_tokens, par.longest_token_bytes) == \
           (serial.tokens, serial.distinct, serial.long_tokens, serial.longest_token_bytes)
    assert par.stats == serial.stats
    v1, v2 = Vocab.build(serial.counter, 2), Vocab.build(par.counter, 2)
    assert v1.words == v2.words and v1.counts.tolist() == v2.counts.tolist()


def test_parallel_count_over_files_and_gz(tmp_path):
    paths = []
    for i in range(3):
        p = str(tmp_path / f"t{i}.txt")
        _tie_corpus(p, seed=i)
        if i == 1:
            data = open(p, "rb").read()
            os.unlink(p)
            p += ".gz"
            with open(p, "wb") as fh:
                fh.write(gzip.compress(data))
        paths.append(p)
    serial = count_words(Corpus(paths, lowercase=True))
    for threads in (2, 5):
        par = count_words(Corpus(paths, lowercase=True), threads=threads)
        assert _words(par) == _words(serial) and par.tokens == serial.tokens


def test_a_single_compressed_file_read_ahead_counts_as_serial_and_spills_alike(tmp_path, monkeypatch):
    """One .gz is one part: with threads > 1 it is decompressed on a read-ahead thread (also when
    the count spills), with exactly the serial result."""
    from w2v_nce.vocabulary import count as vocab_module

    src = str(tmp_path / "m.txt")
    mixed_corpus(src)
    path = src + ".gz"
    with open(path, "wb") as fh:
        fh.write(gzip.compress(open(src, "rb").read()))
    ahead = []
    monkeypatch.setattr(vocab_module, "read_ahead", lambda items, depth: ahead.append(depth) or iter(list(items)))
    serial = count_words(Corpus([path]))
    assert ahead == []
    par = count_words(Corpus([path]), threads=2)
    spilled = count_words(Corpus([path]), threads=2, count_memory=6 << 20, spill_dir=str(tmp_path))
    assert ahead == [vocab_module.COUNT_READ_AHEAD] * 2
    assert spilled.spill_runs >= 3
    monkeypatch.undo()
    real = count_words(Corpus([path]), threads=2)
    for res in (par, spilled, real):
        assert _words(res) == _words(serial)
        assert (res.tokens, res.distinct, res.stats) == (serial.tokens, serial.distinct, serial.stats)


def test_parallel_count_with_spilling_is_the_unbounded_one(tmp_path):
    path = str(tmp_path / "m.txt")
    mixed_corpus(path)
    spill = tmp_path / "spill"
    spill.mkdir()
    free = count_words(Corpus([path]))
    bounded = count_words(Corpus([path]), count_memory=6 << 20, spill_dir=str(spill), threads=2)
    assert bounded.spill_runs >= 3
    assert _words(bounded) == _words(free)
    assert (bounded.distinct, bounded.tokens) == (free.distinct, free.tokens)
    pruned, res = build_vocab(Corpus([path]), 2, 500, count_memory=6 << 20, spill_dir=str(spill), threads=3)
    ref = Vocab.build(free.counter, 2, 500)
    assert pruned.words == ref.words and pruned.counts.tolist() == ref.counts.tolist()
    assert res.distinct == free.distinct
    assert os.listdir(spill) == []


def test_merge_of_two_counters_is_counting_both_stretches():
    a, b = b"x y z y\n", b"w z w q x\n"
    both, first, second = WordCounter(), WordCounter(), WordCounter()
    both.add(a + b)
    first.add(a)
    second.add(b)
    first.merge(second)
    assert [first.word(i) for i in range(first.distinct)] == [both.word(i) for i in range(both.distinct)]
    assert first.counts[:first.distinct].tolist() == both.counts[:both.distinct].tolist()
    assert first.tokens == both.tokens == 9


def _first_seen(text: bytes) -> list[tuple[bytes, int]]:
    """The slow reference: words in first-seen order with their counts."""
    seen: dict[bytes, int] = {}
    for w in text.split():
        seen[w] = seen.get(w, 0) + 1
    return list(seen.items())


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("later_words", [5, 40_000])  # the first table's slots suffice / must be rebuilt
@pytest.mark.parametrize("index", [True, False])  # the last merge builds the slots / leaves them to add()
def test_threaded_merge_is_the_serial_count(monkeypatch, threads, later_words, index):
    """Lookups split over threads, new words appended in part order: the ids and counts of one
    counter over all the text, ties (count 1 and 2) in first-seen order, words only in later parts."""
    import w2v_nce.vocabulary.counter as V

    monkeypatch.setattr(V, "MIN_RANGE", 1)  # threads even for these few words
    rng = np.random.default_rng(later_words)
    stretches = [b" ".join(b"w%d" % i for i in rng.integers(0, 400, 900)) + b"\n",
                 b"w1 w2 only%d w3\n" % later_words,
                 b" ".join(b"v%d" % i for i in rng.integers(0, later_words, 2 * later_words)) + b" w7\n"]
    whole = b"".join(stretches)
    merged = WordCounter()
    merged.add(stretches[0])
    slots = len(merged.slots)
    for k, text in enumerate(stretches[1:], 2):
        part = WordCounter()
        part.add(text)
        merged.merge(part, threads=threads, index=index or k < len(stretches))
    assert [(merged.word(i), int(merged.counts[i])) for i in range(merged.distinct)] == _first_seen(whole)
    assert merged.tokens == len(whole.split())
    assert merged.slots is None if not index else (len(merged.slots) > slots) == (later_words > 30_000)
    merged.add(b"w1 brand-new\n")  # still a table: adding finds old words, appends new ones
    assert merged.as_counter() == Counter(dict(_first_seen(whole + b"w1 brand-new\n")))
    assert merged.word(merged.distinct - 1) == b"brand-new"


def test_an_error_in_one_counting_thread_is_raised(tmp_path):
    path = str(tmp_path / "t.txt")
    _tie_corpus(path)
    calls = []

    def progress(nbytes):
        calls.append(nbytes)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        count_words(Corpus([path]), progress, threads=2, block_bytes=1 << 16)


@pytest.mark.parametrize("parts, per", [(6, 2), (6, 4), (5, 1), (1, 1)])
def test_stretches_counted_apart_and_merged_are_the_serial_count(tmp_path, parts, per):
    """What a cluster's tasks do: each counts ``per`` consecutive splits of ``parts`` (a thread
    each) and ships its table; merged in corpus order it is exactly the serial count."""
    import pickle

    from w2v_nce.text.splits import make_splits
    from w2v_nce.vocabulary.count import count_splits, merge_counted

    path = str(tmp_path / "t.txt")
    _tie_corpus(path)
    corpus = Corpus([path])
    serial = count_words(corpus, max_token_bytes=4)
    splits = make_splits(corpus, parts)
    stretches = [pickle.loads(pickle.dumps(count_splits(corpus, splits[i:i + per], max_token_bytes=4)))
                 for i in range(0, len(splits), per)]  # pickled: as they travel from a Ray actor
    merged = merge_counted(stretches)
    assert _words(merged) == _words(serial)
    assert (merged.tokens, merged.distinct, merged.long_tokens, merged.longest_token_bytes) == \
           (serial.tokens, serial.distinct, serial.long_tokens, serial.longest_token_bytes) and merged.long_tokens > 0
    assert merged.stats == serial.stats
    empty_counter, empty_stats = count_splits(corpus, [])
    assert empty_counter.distinct == 0 and empty_stats.bytes == 0


def test_stretch_counting_stops_at_its_memory_bound_instead_of_spilling(tmp_path):
    from w2v_nce.text.splits import make_splits
    from w2v_nce.vocabulary.count import CountBoundReached, count_splits

    path = str(tmp_path / "t.txt")
    _tie_corpus(path)
    corpus = Corpus([path])
    splits = make_splits(corpus, 1)
    with pytest.raises(CountBoundReached):  # ~38k distinct words: the first table (32k words) must grow
        count_splits(corpus, splits, count_memory=200_000)
    counter, _ = count_splits(corpus, splits, count_memory=64 << 20)
    assert counter.distinct == count_words(corpus).distinct
