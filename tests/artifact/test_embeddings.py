"""Queries on word vectors: unit rows, exact top-k, most_similar / most_similar_cosmul against a
plain NumPy version and against gensim, unknown words, loading a model or a word2vec file."""

from __future__ import annotations

import numpy as np
import pytest

from w2v_nce.artifact.embeddings import COSMUL_EPSILON, Embeddings, top_k, unit_rows
from w2v_nce.errors import FormatError, UnknownWordError, UsageError


def _vectors(v=3000, d=24, seed=0):
    return np.random.default_rng(seed).standard_normal((v, d)).astype(np.float32)


WORDS = [f"w{i}" for i in range(3000)]


# --- unit_rows ---------------------------------------------------------------------------------


def test_unit_rows_float64_norms_zero_rows_and_blocks(monkeypatch):
    import w2v_nce.artifact.embeddings as E

    monkeypatch.setattr(E, "NORM_BLOCK", 7)  # several blocks and a short last one
    x = _vectors(40, 5) * 1e3
    x[3] = 0.0
    got = unit_rows(x)
    assert got.dtype == np.float32 and got.shape == x.shape
    norms = np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    norms[3] = 1.0
    ref = x.astype(np.float64) / norms
    assert np.array_equal(got, ref.astype(np.float32))  # one rounding, from float64
    assert np.all(got[3] == 0.0)
    assert np.array_equal(unit_rows(x.astype(np.float64)), got)
    with pytest.raises(ValueError, match="2-D"):
        unit_rows(np.ones(3))


def test_one_normalisation_everywhere():
    """export --normalize, the evaluation and the queries all use embeddings.unit_rows."""
    import inspect

    from w2v_nce.artifact import export, model, word2vec
    from w2v_nce.evaluation import analogies, similarity

    assert not hasattr(word2vec, "normalize_rows") and not hasattr(analogies, "_unit_rows")
    assert not hasattr(model.Model, "normalized")
    assert export.unit_rows is unit_rows and similarity.unit_rows is unit_rows
    assert "linalg.norm" not in inspect.getsource(similarity) + inspect.getsource(analogies)
    assert "linalg.norm" not in inspect.getsource(model)


