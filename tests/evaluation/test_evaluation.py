"""Evaluation: the full sigmoid/softmax loss against plain float64 NumPy and a hand-worked case,
analogies (gensim's semantics) on hand-made vectors, similarity correlations and file layouts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from w2v_nce.errors import FormatError
from w2v_nce.evaluation import analogies as AN
from w2v_nce.evaluation import command as E
from w2v_nce.evaluation import datasets as DS
from w2v_nce.evaluation import full_loss as FL
from w2v_nce.evaluation import similarity as SIM

# --- full losses -----------------------------------------------------------------------------


def _softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _model(v=300, d=16, seed=0, scale=0.5):
    rng = np.random.default_rng(seed)
    return (rng.normal(0, scale, (v, d)).astype(np.float32), rng.normal(0, scale, (v, d)).astype(np.float32),
            rng.normal(0, 1.0, v).astype(np.float32))


def test_full_sigmoid_loss_hand_computed():
    # V=3, D=2. Centre 0 has x = (1, 2); logits z_v = x·w_out[v] + b[v] = (0.5+0, -1+0.5, 2-1) = (0.5, -0.5, 1).
    w_in = np.array([[1, 2], [0, 0], [3, -1]], np.float32)
    w_out = np.array([[0.5, 0], [1, -1], [0, 1]], np.float32)
    bias = np.array([0, 0.5, -1], np.float32)
    z = np.array([0.5, -0.5, 1.0])
    sp = np.log(1 + np.exp(z))  # softplus, written out
    expected_ctx2 = sp.sum() - z[2]
    expected_ctx0 = sp.sum() - z[0]
    mean, stderr, n = FL.full_sigmoid_loss_pairs(w_in, w_out, bias, np.array([0, 0], np.int32), np.array([2, 0], np.int32))
    assert n == 2
    # float32 z and e^-|z| (the float32 exp), float64 sums: the float32 rounding of these inputs
    assert mean == pytest.approx((expected_ctx2 + expected_ctx0) / 2, rel=1e-7)
    per_pair = np.array([expected_ctx2, expected_ctx0])
    assert stderr == pytest.approx(per_pair.std(ddof=1) / math.sqrt(2), rel=1e-6)
    # softmax over the same logits: logsumexp(z) - z_ctx
    mean_sm, _, _ = FL.full_softmax_loss_pairs(w_in, w_out, bias, np.array([0], np.int32), np.array([2], np.int32))
    assert mean_sm == pytest.approx(np.log(np.exp(z).sum()) - z[2], rel=1e-12)


def test_float32_exp_against_numpy():
    """The full loss's float32 exp over its whole domain [-40, 0] (and a little past it)."""
    from numba import njit

    from w2v_nce.kernels.numerics import exp32_nonpositive

    @njit
    def many(a):
        out = np.empty(a.size, np.float32)
        for i in range(a.size):
            out[i] = exp32_nonpositive(a[i])
        return out

    a = np.concatenate([-np.linspace(0, 40, 400_001), -np.linspace(40, 86, 1001), [-0.0, -1e-30]]).astype(np.float32)
    got = many(a).astype(np.float64)
    rel = np.abs(got / np.exp(a.astype(np.float64)) - 1)
    assert rel.max() < 8e-8  # about 1.2 ulp
    assert got[0] == 1.0 and got[-2] == 1.0


@pytest.mark.parametrize("scale", [0.05, 0.5, 4.0])  # small, moderate and saturated logits (|z| >> 40)
def test_full_losses_match_float64_numpy(scale):
    w_in, w_out, bias = _model(v=1100, scale=scale)  # V spans several 512-class product runs
    rng = np.random.default_rng(1)
    centres = rng.integers(0, 1100, 150).astype(np.int32)
    contexts = rng.integers(0, 1100, 150).astype(np.int32)
    z = w_in[centres].astype(np.float64) @ w_out.T.astype(np.float64) + bias
    rows = np.arange(150)
    sigmoid = _softplus(z).sum(1) - z[rows, contexts]
    m = z.max(1)
    softmax = m + np.log(np.exp(z - m[:, None]).sum(1)) - z[rows, contexts]
    for fn, ref in ((FL.full_sigmoid_loss_pairs, sigmoid), (FL.full_softmax_loss_pairs, softmax)):
        for block in (None, 7, 1000):
            mean, stderr, n = fn(w_in, w_out, bias, centres, contexts, threads=2, block=block)
            assert n == 150
            # float32 logits (BLAS) against float64 ones: a relative 1e-6 of the typical |z|.
            assert mean == pytest.approx(ref.mean(), rel=2e-6, abs=1e-6)
            assert stderr == pytest.approx(ref.std(ddof=1) / math.sqrt(150), rel=1e-4, abs=1e-6)


