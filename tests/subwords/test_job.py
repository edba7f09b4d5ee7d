"""--subwords end to end: the job's outputs, reproducibility and exact resume, the settings it
refuses, and every place a word is looked up (similar, analogy, vectors, export, eval) with words
outside the vocabulary."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from tests.conftest import run_cli as run
from tests.corpora import big_corpus, planted_corpus, train_cfg
from tests.interrupt import run_interrupted
from w2v_nce.artifact.model import Model
from w2v_nce.artifact.word2vec import load_word2vec
from w2v_nce.errors import ConfigError
from w2v_nce.evaluation.command import run_evaluation
from w2v_nce.run.job import resume_training, run_training
from w2v_nce.subwords import SubwordSettings, subword_rows, unseen_vector, word_vectors
from w2v_nce.subwords.fasttext_bin import MAGIC, fasttext_bin_bytes
from w2v_nce.vocabulary.vocab import Vocab

SUB = dict(subwords=True, buckets=5000, minn=2, maxn=4, num_sampled=5)


@pytest.fixture(scope="module")
def sub_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sub")
    corpus = planted_corpus(tmp / "planted.txt", lines=600)
    run_training(train_cfg(corpus, tmp / "run", epochs=2, **SUB))
    return tmp / "run"


def test_the_model_holds_its_ngram_rows_and_writes_mean_vectors(sub_run):
    m = Model.load(str(sub_run))
    V, D = len(m.words), m.dim
    assert m.table.shape == (V + 5000, D) and np.shares_memory(m.w_in, m.table)
    settings = SubwordSettings(2, 4, 5000)
    expected = word_vectors(m.table, subword_rows(m.words, settings))
    words, vectors = load_word2vec(str(sub_run / "vectors.txt"))
    assert words == m.words
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert not np.allclose(vectors, m.w_in, atol=1e-3)  # the n-gram rows learnt: vectors are not the word rows
    trained = np.abs(m.table[V:]).max(axis=1) > 0.5 / D  # initial rows lie in [-0.5/D, 0.5/D)
    assert trained.sum() > 20


@pytest.mark.parametrize("kw", [dict(loss="nce"), dict(loss="neg"), dict(loss="neg", negatives="window"),
                                dict(arch="cbow", loss="neg"), dict(arch="cbow", loss="neg", negatives="batch"),
                                dict(arch="cbow", loss="sampled_softmax"), dict(loss="nce", hash_count=2)])
def test_subword_runs_are_reproducible_and_resume_exactly(tmp_path, monkeypatch, kw):
    corpus = big_corpus(tmp_path / "big.txt", mb=2)
    run_training(train_cfg(corpus, tmp_path / "one", **SUB, **kw))
    run_training(train_cfg(corpus, tmp_path / "two", **SUB, **kw))
    one = (tmp_path / "one" / "model.npz")
    assert (tmp_path / "one" / "vectors.txt").read_bytes() == (tmp_path / "two" / "vectors.txt").read_bytes()
    run_interrupted(train_cfg(corpus, tmp_path / "cut", **SUB, **kw), monkeypatch, after_calls=3)
    resume_training(str(tmp_path / "cut"))
    assert (tmp_path / "cut" / "vectors.txt").read_bytes() == (tmp_path / "one" / "vectors.txt").read_bytes()
    np.testing.assert_array_equal(Model.load(str(one)).table, Model.load(str(tmp_path / "cut")).table)


@pytest.mark.parametrize("kw, key", [(dict(maxn=2, minn=3), "maxn"), (dict(buckets=0), "buckets")])
def test_settings_not_available_with_subwords_are_errors(tmp_path, kw, key):
    corpus = planted_corpus(tmp_path / "p.txt", lines=20)
    with pytest.raises(ConfigError, match=f"--{key}"):
        run_training(train_cfg(corpus, tmp_path / "out", **{**SUB, **kw}))
    assert not (tmp_path / "out").exists()


def test_queries_give_unseen_words_their_ngram_vectors(sub_run):
    m = Model.load(str(sub_run))
    r = run("similar", sub_run, "a3x", "--topn", "3", "--json")
    assert r.exit_code == 0, r.output
    answer = json.loads(r.stdout)["neighbours"]
    assert len(answer) == 3 and all(n["word"] in m.words for n in answer)  # unseen words are never answers
    r = run("analogy", sub_run, "a1", "a2", "b1zz", "--json")
    assert r.exit_code == 0 and "b1zz" not in [a["word"] for a in json.loads(r.stdout)["answers"]]


def test_vectors_prints_known_and_unseen_words(sub_run):
    m = Model.load(str(sub_run))
    r = run("vectors", sub_run, input="a3 a3x\nb7\n")
    assert r.exit_code == 0, r.output
    lines = [line.split() for line in r.stdout.splitlines()]
    assert [w[0] for w in lines] == ["a3", "a3x", "b7"]
    got = {w[0]: np.array(w[1:], np.float64) for w in lines}
    np.testing.assert_allclose(got["a3"], m.word_vectors()[m.words.index("a3")], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["a3x"], unseen_vector(m.table, len(m.words), "a3x", m.subwords), rtol=1e-5, atol=1e-6)


def test_vectors_of_a_word_only_model_reports_unknown_words(tmp_path):
    corpus = planted_corpus(tmp_path / "p.txt", lines=50)
    run_training(train_cfg(corpus, tmp_path / "run", epochs=1, num_sampled=5))
    r = run("vectors", tmp_path / "run", input="a1 nosuchword\n")
    assert r.exit_code == 1 and "not in the vocabulary: nosuchword" in r.output and r.stdout.startswith("a1 ")


def test_export_words_and_fasttext(sub_run, tmp_path):
    m = Model.load(str(sub_run))
    (tmp_path / "words.txt").write_text("b2 zzz9\na1\n")
    r = run("export", sub_run, "-o", str(tmp_path / "some.txt"), "--words", str(tmp_path / "words.txt"))
    assert r.exit_code == 0, r.output
    words, vectors = load_word2vec(str(tmp_path / "some.txt"))
    assert words == ["b2", "zzz9", "a1"]
    np.testing.assert_allclose(vectors[1], unseen_vector(m.table, len(m.words), "zzz9", m.subwords), atol=1e-6)
    out = tmp_path / "model.bin"
    r = run("export", sub_run, "-o", str(out), "--format", "fasttext")
    assert r.exit_code == 0, r.output
    word_bytes = sum(len(w.encode()) for w in m.words)
    assert out.stat().st_size == fasttext_bin_bytes(len(m.words), m.dim, 5000, word_bytes)
    assert struct.unpack("<i", out.read_bytes()[:4])[0] == MAGIC
    r = run("export", sub_run, "-o", str(out), "--format", "fasttext")
    assert r.exit_code == 1 and "--force" in r.output


def test_export_fasttext_of_a_word_only_model_is_refused(tmp_path):
    corpus = planted_corpus(tmp_path / "p.txt", lines=50)
    run_training(train_cfg(corpus, tmp_path / "run", epochs=1, num_sampled=5))
    r = run("export", tmp_path / "run", "-o", str(tmp_path / "m.bin"), "--format", "fasttext")
    assert r.exit_code == 2 and "--subwords" in r.output and not (tmp_path / "m.bin").exists()


def test_eval_scores_every_pair_with_unseen_words(sub_run, tmp_path):
    (tmp_path / "pairs.txt").write_text("a1\ta2\t9.0\na1\tb1\t1.0\na1x\ta2y\t8.0\nqqq\tb1\t2.0\n")
    report = run_evaluation(model_dir=str(sub_run), similarity=[str(tmp_path / "pairs.txt")], analogies=[])
    result = report["similarity"]["pairs"]
    assert result["pairs"] == 4 and result["oov"] == 0 and result["unseen"] == 2


@pytest.mark.parametrize("forge, message", [
    (lambda z, c: c.pop("buckets"), "without valid minn/maxn/buckets"),
    (lambda z, c: c.update(minn=-5), "without valid minn/maxn/buckets"),
    (lambda z, c: c.update(buckets="lots"), "without valid minn/maxn/buckets"),
    (lambda z, c: z.update(ngrams=z["ngrams"][:10]), "inconsistent shapes"),
    (lambda z, c: z.pop("ngrams"), "without its n-gram rows")])
def test_forged_subword_models_are_one_line_errors(sub_run, tmp_path, forge, message):
    z = dict(np.load(str(sub_run / "model.npz")))
    config = json.loads(str(z["config"]))
    forge(z, config)
    z["config"] = np.array(json.dumps(config))
    np.savez(tmp_path / "forged.npz", **z)
    r = run("similar", tmp_path / "forged.npz", "a1")
    assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output


def test_init_from_a_subword_run_carries_its_ngram_rows(sub_run, tmp_path):
    from w2v_nce.config import from_saved
    from w2v_nce.run import init

    old = Model.load(str(sub_run))
    cfg = from_saved({**old.config, "init": str(sub_run), "output": str(tmp_path / "next")})
    _, model, _, _ = init.initial_model(cfg, Vocab(old.words[:5], old.counts[:5]))
    np.testing.assert_array_equal(model.table[len(model.words):], old.table[len(old.words):])
    np.testing.assert_array_equal(model.w_in[:5], old.w_in[:5])
    other = from_saved({**old.config, "init": str(sub_run), "buckets": 4000})
    with pytest.raises(ConfigError, match="--buckets 5000"):
        init.initial_model(other, Vocab(old.words[:5], old.counts[:5]))


def test_report_and_compare_read_a_subword_run(sub_run, tmp_path):
    r = run("report", sub_run, "-o", str(tmp_path / "r.html"))
    assert r.exit_code == 0, r.output
    assert "subwords" in (tmp_path / "r.html").read_text(encoding="utf-8")  # the settings table
    r = run("compare", sub_run, sub_run, "--no-eval", "--json", str(tmp_path / "c.json"))
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "c.json").read_text())
    m = Model.load(str(sub_run))
    assert report["shared"] == len(m.words) and abs(report["drift"]["mean"]) < 1e-6
    # compare reads each word's mean vector, not its own row
    from w2v_nce.artifact.embeddings import unit_rows
    from w2v_nce.evaluation.compare import load_vectors

    np.testing.assert_allclose(load_vectors(str(sub_run)).unit, unit_rows(m.word_vectors()), atol=1e-6)
