"""Counting web-scale text: over-long tokens are left out of the vocabulary and reported (never
cut), a token the reader splits at a block end stays one token, and counting under a memory
bound (sorted runs spilled to disk, merged) gives exactly the unbounded vocabulary."""

from __future__ import annotations

import os
import tracemalloc
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.corpora import mixed_corpus
from w2v_nce.config import Config, validate
from w2v_nce.errors import ConfigError, OutputError
from w2v_nce.stream import id_chunks
from w2v_nce.text.corpus import BLOCK_BYTES, Corpus, Position, continuation_bytes
from w2v_nce.vocabulary.count import count_words
from w2v_nce.vocabulary.spill import sort_words
from w2v_nce.vocabulary.vocab import Vocab, build_vocab


def _write(tmp_path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def _words(res) -> list[tuple[bytes, int]]:
    c = res.counter
    return [(c.word(i), int(c.counts[i])) for i in range(c.distinct)]


# -- over-long tokens ----------------------------------------------------------------------
def test_tokens_over_max_token_bytes_are_left_out_and_reported(tmp_path):
    path = _write(tmp_path, "c.txt", b"a bb " + b"x" * 2000 + b" a\n" + b"y" * 1001 + b" " + b"z" * 1000)
    res = count_words(Corpus([path]), max_token_bytes=1000)
    assert dict(_words(res)) == {b"a": 2, b"bb": 1, b"z" * 1000: 1}  # 1000 bytes is not over
    assert (res.long_tokens, res.longest_token_bytes, res.tokens, res.distinct) == (2, 2000, 6, 3)
    vocab, _ = build_vocab(Corpus([path]), 1, max_token_bytes=1000)
    chunk = next(id_chunks(Corpus([path]), vocab, 100))
    assert chunk.oov_tokens == 2  # at encode time an over-long token is out of vocabulary


def test_ten_megabyte_token_split_by_the_reader_is_one_long_token(tmp_path):
    token = b"q" * (10 << 20)
    path = _write(tmp_path, "big.txt", token + b" qqqq the cat\nthe dog\n")
    vocab, res = build_vocab(Corpus([path]), 1)
    assert res.stats.forced_splits == 10  # the reader cut it into 1 MiB pieces ...
    assert (res.long_tokens, res.longest_token_bytes) == (1, 10 << 20)  # ... counting sees one token
    assert dict(zip(vocab.words, vocab.counts.tolist())) == {"the": 2, "qqqq": 1, "cat": 1, "dog": 1}
    assert res.tokens == 6


B_SMALL = 4096
# blocks of 4096: "w " | 8190 z's (split: no whitespace) | "zzz zzz w\n": the token's last piece is "zzz"
SPLIT_TEXT = b"w " + b"z" * (2 * B_SMALL + 1) + b" zzz w\n"


def test_continuation_of_a_split_token_is_not_a_word(tmp_path):
    path = _write(tmp_path, "s.txt", SPLIT_TEXT)
    res = count_words(Corpus([path]), max_token_bytes=100, block_bytes=B_SMALL)
    assert res.stats.forced_splits == 1
    assert dict(_words(res)) == {b"w": 2, b"zzz": 1}  # the token's last piece is no "zzz"
    assert (res.long_tokens, res.longest_token_bytes, res.tokens) == (1, 2 * B_SMALL + 1, 4)


def test_encoding_treats_the_last_piece_of_a_split_token_as_oov(tmp_path):
    path = _write(tmp_path, "s.txt", SPLIT_TEXT)
    vocab = Vocab.build(count_words(Corpus([path]), max_token_bytes=100, block_bytes=B_SMALL).counter, 1)
    ids = np.concatenate([c.ids for c in id_chunks(Corpus([path]), vocab, 100, block_bytes=B_SMALL)])
    assert [vocab.words[i] for i in ids if i >= 0] == ["w", "zzz", "w"]


def test_position_after_a_split_remembers_it(tmp_path):
    B = 64
    path = _write(tmp_path, "p.txt", b"a " + b"k" * (3 * B) + b" b")
    blocks = list(Corpus([path]).blocks(block_bytes=B))
    flags = [b.continues_split for b in blocks]
    assert flags[0] is False and any(flags)
    i = flags.index(True) - 1
    after = blocks[i].position_after
    assert after.split and Position.from_json(after.to_json()) == after
    resumed = next(Corpus([path]).blocks(after, block_bytes=B))
    assert resumed.continues_split and continuation_bytes(resumed) > 0
    assert continuation_bytes(blocks[0]) == 0
    assert "split" not in Position(0, 1, b"x").to_json()  # old checkpoints' positions unchanged


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet="ab \n", max_size=2500), st.integers(16, 200), st.integers(1, 15))
def test_counts_match_reference_for_any_block_and_token_limit(tmp_path_factory, text, block, limit):
    data = text.encode()
    path = tmp_path_factory.mktemp("h") / "h.txt"
    path.write_bytes(data)
    res = count_words(Corpus([str(path)]), max_token_bytes=limit, block_bytes=block)
    tokens = data.split()
    long = [len(t) for t in tokens if len(t) > limit]
    assert dict(_words(res)) == Counter(t for t in tokens if len(t) <= limit)
    assert [w for w, _ in _words(res)] == list(dict.fromkeys(t for t in tokens if len(t) <= limit))
    assert (res.long_tokens, res.longest_token_bytes, res.tokens) == (len(long), max(long, default=0), len(tokens))