def test_full_loss_without_bias_and_argument_checks():
    w_in, w_out, _ = _model(v=50)
    c, x = np.array([1, 2, 3]), np.array([4, 5, 6])
    z = w_in[c].astype(np.float64) @ w_out.T.astype(np.float64)
    ref = (_softplus(z).sum(1) - z[np.arange(3), x]).mean()
    assert FL.full_sigmoid_loss_pairs(w_in, w_out, None, c, x)[0] == pytest.approx(ref, rel=1e-6)
    with pytest.raises(ValueError, match="contexts"):
        FL.full_sigmoid_loss_pairs(w_in, w_out, None, c, np.array([4, 5, 50]))
    with pytest.raises(ValueError, match="no .* pairs"):
        FL.full_sigmoid_loss_pairs(w_in, w_out, None, c[:0], x[:0])
    bad = w_out.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        FL.full_sigmoid_loss_pairs(w_in, bad, None, c, x)



@pytest.mark.parametrize("softmax", [False, True])
def test_full_loss_is_the_same_for_any_workers_and_without_blas_control(monkeypatch, softmax):
    """Blocks of pairs go to 1, 2 or 3 workers with single-threaded BLAS, or to one worker on the
    BLAS's own threads where its thread count cannot be set: the losses do not change (beyond the
    last bits of float32 logits, which BLAS may round differently for another number of rows)."""
    from w2v_nce.evaluation import blas

    w_in, w_out, bias = _model(v=1300, seed=3)  # 3 class tiles, the last one partial
    rng = np.random.default_rng(4)
    centres, contexts = rng.integers(0, 1300, 61), rng.integers(0, 1300, 61)
    fn = FL.full_softmax_loss_pairs if softmax else FL.full_sigmoid_loss_pairs
    base = fn(w_in, w_out, bias, centres, contexts, threads=1, block=61)
    for threads, block in ((2, None), (3, 5), (2, 60)):
        got = fn(w_in, w_out, bias, centres, contexts, threads=threads, block=block)
        assert got[0] == pytest.approx(base[0], rel=1e-9) and got[1] == pytest.approx(base[1], rel=1e-6)
    monkeypatch.setattr(blas, "blas_controls", lambda: None)  # no known BLAS: one worker, BLAS threads untouched
    got = fn(w_in, w_out, bias, centres, contexts, threads=2)
    assert got[0] == pytest.approx(base[0], rel=1e-9) and got[2] == 61


def test_blas_single_threaded_restores_the_setting():
    import sys

    from w2v_nce.evaluation import blas

    control = blas.blas_controls()
    if sys.platform.startswith("linux"):
        assert control is not None, "NumPy's BLAS thread setter was not found among the loaded libraries"
    if control is None:
        with blas.single_threaded() as per_core:
            assert per_core is False
        return
    set_threads, get_threads = control
    before = int(get_threads())
    with blas.single_threaded() as per_core:
        assert per_core is True and int(get_threads()) == 1
    assert int(get_threads()) == before
    with pytest.raises(RuntimeError):
        with blas.single_threaded():
            raise RuntimeError("a failing worker")
    assert int(get_threads()) == before

# --- analogies -------------------------------------------------------------------------------

def _write(tmp_path, name, text, newline="\n"):
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


# Hand-made 3-d vectors: man→king is +z, so woman→queen; paris−france+germany = berlin.
ANALOGY_WORDS = ["man", "woman", "king", "queen", "france", "paris", "germany", "berlin", "run", "running",
                 "walk", "walking", "Queen"]
ANALOGY_VECTORS = np.array([
    [1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 1, 1],              # man woman king queen
    [1, 1, 0], [1, 1, 1], [-1, 1, 0], [-1, 1, 1],            # france paris germany berlin
    [0, -1, 0.2], [0.5, -1, 0.2], [0, -1, -1], [0.5, -1, -1],  # run running walk walking
    [0, 1, 1],                                               # Queen (a case variant, rarer)
], np.float32)