# --- top_k ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("r, k", [(100_003, 10), (100_000, 1), (5000, 40), (300, 10), (7, 10), (1, 1)])
def test_top_k_equals_a_full_sort(r, k):
    rng = np.random.default_rng(r)
    scores = rng.standard_normal((6, r)).astype(np.float32)
    scores[0, : r // 2] = -np.inf  # excluded entries
    scores[1, -1] = 10.0  # the best score in the tail that no chunk covers
    cols, values = top_k(scores, k)
    k = min(k, r)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    expected_values = np.take_along_axis(scores, expected, axis=1)
    expected[expected_values == -np.inf] = -1
    assert np.array_equal(cols, expected)
    assert np.array_equal(values, expected_values)


def test_top_k_ties_by_column_and_pads_excluded():
    scores = np.array([[1, 3, 3, -np.inf, 2]], np.float32)
    cols, values = top_k(scores, 5)
    assert cols.tolist() == [[1, 2, 4, 0, -1]]
    assert values.tolist() == [[3, 3, 2, 1, -np.inf]]
    assert top_k(scores, 0)[0].shape == (1, 0)


# --- most_similar ----------------------------------------------------------------------------


def _naive_cosadd(vectors, positive, negative, restrict):
    unit = vectors.astype(np.float64) / np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
    mean = unit[positive].sum(0) - unit[negative].sum(0)
    scores = unit[:restrict] @ (mean / np.linalg.norm(mean))
    scores[[r for r in positive + negative if r < restrict]] = -np.inf
    return scores


def _naive_cosmul(vectors, positive, negative, eps=COSMUL_EPSILON):
    unit = vectors.astype(np.float64) / np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
    shifted = (unit @ unit.T + 1) / 2
    scores = np.prod(shifted[positive], axis=0) / (np.prod(shifted[negative], axis=0) + eps)
    scores[positive + negative] = -np.inf
    return scores


def test_most_similar_equals_plain_numpy():
    vectors = _vectors()
    emb = Embeddings(WORDS, vectors)
    rng = np.random.default_rng(1)
    for trial in range(20):
        positive = rng.choice(3000, 1 + trial % 3, replace=False).tolist()
        negative = rng.choice(3000, trial % 2, replace=False).tolist()
        restrict = 3000 if trial % 4 else 1000
        got = emb.most_similar([WORDS[i] for i in positive], [WORDS[i] for i in negative], topn=12,
                               restrict_vocab=restrict)
        ref = _naive_cosadd(vectors, positive, negative, restrict)
        best = np.argsort(-ref)[:12]
        assert [w for w, _ in got] == [WORDS[i] for i in best]
        assert np.allclose([s for _, s in got], ref[best], atol=1e-6)
        got = emb.most_similar_cosmul([WORDS[i] for i in positive], [WORDS[i] for i in negative], topn=12)
        ref = _naive_cosmul(vectors, positive, negative)
        best = np.argsort(-ref)[:12]
        assert [w for w, _ in got] == [WORDS[i] for i in best]
        assert np.allclose([s for _, s in got], ref[best], rtol=1e-5)


def test_batches_equal_single_queries(monkeypatch):
    import w2v_nce.artifact.embeddings as E

    emb = Embeddings(WORDS, _vectors())
    queries = [([WORDS[i]], []) for i in range(0, 300, 7)] + [([WORDS[i], WORDS[i + 1]], [WORDS[i + 2]])
                                                                for i in range(0, 300, 11)]
    singles = [emb.most_similar(p, n, topn=5) for p, n in queries]
    cosmul = [emb.most_similar_cosmul(p, n, topn=5) for p, n in queries]
    monkeypatch.setattr(E, "SCORES_BUDGET", 4 * 3000 * 5)  # 5 score rows per block: many blocks
    for method, expected in (("3cosadd", singles), ("3cosmul", cosmul)):
        got = emb.most_similar_batch(queries, topn=5, method=method)
        assert [[w for w, _ in q] for q in got] == [[w for w, _ in q] for q in expected]
        # BLAS may round a product of another shape differently in the last bit
        assert np.allclose([[s for _, s in q] for q in got], [[s for _, s in q] for q in expected], rtol=1e-6)


def _shared_word_queries(rng, n, pool, restrict):
    """n queries drawn from a small pool of words (as analogy sets are): mostly b + c - a, some
    of other shapes, some with words beyond ``restrict``."""
    queries = []
    for i in range(n):
        if i % 5 == 4:
            positive, negative = rng.choice(pool, 1 + i % 3, replace=False).tolist(), []
        else:
            positive, negative = rng.choice(pool, 3, replace=False).tolist(), []
            negative = [positive.pop()]
        queries.append((positive, negative))
    queries.append(([int(pool[0]), min(restrict + 5, 2999)], [int(pool[1])]))  # beyond the candidates (restrict < V)
    return queries


@pytest.mark.parametrize("restrict, tile", [(3000, 256), (1000, 7)])
def test_shared_word_path_equals_plain_numpy(monkeypatch, restrict, tile):
    import w2v_nce.artifact.cosadd as C

    monkeypatch.setattr(C, "TILE", tile)  # 7: many tiles, the last one partial
    vectors = _vectors()
    emb = Embeddings(WORDS, vectors)
    rng = np.random.default_rng(3)
    pool = rng.choice(restrict, 40, replace=False)
    queries = _shared_word_queries(rng, 300, pool, restrict)
    assert C.worth_it(len(queries), len({r for p, n in queries for r in (*p, *n)}))
    rows, scores = emb.nearest_rows(queries, 8, restrict_vocab=restrict)
    for (positive, negative), got_rows, got_scores in zip(queries, rows, scores):
        ref = _naive_cosadd(vectors, positive, negative, restrict)
        best = np.argsort(-ref, kind="stable")[:8]
        assert got_rows.tolist() == best.tolist()
        assert np.allclose(got_scores, ref[best], atol=1e-6)
    monkeypatch.setattr(C, "worth_it", lambda n, t: False)  # the query-vector path
    old_rows, old_scores = emb.nearest_rows(queries, 8, restrict_vocab=restrict)
    assert np.array_equal(rows, old_rows)
    assert np.allclose(scores, old_scores, atol=1e-6)


def test_shared_word_path_edges():
    import w2v_nce.artifact.cosadd as C

    # a query whose words cancel (x - x) scores 0 everywhere: ties, by row; a zero vector too
    vectors = _vectors(50, 6)
    vectors[7] = 0.0
    queries = [([3], [3])] * 40 + [([1, 2], [4])] * 40
    rows, scores = C.cosadd_top_k(unit_rows(vectors), 50, queries, 4)
    assert rows[0].tolist() == [0, 1, 2, 4] and scores[0].tolist() == [0, 0, 0, 0]
    assert 7 not in rows[40:].ravel()
    # fewer candidates than k once the query words are out: -1 / -inf
    rows, scores = C.cosadd_top_k(unit_rows(vectors), 4, [([1, 2], [0])] * 70, 3)
    assert rows[0].tolist() == [3, -1, -1] and scores[0, 1:].tolist() == [-np.inf, -np.inf]
    assert not C.worth_it(63, 1) and not C.worth_it(100, 51) and C.worth_it(100, 50)


def test_query_words_are_excluded_and_analogy_is_b_minus_a_plus_c():
    words = ["man", "woman", "king", "queen", "apple"]
    vectors = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 1, 1], [0.2, -1, 0.1]], np.float32)
    emb = Embeddings(words, vectors)
    for method in ("3cosadd", "3cosmul"):
        answers = emb.analogy("man", "king", "woman", topn=2, method=method)
        assert answers[0][0] == "queen" and all(w not in ("man", "king", "woman") for w, _ in answers)
    # cosines with king (1, 0, 1)/√2: man 0.71, queen 0.5, apple 0.21, woman 0; V - 1 words left
    assert [w for w, _ in emb.most_similar("king", topn=10)] == ["man", "queen", "apple", "woman"]
    assert emb.most_similar("king", topn=0) == []
    assert emb.most_similar_batch([]) == []