def test_max_token_bytes_and_count_memory_are_checked_settings():
    cfg = Config()
    assert cfg.max_token_bytes == 1000 and cfg.count_memory == 2 << 30
    for key, value in (("max_token_bytes", 0), ("max_token_bytes", BLOCK_BYTES), ("count_memory", 1 << 20),
                       ("count_memory", -1)):
        with pytest.raises(ConfigError, match="--" + key.replace("_", "-")):
            validate(Config(**{key: value}))
    validate(Config(count_memory=0))
    with pytest.raises(ValueError):
        count_words(Corpus([__file__]), max_token_bytes=BLOCK_BYTES)


# -- counting under a memory bound -----------------------------------------------------------
def test_spilled_count_is_identical_to_the_unbounded_one(tmp_path):
    path = str(tmp_path / "m.txt")
    mixed_corpus(path)
    spill = tmp_path / "spill"
    spill.mkdir()
    free = count_words(Corpus([path]))
    bounded = count_words(Corpus([path]), count_memory=3 << 20, spill_dir=str(spill))
    assert free.spill_runs == 0 and bounded.spill_runs >= 3 and bounded.spill_bytes > 0
    assert _words(bounded) == _words(free)  # same words, counts and first-seen ids
    assert (bounded.distinct, bounded.tokens) == (free.distinct, free.tokens)
    for min_count, max_vocab in ((1, 0), (3, 0), (2, 500)):
        pruned, res = build_vocab(Corpus([path]), min_count, max_vocab, count_memory=3 << 20, spill_dir=str(spill))
        ref = Vocab.build(free.counter, min_count, max_vocab)
        assert pruned.words == ref.words and pruned.counts.tolist() == ref.counts.tolist()
        assert res.distinct == free.distinct
    assert os.listdir(spill) == []  # the runs' directory is gone


def test_spill_directory_is_removed_on_error(tmp_path):
    path = str(tmp_path / "m.txt")
    mixed_corpus(path, tokens=200_000)
    spill = tmp_path / "spill"
    spill.mkdir()
    seen = []

    def progress(nbytes):
        seen.append(os.listdir(spill))
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        count_words(Corpus([path]), progress, count_memory=2 << 20, spill_dir=str(spill))
    assert any(seen) and os.listdir(spill) == []
    with pytest.raises(OutputError, match="cannot write the vocabulary count's spill files"):
        count_words(Corpus([path]), count_memory=2 << 20, spill_dir=str(tmp_path / "missing"))


def test_counting_memory_stays_under_the_bound(tmp_path):
    path = str(tmp_path / "u.txt")
    with open(path, "wb") as fh:  # 600k distinct words
        for k in range(0, 600_000, 10_000):
            fh.write(b" ".join(b"%07x" % (i * 2654435761 % (1 << 28)) for i in range(k, k + 10_000)) + b"\n")
    peaks = {}
    for bound in (0, 6 << 20):
        tracemalloc.start()
        try:
            res = count_words(Corpus([path]), count_memory=bound, spill_dir=str(tmp_path), min_count=2)
            peaks[bound] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert res.distinct == 600_000
    reader = 4 * BLOCK_BYTES  # a block, its carry and the bytes object it is joined from
    assert peaks[6 << 20] < (6 << 20) + reader < peaks[0]


def test_sort_words_orders_as_python_bytes():
    words = [b"b", b"a", b"", b"a\x00", b"abcdefgh", b"abcdefghi", b"abcdefgg\xff", b"\xff", b"abcdefgh\x00"]
    arena = np.frombuffer(b"".join(words), np.uint8).copy()
    offsets = np.cumsum([0] + [len(w) for w in words])
    order = sort_words(arena, offsets, len(words))
    assert [words[i] for i in order] == sorted(words)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 3000), min_size=1, max_size=20_000), st.integers(1, 6), st.integers(1, 3))
def test_merge_of_runs_matches_one_table(tmp_path_factory, ids, k, min_count):
    """Runs of consecutive stretches of a token stream merge to one table's counts and first-seen
    order; 64 KiB windows (memory 0) make every run refill many times."""
    from w2v_nce.vocabulary.counter import WordCounter
    from w2v_nce.vocabulary.spill import SpillRuns

    tokens = [b"tok-%d-" % i * (1 + i % 9) for i in ids]  # 6 to 90 bytes, shared prefixes
    ref = Counter(tokens)
    first_seen = list(dict.fromkeys(tokens))
    with SpillRuns(str(tmp_path_factory.mktemp("runs"))) as runs:
        for part in np.array_split(np.arange(len(tokens)), k):
            wc = WordCounter()
            wc.add(b" ".join(tokens[i] for i in part))
            runs.write(wc.arena, wc.offsets, wc.counts, wc.distinct)
        merged = runs.merge(min_count, 0)
    got = [(merged.arena[a:b].tobytes(), int(c)) for a, b, c in zip(merged.offsets, merged.offsets[1:], merged.counts)]
    assert got == [(w, ref[w]) for w in first_seen if ref[w] >= min_count]
    assert merged.distinct == len(ref)
