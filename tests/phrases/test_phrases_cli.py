"""`w2v-nce phrases`, `--apply`, and `train/vocab --phrases` end to end, and the table's errors."""

from __future__ import annotations

import os

import pytest

from tests.conftest import REPO, SAMPLE, run_cli
from w2v_nce.phrases.join import PhraseJoiner
from w2v_nce.phrases.table import PhraseTable

TINY = os.path.join(REPO, "configs", "tiny.yaml")


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("phrases") / "phrases.tsv")
    r = run_cli("phrases", SAMPLE, "-o", path, "--lowercase", "--connectors", "english", "--passes", "2",
                "--threshold", "50", "--threads", "2")
    assert r.exit_code == 0, r.output
    return path


def test_the_table_records_its_settings_and_finds_known_phrases(table):
    t = PhraseTable.read(table)
    s = t.settings
    assert (s.min_count, s.threshold, s.scoring, s.passes, s.lowercase) == (5, 50.0, "word2vec", 2, True)
    assert "of" in s.connectors and len(t.passes) == 2 and t.passes[0]["words"] > 100_000
    found = {p.tokens for p in t.phrases}
    assert {("bin", "laden"), ("wall", "street"), ("supreme", "court")} <= found
    assert any(p.pass_no == 2 and "_" in p.tokens[0] for p in t.phrases)  # longer phrases from pass 1's
    assert all(p.score > 50 for p in t.phrases)


def test_apply_writes_the_joined_text(table, tmp_path):
    out = tmp_path / "joined.txt"
    r = run_cli("phrases", SAMPLE, "--apply", table, "-o", out)
    assert r.exit_code == 0, r.output
    text = out.read_bytes()
    with open(SAMPLE, "rb") as fh:
        raw = fh.read()
    assert text == PhraseJoiner(PhraseTable.read(table))(raw.lower())
    assert b" wall_street " in text and text.count(b"\n") == raw.count(b"\n")
    again = run_cli("phrases", SAMPLE, "--apply", table, "-o", out)
    assert again.exit_code == 1 and "already exists" in again.output
    onto_input = run_cli("phrases", out, "--apply", table, "-o", out, "--force")
    assert onto_input.exit_code == 1 and "is also an input" in onto_input.output


def test_train_and_vocab_join_phrases_while_reading(table, tmp_path):
    r = run_cli("train", SAMPLE, "-c", TINY, "--phrases", table, "--lowercase", "-o", tmp_path / "run", "--quiet",
                "--threads", "1", "--epochs", "1")
    assert r.exit_code == 0, r.output
    words = [line.split("\t")[0] for line in (tmp_path / "run" / "vocab.tsv").read_text().splitlines()]
    assert "wall_street" in words and "god_bless" in words
    v = run_cli("vocab", SAMPLE, "-c", TINY, "--phrases", table, "--lowercase", "-o", tmp_path / "v.tsv", "--threads", "2")
    assert v.exit_code == 0, v.output
    assert (tmp_path / "v.tsv").read_text().splitlines()[1:] == (tmp_path / "run" / "vocab.tsv").read_text().splitlines()[1:]


def test_a_table_built_for_other_text_is_a_usage_error(table, tmp_path):
    r = run_cli("train", SAMPLE, "-c", TINY, "--phrases", table, "-o", tmp_path / "run", "--quiet")
    assert r.exit_code == 2
    assert "built with --lowercase" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("mutate,message", [
    (lambda s: s.replace("# w2v-nce phrases 1", "# something else"), "not a phrase table"),
    (lambda s: s.rsplit("\n", 2)[0] + "\n", "should hold"),
    (lambda s: s.replace('"min_count": 5', '"min_count": -1'), "min_count"),
    (lambda s: s.replace('"scoring": "word2vec"', '"scoring": "bm25"'), "scoring"),
    (lambda s: s + "1\tnew\t3\t4.0\n", "two or more tokens"),
    (lambda s: s + "1\tnew york\tmany\t4.0\n", "must be integers"),
    (lambda s: s + "3\tnew york\t3\t4.0\n", "is not in [1, 2]"),
    (lambda s: s + "1\tnew york\t3\n", "4 tab-separated fields"),
    (lambda s: s.replace("# pass 2", "# pass 7"), "'# pass 2"),
])
def test_a_malformed_table_is_a_one_line_error(table, tmp_path, mutate, message):
    bad = tmp_path / "bad.tsv"
    bad.write_text(mutate(open(table, encoding="utf-8").read()), encoding="utf-8")
    r = run_cli("vocab", SAMPLE, "--phrases", bad, "--lowercase", "-o", tmp_path / "v.tsv")
    assert r.exit_code == 1, r.output
    assert message in r.output and "bad.tsv" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "v.tsv").exists()


def test_bad_phrase_settings_are_usage_errors(tmp_path):
    for args, message in [(["--scoring", "npmi", "--threshold", "3"], "npmi threshold"),
                          (["--threshold", "0"], "threshold must be > 0"),
                          (["--connectors", str(tmp_path / "missing.txt")], "neither english, none nor a file"),
                          (["--delimiter", " "], "delimiter")]:
        r = run_cli("phrases", SAMPLE, "-o", tmp_path / "t.tsv", *args)
        assert r.exit_code == 2, (args, r.output)
        assert message in r.output and len(r.output.strip().splitlines()) == 1
        assert not (tmp_path / "t.tsv").exists()


def test_a_run_with_phrases_resumes_exactly(tmp_path, monkeypatch):
    """Blocks cut at line ends carry up to a line to the next block: a checkpoint taken mid-file
    holds that carry, and the resumed run matches an uninterrupted one byte for byte."""
    from tests.corpora import big_corpus, train_cfg
    from tests.interrupt import run_interrupted
    from w2v_nce.run.job import resume_training, run_training

    corpus = big_corpus(tmp_path / "big.txt", mb=3)
    table = str(tmp_path / "t.tsv")
    assert run_cli("phrases", corpus, "-o", table, "--min-count", "20", "--threshold", "0.03",
                   "--scoring", "npmi").exit_code == 0
    assert len(PhraseTable.read(table).phrases) > 10
    run_training(train_cfg(corpus, tmp_path / "one", phrases=table, epochs=2))
    words = (tmp_path / "one" / "vocab.tsv").read_text()
    assert "_w" in words  # joined phrases are words
    run_interrupted(train_cfg(corpus, tmp_path / "cut", phrases=table, epochs=2), monkeypatch, after_calls=3)
    resume_training(str(tmp_path / "cut"))
    assert (tmp_path / "cut" / "vectors.txt").read_bytes() == (tmp_path / "one" / "vectors.txt").read_bytes()
