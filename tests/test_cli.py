"""The command line through click's CliRunner: help, config precedence, errors and exit codes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml

from tests.conftest import REPO
from tests.conftest import run_cli as run
from w2v_nce.config import Config, validate
from w2v_nce.run import memory, prepare
from w2v_nce.run import vocabulary as run_vocabulary

TINY = os.path.join(REPO, "configs", "tiny.yaml")




@pytest.fixture
def small_corpus(tmp_path):
    words = ("the cat sat on the mat while the dog ran in the park and the bird sang " * 40).split()
    lines = [" ".join(words[i:i + 30]) for i in range(0, len(words), 30)]
    p = tmp_path / "small.txt"
    p.write_text("\n".join(lines) + "\n")
    return str(p)


@pytest.mark.parametrize("cmd", [[], ["train"], ["eval"], ["export"]])
def test_every_command_has_help_with_an_example(cmd):
    r = run(*cmd, "--help")
    assert r.exit_code == 0
    assert "Example" in r.output


def test_train_writes_all_outputs(small_corpus, tmp_path):
    out = tmp_path / "out"
    r = run("train", small_corpus, "-c", TINY, "-o", out, "--quiet", "--threads", "1", "--binary")
    assert r.exit_code == 0, r.output
    names = set(os.listdir(out))
    assert {"vectors.txt", "vectors.bin", "model.npz", "vocab.tsv", "config.yaml", "train.jsonl", "metrics.json"} <= names
    assert not any(n.startswith(".") for n in names)  # no temp files left behind
    assert "checkpoint.npz" not in names
    with np.load(out / "model.npz") as z:
        V = len(z["word_offsets"]) - 1  # words: UTF-8 bytes + offsets (issue 17)
        assert z["w_in"].shape == (V, 32) and z["w_in"].dtype == np.float32
        assert z["w_out"].shape == (V, 32) and z["bias"].shape == (V,)
        assert z["counts"].dtype == np.int64
    header = (out / "vectors.txt").read_text().split("\n", 1)[0]
    assert header == f"{V} 32"
    vocab_lines = (out / "vocab.tsv").read_text().splitlines()
    assert vocab_lines[0].startswith("# w2v-nce vocab tokens=" + str(len(open(small_corpus).read().split())) + " ")
    assert vocab_lines[1] == "the\t" + str(open(small_corpus).read().split().count("the"))


def test_config_precedence_defaults_file_flags(small_corpus, tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("dim: 12\nwindow: 2\nepochs: 1\nmin_count: 1\nnum_sampled: 5\n")
    out = tmp_path / "out"
    r = run("train", small_corpus, "-c", cfg_file, "--window", "4", "-o", out, "--quiet", "--threads", "1")
    assert r.exit_code == 0, r.output
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["dim"] == 12  # file beats default
    assert resolved["window"] == 4  # flag beats file
    assert resolved["alpha"] == 0.025  # default stands
    assert resolved["corpus"] == [small_corpus]


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(REPO, "configs"))))
def test_every_bundled_preset_is_valid(name):
    """Each file in configs/ merges over the defaults (no unknown key, no bad value) and validates;
    the subword preset is fastText's model with 40 shared negatives."""
    from w2v_nce.config import merge

    path = os.path.join(REPO, "configs", name)
    with open(path, encoding="utf-8") as fh:
        cfg = merge(Config(), yaml.safe_load(fh), path)
    validate(cfg)
    if name == "subwords.yaml":
        assert (cfg.subwords, cfg.minn, cfg.maxn, cfg.buckets, cfg.num_sampled, cfg.loss) == (True, 3, 6, 2_000_000,
                                                                                                40, "nce")


