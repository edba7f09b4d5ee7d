"""The training library's seams: one model initialisation, one lr schedule, touched rows,
typed events and their writer, the reader's counts, settings as the CLI's single source."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from click.testing import CliRunner

from tests.corpora import big_corpus, planted_corpus, train_cfg
from w2v_nce import kernels as kern
from w2v_nce.artifact.word2vec import write_word2vec_text
from w2v_nce.cli import main
from w2v_nce.config import LOSSES, Config, cli_settings, from_saved
from w2v_nce.run.events import EpochEnd, EventLog, Progress, read_events
from w2v_nce.run.job import run_training
from w2v_nce.text.corpus import Corpus
from w2v_nce.train import Trainer, init_model, initial_bias, learning_rate
from w2v_nce.vocabulary.vocab import build_vocab


# ---------------------------------------------------------------------------------------
# one initialisation: the library path trains what the CLI trains
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["nce", "sampled_softmax", "neg"])
def test_library_path_and_cli_write_identical_vectors(tmp_path, loss):
    corpus = planted_corpus(tmp_path / "c.txt", lines=300)
    flags = {"dim": 12, "window": 3, "min_count": 1, "epochs": 2, "threads": 1, "seed": 11, "num_sampled": 5,
             "batch_size": 8, "loss": loss}
    args = ["train", corpus, "-o", str(tmp_path / "cli"), "--quiet"]
    for k, v in flags.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output

    cfg = Config(corpus=[corpus], **flags)
    c = Corpus([corpus])
    vocab, _ = build_vocab(c, cfg.min_count)
    trainer = Trainer(cfg, c, vocab)  # a fresh model: init_model, as the job does
    if loss != "neg":
        np.testing.assert_array_equal(trainer.model.bias, initial_bias(vocab.counts, cfg))
        assert np.all(trainer.model.bias != 0)
    while not trainer.finished:
        trainer.run()
    write_word2vec_text(tmp_path / "lib.txt", vocab.words, trainer.model.w_in)
    assert (tmp_path / "lib.txt").read_bytes() == (tmp_path / "cli" / "vectors.txt").read_bytes()


def test_init_model_bias_follows_bias_init():
    from w2v_nce.vocabulary.vocab import Vocab

    vocab = Vocab(["a", "b", "c", "d"], np.array([9, 5, 2, 1], np.int64))
    assert np.all(init_model(Config(loss="nce", bias_init="zero", num_sampled=2), vocab).bias == 0)
    assert np.all(init_model(Config(loss="neg", num_sampled=2), vocab).bias == 0)
    got = init_model(Config(loss="nce", num_sampled=2), vocab).bias
    np.testing.assert_array_equal(got, initial_bias(vocab.counts, Config(num_sampled=2)))


# ---------------------------------------------------------------------------------------
# one lr schedule
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("clock, expect", [(0, 0.025), (500, 0.025 - 0.0249 * 0.5), (1000, 0.0001), (5000, 0.0001)])
def test_learning_rate_is_linear_and_floored(clock, expect):
    assert learning_rate(clock, 1000, 0.025, 0.0001) == pytest.approx(expect, rel=1e-12)
    assert kern.learning_rate(float(clock), 1000.0, 0.025, 0.0001) == learning_rate(clock, 1000, 0.025, 0.0001)


def test_the_kernel_trains_each_sentence_at_the_schedules_lr():
    """One sentence per chunk call: the step taken equals the step at learning_rate(clock)."""
    V, D = 6, 4
    rng = np.random.default_rng(0)
    w_in0 = rng.normal(0, 0.3, (V, D)).astype(np.float32)
    w_out0 = rng.normal(0, 0.3, (V, D)).astype(np.float32)
    ids = np.array([1, 2, -1], np.int32)

    def step(word_offset, alpha, min_alpha, total):
        w_in, w_out, bias = w_in0.copy(), w_out0.copy(), np.zeros(V, np.float32)
        params = kern.Params(kern.LOSS_NEG, kern.ARCH_SKIPGRAM, True, True, 1, 1, 4, False, True, kern.SAMPLER_UNIFORM, alpha, min_alpha, total, 0)
        tables = kern.make_tables(np.ones(V, np.float32), np.full(V, 1 / V, np.float32), np.ones(1),
                               np.zeros(1, np.int32), np.ones(V), np.arange(V, dtype=np.int32), 1)
        s = kern.make_scratch(V, D, params, 10, np.array([3], np.uint64), np.zeros(kern.N_TALLIES))
        kern.train_chunk(ids, word_offset, kern.Weights(w_in, w_out, bias), tables, params, s)
        return w_in - w_in0

    lr = learning_rate(300, 1000, 0.5, 0.01)
    np.testing.assert_allclose(step(300.0, 0.5, 0.01, 1000.0), step(0.0, lr, lr, 1e9), rtol=1e-6)


# ---------------------------------------------------------------------------------------
# touched rows (what a replica has to sync)
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss_kind", [kern.LOSS_NCE, kern.LOSS_NEG, kern.LOSS_SSM])
def test_every_changed_row_is_marked_touched(loss_kind):
    V, D, S, B = 50, 6, 4, 5
    rng = np.random.default_rng(1)
    w_in = rng.normal(0, 0.3, (V, D)).astype(np.float32)
    w_out = rng.normal(0, 0.3, (V, D)).astype(np.float32)
    bias = rng.normal(0, 0.1, V).astype(np.float32)
    before = (w_in.copy(), w_out.copy(), bias.copy())
    ids = np.array([1, 2, 3, 4, -1, 7, 8, 9, -1, 11, -1], np.int32)
    keep = np.ones(V, np.float32)
    keep[8] = 0.0  # never kept: never a centre, so its w_in row may not move
    params = kern.Params(loss_kind, kern.ARCH_SKIPGRAM, True, True, 2, S, B, False, True, kern.SAMPLER_UNIFORM, 0.1, 0.1, 1e9, 0)
    tables = kern.make_tables(keep, np.full(V, 1 / V, np.float32), np.ones(1), np.zeros(1, np.int32), np.ones(V),
                           np.arange(V, dtype=np.int32), S)
    s = kern.make_scratch(V, D, params, 20, np.array([5], np.uint64), np.zeros(kern.N_TALLIES), track_touched=True)
    kern.train_chunk(ids, 0.0, kern.Weights(w_in, w_out, bias), tables, params, s)
    marked_in = (s.touched & kern.TOUCHED_IN) != 0
    marked_out = (s.touched & kern.TOUCHED_OUT) != 0
    changed_in = np.any(w_in != before[0], axis=1)
    changed_out = np.any(w_out != before[1], axis=1) | (bias != before[2])
    assert changed_in.any() and changed_out.any()
    assert not np.any(changed_in & ~marked_in)
    assert not np.any(changed_out & ~marked_out)
    assert set(np.flatnonzero(marked_in)) == {1, 2, 3, 4, 7, 9, 11}  # the kept words
    assert marked_out.sum() > marked_in.sum()  # negatives too
    assert not changed_in[8] and not s.touched[8] & kern.TOUCHED_IN  # (its w_out row may be a negative)


def test_touched_is_not_tracked_by_default():
    params = kern.Params(kern.LOSS_NEG, kern.ARCH_SKIPGRAM, True, True, 2, 3, 4, False, True, kern.SAMPLER_UNIFORM, 0.1, 0.1, 1e9, 0)
    s = kern.make_scratch(10, 4, params, 20, np.zeros(1, np.uint64), np.zeros(kern.N_TALLIES))
    assert s.touched.shape == (0,)


# ---------------------------------------------------------------------------------------
# events: one writer, strict JSON, plain lines for a batch job's log
# ---------------------------------------------------------------------------------------
def test_event_log_writes_strict_json_and_plain_timestamped_lines(tmp_path):
    lines = []
    path = str(tmp_path / "train.jsonl")
    with EventLog(path, False, 1000, 0, 2, quiet=False, log=lines.append, stream=io.StringIO()) as log:
        log.emit(Progress(1, 250, 1234.5, 0.02, float("nan"), 0, 1_700_000_000.0))
        log.emit(EpochEnd(1, 500, 999.0, 0.01, 2.5, 40, 1_700_000_001.0, heldout_loss={"mean": 3.0, "stderr": 0.1,
                                                                                         "pairs": 9}))
    records = read_events(path)
    assert records[0]["event"] == "progress" and records[0]["loss"] is None and records[0]["words"] == 250
    assert records[1]["event"] == "epoch" and records[1]["heldout_loss"]["pairs"] == 9
    assert "NaN" not in open(path).read()
    assert len(lines) == 2
    assert lines[0].startswith("20") and "train: epoch 1/2, 250/1,000 words (25.0%)" in lines[0]
    assert "1,234 words/s" in lines[0] or "1,235 words/s" in lines[0]
    assert "ETA" in lines[0] and "\r" not in lines[0]
    assert lines[1].startswith("epoch 1/2: loss 2.5000") and "held-out full loss 3.0000" in lines[1]


def test_event_log_quiet_shows_nothing_but_writes_the_file(tmp_path):
    lines = []
    path = str(tmp_path / "train.jsonl")
    with EventLog(path, False, 1000, 0, 1, quiet=True, log=lines.append, stream=io.StringIO()) as log:
        log.emit(Progress(1, 250, 10.0, 0.02, 1.0, 5, 1.0))
    assert lines == [] and len(read_events(path)) == 1


def test_read_events_skips_a_torn_last_line_and_names_a_bad_one(tmp_path):
    from w2v_nce.errors import FormatError

    p = tmp_path / "train.jsonl"
    p.write_text('{"event": "progress"}\n{"event": "ep')
    assert read_events(str(p)) == [{"event": "progress"}]
    p.write_text('{"event": "progress"}\nnot json\n{"event": "epoch"}\n')
    with pytest.raises(FormatError, match="train.jsonl:2"):
        read_events(str(p))
    with pytest.raises(FormatError, match="no train.jsonl"):
        read_events(str(tmp_path / "missing" / "train.jsonl"))


def test_batch_job_log_has_plain_progress_lines(tmp_path):
    """stderr is not a terminal under CliRunner: timestamped lines, no carriage returns."""
    corpus = big_corpus(tmp_path / "big.txt", mb=2)
    r = CliRunner().invoke(main, ["train", corpus, "-o", str(tmp_path / "out"), "--min-count", "1", "--epochs", "1",
                                  "--dim", "8", "--threads", "1", "--progress-every", "0.01", "--loss", "neg"])
    assert r.exit_code == 0, r.output
    progress = [ln for ln in r.output.splitlines() if " train: epoch 1/1," in ln]
    assert progress and all("words/s" in ln and "ETA" in ln and "%" in ln for ln in progress)
    assert "\r" not in r.output


# ---------------------------------------------------------------------------------------
# the reader's counts reach the log and metrics.json
# ---------------------------------------------------------------------------------------
def test_reader_counts_are_reported(tmp_path):
    p = tmp_path / "c.txt"
    long_line = " ".join(["aa", "bb"] * 30)  # 60 tokens: split at --max-sentence-len 25 into 3 pieces
    p.write_bytes(b"aa bb cc rare\n" + long_line.encode() + b"\n" + b"bb \xff aa\n")
    lines = []
    cfg = Config(corpus=[str(p)], output=str(tmp_path / "out"), min_count=2, epochs=2, dim=4, threads=1,
                 num_sampled=1, loss="neg", max_sentence_len=25, quiet=False, checkpoint_every=0)
    run_training(cfg, log=lines.append)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    reader = metrics["reader"]
    assert reader["tokens"] == 4 + 60 + 3
    assert reader["oov_tokens"] == 3  # cc, rare, the replaced byte
    assert reader["split_sentences"] == 2
    assert reader["replaced_chars"] == 1
    assert metrics["vocabulary"] == {"words": 2, "distinct": 5, "tokens": 67, "in_vocab_tokens": 64, "long_tokens": 0,
                                     "longest_token_bytes": 0, "spill_runs": 0, "spill_bytes": 0}
    assert [e["reader"]["tokens"] for e in metrics["epochs"]] == [67, 67]  # each epoch counts its own pass
    vocab_line = next(ln for ln in lines if ln.startswith("vocabulary:"))
    assert "67 tokens read" in vocab_line and "3 out of vocabulary" in vocab_line
    assert any("2 lines longer than --max-sentence-len 25" in ln for ln in lines)


# ---------------------------------------------------------------------------------------
# settings: the config is the CLI's single source
# ---------------------------------------------------------------------------------------
def test_train_help_comes_from_the_config():
    r = CliRunner().invoke(main, ["train", "--help"], terminal_width=200)
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    for name, _, default, help_text, choices, flag in cli_settings():
        assert ("--" + name.replace("_", "-")) in text, name
        assert " ".join(help_text.split()[:3]) in text, name
        for c in choices or ():
            assert c in text
    assert "[nce]" in text and "[0.025]" in text and "[5]" in text
    r = CliRunner().invoke(main, ["train", "x.txt", "--loss", "bogus"])
    assert r.exit_code == 2 and all(c in r.output for c in LOSSES)


def test_from_saved_fills_missing_and_ignores_unknown_keys():
    saved = Config(window=7).to_dict()
    del saved["progress_every"]
    saved["a_future_setting"] = 3
    cfg = from_saved(saved)
    assert cfg.window == 7 and cfg.progress_every == Config().progress_every


def test_numba_cache_is_dropped_when_any_numba_source_changes(tmp_path):
    """A caller's cached machine code embeds its jitted callees from other files (Numba only
    checks the caller's own file): any change to a Numba module drops the package's cache."""
    from w2v_nce import numba_cache

    pkg = tmp_path / "pkg"
    (pkg / "sub" / "deep" / "__pycache__").mkdir(parents=True)
    (pkg / "__pycache__").mkdir()
    (pkg / "a.py").write_text("import numba\n")
    (pkg / "sub" / "deep" / "b.py").write_text("from numba import njit\n")
    (pkg / "plain.py").write_text("x = 1\n")
    cached = [pkg / "__pycache__" / "a.f-1.py311.nbi", pkg / "sub" / "deep" / "__pycache__" / "b.g-2.py311.1.nbc"]

    def fill():
        for p in cached:
            p.write_text("machine code")

    fill()
    numba_cache.invalidate_if_changed(str(pkg))  # no stamp yet: dropped
    assert not any(p.exists() for p in cached)
    fill()
    numba_cache.invalidate_if_changed(str(pkg))  # unchanged sources: kept
    assert all(p.exists() for p in cached)
    (pkg / "plain.py").write_text("x = 2\n")  # not a Numba module: kept
    numba_cache.invalidate_if_changed(str(pkg))
    assert all(p.exists() for p in cached)
    (pkg / "sub" / "deep" / "b.py").write_text("from numba import njit  # changed\n")
    numba_cache.invalidate_if_changed(str(pkg))
    assert not any(p.exists() for p in cached)


def test_the_divergence_probe_catches_weights_that_grow_before_they_overflow(tmp_path):
    """A run whose weights exploded but stayed finite (loss 5e33, exit 0, garbage vectors:
    lines of one token repeated thousands of times) is a DivergenceError now, before any output."""
    from tests.conftest import SAMPLE

    lines = open(SAMPLE, encoding="utf-8").read().splitlines()
    text = [row for i, line in enumerate(lines) for row in ([line, " ".join(["\u2550" * 3] * 9000)] if i % 500 == 0
                                                           else [line])]
    corpus = tmp_path / "tables.txt"
    corpus.write_text("\n".join(text) + "\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["train", str(corpus), "-o", str(tmp_path / "out"), "--threads", "1", "--epochs", "1",
                                  "--quiet"])
    assert r.exit_code == 1 and "training diverged (weights NaN, Inf or past 10000)" in r.output
    assert "repeated thousands of times" in r.output and not (tmp_path / "out" / "vectors.txt").exists()
    tr = Trainer(train_cfg(SAMPLE, tmp_path / "probe", epochs=1), Corpus([SAMPLE]), build_vocab(Corpus([SAMPLE]), 5)[0])
    assert tr.check_finite()
    tr.model.w_out[:] = 2e4
    assert not tr.check_finite()