ANALOGY_FILE = """: capital-common-countries
france paris germany berlin
FRANCE Paris Germany Berlin
france paris spain madrid
: family
man king woman queen
: gram-verbs
run running walk walking
"""


def test_analogies_known_answers_groups_and_case(tmp_path):
    path = _write(tmp_path, "q.txt", ANALOGY_FILE)
    r = AN.evaluate_analogies(ANALOGY_WORDS, ANALOGY_VECTORS, path, restrict_vocab=None)
    assert (r["answered"], r["skipped"], r["correct"]) == (4, 1, 4)  # spain/madrid are OOV: skipped
    assert r["accuracy"] == 1.0 and r["semantic"] == 1.0 and r["syntactic"] == 1.0
    assert [(s["section"], s["kind"], s["answered"], s["skipped"]) for s in r["sections"]] == [
        ("capital-common-countries", "semantic", 2, 1), ("family", "semantic", 1, 0), ("gram-verbs", "syntactic", 1, 0)]
    # Case-sensitive: the upper-case question cannot be looked up.
    r = AN.evaluate_analogies(ANALOGY_WORDS, ANALOGY_VECTORS, path, restrict_vocab=None, case_insensitive=False)
    assert (r["answered"], r["skipped"], r["correct"]) == (3, 2, 3)
    # restrict_vocab=8 drops run..walking: the syntactic question is skipped, its accuracy NaN.
    r = AN.evaluate_analogies(ANALOGY_WORDS, ANALOGY_VECTORS, path, restrict_vocab=8)
    assert r["answered"] == 3 and math.isnan(r["syntactic"])


def test_analogy_question_words_are_excluded(tmp_path):
    # b − a + c points exactly at c itself ("king"): the nearest raw answer is a question word,
    # which must be skipped; the next best ("queen") is then given and counted correct.
    words = ["man", "men", "king", "queen", "apple"]
    vectors = np.array([[1, 0, 0], [1, 0.01, 0], [0, 1, 0], [0.1, 1, 0.1], [0, 0, 1]], np.float32)
    path = _write(tmp_path, "q.txt", ": x\nman men king queen\n")
    scores = (vectors[1] - vectors[0] + vectors[2]) @ (vectors / np.linalg.norm(vectors, axis=1)[:, None]).T
    assert scores.argmax() == 2  # the raw argmax is "king", a question word
    assert AN.evaluate_analogies(words, vectors, path)["correct"] == 1


def test_analogy_case_variant_of_question_word_is_skipped_like_gensim(tmp_path):
    # "Woman" (a rarer case variant of the question word "woman") scores best; gensim skips any
    # answer whose upper-cased form is a question word, so "queen" is taken.
    words = ["man", "woman", "king", "queen", "Woman"]
    vectors = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 1, 0.3], [0, 1, 1]], np.float32)
    path = _write(tmp_path, "q.txt", ": family\nman king woman queen\n")
    assert AN.evaluate_analogies(words, vectors, path)["correct"] == 1
    assert AN.evaluate_analogies(words, vectors, path, case_insensitive=False)["correct"] == 0


def test_analogies_through_shared_words_equal_the_query_vector_path(tmp_path, monkeypatch):
    """A questions file big enough for cosadd's path (many questions, few distinct words), with
    case variants and a restricted vocabulary: the same report as the query-vector path."""
    import w2v_nce.artifact.cosadd as C

    rng = np.random.default_rng(4)
    words = [f"w{i}" for i in range(300)] + ["W3", "W7", "w1X"]  # rarer case variants of w3, w7
    vectors = rng.standard_normal((len(words), 16)).astype(np.float32)
    vectors[300] = vectors[3] + 0.05 * vectors[300]  # W3 next to w3: a variant answer to pass over
    pool = [f"w{i}" for i in range(0, 40)]
    lines = []
    for section in ("family", "gram1-adjective-to-adverb"):
        lines.append(f": {section}")
        lines += [" ".join(rng.choice(pool, 4, replace=False)) for _ in range(200)]
    lines.append("w3 w7 W3 w250")  # a question with a case variant of its own word
    path = _write(tmp_path, "q.txt", "\n".join(lines) + "\n")
    calls = []
    real = C.cosadd_top_k
    monkeypatch.setattr(C, "cosadd_top_k", lambda *a: calls.append(1) or real(*a))
    for restrict in (None, 200):
        shared = AN.evaluate_analogies(words, vectors, path, restrict_vocab=restrict)
        with monkeypatch.context() as m:
            m.setattr(C, "worth_it", lambda n, t: False)
            plain = AN.evaluate_analogies(words, vectors, path, restrict_vocab=restrict)
        assert shared == plain
        assert shared["answered"] > 300 and shared["correct"] > 0
    assert len(calls) == 2  # the shared-word path answered both times