def test_yaml_exponents_without_a_point_are_numbers():
    """PyYAML (YAML 1.1) reads 5e-06 and 1e6 as strings; numeric settings take the number meant."""
    from w2v_nce.config import Config, ConfigError, merge

    cfg = merge(Config(), yaml.safe_load("min_alpha: 5e-06\nsample: 1E-3\nround_words: 1e6\nalpha: 2.5e-2\n"), "c.yaml")
    assert (cfg.min_alpha, cfg.sample, cfg.round_words, cfg.alpha) == (5e-06, 1e-3, 1_000_000, 0.025)
    assert isinstance(cfg.round_words, int)
    for text, key in (("round_words: 2.5e0\n", "round_words"), ("lowercase: 1e3\n", "lowercase"),
                      ("min_alpha: e-3\n", "min_alpha")):
        with pytest.raises(ConfigError, match=f"'{key}' must be"):
            merge(Config(), yaml.safe_load(text), "c.yaml")


@pytest.mark.parametrize(
    "content, message",
    [
        ("dimm: 3\n", "unknown setting 'dimm'"),
        ("dim: three\n", "'dim' must be int"),
        ("dim: 3\nwindow: [1\n", "line 3: malformed YAML"),
        ("epochs: true\n", "'epochs' must be int"),
        ("- 1\n- 2\n", "must be a mapping"),
        ("alpha: 0.1\ndim: 3\nalpha: 0.2\n", "line 3: malformed YAML (the key 'alpha' is given twice)"),
        ("sample: .nan\n", "'sample' must be a finite number, got nan"),
    ],
)
def test_bad_config_files_are_usage_errors_naming_file_and_key(small_corpus, tmp_path, content, message):
    cfg_file = tmp_path / "bad.yaml"
    cfg_file.write_text(content)
    r = run("train", small_corpus, "-c", cfg_file, "-o", tmp_path / "out")
    assert r.exit_code == 2
    assert message in r.output
    assert "bad.yaml" in r.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "flag, value, needle",
    [
        ("--dim", "0", "--dim"), ("--window", "0", "--window"), ("--sample", "-1", "--sample"),
        ("--epochs", "0", "--epochs"), ("--threads", "0", "--threads"), ("--num-sampled", "0", "--num-sampled"),
        ("--alpha", "-0.1", "--alpha"), ("--batch-size", "0", "--batch-size"), ("--min-count", "0", "--min-count"),
        ("--min-alpha", "1", "--min-alpha"), ("--loss", "hinge", "--loss"),
        ("--threads", "100000", "--threads"), ("--seed", "-1", "--seed"), ("--sample", "nan", "--sample"),
        ("--alpha", "inf", "--alpha"), ("--replicas", "100000", "--replicas"),
    ],
)
def test_out_of_range_values_name_the_option(small_corpus, tmp_path, flag, value, needle):
    r = run("train", small_corpus, flag, value, "-o", tmp_path / "out")
    assert r.exit_code == 2
    assert needle in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "out").exists()


def test_num_sampled_at_least_vocab_is_an_error(small_corpus, tmp_path):
    r = run("train", small_corpus, "--min-count", "1", "--num-sampled", "500", "-o", tmp_path / "out", "--quiet")
    assert r.exit_code == 2
    assert "--num-sampled 500" in r.output and "vocabulary size" in r.output


def test_missing_corpus_names_the_path(tmp_path):
    r = run("train", tmp_path / "nope.txt", "-o", tmp_path / "out")
    assert r.exit_code == 1
    assert "nope.txt: corpus not found" in r.output
    assert not (tmp_path / "out").exists()  # inputs are checked before the output is touched


def test_all_words_below_min_count(tmp_path):
    p = tmp_path / "rare.txt"
    p.write_text("a b c d e\n")
    r = run("train", p, "-o", tmp_path / "out", "--quiet")
    assert r.exit_code == 1
    assert "5 distinct words" in r.output and "--min-count" in r.output


