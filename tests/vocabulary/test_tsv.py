"""vocab.tsv: `w2v-nce vocab` writes it, `train --vocab` reads it (header, strict parsing, same vectors)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tests.corpora import planted_corpus
from w2v_nce.cli import main
from w2v_nce.errors import FormatError
from w2v_nce.text.corpus import Corpus
from w2v_nce.vocabulary.tsv import read_vocab_tsv
from w2v_nce.vocabulary.vocab import Vocab, build_vocab

FLAGS = ["--dim", "12", "--window", "3", "--epochs", "2", "--threads", "1", "--seed", "7", "--num-sampled", "5",
         "--quiet"]


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_vocab_writes_the_counted_vocabulary_with_a_header(tmp_path):
    corpus = planted_corpus(tmp_path / "c.txt", lines=300)
    r = _run("vocab", corpus, "-o", tmp_path / "v.tsv", "--min-count", "2", "--threads", "2")
    assert r.exit_code == 0, r.output
    assert "vocabulary:" in r.output and "tokens read" in r.output  # the reader's counts (stderr)
    words, counts, header = read_vocab_tsv(str(tmp_path / "v.tsv"))
    ref, res = build_vocab(Corpus([corpus]), 2)
    assert words == ref.words and counts.tolist() == ref.counts.tolist()
    assert header["tokens"] == res.tokens == 300 * 20 and header["min_count"] == 2
    assert _run("vocab", corpus, "-o", tmp_path / "v.tsv").exit_code == 1  # exists: needs --force
    assert _run("vocab", corpus, "-o", tmp_path / "v.tsv", "--force").exit_code == 0


def test_train_with_vocab_writes_the_same_vectors_as_counting(tmp_path):
    corpus = planted_corpus(tmp_path / "c.txt", lines=300)
    assert _run("train", corpus, "-o", tmp_path / "counted", "--min-count", "3", *FLAGS).exit_code == 0
    assert _run("vocab", corpus, "-o", tmp_path / "v.tsv", "--min-count", "1").exit_code == 0
    r = _run("train", corpus, "-o", tmp_path / "given", "--vocab", tmp_path / "v.tsv", "--min-count", "3", *FLAGS)
    assert r.exit_code == 0, r.output
    for name in ("vectors.txt", "vocab.tsv"):
        assert (tmp_path / "given" / name).read_bytes() == (tmp_path / "counted" / name).read_bytes()
    # the run's own vocab.tsv can be given back too
    r = _run("train", corpus, "-o", tmp_path / "again", "--vocab", tmp_path / "counted" / "vocab.tsv", "--min-count",
             "3", *FLAGS)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "again" / "vectors.txt").read_bytes() == (tmp_path / "counted" / "vectors.txt").read_bytes()
    metrics = json.loads((tmp_path / "given" / "metrics.json").read_text())
    assert metrics["vocabulary"]["tokens"] == 300 * 20


def test_a_file_without_header_says_what_was_assumed_and_missing_words_are_oov(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c a b a\nd a b\n" * 50)
    (tmp_path / "v.tsv").write_text("a\t200\nb\t150\n")
    r = CliRunner().invoke(main, ["train", str(corpus), "-o", str(tmp_path / "o"), "--vocab", str(tmp_path / "v.tsv"),
                                  "--min-count", "1", "--num-sampled", "1", "--dim", "4", "--epochs", "1"])
    assert r.exit_code == 0, r.output
    assert "no token total in the file" in r.output and "assumed the sum of its counts, 350" in r.output
    words = (tmp_path / "o" / "vectors.txt").read_text().split("\n")[0]
    assert words == "2 4"
    reader = json.loads((tmp_path / "o" / "metrics.json").read_text())["reader"]
    assert reader["oov_tokens"] == 100  # c and d: not in the file, out of vocabulary


@pytest.mark.parametrize("text, where", [
    ("a\t3\nb\tx\n", "line 2: count 'x'"),
    ("a\t3\nb\t0\n", "line 2: count '0'"),
    ("a\t3\na\t2\n", "line 2: word 'a' already on line 1"),
    ("a b\t3\n", "line 1: word 'a b' is empty or holds whitespace"),
    ("a\t3\t4\n", "line 1: expected 'word<TAB>count'"),
    ("a\t3\n\nb\t2\n", "line 2: expected 'word<TAB>count'"),
    ("", "holds no words"),
    ("# w2v-nce vocab tokens=10\n", "holds no words"),
    ("# w2v-nce vocab tokens=ten\na\t1\n", "line 1: header field 'tokens=ten'"),
    ("# w2v-nce vocab tokens=-1\na\t1\n", "line 1: header field 'tokens=-1' is not key=integer >= 0"),
    ("a\t" + "1" + "0" * 30 + "\n", "line 1: count '10000"),  # 10^30: was a traceback
    ("a\t100000000000000000\nb\t3\n", "line 1: count '100000000000000000' is above"),  # 10^17: a sampler hang
])
def test_a_malformed_file_is_a_one_line_error_before_any_output(tmp_path, text, where):
    path = tmp_path / "v.tsv"
    path.write_text(text)
    with pytest.raises(FormatError, match=where):
        read_vocab_tsv(str(path))
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b\n")
    r = CliRunner().invoke(main, ["train", str(corpus), "-o", str(tmp_path / "out"), "--vocab", str(path)])
    assert r.exit_code == 1 and str(path) in r.output and where.split(":")[0] in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_load_tsv_and_from_counts_keep_the_files_order():
    vocab = Vocab(["x", "y", "z", "w"], np.array([5, 3, 3, 1]))
    got = Vocab.from_counts(vocab.words, vocab.counts, 2, 2)
    assert got.words == ["x", "y"] and got.counts.tolist() == [5, 3]
    assert Vocab.from_counts(["b", "a", "c"], np.array([1, 4, 1]), 1).words == ["a", "b", "c"]  # ties: file order


def test_save_and_load_round_trip(tmp_path):
    vocab = Vocab(["the", "#", "é", "a#b"], np.array([9, 4, 2, 1]))
    vocab.save_tsv(str(tmp_path / "v.tsv"), {"tokens": 20})
    back = Vocab.load_tsv(str(tmp_path / "v.tsv"))
    assert back.words == vocab.words and back.counts.tolist() == vocab.counts.tolist()
    assert read_vocab_tsv(str(tmp_path / "v.tsv"))[2] == {"tokens": 20}


def test_a_count_at_the_cap_is_read_and_one_above_is_not(tmp_path):
    """10^15 itself was refused as "above 1,000,000,000,000,000" (its 16 digits were the test)."""
    from w2v_nce.errors import FormatError
    from w2v_nce.vocabulary.tsv import MAX_COUNT

    (tmp_path / "v.tsv").write_text(f"a\t{MAX_COUNT}\nb\t3\n")
    assert Vocab.load_tsv(str(tmp_path / "v.tsv")).counts.tolist() == [MAX_COUNT, 3]
    (tmp_path / "w.tsv").write_text(f"a\t{MAX_COUNT + 1}\nb\t3\n")
    with pytest.raises(FormatError, match="is above"):
        Vocab.load_tsv(str(tmp_path / "w.tsv"))