def test_3cosmul_tiny_case(tmp_path):
    # 3CosAdd and 3CosMul disagree here: cos' = (cos+1)/2, score = cos'(v,b)·cos'(v,c)/(cos'(v,a)+1e-3).
    words = ["a", "b", "c", "x", "y"]
    vectors = np.array([[1, 0], [0, 1], [0.6, 0.8], [-0.6, 0.8], [-0.9, 0.2]], np.float32)
    path = _write(tmp_path, "q.txt", ": s\na b c x\na b c y\n")
    unit = vectors / np.linalg.norm(vectors, axis=1)[:, None]
    cos = unit @ unit.T
    shifted = (cos + 1) / 2
    mul = shifted[1] * shifted[2] / (shifted[0] + 1e-3)
    add = (unit[1] + unit[2] - unit[0]) @ unit.T
    assert np.argmax(add[3:]) + 3 == 3 and np.argmax(mul[3:]) + 3 == 4  # x by 3CosAdd, y by 3CosMul
    assert AN.evaluate_analogies(words, vectors, path, method="3cosadd")["correct"] == 1
    r = AN.evaluate_analogies(words, vectors, path, method="3cosmul")
    assert r["correct"] == 1 and r["method"] == "3cosmul"
    assert r["sections"][0]["correct"] == 1


def test_analogy_file_errors(tmp_path):
    with pytest.raises(FormatError, match=r"line 1: question before"):
        AN.evaluate_analogies(["a"], np.ones((1, 2), np.float32), _write(tmp_path, "a.txt", "a b c d\n"))
    with pytest.raises(FormatError, match="no analogy questions"):
        AN.evaluate_analogies(["a"], np.ones((1, 2), np.float32), _write(tmp_path, "b.txt", ": empty\n"))


def test_bundled_analogies_parse():
    files = DS.default_analogy_files()
    if not files:
        pytest.skip("data/eval not bundled")
    sections, invalid = AN.read_analogies(files[0])
    assert invalid == 0 and len(sections) == 14
    kinds = [sum(len(q) for name, q in sections if AN.is_syntactic(name) == syn) for syn in (False, True)]
    assert kinds == [8869, 10675]


def test_analogies_match_gensim(tmp_path):
    gensim_models = pytest.importorskip("gensim.models")
    # Random vectors with planted analogies (d ≈ b − a + c + noise) so that accuracy is neither 0
    # nor 1, case variants in the vocabulary, and a restricted vocabulary that skips questions.
    rng = np.random.default_rng(3)
    base = [f"w{i}" for i in range(400)]
    words = base + ["W3", "w5X", "W10"] + [f"r{i}" for i in range(100)]
    vectors = rng.standard_normal((len(words), 12)).astype(np.float32)
    lines = []
    for s in range(3):
        lines.append(f": {'gram' if s == 2 else 'sem'}-{s}")
        for _ in range(120):
            a, b, c, d = rng.choice(len(words) - 20, 4, replace=False)
            vectors[d] = vectors[b] - vectors[a] + vectors[c] + rng.normal(0, 0.6, 12)
            lines.append(" ".join(words[i].upper() if rng.random() < 0.2 else words[i] for i in (a, b, c, d)))
    path = _write(tmp_path, "q.txt", "\n".join(lines) + "\n")
    kv = gensim_models.KeyedVectors(12)
    kv.add_vectors(words, vectors)
    score, sections = kv.evaluate_word_analogies(str(path), restrict_vocab=450)
    ours = AN.evaluate_analogies(words, vectors, path, restrict_vocab=450)
    assert 0.2 < ours["accuracy"] < 0.95
    assert ours["accuracy"] == pytest.approx(score)
    assert [s["correct"] for s in ours["sections"]] == [len(s["correct"]) for s in sections[:-1]]
    assert ours["answered"] == len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])


