"""`w2v-nce similar` and `w2v-nce analogy` end to end (CliRunner): answers, JSON, stdin batches,
the interactive prompt, unknown words and bad files with their exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import run_cli as run
from w2v_nce import cli
from w2v_nce.artifact.embeddings import Embeddings
from w2v_nce.artifact.export import select_vectors
from w2v_nce.artifact.model import Model
from w2v_nce.artifact.word2vec import write_word2vec_binary, write_word2vec_text

# man→king is +z, so woman→queen; paris−france+germany = berlin.
WORDS = ["man", "woman", "king", "queen", "france", "paris", "germany", "berlin", "apple"]
W_IN = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 0], [1, 1, 1], [-1, 1, 0], [-1, 1, 1],
                 [0.3, -1, 0.2]], np.float32)




@pytest.fixture
def model_dir(tmp_path):
    model = Model.initial(WORDS, np.arange(len(WORDS), 0, -1), 3, 0, {"loss": "nce"})
    model.w_in[:] = W_IN
    model.w_out[:] = np.random.default_rng(0).normal(size=W_IN.shape)
    out = tmp_path / "run"
    out.mkdir()
    model.save(str(out / "model.npz"))
    return out


@pytest.mark.parametrize("cmd", ["similar", "analogy", "report"])
def test_new_commands_have_help_with_an_example(cmd):
    r = run(cmd, "--help")
    assert r.exit_code == 0 and "Example" in r.output


def test_similar_prints_neighbours_without_the_query_word(model_dir):
    r = run("similar", model_dir, "king", "--topn", "3")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "king"
    expected = Embeddings(WORDS, W_IN).most_similar("king", topn=3)
    assert [line.split() for line in lines[1:4]] == [[w, f"{s:.4f}"] for w, s in expected]
    assert "king" not in " ".join(lines[1:])


def test_similar_json_and_vector_choices(model_dir):
    r = run("similar", model_dir, "king", "queen", "--json", "--topn", "4", "--vectors", "sum")
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    model = Model.load(str(model_dir))
    expected = Embeddings(WORDS, select_vectors(model.w_in, model.w_out, "sum")).most_similar(["king", "queen"], topn=4)
    assert obj["query"] == ["king", "queen"]
    assert [(n["word"], n["score"]) for n in obj["neighbours"]] == expected
    r = run("similar", model_dir / "model.npz", "king", "--json", "--restrict-vocab", "4")
    assert [n["word"] for n in json.loads(r.stdout)["neighbours"]] == ["man", "queen", "woman"]


def test_similar_reads_queries_from_stdin_in_order(model_dir):
    r = run("similar", model_dir, "--json", "--topn", "2", input="king\n\nnope queen\n  paris  \n")
    assert r.exit_code == 1  # one query went unanswered
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert [rec["query"] for rec in records] == [["king"], ["nope", "queen"], ["paris"]]
    assert records[1]["error"] == "not in the vocabulary (9 words): nope"
    assert len(records[0]["neighbours"]) == 2 and records[2]["neighbours"][0]["word"] in WORDS
    assert f"{model_dir}: nope queen: not in the vocabulary (9 words): nope" in r.stderr
    assert "1 of 3 queries not answered" in r.stderr
    assert "Traceback" not in r.output
    r = run("similar", model_dir, input="king\nqueen\n")
    assert r.exit_code == 0 and r.stdout.count("\n\n") == 2  # two text blocks


def test_stdin_batches_answer_like_single_queries(model_dir, monkeypatch):
    monkeypatch.setattr(cli, "STDIN_BATCH", 2)
    lines = ["king", "queen woman", "paris", "apple", "man"]
    r = run("similar", model_dir, "--json", "--topn", "3", input="\n".join(lines) + "\n")
    assert r.exit_code == 0
    emb = Embeddings(WORDS, W_IN)
    got = [[n["word"] for n in json.loads(x)["neighbours"]] for x in r.stdout.splitlines()]
    assert got == [[w for w, _ in emb.most_similar(line.split(), topn=3)] for line in lines]


def test_unknown_word_on_the_command_line_is_one_line_exit_1(model_dir):
    r = run("similar", model_dir, "king", "Kingg")
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr.strip().splitlines() == [f"Error: {model_dir}: not in the vocabulary (9 words): Kingg"]


def test_interactive_prompt(model_dir, monkeypatch):
    monkeypatch.setattr(cli, "stdin_is_terminal", lambda: True)
    r = run("similar", model_dir, "--topn", "1", input="king\nnope\nqueen\nEXIT\nman\n")
    assert r.exit_code == 0  # the user saw the unknown word; nothing failed for a script
    assert r.stdout.count("words> ") == 4  # EXIT ends it: "man" is never read
    assert "words> king\n  paris" in r.stdout and "words> queen\n  berlin" in r.stdout
    assert "nope: not in the vocabulary" in r.stderr
    r = run("analogy", model_dir, "--topn", "1", input="man king woman\n")  # EOF ends it
    assert r.exit_code == 0 and "A B C> man : king :: woman : ?\n  queen" in r.stdout


def test_analogy_b_minus_a_plus_c(model_dir, tmp_path):
    r = run("analogy", model_dir, "man", "king", "woman", "--topn", "2")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "man : king :: woman : ?" and lines[1].split()[0] == "queen"
    write_word2vec_binary(tmp_path / "v.bin", WORDS, W_IN)
    for method in ("3cosadd", "3cosmul"):
        r = run("analogy", tmp_path / "v.bin", "france", "paris", "germany", "--method", method, "--json")
        obj = json.loads(r.stdout)
        assert obj["query"] == {"a": "france", "b": "paris", "c": "germany"}
        expected = Embeddings(WORDS, W_IN).analogy("france", "paris", "germany", method=method)
        assert [(a["word"], a["score"]) for a in obj["answers"]] == expected
        assert obj["answers"][0]["word"] == "berlin"


def test_analogy_from_stdin_reports_bad_lines(model_dir):
    r = run("analogy", model_dir, "--json", "--topn", "1", input="man king woman\nman king\nfrance paris germany\n")
    assert r.exit_code == 1
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert [rec.get("answers", [{}])[0].get("word") for rec in records] == ["queen", None, "berlin"]
    assert "expected three words A B C" in records[1]["error"]
    assert "man king: expected three words" in r.stderr


def test_analogy_needs_three_words(model_dir):
    r = run("analogy", model_dir, "man", "king")
    assert r.exit_code == 2 and "three words" in r.output


def test_bad_inputs_name_the_file(tmp_path, model_dir):
    r = run("similar", tmp_path / "missing", "king")
    assert r.exit_code == 1 and "missing: not found" in r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run("similar", empty, "king")
    assert r.exit_code == 1 and "no model here" in r.output
    (tmp_path / "bad.txt").write_text("2 3\nking 1 2 3\nqueen 1 2\n")
    r = run("similar", tmp_path / "bad.txt", "king")
    assert r.exit_code == 1 and "bad.txt: line 3: expected a word and 3 values" in r.output
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip")
    r = run("analogy", tmp_path / "bad.npz", "a", "b", "c")
    assert r.exit_code == 1 and "bad.npz: not a w2v-nce model" in r.output
    write_word2vec_text(tmp_path / "v.txt", WORDS, W_IN)
    r = run("similar", tmp_path / "v.txt", "king", "--vectors", "out")
    assert r.exit_code == 2 and "needs a model" in r.output and "Traceback" not in r.output


def test_unicode_errors_is_the_flag_the_message_names(tmp_path):
    """A word cut inside a UTF-8 character (word2vec.c does it): the error names --unicode-errors,
    and the flag reads the file (similar, analogy and eval --vectors)."""
    path = tmp_path / "cut.vec"
    path.write_bytes(b"3 2\ncaf\xc3 0.1 0.2\nthe 0.3 0.4\nend 0.2 0.9\n")
    r = run("similar", path, "the")
    assert r.exit_code == 1 and "--unicode-errors replace or ignore" in r.output
    r = run("similar", path, "the", "--topn", "1", "--unicode-errors", "replace")
    assert r.exit_code == 0 and "caf\ufffd" in r.output
    r = run("analogy", path, "the", "end", "caf", "--unicode-errors", "ignore", "--topn", "1")
    assert r.exit_code == 0, r.output
    r = run("eval", "--vectors", path, "--unicode-errors", "ignore")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("word", ["", " "])
def test_an_empty_word_is_one_line_not_a_traceback(model_dir, word):
    r = run("similar", model_dir, word)
    assert r.exit_code == 1 and "no word given" in r.output and len(r.output.strip().splitlines()) == 1


def test_outputs_that_are_the_commands_own_inputs_are_refused(model_dir, tmp_path):
    """compare --json A/model.npz replaced the model it had read; export -o RUN/model.npz --force too."""
    before = (model_dir / "model.npz").read_bytes()
    r = run("compare", model_dir, model_dir, "--no-eval", "--json", model_dir / "model.npz")
    assert r.exit_code == 1 and "is also an input" in r.output
    r = run("export", model_dir, "-o", model_dir / "model.npz", "--force")
    assert r.exit_code == 1 and "is also an input" in r.output
    assert (model_dir / "model.npz").read_bytes() == before


def test_a_fifo_or_device_as_an_output_is_refused_not_replaced(model_dir, tmp_path):
    import os

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    r = run("compare", model_dir, model_dir, "--no-eval", "--json", fifo)
    assert r.exit_code == 1 and "is a device, FIFO or socket" in r.output
    assert fifo.is_fifo()


def test_a_vectors_value_past_float32_is_one_error_without_warnings(tmp_path):
    import warnings

    from w2v_nce.errors import FormatError

    path = tmp_path / "big.txt"
    path.write_text("2 2\nthe 1 2\nof 1e39 1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(FormatError, match="row 2 .'of'. holds NaN or Inf"):
            from w2v_nce.artifact.word2vec import load_word2vec

            load_word2vec(path)


def test_vectors_refuses_a_word_longer_than_the_models_token_cap(model_dir):
    """A 20 MB line took 4 GB in a subword model's n-grams; such tokens never trained anyway."""
    r = run("vectors", model_dir, input="man " + "a" * 5000 + "\n")
    assert r.exit_code == 1 and "a word of 5,000 bytes, longer than the model's max_token_bytes" in r.output
    assert "a" * 100 not in r.output and r.output.startswith("man ")


def test_compare_json_dash_is_stdout(model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("compare", model_dir, model_dir, "--no-eval", "--json", "-")
    assert r.exit_code == 0
    doc = json.loads(r.output[r.output.index("\n{") + 1:])  # the text, then the JSON
    assert isinstance(doc, dict) and doc
    assert not (tmp_path / "-").exists()
