"""w2v-nce compare: Procrustes alignment, drift, neighbour overlap, gained/lost words, the CLI."""

import json

import numpy as np
import pytest

from tests.conftest import REPO, SAMPLE, run_cli
from w2v_nce.artifact.embeddings import unit_rows
from w2v_nce.evaluation.compare import Vectors, compare, procrustes

V, D = 400, 12
WORDS = [f"w{i}" for i in range(V)]
TINY = f"{REPO}/configs/tiny.yaml"


def _unit(rng, n=V):
    return unit_rows(rng.standard_normal((n, D)).astype(np.float32))


def _rotation(rng):
    q, _ = np.linalg.qr(rng.standard_normal((D, D)))
    return q


def test_procrustes_recovers_a_rotation_and_weights_ignore_corrupted_rows():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((200, D))
    q = _rotation(rng)
    b = a @ q.T  # b R = a with R = q
    b[:20] = rng.standard_normal((20, D))  # corrupted rows ...
    weights = np.ones(200)
    weights[:20] = 0.0  # ... that carry no weight
    r = procrustes(a, b, weights)
    np.testing.assert_allclose(r @ r.T, np.eye(D), atol=1e-10)
    np.testing.assert_allclose(r, q, atol=1e-8)
    assert not np.allclose(procrustes(a, b, np.ones(200)), q, atol=1e-3)  # unweighted, they pull it off


def test_a_rotated_copy_has_no_drift_and_the_same_neighbours():
    rng = np.random.default_rng(2)
    a = _unit(rng)
    b = (a @ _rotation(rng).T).astype(np.float32)
    r = compare(Vectors("A", WORDS, a, np.arange(V, 0, -1)), Vectors("B", WORDS, b, None), evaluate=False)
    assert r["shared"] == V and r["drift"]["mean"] < 1e-6 and r["drift"]["p90"] < 1e-6
    assert r["overlap"] == {"words": V, "k": 10, "mean": 1.0}
    assert r["gained"]["count"] == 0 and r["lost"]["count"] == 0


def test_the_word_that_moved_is_named_and_gained_and_lost_words_are_listed():
    rng = np.random.default_rng(3)
    a = _unit(rng)
    b = (a @ _rotation(rng).T).astype(np.float32)
    b[5] = -b[5]  # w5 points the other way
    words_b = WORDS[:-2] + ["fresh", "newer"]
    r = compare(Vectors("A", WORDS, a, np.arange(V, 0, -1)), Vectors("B", words_b, unit_rows(b), None),
                evaluate=False)
    assert r["moved_most"][0]["word"] == "w5" and r["moved_most"][0]["drift"] == pytest.approx(2.0, abs=1e-4)
    assert r["moved_least"][0]["drift"] < 1e-6
    assert r["gained"] == {"count": 2, "most_frequent": ["fresh", "newer"]}
    assert r["lost"] == {"count": 2, "most_frequent": ["w398", "w399"]}


def test_the_cli_compares_two_runs_and_a_vectors_file(tmp_path):
    for seed in ("1", "2"):
        r = run_cli("train", SAMPLE, "-c", TINY, "-o", tmp_path / seed, "--seed", seed, "--quiet")
        assert r.exit_code == 0, r.output
    r = run_cli("compare", tmp_path / "1", tmp_path / "2", "--json", tmp_path / "c.json")
    assert r.exit_code == 0, r.output
    assert "drift (1 - cosine after alignment)" in r.output and "neighbour overlap@10" in r.output
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["shared"] == report["words_a"] == report["words_b"] and 0.0 < report["drift"]["mean"] < 2.0
    assert 0.0 <= report["overlap"]["mean"] <= 1.0 and "analogy" in report["evaluation"]["a"]
    run_cli("export", tmp_path / "1", "-o", tmp_path / "1.bin", "--format", "binary")
    r = run_cli("compare", tmp_path / "1", tmp_path / "1.bin", "--no-eval", "--json", tmp_path / "same.json")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "same.json").read_text())["drift"]["p90"] < 1e-5  # the same vectors


def test_models_of_different_dimensions_or_a_missing_file_are_one_line(tmp_path):
    for name, dim in (("a", "8"), ("b", "12")):
        assert run_cli("train", SAMPLE, "-c", TINY, "-o", tmp_path / name, "--dim", dim,
                       "--quiet").exit_code == 0
    r = run_cli("compare", tmp_path / "a", tmp_path / "b", "--no-eval")
    assert r.exit_code == 2 and "different sizes" in r.output and len(r.output.strip().splitlines()) == 1
    r = run_cli("compare", tmp_path / "a", tmp_path / "nothing.bin")
    assert r.exit_code == 1 and "nothing.bin: not found" in r.output


def test_heldout_loss_of_both_models_and_its_delta(tmp_path):
    for seed, epochs in (("1", "1"), ("2", "3")):
        r = run_cli("train", SAMPLE, "-c", TINY, "-o", tmp_path / seed, "--seed", seed, "--epochs", epochs,
                    "--quiet")
        assert r.exit_code == 0, r.output
    r = run_cli("compare", tmp_path / "1", tmp_path / "2", "--no-eval", "--heldout", SAMPLE, "--max-pairs", "2000",
                "--json", tmp_path / "c.json")
    assert r.exit_code == 0, r.output
    held = json.loads((tmp_path / "c.json").read_text())["heldout"]
    la, lb = held["a"]["full_sigmoid"]["mean"], held["b"]["full_sigmoid"]["mean"]
    assert held["a"]["pairs"] == held["b"]["pairs"] == 2000 and la > 0 and lb > 0
    assert f"B - A {lb - la:+.4f}" in r.output
    run_cli("export", tmp_path / "1", "-o", tmp_path / "1.txt")
    r = run_cli("compare", tmp_path / "1", tmp_path / "1.txt", "--heldout", SAMPLE)
    assert r.exit_code == 2 and "--heldout needs two models" in r.output