# --- similarity ------------------------------------------------------------------------------

def test_rankdata_and_spearman_with_ties():
    assert SIM.rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    # x ranks (1, 2.5, 2.5, 4), y ranks (1, 3, 2, 4): written out Pearson of the ranks.
    x, y = [1, 2, 2, 3], [10, 30, 20, 40]
    rx, ry = np.array([1, 2.5, 2.5, 4]), np.array([1, 3, 2, 4])
    dx, dy = rx - 2.5, ry - 2.5  # (-1.5, 0, 0, 1.5), (-1.5, 0.5, -0.5, 1.5)
    expected = (dx @ dy) / math.sqrt((dx @ dx) * (dy @ dy))  # 4.5 / sqrt(4.5 * 5) = 0.9486833
    assert expected == pytest.approx(0.9486832980505138)
    assert SIM.spearman(x, y) == pytest.approx(expected, rel=1e-12)
    assert SIM.pearson([1, 2, 3], [2, 4, 6.5]) == pytest.approx(np.corrcoef([1, 2, 3], [2, 4, 6.5])[0, 1])
    assert math.isnan(SIM.spearman([1, 1, 1], [1, 2, 3]))


SIM_WORDS = ["cat", "dog", "car", "tiger", "bus", "fruit"]
SIM_VECTORS = np.array([[1, 0.1, 0], [0.9, 0.3, 0], [0, 1, 0.2], [1, 0, 0.1], [0, 1, 0], [0.2, 0.2, 1]], np.float32)
PAIRS = [("cat", "dog", 8.0), ("cat", "car", 1.5), ("tiger", "cat", 9.0), ("car", "bus", 7.0), ("dog", "fruit", 0.5)]

LAYOUTS = {
    "wordsim353_combined.csv": ("Word 1,Word 2,Human (mean)\n" + "".join(f"{a},{b},{s}\n" for a, b, s in PAIRS), "\r\n"),
    "SimLex-999.txt": ("word1\tword2\tPOS\tSimLex999\tconc(w1)\n"
                       + "".join(f"{a}\t{b}\tN\t{s}\t4.5\n" for a, b, s in PAIRS), "\r\n"),
    "MEN_natural": ("".join(f"{a} {b} {s * 5:.6f}\n" for a, b, s in PAIRS), "\n"),
    "rw.txt": ("".join(f"{a}\t{b}\t{s}\t7\t8\t9\t1\t4\t6\t6\t7\n" for a, b, s in PAIRS), "\n"),
    "MTURK-771.csv": ("word1,word2,score\n" + "".join(f"{a},{b},{s}{chr(9) if a == 'car' else ''}\n" for a, b, s in PAIRS), "\n"),
    "gensim.tsv": ("# comment\n" + "".join(f"{a}\t{b}\t{s}\n" for a, b, s in PAIRS) + "#end\n", "\n"),
    "goldstandard.txt": ("".join(f"{a}\t{b}\t{s}\n" for a, b, s in PAIRS), "\n"),
}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_similarity_layouts(tmp_path, name):
    text, newline = LAYOUTS[name]
    path = _write(tmp_path, name, text, newline)
    pairs, _ = SIM.read_similarity_pairs(path)
    scale = 5 if name == "MEN_natural" else 1
    assert pairs == [(a, b, s * scale) for a, b, s in PAIRS]
    words = [w.upper() if w == "tiger" else w for w in SIM_WORDS]  # case-insensitive lookup
    r = SIM.evaluate_similarity(words[:-1], SIM_VECTORS[:-1], path)  # "fruit" missing: one OOV pair
    assert (r["pairs"], r["oov"], r["total"]) == (4, 1, 5)
    unit = SIM_VECTORS / np.linalg.norm(SIM_VECTORS, axis=1)[:, None]
    idx = {w: i for i, w in enumerate(SIM_WORDS)}
    cos = [unit[idx[a]] @ unit[idx[b]] for a, b, _ in PAIRS[:4]]
    assert r["spearman"] == pytest.approx(SIM.spearman([s for *_, s in PAIRS[:4]], cos))
    assert r["pearson"] == pytest.approx(np.corrcoef([s * scale for *_, s in PAIRS[:4]], cos)[0, 1], rel=1e-6)


