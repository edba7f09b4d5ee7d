"""The compact subword layout (``--hash-count`` 1..4, floret's manner): no word rows, the word and
each of its n-grams hashed to several rows of one small table. Its hash against a Python
reference, one rule for words in and out of the vocabulary, and the job end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import run_cli as run
from tests.corpora import planted_corpus, train_cfg
from tests.subwords.test_table import reference_buckets, reference_hash
from w2v_nce.artifact.model import Model
from w2v_nce.artifact.word2vec import load_word2vec
from w2v_nce.errors import ConfigError
from w2v_nce.run.job import run_training
from w2v_nce.subwords import (
    SubwordSettings,
    ngram_buckets,
    subword_rows,
    unseen_vector,
    word_vectors,
)

M64 = (1 << 64) - 1
COMPACT = dict(subwords=True, buckets=700, minn=2, maxn=4, num_sampled=5, hash_count=2)


def reference_remix(h: int, k: int) -> int:
    """splitmix64's finaliser of h + k x 0x9E3779B97F4A7C15, in Python integers."""
    z = (h + k * 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def reference_compact_rows(word: str, minn: int, maxn: int, buckets: int, hash_count: int) -> list[int]:
    """The compact layout's rows of ``word``: ``<word>`` then each fastText n-gram, every entry
    ``hash_count`` rows (its fastText bucket, then remixed hashes)."""
    chars = "<" + word + ">"
    hashes = [reference_hash(chars.encode("utf-8"))]
    hashes += [reference_hash(chars[i:i + n].encode("utf-8"))
               for i in range(len(chars)) for n in range(max(minn, 1), maxn + 1)
               if i + n <= len(chars) and not (n == 1 and (i == 0 or i + n == len(chars)))]
    return [(h if k == 0 else reference_remix(h, k)) % buckets for h in hashes for k in range(hash_count)]


WORDS = ["physics", "a", "naïve", "日本語", "x" * 20, "ab"]


@pytest.mark.parametrize("hash_count", [1, 2, 3, 4])
def test_compact_rows_match_the_reference(hash_count):
    s = SubwordSettings(3, 6, 1000, hash_count)
    for w in WORDS:
        assert ngram_buckets(w, s).tolist() == reference_compact_rows(w, 3, 6, 1000, hash_count), w
    sub = subword_rows(WORDS, s)
    assert sub.rows.tolist() == [r for w in WORDS for r in reference_compact_rows(w, 3, 6, 1000, hash_count)]
    assert sub.rows.dtype == np.int32 and sub.rows.max() < 1000


def test_one_hash_keeps_fasttexts_ngram_buckets():
    """hash_count 1: the whole word's row, then exactly fastText's n-gram buckets."""
    for w in WORDS:
        rows = ngram_buckets(w, SubwordSettings(3, 6, 2_000_000, 1)).tolist()
        assert rows[1:] == reference_buckets(w, 3, 6, 2_000_000)
        assert rows[0] == reference_hash(("<" + w + ">").encode()) % 2_000_000


def test_words_in_and_out_of_the_vocabulary_share_one_rule():
    s = SubwordSettings(2, 4, 300, 3)
    table = np.random.default_rng(0).standard_normal((s.table_rows(len(WORDS)), 8)).astype(np.float32)
    assert table.shape[0] == 300  # no word rows
    vectors = word_vectors(table, subword_rows(WORDS, s))
    for i, w in enumerate(WORDS):
        np.testing.assert_allclose(vectors[i], unseen_vector(table, len(WORDS), w, s), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(vectors[i], table[reference_compact_rows(w, 2, 4, 300, 3)].mean(axis=0),
                                   rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def compact_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compact")
    corpus = planted_corpus(tmp / "planted.txt", lines=600)
    run_training(train_cfg(corpus, tmp / "run", epochs=2, **COMPACT))
    run_training(train_cfg(corpus, tmp / "full", epochs=2, **{**COMPACT, "hash_count": 0, "buckets": 5000}))
    return tmp


def test_a_compact_model_has_no_word_rows(compact_run):
    z = np.load(str(compact_run / "run" / "model.npz"))
    assert "w_in" not in z.files and z["ngrams"].shape == (700, z["w_out"].shape[1])
    m = Model.load(str(compact_run / "run"))
    assert m.w_in is None and m.table.shape == (700, m.dim) and m.subwords.hash_count == 2
    words, vectors = load_word2vec(str(compact_run / "run" / "vectors.txt"))
    assert words == m.words
    np.testing.assert_allclose(vectors, word_vectors(m.table, subword_rows(m.words, m.subwords)), atol=1e-5)
    assert (np.abs(m.table).max(axis=1) > 0.5 / m.dim).sum() > 100  # its rows trained (initial |x| < 0.5/D)
    full = compact_run / "full" / "model.npz"
    assert (compact_run / "run" / "model.npz").stat().st_size < 0.2 * full.stat().st_size


def test_compact_vectors_and_queries(compact_run):
    m = Model.load(str(compact_run / "run"))
    r = run("vectors", compact_run / "run", input="a3 a3x\n")
    assert r.exit_code == 0, r.output
    got = {line.split()[0]: np.array(line.split()[1:], np.float64) for line in r.stdout.splitlines()}
    np.testing.assert_allclose(got["a3"], m.word_vectors()[m.words.index("a3")], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["a3x"], unseen_vector(m.table, len(m.words), "a3x", m.subwords), rtol=1e-5,
                               atol=1e-6)
    r = run("similar", compact_run / "run", "a3x", "--topn", "3", "--json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)["neighbours"]) == 3


def test_fasttext_export_of_a_compact_model_is_refused(compact_run, tmp_path):
    r = run("export", compact_run / "run", "-o", str(tmp_path / "m.bin"), "--format", "fasttext")
    assert r.exit_code == 2 and "--hash-count" in r.output and not (tmp_path / "m.bin").exists()


def test_init_continues_a_compact_run_and_refuses_word_vectors(compact_run, tmp_path):
    from w2v_nce.config import from_saved
    from w2v_nce.run import init
    from w2v_nce.vocabulary.vocab import Vocab

    old = Model.load(str(compact_run / "run"))
    vocab = Vocab(old.words[:5], old.counts[:5])
    cfg = from_saved({**old.config, "init": str(compact_run / "run"), "output": str(tmp_path / "next")})
    _, model, _, _ = init.initial_model(cfg, vocab)
    np.testing.assert_array_equal(model.table, old.table)
    np.testing.assert_array_equal(model.w_out[:5], old.w_out[:5])
    with pytest.raises(ConfigError, match="--hash-count 2"):  # the other layout
        init.initial_model(from_saved({**old.config, "init": str(compact_run / "run"), "hash_count": 1}), vocab)
    with pytest.raises(ConfigError, match="needs a row per word"):
        init.initial_model(from_saved({**old.config, "init": str(compact_run / "run" / "vectors.txt")}), vocab)


@pytest.mark.parametrize("kw, key", [(dict(hash_count=5), "hash_count"),
                                     (dict(subwords=False, hash_count=2), "hash_count")])
def test_bad_hash_counts_are_errors(tmp_path, kw, key):
    corpus = planted_corpus(tmp_path / "p.txt", lines=20)
    with pytest.raises(ConfigError, match=f"--{key.replace('_', '-')}"):
        run_training(train_cfg(corpus, tmp_path / "out", **{**COMPACT, **kw}))
    assert not (tmp_path / "out").exists()


def test_a_model_saved_before_hash_count_reads_as_fasttexts_layout(compact_run, tmp_path):
    z = dict(np.load(str(compact_run / "full" / "model.npz")))
    config = json.loads(str(z["config"]))
    del config["hash_count"]
    z["config"] = np.array(json.dumps(config))
    np.savez(tmp_path / "old.npz", **z)
    m = Model.load(str(tmp_path / "old.npz"))
    assert m.subwords == SubwordSettings(2, 4, 5000, 0) and m.table.shape == (len(m.words) + 5000, m.dim)


def test_init_from_word_vectors_with_hash_count_is_refused_before_any_work(tmp_path):
    from w2v_nce.run.init import check_init

    (tmp_path / "v.txt").write_text("1 2\na 0.5 0.25\n")
    cfg = train_cfg(str(tmp_path / "c.txt"), tmp_path / "out", **COMPACT, dim=2, init=str(tmp_path / "v.txt"))
    with pytest.raises(ConfigError, match="needs a row per word"):
        check_init(cfg)