def test_unknown_words_are_named_and_are_key_errors():
    emb = Embeddings(["a", "b", "c"], _vectors(3, 4))
    with pytest.raises(UnknownWordError, match="not in the vocabulary: zz yy") as info:
        emb.most_similar(["a", "zz"], ["yy", "zz"])
    assert info.value.words == ["zz", "yy"] and isinstance(info.value, KeyError)
    assert emb.missing(["a", "q", "q"]) == ["q"]
    with pytest.raises(ValueError, match="no input"):
        emb.most_similar([])
    with pytest.raises(ValueError, match="method"):
        emb.most_similar_batch([(["a"], [])], method="3coswhat")


def test_repeated_words_take_the_first_row():
    emb = Embeddings(["a", "b", "a"], np.eye(3, dtype=np.float32))
    assert emb.ids == {"a": 0, "b": 1}
    assert emb.most_similar("b", topn=5)[-1] == ("a", 0.0)


@pytest.fixture
def gensim_kv():
    models = pytest.importorskip("gensim.models")

    def make(words, vectors):
        kv = models.KeyedVectors(vectors.shape[1])
        kv.add_vectors(words, vectors)
        return kv

    return make


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # gensim's own init_sims
def test_rankings_equal_gensim(gensim_kv):
    vectors = _vectors(3000, 32, seed=4)
    emb, kv = Embeddings(WORDS, vectors), gensim_kv(WORDS, vectors)
    rng = np.random.default_rng(2)
    for trial in range(60):
        positive = [WORDS[i] for i in rng.choice(3000, 1 + trial % 3, replace=False)]
        negative = [WORDS[i] for i in rng.choice(3000, trial % 2, replace=False)]
        restrict = None if trial % 3 else 1500
        ours = emb.most_similar(positive, negative, topn=10, restrict_vocab=restrict)
        theirs = kv.most_similar(positive, negative, topn=10, restrict_vocab=restrict)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        assert np.allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5)
        # gensim's most_similar_cosmul ignores restrict_vocab: compare over the whole vocabulary,
        # with gensim's epsilon (ours is Levy & Goldberg's 1e-3)
        ours = emb.most_similar_cosmul(positive, negative, topn=10, epsilon=1e-6)
        theirs = kv.most_similar_cosmul(positive, negative, topn=10)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        assert np.allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-5)


# --- loading --------------------------------------------------------------------------------


def test_load_embeddings_from_a_model_and_from_word2vec_files(tmp_path):
    from w2v_nce.artifact.export import select_vectors
    from w2v_nce.artifact.model import Model, load_embeddings
    from w2v_nce.artifact.word2vec import write_word2vec_binary, write_word2vec_text

    words = WORDS[:50]
    model = Model.initial(words, np.arange(50, 0, -1), 8, 0, {})
    model.w_out[:] = _vectors(50, 8, seed=3)
    model.save(str(tmp_path / "model.npz"))
    for which in ("in", "out", "sum", "avg"):
        emb = load_embeddings(tmp_path, which)
        assert emb.words == words
        assert np.array_equal(emb.vectors, select_vectors(model.w_in, model.w_out, which))
    assert np.array_equal(load_embeddings(tmp_path / "model.npz").vectors, model.w_in)
    write_word2vec_text(tmp_path / "v.txt", words, model.w_out)
    write_word2vec_binary(tmp_path / "v.bin", words, model.w_out)
    for name in ("v.txt", "v.bin"):
        emb = load_embeddings(tmp_path / name)
        assert emb.words == words and np.array_equal(emb.vectors, model.w_out)
    with pytest.raises(UsageError, match="needs a model"):
        load_embeddings(tmp_path / "v.txt", "sum")
    with pytest.raises(FormatError, match="nope.txt: not found"):
        load_embeddings(tmp_path / "nope.txt")
    (tmp_path / "bad.txt").write_text("hello world\n")
    with pytest.raises(FormatError, match="bad.txt: line 1"):
        load_embeddings(tmp_path / "bad.txt")


def test_model_nearest_delegates():
    from w2v_nce.artifact.model import Model

    model = Model.initial(WORDS[:30], np.ones(30), 6, 1, {})
    emb = Embeddings(model.words, model.w_in)
    assert model.nearest("w3", 4) == emb.most_similar("w3", topn=4)
    with pytest.raises(KeyError):
        model.nearest("absent")
