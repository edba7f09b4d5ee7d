"""Phrase counting, scoring and joining against the Python reference (tests/phrases/reference.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.phrases import reference as ref
from w2v_nce.phrases.build import build_table
from w2v_nce.phrases.join import PhraseJoiner
from w2v_nce.phrases.table import CONNECTOR_SETS, PhraseSettings, PhraseTable
from w2v_nce.text.corpus import Corpus

ENGLISH = CONNECTOR_SETS["english"]


def _corpus_text(seed: int, lines: int = 400) -> bytes:
    """Lines from a small vocabulary with planted collocations, connectors, Unicode words,
    tokens holding the delimiter, tabs and blank lines."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(60)] + ["caf\u00e9", "\u00fcber", "\u6771\u4eac", "new_york"]
    planted = [["new", "york"], ["bank", "of", "america"], ["san", "francisco", "bay"], ["\u00e9t\u00e9", "chaud"],
               ["the", "new", "york", "times"], ["of", "the"], ["a", "b", "c", "d"]]
    out = []
    for _ in range(lines):
        toks: list[str] = []
        for _ in range(int(rng.integers(0, 25))):
            r = rng.random()
            if r < 0.25:
                toks.extend(planted[int(rng.integers(len(planted)))])
            elif r < 0.4:
                toks.append(ENGLISH[int(rng.integers(len(ENGLISH)))])
            else:
                toks.append(words[int(rng.integers(len(words)))])
        sep = "\t" if rng.random() < 0.1 else " "
        out.append(sep.join(toks))
    return ("\n".join(out) + "\n").encode("utf-8")


def _ours(table: PhraseTable) -> list[dict]:
    per_pass = []
    for p in range(1, table.settings.passes + 1):
        per_pass.append({tuple(t.encode() for t in ph.tokens): (ph.count, ph.score) for ph in table.of_pass(p)})
    return per_pass


def _assert_same(ours: list[dict], theirs: list[dict]) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert set(a) == set(b)
        for key in a:
            assert a[key][0] == b[key][0]
            assert a[key][1] == pytest.approx(b[key][1], rel=1e-12)


@pytest.mark.parametrize("scoring,threshold", [("word2vec", 2.0), ("gensim", 0.5), ("npmi", 0.2)])
@pytest.mark.parametrize("connectors", [(), ENGLISH])
@pytest.mark.parametrize("passes", [1, 3])
def test_table_matches_reference(tmp_path, scoring, threshold, connectors, passes):
    text = _corpus_text(seed=passes * 7 + len(connectors))
    path = tmp_path / "c.txt"
    path.write_bytes(text)
    settings = PhraseSettings(min_count=3, threshold=threshold, scoring=scoring, connectors=connectors, passes=passes)
    table = build_table(Corpus([str(path)]), settings)
    expect = ref.table(text, scoring, 3, threshold, {c.encode() for c in connectors}, passes)
    assert any(expect), "the planted collocations must give phrases, or this test checks nothing"
    _assert_same(_ours(table), expect)
    assert table.passes[0]["words"] == sum(len(s) for s in ref.sentences(text))
    if passes > 1:
        assert any(len(p.tokens[0].split("_")) > 1 for p in table.of_pass(2))  # longer phrases from joined words


def test_found_phrases_and_counts_are_exact(tmp_path):
    """On a tiny corpus the table is what hand counting gives: new 5, york 5, (new york) 4,
    (york new) 2, 14 words, 6 words + 6 candidates distinct; word2phrase's score (4 - 1) / 5 / 5 * 14 = 1.68 and 0.56."""
    path = tmp_path / "c.txt"
    path.write_bytes(b"new york is big\nnew york new york\nthe new york times\nyork new\n")
    table = build_table(Corpus([str(path)]), PhraseSettings(min_count=1, threshold=0.5))
    assert [(p.tokens, p.count) for p in table.phrases] == [(("new", "york"), 4), (("york", "new"), 2)]
    assert [p.score for p in table.phrases] == pytest.approx([1.68, 0.56])
    assert table.passes == [{"words": 14, "entries": 12, "phrases": 2}]


@pytest.mark.parametrize("threads,memory", [(2, 0), (1, 1 << 16), (2, 1 << 16)])
def test_parallel_and_spilled_counts_give_the_same_table(tmp_path, threads, memory):
    text = _corpus_text(seed=11, lines=3000)
    path = tmp_path / "c.txt"
    path.write_bytes(text)
    settings = PhraseSettings(min_count=2, threshold=1.0, scoring="gensim", connectors=ENGLISH, passes=2)
    one = build_table(Corpus([str(path)]), settings)
    other = build_table(Corpus([str(path)]), settings, threads=threads, count_memory=memory, spill_dir=str(tmp_path))
    assert other.phrases == one.phrases and other.passes == one.passes
    assert one.phrases


def test_literal_delimiter_tokens_are_not_counted_as_the_phrase(tmp_path):
    """A token "new_york" in the text is a word of its own: the candidate (new, york) counts
    only the two-word occurrences (gensim merges both under one key)."""
    path = tmp_path / "c.txt"
    path.write_bytes(b"new york new_york new_york new york x\n" * 5)
    table = build_table(Corpus([str(path)]), PhraseSettings(min_count=1, threshold=1e-9, scoring="gensim"))
    by_tokens = {p.tokens: p.count for p in table.phrases}
    assert by_tokens[("new", "york")] == 10


@pytest.mark.parametrize("connectors", [(), ENGLISH])
def test_joining_matches_reference_at_any_block_size(tmp_path, connectors):
    text = _corpus_text(seed=5, lines=800)
    path = tmp_path / "c.txt"
    path.write_bytes(text)
    settings = PhraseSettings(min_count=3, threshold=1.0, scoring="gensim", connectors=connectors, passes=2)
    table = build_table(Corpus([str(path)]), settings)
    cset = {c.encode() for c in connectors}
    expect = ref.sentences(text)
    for p in (1, 2):
        expect = ref.join(expect, {tuple(t.encode() for t in ph.tokens) for ph in table.of_pass(p)}, cset, b"_")
    for block_bytes in (200, 4096, 1 << 20):
        corpus = Corpus([str(path)], transform=PhraseJoiner(table))
        joined = b"".join(b.data for b in corpus.blocks(block_bytes=block_bytes))
        got = [line.split() for line in joined.split(b"\n")]
        assert [s for s in got if s] == [s for s in expect if s]
    assert any(b"_" in t and t != b"new_york" for s in expect for t in s)


def test_join_keeps_sentence_ends_and_never_joins_across_them():
    table = PhraseTable(PhraseSettings(min_count=1, threshold=1.0))
    from w2v_nce.phrases.table import Phrase

    table.passes = [{"words": 0, "entries": 0, "phrases": 1}]
    table.phrases = [Phrase(1, ("new", "york"), 3, 5.0)]
    out = PhraseJoiner(table)(b"a new\nyork new york\n\nnew  york\tnew\n")
    assert out.split(b"\n") == [b"a new ", b"york new_york ", b"", b"new_york new ", b""]