@pytest.mark.parametrize("text, message", [
    ("cat,dog\n", r"line 1: expected 'word1 word2 score'"),
    ("cat dog 1.0\ncat dog high\n", r"line 2: score 'high' is not a number"),
    ("a\tb\t1\nlonely\n", r"line 2: expected"),
    ("# only comments\n\n", "no word pairs"),
    ("w1,w2,score\n", "no word pairs"),
])
def test_similarity_malformed_files(tmp_path, text, message):
    path = _write(tmp_path, "bad.txt", text)
    with pytest.raises(FormatError, match=message) as info:
        SIM.evaluate_similarity(["cat"], np.ones((1, 2), np.float32), path)
    assert str(path) in str(info.value)


def test_bundled_similarity_files_pair_counts():
    files = {p.name: p for p in DS.default_similarity_files()}
    if not files:
        pytest.skip("data/eval not bundled")
    expected = {"wordsim353_combined.csv": 353, "SimLex-999.txt": 999, "MEN_dataset_natural_form_full": 3000,
                "rw.txt": 2034, "MTURK-771.csv": 771, "wordsim_similarity_goldstandard.txt": 203,
                "wordsim_relatedness_goldstandard.txt": 252}
    assert set(files) == set(expected)
    for name, count in expected.items():
        pairs, _ = SIM.read_similarity_pairs(files[name])
        assert len(pairs) == count, name
    simlex, layout = SIM.read_similarity_pairs(files["SimLex-999.txt"])
    assert simlex[0] == ("old", "new", 1.58) and "SimLex999" in layout


# --- the eval command's library side ---------------------------------------------------------

def test_run_evaluation_on_a_vectors_file_and_a_model(tmp_path):
    import json

    from w2v_nce.artifact.model import Model
    from w2v_nce.artifact.word2vec import write_word2vec_binary

    path = _write(tmp_path, "q.txt", ANALOGY_FILE)
    sim = _write(tmp_path, "sim.tsv", LAYOUTS["gensim.tsv"][0])
    write_word2vec_binary(tmp_path / "v.bin", ANALOGY_WORDS, ANALOGY_VECTORS)
    report = E.run_evaluation(vectors_file=str(tmp_path / "v.bin"), analogies=[str(path)], similarity=[str(sim)])
    assert report["analogies"]["q.txt"]["correct"] == 4
    assert report["similarity"]["sim"]["pairs"] == 0 and report["similarity"]["sim"]["spearman"] is None
    json.dumps(report, allow_nan=False)  # strict JSON: NaN became None
    assert "q.txt (3cosadd" in E.format_report(report)

    words = ["the", "cat", "sat", "on", "mat"]
    model = Model.initial(words, np.array([5, 4, 3, 2, 1]), 4, 0, {"window": 2, "loss": "sampled_softmax"})
    model.w_out[:] = np.random.default_rng(0).normal(0, 0.5, model.w_out.shape)
    model.save(str(tmp_path / "model.npz"))
    (tmp_path / "held.txt").write_text("the cat sat on the mat\n")
    report = E.run_evaluation(model_dir=str(tmp_path), heldout=[str(tmp_path / "held.txt")], max_pairs=100,
                              analogies=[str(path)], similarity=[str(sim)])
    held = report["heldout"]
    assert held["pairs"] > 0 and held["window"] == 2
    assert set(held) >= {"full_sigmoid", "full_softmax"}
    assert "held-out full sigmoid loss" in E.format_report(report)


def test_full_loss_pairs_equal_the_losses_reference_api():
    """The eval kernel against w2v_nce.reference.tf_losses.full_sigmoid_loss (the TF doc recipe)."""
    from w2v_nce.evaluation.full_loss import full_sigmoid_loss_pairs
    from w2v_nce.reference.tf_losses import full_sigmoid_loss

    rng = np.random.default_rng(5)
    V, D, N = 300, 12, 1000
    w_in = rng.normal(0, 0.5, (V, D)).astype(np.float32)
    w_out = rng.normal(0, 0.5, (V, D)).astype(np.float32)
    bias = rng.normal(0, 0.5, V).astype(np.float32)
    centres = rng.integers(0, V, N).astype(np.int32)
    contexts = rng.integers(0, V, N).astype(np.int32)
    ref = full_sigmoid_loss(w_out.astype(np.float64), bias.astype(np.float64), contexts,
                            w_in[centres].astype(np.float64))
    mean, stderr, n = full_sigmoid_loss_pairs(w_in, w_out, bias, centres, contexts, threads=2, block=97)
    assert n == N
    assert mean == pytest.approx(ref.mean(), rel=1e-6)
    assert stderr == pytest.approx(ref.std(ddof=1) / np.sqrt(N), rel=1e-4)


