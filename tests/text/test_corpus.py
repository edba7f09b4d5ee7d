"""Corpus reading and vocabulary: edge cases, compression, stdin, huge lines, UTF-8 policy."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import sys
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from w2v_nce.errors import CorpusError
from w2v_nce.stream import id_chunks, split_sentences, window_pairs
from w2v_nce.text.corpus import Corpus, Position
from w2v_nce.vocabulary.count import count_words
from w2v_nce.vocabulary.vocab import Vocab, build_vocab


def _write(tmp_path, name, data: bytes):
    p = tmp_path / name
    if name.endswith(".gz"):
        p.write_bytes(gzip.compress(data))
    elif name.endswith(".bz2"):
        p.write_bytes(bz2.compress(data))
    elif name.endswith(".xz"):
        p.write_bytes(lzma.compress(data))
    else:
        p.write_bytes(data)
    return str(p)


def _sentences(corpus, vocab, max_len=10000, **kw):
    out = []
    for chunk in id_chunks(corpus, vocab, max_len, **kw):
        out.extend(s.tolist() for s in split_sentences(chunk.ids))
    return out


def _reference_tokens(data: bytes) -> list[bytes]:
    return data.decode("utf-8", "replace").encode("utf-8").split()


EDGE = b"a b  c\n\n\r\nb\tc a\r\n  \nc c a b\x0bx\x0cy"  # empty lines, CRLF, tabs, VT/FF, no final newline


@pytest.mark.parametrize("name", ["c.txt", "c.txt.gz", "c.txt.bz2", "c.txt.xz"])
def test_tokens_and_sentences_of_edge_cases(tmp_path, name):
    path = _write(tmp_path, name, EDGE)
    res = count_words(Corpus([path]))
    assert res.counter.as_counter() == Counter(EDGE.split())
    assert res.tokens == len(EDGE.split())
    vocab = Vocab.build(res.counter, 1)
    ids = vocab.ids_of()
    sents = _sentences(Corpus([path]), vocab)
    expect = [[ids[w] for w in line.split()] for line in EDGE.decode().split("\n") if line.split()]
    assert sents == expect


def test_vocab_matches_counter_min_count_and_order(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{int(z)}" for z in rng.zipf(1.5, 20000) if z < 500]
    text = " ".join(words).encode()
    path = _write(tmp_path, "z.txt", text)
    vocab, res = build_vocab(Corpus([path]), min_count=3)
    counts = Counter(words)
    kept = {w: c for w, c in counts.items() if c >= 3}
    assert dict(zip(vocab.words, vocab.counts.tolist())) == kept
    assert list(vocab.counts) == sorted(vocab.counts, reverse=True)
    # ties keep first-occurrence order
    first_seen = {w: i for i, w in reversed(list(enumerate(words)))}
    for a, b, ca, cb in zip(vocab.words, vocab.words[1:], vocab.counts, vocab.counts[1:]):
        if ca == cb:
            assert first_seen[a] < first_seen[b]
    capped, _ = build_vocab(Corpus([path]), min_count=1, max_vocab=10)
    assert capped.words == sorted(counts, key=lambda w: (-counts[w], first_seen[w]))[:10]


def test_directory_is_read_sorted_and_recursively(tmp_path):
    d = tmp_path / "dir"
    (d / "sub").mkdir(parents=True)
    (d / "b.txt").write_bytes(b"two two")
    (d / "a.txt").write_bytes(b"one")
    (d / "sub" / "c.txt.gz").write_bytes(gzip.compress(b"three"))
    (d / ".hidden").write_bytes(b"secret")
    c = Corpus([str(d)])
    assert [s.rsplit("/", 1)[-1] for s in c.sources] == ["a.txt", "b.txt", "c.txt.gz"]
    vocab = Vocab.build(count_words(c).counter, 1)
    assert "secret" not in vocab.words
    # a file without a final newline does not join its last line with the next file's first
    assert len(_sentences(c, vocab)) == 3


def test_stdin_is_spooled_and_rereadable(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x y z\nx y\n")))
    c = Corpus(["-"], spool_dir=str(tmp_path))
    assert count_words(c).tokens == 5
    assert count_words(c).tokens == 5  # second pass reads the spool
    c.close()


def test_huge_single_line_streams_in_bounded_blocks_and_is_split(tmp_path):
    words = [b"alpha", b"beta", b"gamma", b"delta"] * 50_000  # one 1.1 MB line
    path = _write(tmp_path, "one.txt", b" ".join(words))
    c = Corpus([path])
    sizes = [len(b.data) for b in c.blocks(block_bytes=1 << 16)]
    assert max(sizes) <= (1 << 16) + 16
    vocab = Vocab.build(count_words(c).counter, 1)
    sents = []
    for chunk in id_chunks(c, vocab, 1000):
        sents.extend(split_sentences(chunk.ids))
    assert sum(len(s) for s in sents) == len(words)  # split, never truncated
    assert all(len(s) == 1000 for s in sents)
    assert len(sents) == 200


def test_resumed_stream_gives_identical_chunks(tmp_path):
    text = b"\n".join(b" ".join(b"w%d" % (i * 7 % 13) for i in range(k, k + 300)) for k in range(50))
    path = _write(tmp_path, "r.txt", text)
    c = Corpus([path])
    vocab = Vocab.build(count_words(c).counter, 1)
    chunks = list(id_chunks(c, vocab, 64, block_bytes=4096))
    mid = chunks[3].state_after
    resumed = list(id_chunks(c, vocab, 64, start=mid, block_bytes=4096))
    assert len(chunks) > 5
    assert [x.ids.tolist() for x in resumed] == [x.ids.tolist() for x in chunks[4:]]


def test_invalid_utf8_is_replaced_and_counted(tmp_path):
    data = b"caf\xc3\xa9 ok \xff\xfe bad\x80x ok\n"
    path = _write(tmp_path, "u.txt", data)
    res = count_words(Corpus([path]))
    assert res.stats.replaced_chars == 3
    counts = res.counter.as_counter()
    assert counts[b"ok"] == 2
    assert counts["café".encode()] == 1
    assert counts["\ufffd\ufffd".encode()] == 1


def test_missing_and_empty_corpus_errors(tmp_path):
    with pytest.raises(CorpusError, match="nope.txt: corpus not found"):
        Corpus([str(tmp_path / "nope.txt")])
    empty = _write(tmp_path, "e.txt", b"  \n\n")
    with pytest.raises(CorpusError, match="empty"):
        build_vocab(Corpus([empty]), 1)
    rare = _write(tmp_path, "r.txt", b"a b c d")
    with pytest.raises(CorpusError, match=r"4 distinct words.*smaller --min-count"):
        build_vocab(Corpus([rare]), 5)


def test_truncated_gzip_is_a_corpus_error(tmp_path):
    p = tmp_path / "t.gz"
    p.write_bytes(gzip.compress(b"word " * 100000)[:500])
    with pytest.raises(CorpusError, match="t.gz"):
        count_words(Corpus([str(p)]))


def test_window_pairs_order():
    assert window_pairs([1, 2, 3], 1) == [(1, 2), (2, 1), (2, 3), (3, 2)]
    assert window_pairs([1, 2, 3], 2)[:2] == [(1, 2), (1, 3)]
    assert window_pairs([1, 2, 3], 2, reduced=[1, 1, 1]) == window_pairs([1, 2, 3], 1)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3000), st.integers(min_value=16, max_value=300))
def test_reader_never_crashes_and_counts_match_reference(tmp_path_factory, data, block):
    path = tmp_path_factory.mktemp("h") / "h.bin"
    path.write_bytes(data)
    c = Corpus([str(path)])
    tokens = []
    for b in c.blocks(Position(), block_bytes=block):
        tokens.extend(b.data.split())
    ref = _reference_tokens(data)
    # Block cuts happen at whitespace, so only tokens longer than a block are split.
    if all(len(t) < block for t in data.split()):
        assert tokens == ref
    else:
        assert b"".join(tokens) == b"".join(ref)


@pytest.mark.parametrize("char", ["\u0080", "\u20ac", "\U0001f600"])
def test_a_token_longer_than_a_block_is_split_between_characters(tmp_path, char):
    # found by the property test above: a forced cut inside a multi-byte character made two U+FFFD
    data = b"x" * 15 + char.encode() * 3 + b" next"
    path = tmp_path / "long.txt"
    path.write_bytes(data)
    blocks = list(Corpus([str(path)]).blocks(Position(), block_bytes=16))
    assert sum(b.stats.replaced_chars for b in blocks) == 0
    assert sum(b.stats.forced_splits for b in blocks) == 1
    assert b"".join(t for b in blocks for t in b.data.split()) == data.replace(b" ", b"")
    # a resume from any block's position (carry and split flag through JSON) reads the same rest
    for i, b in enumerate(blocks[:-1]):
        after = Position.from_json(b.position_after.to_json())
        rest = list(Corpus([str(path)]).blocks(after, block_bytes=16))
        assert [(r.data, r.continues_split) for r in rest] == [(r.data, r.continues_split) for r in blocks[i + 1:]]


def test_holdout_fraction_splits_sentences_deterministically(tmp_path):
    text = b"\n".join(b"s%d a b c" % i for i in range(2000))
    path = _write(tmp_path, "h.txt", text)
    c = Corpus([path])
    vocab = Vocab.build(count_words(c).counter, 1)
    train = _sentences(c, vocab, holdout=0.1)
    held = _sentences(c, vocab, holdout=0.1, heldout_side=True)
    assert len(train) + len(held) == 2000
    assert 150 < len(held) < 250  # ~10%
    names = lambda ss: {vocab.words[s[0]] for s in ss}  # noqa: E731
    assert not names(train) & names(held)
    assert held == _sentences(c, vocab, holdout=0.1, heldout_side=True)  # same every time


def test_word_counter_grows_its_tables_and_matches_counter():
    from w2v_nce.vocabulary.counter import WordCounter

    rng = np.random.default_rng(3)
    # 100k distinct words (several table doublings) and one 2 MB token (arena growth)
    words = [b"w%d" % i for i in rng.integers(0, 100_000, 300_000)] + [b"x" * (2 << 20)]
    wc = WordCounter()
    data = b" ".join(words)
    wc.add(data)
    assert wc.tokens == len(words)
    assert wc.as_counter() == Counter(words)
    assert [wc.word(i) for i in range(3)] == list(dict.fromkeys(words))[:3]  # first-seen order


def test_one_whitespace_set_for_every_scanner():
    """corpus.WHITESPACE is the one definition: the Numba byte table, the reader's cut, the
    encoder's tokens and the text format's word check all follow it."""
    import numpy as np

    from w2v_nce.artifact.word2vec import check_words
    from w2v_nce.text.corpus import SPACE_BYTES, WHITESPACE
    from w2v_nce.vocabulary.vocab import Vocab

    assert set(np.flatnonzero(SPACE_BYTES)) == set(WHITESPACE) == {9, 10, 11, 12, 13, 32}
    assert bytes(range(256)).split() == [bytes(range(256))[:9], bytes(range(14, 32)), bytes(range(33, 256))]
    v = Vocab(["a", "b"], np.array([2, 1]))
    text = b"a\x0bb\x0c" + "a\u00a0b a\u0085b".encode()  # VT, FF separate; NBSP, NEL (not ASCII) do not
    assert v.encode(text, 100).tolist() == [0, 1, -1]  # a, b, then two unknown words dropped
    for bad in ("x\x0by", "x\x0cy", "x y"):
        with pytest.raises(Exception):
            check_words([bad])
    check_words(["x\u00a0y"])  # a non-ASCII space is part of a word


def test_a_pipe_or_fifo_as_a_corpus_path_is_refused_without_blocking(tmp_path):
    """A FIFO (or /dev/stdin, a process substitution) would be counted and then trained as empty:
    refused at once, pointing to '-' (which spools stdin). Opening a FIFO would block: it is not opened."""
    import os

    from w2v_nce.errors import CorpusError

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(CorpusError, match="read only once.*'-'"):
        Corpus([str(fifo)])


def test_utf16_and_corrupt_compressed_files_are_refused_before_any_output(tmp_path):
    """UTF-16 text was trained as garbage; a corrupt .gz was found after --force had removed the
    previous run. Both are one-line errors before the output directory is touched."""
    import gzip

    from click.testing import CliRunner

    from w2v_nce.cli import main

    u16 = tmp_path / "u16.txt"
    u16.write_bytes("the cat sat on the mat\n".encode("utf-16"))
    bad = tmp_path / "bad.txt.gz"
    bad.write_bytes(gzip.compress(b"the cat sat on the mat\n" * 10000)[:200])
    out = tmp_path / "out"
    out.mkdir()
    (out / "vectors.txt").write_text("a previous run's vectors\n")
    for path, needle in ((u16, "UTF-16"), (bad, "cannot read corpus")):
        r = CliRunner().invoke(main, ["train", str(path), "-o", str(out), "--force"])
        assert r.exit_code == 1 and needle in r.output and len(r.output.strip().splitlines()) == 1, r.output
        assert (out / "vectors.txt").read_text() == "a previous run's vectors\n"


def test_a_signal_while_stdin_is_spooled_ends_the_wait(tmp_path, monkeypatch):
    """A pipe that stays open (a producer that hangs) must not outlast SIGINT/SIGTERM: the spool
    polls ``stop`` and ends with Interrupted, its temp file removed."""
    import io
    import time

    from w2v_nce.errors import Interrupted

    r, w = os.pipe()
    os.write(w, b"some words\n")  # then nothing more, and never closed while we wait
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(os.fdopen(r, "rb")))
    t0 = time.monotonic()
    corpus = Corpus(["-"], spool_dir=str(tmp_path), stop=lambda: 15 if time.monotonic() > t0 + 0.3 else 0)
    try:
        with pytest.raises(Interrupted, match="reading standard input") as info:
            corpus.open_source(0)
    finally:
        os.close(w)
    assert info.value.exit_code == 143 and time.monotonic() - t0 < 5
    assert os.listdir(tmp_path) == []
