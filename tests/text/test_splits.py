"""Corpus splits: the parts together hold every token once, in order, each read on its own."""

from __future__ import annotations

import gzip

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from w2v_nce.text.corpus import Corpus, Piece, ReadStats
from w2v_nce.text.splits import Split, make_splits, split_blocks, split_note

BLOCK = 32  # small blocks, so parts span several blocks and cuts land anywhere

_PIECES = st.sampled_from([b"a", b"bb", b"the", "é".encode(), "日本".encode(), b"\xff", b"\xc3", "ß".encode(),
                           b"Ab", b"x1"])
_SPACES = st.sampled_from([b" ", b"\n", b"\n\n", b"\t", b"\r\n", b"  \n \n", b"\x0b"])


@st.composite
def _text(draw) -> bytes:
    """Tokens shorter than a block (a longer one is split by the reader wherever blocks fall),
    separated by whitespace runs that include empty lines; sometimes one huge line."""
    one_line = draw(st.booleans())
    parts = []
    for _ in range(draw(st.integers(0, 60))):
        parts.append(b"".join(draw(st.lists(_PIECES, min_size=1, max_size=4))))
        parts.append(b" " if one_line else draw(_SPACES))
    return b"".join(parts)[: draw(st.integers(0, 2000))]


def _tokens(blocks) -> tuple[list[bytes], ReadStats]:
    toks: list[bytes] = []
    stats = ReadStats()
    for b in blocks:
        toks.extend(b.data.split())
        stats.add(b.stats)
    return toks, stats


def _corpus(tmp_path, texts: list[bytes], gz: list[bool], lowercase: bool) -> Corpus:
    paths = []
    for i, (t, z) in enumerate(zip(texts, gz)):
        p = tmp_path / (f"f{i:02d}.txt.gz" if z else f"f{i:02d}.txt")
        p.write_bytes(gzip.compress(t, mtime=0) if z else t)
        paths.append(str(p))
    return Corpus(paths, lowercase=lowercase)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_text(), min_size=1, max_size=4), gz=st.lists(st.booleans(), min_size=4, max_size=4),
       k=st.integers(1, 9), window=st.sampled_from([4, 64, 1 << 20]), lowercase=st.booleans())
def test_parts_hold_the_corpus_tokens_in_order(tmp_path_factory, texts, gz, k, window, lowercase):
    corpus = _corpus(tmp_path_factory.mktemp("c"), texts, gz, lowercase)
    whole, whole_stats = _tokens(corpus.blocks(block_bytes=BLOCK))
    splits = make_splits(corpus, k, line_window=window)
    assert len(splits) == k and [s.index for s in splits] == list(range(k))
    got, stats = [], ReadStats()
    for s in splits:
        toks, st_ = _tokens(split_blocks(corpus, s, block_bytes=BLOCK))
        got.extend(toks)
        stats.add(st_)
    assert got == whole
    assert stats == whole_stats  # bytes read, U+FFFD introduced: the same totals
    assert make_splits(corpus, k, line_window=window) == splits  # deterministic


def test_one_part_is_the_whole_corpus(tmp_path):
    corpus = _corpus(tmp_path, [b"a b\nc\n", b"d e"], [False, True], False)
    (split,) = make_splits(corpus, 1)
    assert split.pieces == (Piece(0, 0, None), Piece(1, 0, None))
    assert [b.data for b in split_blocks(corpus, split)] == [b.data for b in corpus.blocks()]
    assert [b.position_after for b in split_blocks(corpus, split)] == [b.position_after for b in corpus.blocks()]


def test_cuts_follow_line_breaks_then_whitespace(tmp_path):
    lines = b"".join(b"line%03d word\n" % i for i in range(100))  # 13 bytes a line
    corpus = _corpus(tmp_path, [lines], [False], False)
    for s in make_splits(corpus, 4)[1:]:
        assert lines[s.pieces[0].start - 1:s.pieces[0].start] == b"\n"
    flat = b" ".join(b"w%04d" % i for i in range(1000))  # one line
    corpus = _corpus(tmp_path, [flat], [False], False)
    starts = [s.pieces[0].start for s in make_splits(corpus, 3)[1:]]
    assert all(flat[a - 1:a] == b" " for a in starts) and len(set(starts)) == 2


def test_a_single_gz_is_one_part_and_the_note_says_so(tmp_path):
    corpus = _corpus(tmp_path, [b"a b c\n" * 1000], [True], False)
    splits = make_splits(corpus, 4)
    assert [len(s.pieces) for s in splits] == [1, 0, 0, 0]
    assert "cannot be cut: 1 of 4 parts" in split_note(corpus, splits)


def test_files_spread_over_parts_by_size(tmp_path):
    corpus = _corpus(tmp_path, [b"x\n" * 500, b"y\n" * 10, b"z\n" * 490], [False, False, False], False)
    splits = make_splits(corpus, 2)  # 2000 bytes: the cut at 1000 is file 1's start
    assert splits[0].pieces == (Piece(0, 0, None),)
    assert splits[1].pieces == (Piece(1, 0, None), Piece(2, 0, None))
    splits = make_splits(corpus, 4)  # cuts at 500, 1000, 1500
    assert [s.pieces for s in splits] == [(Piece(0, 0, 500),), (Piece(0, 500, None),),
                                          (Piece(1, 0, None), Piece(2, 0, 480)), (Piece(2, 480, None),)]
    assert Split.from_json(splits[1].to_json()) == splits[1]


def test_stdin_is_spooled_then_cut_like_a_file(tmp_path, monkeypatch):
    import io
    import sys

    from w2v_nce.vocabulary.count import count_words

    text = b"".join(b"w%d x y\n" % (i % 50) for i in range(2000))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text)))
    c = Corpus(["-"], spool_dir=str(tmp_path))
    splits = make_splits(c, 3)
    assert all(len(s.pieces) == 1 for s in splits)
    assert _tokens(b for s in splits for b in split_blocks(c, s))[0] == text.split()
    par, ser = count_words(c, threads=3), count_words(c)
    assert par.counter.as_counter() == ser.counter.as_counter() and par.tokens == ser.tokens == 6000
    c.close()