def test_output_checks_happen_before_counting(small_corpus, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("counted tokens before checking the output")

    monkeypatch.setattr(run_vocabulary, "build_vocab", boom)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    r = run("train", small_corpus, "-o", a_file)
    assert r.exit_code == 1 and "output path is a file" in r.output
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("precious")
    r = run("train", small_corpus, "-o", full)
    assert r.exit_code == 1 and "--force" in r.output
    assert (full / "keep.txt").read_text() == "precious"
    assert os.listdir(full) == ["keep.txt"]

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(prepare.os, "makedirs", denied)
    r = run("train", small_corpus, "-o", tmp_path / "ro")
    assert r.exit_code == 1 and "not writable" in r.output


def test_memory_estimate_refuses_oversized_runs(small_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 1 << 10)
    r = run("train", small_corpus, "-o", tmp_path / "out", "--min-count", "1", "--dim", "300", "--num-sampled", "5", "--quiet")
    assert r.exit_code == 1
    assert "GiB" in r.output and "--dim" in r.output


def test_seeded_single_thread_runs_are_byte_identical(small_corpus, tmp_path):
    for name in ("a", "b"):
        r = run("train", small_corpus, "-c", TINY, "-o", tmp_path / name, "--threads", "1", "--seed", "9", "--quiet")
        assert r.exit_code == 0, r.output
    assert (tmp_path / "a" / "vectors.txt").read_bytes() == (tmp_path / "b" / "vectors.txt").read_bytes()
    r = run("train", small_corpus, "-c", TINY, "-o", tmp_path / "c", "--threads", "1", "--seed", "10", "--quiet")
    assert (tmp_path / "a" / "vectors.txt").read_bytes() != (tmp_path / "c" / "vectors.txt").read_bytes()


def test_resume_rejects_extra_settings(tmp_path):
    r = run("train", "--resume", tmp_path, "--dim", "5")
    assert r.exit_code == 2


def test_default_config_file_lists_every_setting():
    path = os.path.join(REPO, "configs", "default.yaml")
    data = yaml.safe_load(open(path))
    assert set(data) == set(Config().to_dict())
    cfg = Config(**data)
    validate(cfg)
    assert cfg == Config()
    for preset in ("word2vec.yaml", "word2vec-cbow.yaml", "word2vec-window.yaml", "tiny.yaml"):
        from w2v_nce.config import load_yaml, merge

        validate(merge(Config(), load_yaml(os.path.join(os.path.dirname(path), preset)), preset))


def test_batch_size_default_depends_on_the_loss():
    from w2v_nce.config import ConfigError
    from w2v_nce.train import kernel_params

    assert kernel_params(Config(loss="nce"), 1000).batch_size == 128
    assert Config(loss="nce").resolved_batch_size() == 128
    assert Config(loss="sampled_softmax").resolved_batch_size() == 32
    assert Config(loss="nce", arch="cbow").resolved_batch_size() == 32
    assert Config(loss="neg", negatives="batch").resolved_batch_size() == 32
    assert Config(loss="nce", batch_size=16).resolved_batch_size() == 16
    with pytest.raises(ConfigError, match="--batch-size must be >= 1"):
        validate(Config(batch_size=0))


def test_holdout_fraction_reports_heldout_loss_each_epoch(small_corpus, tmp_path):
    import json

    out = tmp_path / "out"
    r = run("train", small_corpus, "-c", TINY, "-o", out, "--quiet", "--threads", "1", "--holdout-fraction", "0.3")
    assert r.exit_code == 0, r.output
    metrics = json.loads((out / "metrics.json").read_text())
    losses = [e["heldout_loss"] for e in metrics["epochs"]]
    assert len(losses) == 3
    assert all(x["pairs"] > 0 and x["mean"] > 0 and x["stderr"] >= 0 for x in losses)
    assert losses[-1]["mean"] < losses[0]["mean"]  # it learns
    records = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    assert [x["heldout_loss"]["mean"] for x in records if x["event"] == "epoch"] == [x["mean"] for x in losses]


def test_eval_json_has_the_documented_schema(small_corpus, tmp_path):
    import json

    out = tmp_path / "out"
    assert run("train", small_corpus, "-c", TINY, "-o", out, "--quiet", "--threads", "1").exit_code == 0
    held = tmp_path / "held.txt"
    held.write_text("the cat sat on the mat\nthe dog ran in the park\n")
    r = run("eval", out, "--heldout", held, "--json", tmp_path / "scores.json")
    assert r.exit_code == 0, r.output
    assert "held-out full sigmoid loss" in r.output
    rep = json.loads((tmp_path / "scores.json").read_text())
    assert set(rep["full_sigmoid_loss"]) >= {"mean", "stderr", "pairs"}
    assert rep["full_sigmoid_loss"]["pairs"] == 48  # two 6-word lines, window 3: 24 pairs each
    assert set(rep["analogy"]) >= {"accuracy", "semantic", "syntactic", "answered", "skipped", "method"}
    assert set(rep["similarity"]) >= {"wordsim353_combined", "SimLex-999"}
    for v in rep["similarity"].values():
        assert set(v) >= {"spearman", "pearson", "pairs", "oov"}
    vec = run("eval", "--vectors", out / "vectors.txt", "--json", tmp_path / "v.json")
    assert vec.exit_code == 0, vec.output
    assert "full_sigmoid_loss" not in json.loads((tmp_path / "v.json").read_text())
    assert run("eval").exit_code == 2
    assert run("eval", "--vectors", out / "vectors.txt", "--heldout", held).exit_code == 2
    os.mkfifo(tmp_path / "pipe")  # refused before it is opened, in words that fit eval (not "training reads")
    fifo = run("eval", out, "--heldout", tmp_path / "pipe")
    assert fifo.exit_code == 1 and "can be read only once" in fifo.output and "training reads the corpus" not in fifo.output
    assert "write it to a file, or for train's corpus pass '-'" in fifo.output


def test_force_removes_a_previous_runs_outputs(small_corpus, tmp_path):
    out = tmp_path / "out"
    assert run("train", small_corpus, "-c", TINY, "-o", out, "--quiet", "--binary").exit_code == 0
    (out / "checkpoint.npz").write_bytes(b"stale")
    (out / "notes.txt").write_text("mine")
    assert run("train", small_corpus, "-c", TINY, "-o", out, "--quiet", "--force").exit_code == 0
    names = set(os.listdir(out))
    assert "vectors.bin" not in names and "checkpoint.npz" not in names  # not this run's
    assert "notes.txt" in names  # not ours: left alone


def test_resume_works_from_another_directory(small_corpus, tmp_path, monkeypatch):
    import threading

    from w2v_nce.run.job import run_training
    from w2v_nce.train import Trainer

    halt = threading.Event()
    original = Trainer.train_chunk

    def stop_after_one(self, t, chunk, clock):
        original(self, t, chunk, clock)
        halt.set()

    rel_dir = tmp_path / "work"
    rel_dir.mkdir()
    (rel_dir / "c.txt").write_text(open(small_corpus).read())
    monkeypatch.chdir(rel_dir)
    monkeypatch.setattr(Trainer, "train_chunk", stop_after_one)
    from w2v_nce.config import load_yaml, merge
    from w2v_nce.errors import Interrupted

    assert run("phrases", "c.txt", "-o", "t.tsv", "--min-count", "1", "--threshold", "0.5").exit_code == 0
    cfg = merge(Config(), load_yaml(TINY), "tiny")
    cfg.corpus, cfg.output, cfg.quiet, cfg.threads = ["c.txt"], str(tmp_path / "out"), True, 1
    cfg.phrases = "t.tsv"  # relative paths of every kind: a resume elsewhere must still find them
    with pytest.raises(Interrupted):
        run_training(cfg, halt=halt)
    monkeypatch.setattr(Trainer, "train_chunk", original)
    monkeypatch.chdir(tmp_path)
    r = run("train", "--resume", tmp_path / "out", "--quiet")
    assert r.exit_code == 0, r.output
    assert f"phrases: {rel_dir / 't.tsv'}" in (tmp_path / "out" / "config.yaml").read_text()


def test_train_jsonl_is_strict_json_with_interval_means(small_corpus, tmp_path):
    import json

    out = tmp_path / "out"
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("dim: 8\nmin_count: 1\nnum_sampled: 5\nepochs: 2\nprogress_every: 0.001\n")
    assert run("train", small_corpus, "-c", cfg_file, "-o", out, "--quiet").exit_code == 0
    for line in (out / "train.jsonl").read_text().splitlines():
        rec = json.loads(line, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
        assert rec["event"] in ("progress", "epoch")
        assert rec["loss"] is None or rec["loss"] > 0


def test_a_config_that_is_not_utf8_or_a_yaml_bomb_is_one_short_line(small_corpus, tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("dim: 10  # caf\xe9\n".encode("latin-1"))
    r = run("train", small_corpus, "-c", latin, "-o", tmp_path / "out")
    assert r.exit_code == 2 and "not UTF-8" in r.output and "latin.yaml" in r.output
    bomb = tmp_path / "bomb.yaml"  # nine levels of nine aliases: 9^9 leaves if expanded
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    lines += ["dim: *a8"]
    bomb.write_text("\n".join(lines) + "\n")
    r = run("train", small_corpus, "-c", bomb, "-o", tmp_path / "out")
    assert r.exit_code == 2 and len(r.output) < 500 and "Traceback" not in r.output
    assert not (tmp_path / "out").exists()


def test_a_number_beyond_a_float_in_a_config_is_a_usage_error(small_corpus, tmp_path):
    huge = tmp_path / "huge.yaml"
    huge.write_text("alpha: " + "9" * 400 + "\n")
    r = run("train", small_corpus, "-c", huge, "-o", tmp_path / "out")
    assert r.exit_code == 2 and "'alpha' must be a finite number" in r.output and "huge.yaml" in r.output
    assert "Traceback" not in r.output and len(r.output) < 300


@pytest.mark.parametrize("flag,value", [("--window", "10001"), ("--num-sampled", "9223372036854775808"),
                                        ("--batch-size", "2000000"), ("--epochs", "10000000")])
def test_values_that_would_size_a_huge_buffer_are_usage_errors(small_corpus, tmp_path, flag, value):
    r = run("train", small_corpus, "-o", tmp_path / "out", flag, value)
    assert r.exit_code == 2 and f"{flag} must be at most" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_vocab_never_writes_over_its_corpus(small_corpus, tmp_path):
    """`vocab CORPUS -o CORPUS --force` would have replaced the corpus with its counts."""
    before = open(small_corpus, "rb").read()
    r = run("vocab", small_corpus, "-o", small_corpus, "--force")
    assert r.exit_code == 1 and "is also an input" in r.output and len(r.output.strip().splitlines()) == 1
    assert open(small_corpus, "rb").read() == before
    r = run("vocab", small_corpus, "-o", tmp_path)
    assert r.exit_code == 1 and "is a directory" in r.output


@pytest.mark.parametrize("flag", ["--replicas", "--threads"])
def test_resume_with_zero_replicas_or_threads_is_a_usage_error(tmp_path, flag):
    """--resume --replicas 0 used to take the checkpoint's count without a word."""
    result = run("train", "--resume", tmp_path, flag, "0")
    assert result.exit_code == 2 and f"{flag} must be at least 1, got 0" in result.output


@pytest.mark.parametrize("args", [["--max-pairs", "-5"], ["--window", "-4"], ["--threads", "-1"]])
def test_eval_takes_positive_counts_only(tmp_path, args):
    result = run("eval", tmp_path, *args)
    assert result.exit_code == 2 and args[0] in result.output


def test_a_yaml_config_nested_too_deeply_is_one_line(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("dim: " + "[" * 5_000 + "]" * 5_000 + "\n")
    result = run("train", tmp_path / "c.txt", "-c", path, "-o", tmp_path / "o")
    assert result.exit_code == 2  # a usage error, as every bad config is
    assert "deep.yaml" in result.output and "nested too deeply" in result.output
    assert len(result.output.strip().splitlines()) == 1