def test_heldout_pairs_are_in_corpus_order_and_capped(tmp_path):
    from w2v_nce.stream import heldout_pairs, id_chunks
    from w2v_nce.text.corpus import Corpus
    from w2v_nce.vocabulary.vocab import Vocab

    p = tmp_path / "h.txt"
    p.write_text("a b oov c\nd e\n")
    vocab = Vocab(["a", "b", "c", "d", "e"], np.array([5, 4, 3, 2, 1]))
    centres, contexts = heldout_pairs(id_chunks(Corpus([str(p)]), vocab, 100), window=2, max_pairs=100)
    # OOV dropped before windowing: sentence 1 is a b c; centre ascending, then context ascending
    assert list(zip(centres.tolist(), contexts.tolist())) == [
        (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (3, 4), (4, 3)]
    centres, _ = heldout_pairs(id_chunks(Corpus([str(p)]), vocab, 100), window=2, max_pairs=3)
    assert len(centres) == 3


def test_one_cosmul_epsilon_for_eval_analogy_and_the_library():
    """`eval` and `analogy` score 3CosMul with the same epsilon (they differed: 1e-3 and 1e-6)."""
    import inspect

    from w2v_nce.artifact.embeddings import COSMUL_EPSILON, Embeddings

    assert COSMUL_EPSILON == 1e-3
    assert inspect.signature(AN.evaluate_analogies).parameters["cosmul_epsilon"].default == COSMUL_EPSILON
    for name in ("most_similar_cosmul", "most_similar_batch", "nearest_rows"):
        params = inspect.signature(getattr(Embeddings, name)).parameters
        assert [p.default for k, p in params.items() if "epsilon" in k] == [COSMUL_EPSILON], name


def test_lookup_of_wanted_words_is_the_full_lookup_restricted_to_them():
    from w2v_nce.evaluation.datasets import lookup_of, vocab_lookup

    words = ["the", "The", "Paris", "paris", "x", "THE", "naïve", "NAÏVE"]
    wanted = {"THE", "paris", "naïve", "absent"}
    for case_insensitive in (True, False):
        full, _ = vocab_lookup(words, None, case_insensitive)
        fold = str.upper if case_insensitive else str
        expected = {fold(w): full[fold(w)] for w in wanted if fold(w) in full}
        assert lookup_of(words, wanted, case_insensitive) == expected
    assert lookup_of(words, wanted, True) == {"THE": 0, "PARIS": 2, "NAÏVE": 6}


def test_a_vectors_file_of_no_rows_scores_nothing_without_a_traceback(tmp_path):
    """`eval --vectors` on a file whose header says "0 10" raised IndexError in the analogy search."""
    path = _write(tmp_path, "q.txt", ANALOGY_FILE)
    (tmp_path / "v.txt").write_text("0 10\n")
    report = E.run_evaluation(vectors_file=str(tmp_path / "v.txt"), analogies=[str(path)])
    q = report["analogies"]["q.txt"]
    assert q["correct"] == 0 and q["answered"] == 0


def test_heldout_text_in_utf16_is_the_error_train_gives_not_zero_pairs(tmp_path):
    from w2v_nce.artifact.model import Model
    from w2v_nce.errors import CorpusError

    w_in, w_out, bias = _model(v=5, d=4)
    model = Model.from_arrays(["a", "b", "c", "d", "e"], np.array([5, 4, 3, 2, 1]), w_in, w_out, bias, {"dim": 4})
    text = tmp_path / "u16.txt"
    text.write_text("a b c d e\n" * 50, encoding="utf-16")
    with pytest.raises(CorpusError, match="UTF-16"):
        E.heldout_report(model, [str(text)], max_pairs=100, window=2, threads=1)
