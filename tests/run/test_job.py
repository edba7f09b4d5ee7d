"""Batch-job behaviour: planted structure is learnt, interruption + resume give the same bytes,
signals, checkpoints, divergence, disk full."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tests.conftest import SAMPLE
from tests.corpora import big_corpus, planted_corpus, train_cfg
from w2v_nce.artifact.model import Model
from w2v_nce.config import Config
from w2v_nce.errors import DivergenceError, Interrupted, OutputError, ResumeError
from w2v_nce.io import atomic_output
from w2v_nce.run import loop
from w2v_nce.run.checkpoint import load_checkpoint
from w2v_nce.run.job import resume_training, run_training
from w2v_nce.train import Trainer


@pytest.mark.parametrize("loss", ["nce", "neg", "sampled_softmax"])
def test_planted_topics_are_recovered(tmp_path, loss):
    corpus = planted_corpus(tmp_path / "planted.txt")
    cfg = Config(corpus=[corpus], output=str(tmp_path / "out"), dim=16, window=3, min_count=1, epochs=4,
                 threads=2, loss=loss, sample=0, quiet=True, checkpoint_every=0, alpha=0.05, num_sampled=5,
                 batch_size=16)
    run_training(cfg)
    m = Model.load(str(tmp_path / "out"))
    for probe in ("a3", "b7"):
        neighbours = [w for w, _ in m.nearest(probe, 6) if w not in ("x", "y", "z")]
        assert all(w[0] == probe[0] for w in neighbours[:5]), (probe, neighbours)


def test_library_interrupt_and_resume_writes_the_same_bytes(tmp_path, monkeypatch):
    corpus = big_corpus(tmp_path / "big.txt", mb=3)
    run_training(train_cfg(corpus, tmp_path / "full"))

    halt = threading.Event()
    calls = {"n": 0}
    original = Trainer.train_chunk

    def counting_kernel(self, t, chunk, clock):
        original(self, t, chunk, clock)
        calls["n"] += 1
        if calls["n"] == 4:  # mid-epoch 2 (the corpus is ~3 chunks per epoch)
            halt.set()

    monkeypatch.setattr(Trainer, "train_chunk", counting_kernel)
    with pytest.raises(Interrupted) as info:
        run_training(train_cfg(corpus, tmp_path / "cut"), halt=halt)
    assert info.value.exit_code == 130
    assert "--resume" in str(info.value)
    ck = load_checkpoint(str(tmp_path / "cut"))
    assert ck.states[0].epoch == 1 and ck.states[0].clock > 0
    assert not (tmp_path / "cut" / "vectors.txt").exists()
    monkeypatch.setattr(Trainer, "train_chunk", original)
    resume_training(str(tmp_path / "cut"))
    assert (tmp_path / "cut" / "vectors.txt").read_bytes() == (tmp_path / "full" / "vectors.txt").read_bytes()
    assert not (tmp_path / "cut" / "checkpoint.npz").exists()


def test_resume_refuses_a_changed_corpus(tmp_path, monkeypatch):
    corpus = big_corpus(tmp_path / "big.txt", mb=2)
    halt = threading.Event()
    original = Trainer.train_chunk

    def stop_after_one(self, t, chunk, clock):
        original(self, t, chunk, clock)
        halt.set()

    monkeypatch.setattr(Trainer, "train_chunk", stop_after_one)
    with pytest.raises(Interrupted):
        run_training(train_cfg(corpus, tmp_path / "cut"), halt=halt)
    with open(corpus, "a") as fh:
        fh.write("more words\n")
    with pytest.raises(ResumeError, match="big.txt: corpus file changed"):
        resume_training(str(tmp_path / "cut"))
    with pytest.raises(ResumeError, match="no checkpoint"):
        resume_training(str(tmp_path))


def test_sigint_checkpoints_exits_130_and_resume_matches(tmp_path):
    corpus = big_corpus(tmp_path / "big.txt", mb=8)
    common = ["--dim", "16", "--window", "3", "--min-count", "1", "--epochs", "3", "--threads", "1", "--seed", "3",
              "--checkpoint-every", "0", "--quiet"]
    exe = [sys.executable, "-m", "w2v_nce.cli", "train", corpus]
    subprocess.run(exe + common + ["-o", str(tmp_path / "full")], check=True, capture_output=True)
    proc = subprocess.Popen(exe + common + ["-o", str(tmp_path / "cut")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    jsonl = tmp_path / "cut" / "train.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline:  # wait for epoch 1 to end, then interrupt epoch 2
        if jsonl.exists() and '"event": "epoch"' in jsonl.read_text():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    t0 = time.time()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.time() - t0 < 10
    assert "resume with: w2v-nce train --resume" in err
    assert (tmp_path / "cut" / "checkpoint.npz").exists()
    r = subprocess.run([sys.executable, "-m", "w2v_nce.cli", "train", "--resume", str(tmp_path / "cut")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cut" / "vectors.txt").read_bytes() == (tmp_path / "full" / "vectors.txt").read_bytes()


def test_sigterm_exits_143(tmp_path):
    corpus = big_corpus(tmp_path / "big.txt", mb=8)
    proc = subprocess.Popen([sys.executable, "-m", "w2v_nce.cli", "train", corpus, "--min-count", "1", "--epochs", "20",
                             "--quiet", "-o", str(tmp_path / "out")], stderr=subprocess.PIPE, text=True)
    jsonl = tmp_path / "out" / "train.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (jsonl.exists() and jsonl.read_text()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    t0 = time.time()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert time.time() - t0 < 10
    assert "SIGTERM" in err and "--resume" in err
    ck = load_checkpoint(str(tmp_path / "out"))
    assert ck.states[0].clock > 0


def test_periodic_checkpoints_do_not_change_the_result(tmp_path, monkeypatch):
    """Checkpoints end a round at a chunk boundary (the readers stay open): same bytes as a run without them,
    every epoch recorded, and a checkpoint readable at every save."""
    corpus = big_corpus(tmp_path / "big.txt", mb=2)
    run_training(train_cfg(corpus, tmp_path / "plain"))
    saved = []
    original = loop.save_checkpoint

    def spy(*a, **k):
        path = original(*a, **k)
        saved.append(load_checkpoint(os.path.dirname(path)).states[0].clock)
        return path

    monkeypatch.setattr(loop, "save_checkpoint", spy)
    # 0.0001 minutes: a checkpoint at (almost) every tick
    run_training(train_cfg(corpus, tmp_path / "out", checkpoint_every=0.0001))
    assert saved and all(c > 0 for c in saved)
    assert saved == sorted(saved)
    assert not (tmp_path / "out" / "checkpoint.npz").exists()  # removed once outputs exist
    assert (tmp_path / "out" / "vectors.txt").read_bytes() == (tmp_path / "plain" / "vectors.txt").read_bytes()
    epochs = json.loads((tmp_path / "out" / "metrics.json").read_text())["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]


def test_metrics_say_what_the_null_settings_resolved_to(tmp_path):
    corpus = planted_corpus(tmp_path / "planted.txt", lines=200)
    run_training(train_cfg(corpus, tmp_path / "out", epochs=1, num_sampled=5))
    resolved = json.loads((tmp_path / "out" / "metrics.json").read_text())["resolved"]
    assert resolved == {"threads": 1, "batch_size": 128, "remove_accidental_hits": False, "replicas": 1,
                        "sync_seconds": None, "round_words": None, "lr_factor": 1.0}
    run_training(train_cfg(corpus, tmp_path / "ssm", epochs=1, num_sampled=5, loss="sampled_softmax", threads=None))
    resolved = json.loads((tmp_path / "ssm" / "metrics.json").read_text())["resolved"]
    assert resolved == {"threads": os.cpu_count(), "batch_size": 32, "remove_accidental_hits": True, "replicas": 1,
                        "sync_seconds": None, "round_words": None, "lr_factor": 1.0}


def test_trainer_runs_a_budget_of_words_from_a_position(tmp_path):
    """The library API: spans of a word budget continue each other exactly (threads=1)."""
    from w2v_nce.text.corpus import Corpus
    from w2v_nce.vocabulary.vocab import build_vocab

    corpus_path = big_corpus(tmp_path / "big.txt", mb=3)
    cfg = train_cfg(corpus_path, tmp_path / "unused", epochs=1)
    c = Corpus([corpus_path])
    vocab, _ = build_vocab(c, 1)

    def fresh():
        return Trainer(cfg, c, vocab)

    whole = fresh()
    full = whole.run()
    split = fresh()
    first = split.run(budget_words=100_000)
    assert 100_000 <= first.tallies.words < vocab.total and not first.epoch_ended
    assert split.state.clock == first.tallies.words
    rest = split.run()
    assert rest.epoch_ended
    assert first.tallies.words + rest.tallies.words == full.tallies.words == vocab.total
    assert first.tallies.loss + rest.tallies.loss == pytest.approx(full.tallies.loss, rel=1e-12)
    np.testing.assert_array_equal(split.model.w_in, whole.model.w_in)


def test_divergence_is_a_typed_error_and_writes_no_vectors(tmp_path):
    corpus = big_corpus(tmp_path / "big.txt", mb=1)
    cfg = train_cfg(corpus, tmp_path / "out", alpha=1e30, min_alpha=1e30, loss="neg")
    with pytest.raises(DivergenceError, match=r"epoch 1 .*lr .*smaller --alpha"):
        run_training(cfg)
    assert not (tmp_path / "out" / "vectors.txt").exists()
    assert not (tmp_path / "out" / "model.npz").exists()


def test_a_run_that_diverges_before_its_first_record_leaves_no_directory_it_made(tmp_path):
    """Its only file would be an empty train.jsonl; a directory that was there stays, and so does
    a log with records in it."""
    cfg = train_cfg(SAMPLE, tmp_path / "new", alpha=1e30, min_alpha=1e30, loss="neg", epochs=1)
    with pytest.raises(DivergenceError):
        run_training(cfg)
    assert not (tmp_path / "new").exists()
    (tmp_path / "given").mkdir()
    cfg = train_cfg(SAMPLE, tmp_path / "given", alpha=1e30, min_alpha=1e30, loss="neg", epochs=1)
    with pytest.raises(DivergenceError):
        run_training(cfg)
    assert (tmp_path / "given").is_dir()
    def fail(run):  # after the first epoch's record: a run that says something keeps its log
        raise DivergenceError("diverged later")

    with pytest.raises(DivergenceError, match="later"):
        run_training(train_cfg(SAMPLE, tmp_path / "logged", epochs=2), on_round=fail)
    assert os.listdir(tmp_path / "logged") == ["train.jsonl"] and (tmp_path / "logged" / "train.jsonl").stat().st_size


def test_disk_full_keeps_the_previous_file(tmp_path):
    target = tmp_path / "vectors.txt"
    target.write_text("previous complete file\n")
    with pytest.raises(OutputError, match="disk full"):
        with atomic_output(str(target), "w") as fh:
            fh.write("partial")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_text() == "previous complete file\n"
    assert os.listdir(tmp_path) == ["vectors.txt"]


def test_disk_full_during_outputs_is_exit_1(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from w2v_nce.artifact import model as model_mod
    from w2v_nce.cli import main

    corpus = planted_corpus(tmp_path / "p.txt", lines=100)

    monkeypatch.setattr(model_mod.Model, "save", _full_disk(tmp_path, times=10**9))
    r = CliRunner().invoke(main, ["train", corpus, "-o", str(tmp_path / "out"), "--min-count", "1", "--quiet",
                                  "--epochs", "1", "--num-sampled", "5", "--save-wait-minutes", "0"])
    assert r.exit_code == 1
    assert "disk full" in r.output and "the model needs about" in r.output


def _full_disk(tmp_path, times: int):
    """A Model.save that finds the disk full ``times`` times (as atomic_output reports it), then saves."""
    from w2v_nce.artifact import model as model_mod

    real, calls = model_mod.Model.save, []

    def save(self, path):
        calls.append(path)
        if len(calls) <= times:
            raise OutputError(f"{path}: cannot write (disk full); previous file left unchanged") from OSError(
                errno.ENOSPC, "No space left on device")
        return real(self, path)

    save.calls = calls
    return save


def test_a_full_disk_at_the_models_save_keeps_the_model_until_there_is_room(tmp_path, monkeypatch):
    """ENOSPC twice, then room: the job says how much room the model needs, waits, saves, exit 0."""
    from w2v_nce.artifact import model as model_mod
    from w2v_nce.run import outputs

    save = _full_disk(tmp_path, times=2)
    monkeypatch.setattr(model_mod.Model, "save", save)
    monkeypatch.setattr(outputs, "SAVE_RETRY_SECONDS", 0.01)
    logs: list[str] = []
    cfg = Config(corpus=[planted_corpus(tmp_path / "p.txt", lines=100)], output=str(tmp_path / "out"), min_count=1,
                 epochs=1, num_sampled=5, quiet=True, evaluate=False)
    run_training(cfg, log=logs.append)
    assert len(save.calls) == 3 and (tmp_path / "out" / "model.npz").exists()
    assert (tmp_path / "out" / "vectors.txt").exists()
    waits = [line for line in logs if "kept in memory" in line]
    assert len(waits) == 2 and "the model needs about" in waits[0] and "disk full" in waits[0]


def test_a_signal_while_waiting_for_room_gives_up_with_the_way_out(tmp_path, monkeypatch):
    from w2v_nce.artifact import model as model_mod
    from w2v_nce.run import outputs

    monkeypatch.setattr(model_mod.Model, "save", _full_disk(tmp_path, times=10**9))
    halt = threading.Event()
    logs: list[str] = []

    def log(line):
        logs.append(line)
        if "kept in memory" in line:
            halt.set()  # as SIGINT does

    cfg = Config(corpus=[planted_corpus(tmp_path / "p.txt", lines=100)], output=str(tmp_path / "out"), min_count=1,
                 epochs=1, num_sampled=5, quiet=True, evaluate=False)
    with pytest.raises(OutputError, match="needs about .* MB .*train again"):
        run_training(cfg, log=log, halt=halt)
    assert outputs.SAVE_RETRY_SECONDS == 30.0 and len([x for x in logs if "kept in memory" in x]) == 1
    assert not (tmp_path / "out" / "model.npz").exists()


def test_initial_bias_is_log_expected_count_of_the_sampler():
    from w2v_nce.sampling import fixed_unigram_probability, log_uniform_probability
    from w2v_nce.train import initial_bias

    counts = np.array([50, 20, 20, 5, 1], np.int64)
    cfg = Config(num_sampled=3, sampler="unigram", distortion=0.75)
    np.testing.assert_allclose(initial_bias(counts, cfg),
                               np.log(3 * fixed_unigram_probability(np.arange(5), counts, 0.75).astype(np.float64)),
                               rtol=1e-6)
    cfg = Config(num_sampled=2, sampler="log_uniform")
    np.testing.assert_allclose(initial_bias(counts, cfg), np.log(2 * log_uniform_probability(np.arange(5), 5)), rtol=1e-6)


def test_random_binary_and_bad_utf8_corpus_trains_without_crashing(tmp_path):
    from click.testing import CliRunner

    from w2v_nce.cli import main

    rng = np.random.default_rng(4)
    junk = rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    text = (b"the quick brown fox jumps over the lazy dog \xff\xfe caf\xc3\xa9 na\xefve\n" * 300)
    p = tmp_path / "mixed.bin"
    p.write_bytes(junk + b"\n" + text + junk[:1000])
    r = CliRunner().invoke(main, ["train", str(p), "-o", str(tmp_path / "out"), "--min-count", "3", "--num-sampled", "3",
                                  "--epochs", "1", "--dim", "8"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "invalid UTF-8 sequences replaced by U+FFFD" in r.output
    words = (tmp_path / "out" / "vocab.tsv").read_text(encoding="utf-8").split("\n")
    assert any(w.startswith("café\t") for w in words)


def test_sigkill_during_a_write_leaves_the_previous_file(tmp_path):
    target = tmp_path / "checkpoint.npz"
    target.write_bytes(b"previous complete checkpoint")
    script = (
        "import os, signal, sys\n"
        "from w2v_nce.io import atomic_output\n"
        "with atomic_output(sys.argv[1], 'wb') as fh:\n"
        "    fh.write(b'half of a new checkpoint')\n"
        "    fh.flush()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    r = subprocess.run([sys.executable, "-c", script, str(target)])
    assert r.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"previous complete checkpoint"


def test_atomic_output_into_a_missing_directory_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match="nodir"):
        with atomic_output(str(tmp_path / "nodir" / "x.txt"), "w") as fh:
            fh.write("x")
    with atomic_output(str(tmp_path / "y.txt"), "w") as fh:
        fh.write("y")
    assert (tmp_path / "y.txt").stat().st_mode & 0o644 == 0o644  # not mkstemp's 0600


def test_words_with_unicode_spaces_survive_training_and_export(tmp_path):
    """NBSP and ideographic space are not token separators (ASCII whitespace only)."""
    from click.testing import CliRunner

    from w2v_nce.cli import main

    p = tmp_path / "nbsp.txt"
    p.write_text(("new\xa0york is a city and tokyo\u3000tower is a tower in tokyo\n" * 50), encoding="utf-8")
    r = CliRunner().invoke(main, ["train", str(p), "-o", str(tmp_path / "out"), "--min-count", "1",
                                  "--num-sampled", "3", "--epochs", "1", "--dim", "8", "--binary", "--quiet"])
    assert r.exit_code == 0, r.output
    from w2v_nce.artifact.word2vec import load_word2vec

    for name in ("vectors.txt", "vectors.bin"):
        words, _ = load_word2vec(str(tmp_path / "out" / name))
        assert "new\xa0york" in words and "tokyo\u3000tower" in words


def test_progress_inside_an_epoch_reports_the_lr_of_its_position(tmp_path):
    """One machine trains an epoch in one round: progress records written during it carry the lr
    of the words trained so far (linear decay), not the lr at the round's start."""
    corpus = big_corpus(tmp_path / "big.txt", mb=6)
    cfg = train_cfg(corpus, tmp_path / "out", epochs=1, progress_every=0.01, alpha=0.05, min_alpha=0.001)
    result = run_training(cfg)
    records = [json.loads(x) for x in open(tmp_path / "out" / "train.jsonl", encoding="utf-8")]
    inside = [r for r in records if r["event"] == "progress" and 0 < r["words"] < result.totals.words]
    assert inside, "no progress record inside the epoch"
    total = result.metrics["vocabulary"]["in_vocab_tokens"]
    for r in inside:
        assert r["lr"] == pytest.approx(0.05 - (0.05 - 0.001) * r["words"] / total, rel=1e-6)


def test_a_signal_during_counting_exits_with_its_own_code(tmp_path):
    """SIGTERM while counting exits 143 (it was 130: the signal was read before it arrived)."""
    import signal

    from w2v_nce.run.vocabulary import count_corpus
    from w2v_nce.text.corpus import Corpus

    corpus = big_corpus(tmp_path / "big.txt", mb=2)
    halt = threading.Event()
    halt.set()
    arrived = []  # the signal arrives after counting started: the handler sets it then
    with pytest.raises(Interrupted) as info:
        count_corpus(train_cfg(corpus, tmp_path / "o"), Corpus([corpus]), halt,
                     lambda: arrived.append(1) or signal.SIGTERM, None, lambda m: None)
    assert info.value.exit_code == 143 and arrived


def test_records_written_after_the_last_checkpoint_are_not_kept_twice(tmp_path, monkeypatch):
    """A process killed after its last checkpoint left records past it (here: a fake epoch and a
    torn line); the resume trains those words again, so it drops them first: each epoch once."""
    from tests.interrupt import run_interrupted

    corpus = big_corpus(tmp_path / "big.txt", mb=3)
    cfg = train_cfg(corpus, tmp_path / "cut")
    run_interrupted(cfg, monkeypatch, after_calls=4)
    clock = load_checkpoint(str(tmp_path / "cut")).states[0].clock
    with open(tmp_path / "cut" / "train.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"event": "epoch", "epoch": 2, "words": clock + 1000, "fake": True}) + "\n")
        fh.write('{"event": "progress", "wor')  # torn by SIGKILL
    resume_training(str(tmp_path / "cut"))
    records = [json.loads(x) for x in open(tmp_path / "cut" / "train.jsonl", encoding="utf-8")]
    assert not any(r.get("fake") for r in records)
    assert [r["epoch"] for r in records if r["event"] == "epoch"] == [1, 2, 3]


def test_the_output_may_not_be_the_corpus_directory_nor_inside_it(tmp_path):
    """train DIR -o DIR --force deleted corpus files named like outputs: refused before anything."""
    from w2v_nce.errors import UsageError

    d = tmp_path / "corpus"
    d.mkdir()
    (d / "vocab.tsv").write_text("not an output: a corpus file\n")
    for out in (d, d / "run"):
        with pytest.raises(UsageError, match="inside the corpus directory"):
            run_training(train_cfg(str(d), out), force=True)
    assert (d / "vocab.tsv").read_text() == "not an output: a corpus file\n" and not (d / "run").exists()


def test_no_input_may_be_a_file_the_run_writes(tmp_path):
    """`train out/vectors.txt -o out --force` deleted its own corpus, and `--init RUN -o RUN --force`
    the run it continues from, before failing: refused before anything is touched."""
    from w2v_nce.errors import UsageError

    corpus = planted_corpus(tmp_path / "c.txt", lines=200, seed=1)
    run_training(train_cfg(corpus, tmp_path / "out", num_sampled=5))
    before = {f: (tmp_path / "out" / f).read_bytes() for f in os.listdir(tmp_path / "out")}
    for cfg in (train_cfg(str(tmp_path / "out" / "vectors.txt"), tmp_path / "out", num_sampled=5),
                train_cfg(corpus, tmp_path / "out", init=str(tmp_path / "out"), num_sampled=5),
                train_cfg(corpus, tmp_path / "out", vocab=str(tmp_path / "out" / "vocab.tsv"), num_sampled=5)):
        with pytest.raises(UsageError, match="is an input of this run and also what it writes"):
            run_training(cfg, force=True)
    assert {f: (tmp_path / "out" / f).read_bytes() for f in os.listdir(tmp_path / "out")} == before


@pytest.mark.parametrize("bad", ["empty_corpus", "min_count", "bad_init"])
def test_force_keeps_the_previous_run_when_the_new_one_fails_before_training(tmp_path, bad):
    """--force removed the previous run's files first; a corpus found empty while counting, a
    vocabulary left empty by --min-count, or a bad --init then left the user with nothing."""
    from w2v_nce.errors import W2VError

    corpus = planted_corpus(tmp_path / "c.txt", lines=200, seed=1)
    run_training(train_cfg(corpus, tmp_path / "out", num_sampled=5))
    before = sorted(os.listdir(tmp_path / "out"))
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "init.txt").write_text("1 3\nword 0.1 0.2\n")  # a row shorter than its header says
    cfg = {"empty_corpus": train_cfg(str(tmp_path / "empty.txt"), tmp_path / "out", num_sampled=5),
           "min_count": train_cfg(corpus, tmp_path / "out", min_count=10**6, num_sampled=5),
           "bad_init": train_cfg(corpus, tmp_path / "out", init=str(tmp_path / "init.txt"), dim=3, num_sampled=5)}[bad]
    with pytest.raises(W2VError):
        run_training(cfg, force=True)
    assert sorted(os.listdir(tmp_path / "out")) == before
    with pytest.raises(W2VError):  # and a new -o such a run made is not left behind, empty
        run_training(dataclasses.replace(cfg, output=str(tmp_path / "new" / "out")))
    assert not (tmp_path / "new" / "out").exists()


def test_an_output_name_taken_by_a_directory_is_one_line_not_a_traceback(tmp_path):
    """A directory named checkpoint.npz (or model.npz) in -o raised IsADirectoryError from --force's
    clean-up; it is not ours to delete: refused before anything is touched."""
    from w2v_nce.run.prepare import prepare_output_dir

    (tmp_path / "out" / "checkpoint.npz").mkdir(parents=True)
    (tmp_path / "out" / "vectors.txt").write_text("old")
    with pytest.raises(OutputError, match="checkpoint.npz: is not a file w2v-nce wrote"):
        prepare_output_dir(str(tmp_path / "out"), force=True)
    assert (tmp_path / "out" / "vectors.txt").read_text() == "old"


@pytest.mark.parametrize("where", ["corpus_directory", "vocab", "init", "phrases"])
def test_a_fifo_among_the_inputs_is_refused_not_waited_on(tmp_path, where):
    """A FIFO in a corpus directory, or given as --vocab, --init or --phrases, blocked the job in
    open() forever (SIGINT and SIGTERM were retried away, PEP 475): refused before it is opened."""
    from w2v_nce.errors import CorpusError, UsageError

    (tmp_path / "d").mkdir()
    corpus = planted_corpus(tmp_path / "d" / "a.txt", lines=100, seed=1)
    fifo = str(tmp_path / ("d/b.txt" if where == "corpus_directory" else "fifo"))
    os.mkfifo(fifo)
    cfg = train_cfg(str(tmp_path / "d") if where == "corpus_directory" else corpus, tmp_path / "out", num_sampled=5)
    if where != "corpus_directory":
        setattr(cfg, where, fifo)
    with pytest.raises((CorpusError, UsageError), match="pipe or device"):
        run_training(cfg)
    assert not (tmp_path / "out").exists()


def test_the_writability_probe_never_follows_a_planted_symlink(tmp_path):
    import os

    from w2v_nce.errors import OutputError
    from w2v_nce.run.prepare import prepare_output_dir

    target = tmp_path / "victim.txt"
    target.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    for name in os.listdir(out):
        os.unlink(out / name)
    os.symlink(target, out / f".w2v-nce-write-test-{os.getpid()}")
    with pytest.raises(OutputError, match="is in the way of the writability check"):
        prepare_output_dir(str(out), force=True)
    assert target.read_text() == "keep me"
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")  # -o a dangling link: not blamed on the probe
    with pytest.raises(OutputError, match="cannot create the output directory"):
        prepare_output_dir(str(tmp_path / "dangling"), force=False)


def test_a_corpus_that_changes_during_training_is_an_error_naming_it(tmp_path):
    """A corpus truncated or appended to mid-run was trained short (or on text nobody counted), exit 0."""
    from w2v_nce.errors import CorpusError

    corpus = big_corpus(tmp_path / "big.txt", mb=1)

    def grow(run):
        with open(corpus, "a") as fh:
            fh.write("more text\n")

    with pytest.raises(CorpusError, match="big.txt: corpus file changed during training"):
        run_training(train_cfg(corpus, tmp_path / "o"), on_round=grow)


@pytest.mark.parametrize("corrupt,match", [
    ("carry_id_past_v", "out of range"), ("negative_epoch", "out of range"), ("dim", "contradicts itself"),
    ("alpha_null", "'alpha' must be float"), ("init_int", "'init' must be str"),
    ("num_sampled_huge", "num-sampled must be at most"), ("sync_totals", "'sync_totals' holds"),
    ("fingerprint", "malformed entry"), ("syncs", "'syncs' has the wrong type"), ("counts", "word counts"),
    ("carry_id_past_int32", "out of bounds for int32"), ("block_past_end", "does not fit the corpus"),
    ("source_past_end", "does not fit the corpus"), ("clock_huge", "does not fit the corpus"),
    ("parts_not_its_streams", "does not fit the corpus"), ("block_bytes_1", "does not fit the corpus"),
    ("nan_row", "holds NaN or Inf"), ("w_in_float16", "float16, not float32"),
    ("replicas_empty", "not a list of positions"), ("version_99", "version 99 is not one this"),
    ("carry_id_float", "carry_ids are not integers"), ("epoch_words", "'epoch_words' is not a count"),
    ("reader_negative", "reader's counts hold a negative number")])
def test_a_checkpoint_that_contradicts_itself_is_refused_before_any_kernel(tmp_path, monkeypatch, corrupt, match):
    """Carried ids >= V were indexed unchecked (a segfault on --resume); a negative epoch or a dim
    that is not the matrices' resumed without a word; a config or state record of the wrong types
    (found by scripts/fuzz_inputs.py's resume reader) ended in a traceback. Each is a one-line
    ResumeError now."""
    import numpy as np

    from tests.interrupt import run_interrupted
    from w2v_nce.errors import ResumeError

    corpus = big_corpus(tmp_path / "big.txt", mb=3)
    run_interrupted(train_cfg(corpus, tmp_path / "cut"), monkeypatch, after_calls=2)
    path = tmp_path / "cut" / "checkpoint.npz"
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    state, cfg = json.loads(str(arrays["state"])), json.loads(str(arrays["config"]))
    rep = state["replicas"][0]
    if corrupt == "carry_id_past_v":
        rep["stream"]["carry_ids"] = [10**9]
    elif corrupt == "carry_id_past_int32":  # an OverflowError, not a ValueError (the fuzz's case 383)
        rep["stream"]["carry_ids"] = [2**31]
    elif corrupt == "negative_epoch":
        rep["epoch"] = -3
    elif corrupt == "dim":
        cfg["dim"] = 999
    elif corrupt == "alpha_null":
        cfg["alpha"] = None
    elif corrupt == "init_int":
        cfg["init"] = -1
    elif corrupt == "num_sampled_huge":
        cfg["num_sampled"] = 2**63
    elif corrupt == "sync_totals":
        state["sync_totals"] = {"rounds": {}}
    elif corrupt == "fingerprint":
        state["fingerprint"] = [1.5]
    elif corrupt == "syncs":
        state["syncs"] = [1]
    elif corrupt == "epoch_words":  # the lr clock's unit: 0 or less would divide the schedule by nothing
        state["epoch_words"] = -5
    elif corrupt == "block_past_end":  # these five resumed without a word (issue 32's audit): trained from nowhere
        rep["stream"]["position"]["block"] = 1000
    elif corrupt == "source_past_end":
        rep["stream"]["position"]["source"] = 5
    elif corrupt == "clock_huge":
        rep["clock"] = 10**30
    elif corrupt == "parts_not_its_streams":
        rep["parts"] = 1000
    elif corrupt == "block_bytes_1":  # a forged 1 crawled at a byte a chunk
        rep["block_bytes"] = 1
    elif corrupt == "nan_row":  # was resumed, then reported as a divergence ("try a smaller --alpha")
        arrays["w_out"] = arrays["w_out"].copy()
        arrays["w_out"][3, 0] = np.nan
    elif corrupt == "w_in_float16":  # was a NotImplementedError traceback from the kernels' typing
        arrays["w_in"] = arrays["w_in"].astype(np.float16)
    elif corrupt == "replicas_empty":  # was min() of an empty sequence
        state["replicas"] = []
    elif corrupt == "version_99":  # was resumed as if this version had written it
        state["version"] = 99
    elif corrupt == "carry_id_float":  # 1.5 was truncated to row 1
        rep["stream"]["carry_ids"] = [1.5]
    elif corrupt == "reader_negative":  # was resumed, and metrics.json reported the sum
        rep["reader"] = {**rep.get("reader", {}), "oov_tokens": -7}
    else:
        arrays["counts"] = np.zeros_like(arrays["counts"])
    arrays["state"], arrays["config"] = np.array(json.dumps(state)), np.array(json.dumps(cfg))
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(ResumeError, match=match) as info:
        resume_training(str(tmp_path / "cut"))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("content", [b"", b"\x93NUMPY random bytes " * 50])
def test_an_empty_or_random_model_or_checkpoint_is_one_clear_line(tmp_path, content):
    """A zero-byte file printed only 'Aborted!' (click's EOFError); random bytes advised allow_pickle."""
    from click.testing import CliRunner

    from w2v_nce.cli import main

    for name, args in (("checkpoint.npz", ["train", "--resume"]), ("model.npz", ["eval"])):
        d = tmp_path / name.split(".")[0]
        d.mkdir(exist_ok=True)
        (d / name).write_bytes(content)
        r = CliRunner().invoke(main, args + [str(d)])
        assert r.exit_code == 1 and "Aborted" not in r.output and "pickle" not in r.output, r.output
        assert name in r.output and len(r.output.strip().splitlines()) == 1


def test_a_periodic_checkpoint_on_a_full_disk_is_a_warning_and_training_goes_on(tmp_path, monkeypatch):
    """The previous checkpoint stays (atomic replace) and the run ends with its outputs, the same
    bytes as a run without checkpoints; a later checkpoint that can be written is."""
    corpus = big_corpus(tmp_path / "big.txt", mb=2)
    run_training(train_cfg(corpus, tmp_path / "plain"))
    original, calls = loop.save_checkpoint, []

    def full_once(out, ck):
        calls.append(ck.states[0].clock)
        if len(calls) == 1:
            raise OutputError(f"{out}/checkpoint.npz: cannot write (disk full); previous file left unchanged")
        return original(out, ck)

    monkeypatch.setattr(loop, "save_checkpoint", full_once)
    logs = []
    run_training(train_cfg(corpus, tmp_path / "out", checkpoint_every=0.0001), log=logs.append)
    assert len(calls) >= 2  # tried again after the failure
    warnings = [line for line in logs if line.startswith("warning:") and "disk full" in line]
    assert len(warnings) == 1 and "training goes on" in warnings[0]
    assert (tmp_path / "out" / "vectors.txt").read_bytes() == (tmp_path / "plain" / "vectors.txt").read_bytes()


def test_a_checkpoint_on_a_signal_that_cannot_be_written_ends_the_run(tmp_path, monkeypatch):
    corpus = big_corpus(tmp_path / "big.txt", mb=2)
    halt = _halt_after_first_chunk(monkeypatch)

    def full(out, ck):
        raise OutputError(f"{out}/checkpoint.npz: cannot write (disk full); previous file left unchanged")

    monkeypatch.setattr(loop, "save_checkpoint", full)
    with pytest.raises(OutputError, match="disk full"):
        run_training(train_cfg(corpus, tmp_path / "out"), halt=halt)


def test_a_model_that_cannot_be_saved_says_how_much_room_and_how_to_resume(tmp_path, monkeypatch):
    """A full disk at the end: the message gives the model's size, the free space and the way out
    (the kept checkpoint and the resume command); the resume then finishes the run."""
    from w2v_nce.artifact import model as model_mod

    corpus = big_corpus(tmp_path / "big.txt", mb=2)
    real_save = model_mod.Model.save

    def full_disk(self, path):
        raise OutputError(f"{path}: cannot write (disk full); previous file left unchanged")

    monkeypatch.setattr(model_mod.Model, "save", full_disk)
    with pytest.raises(OutputError) as info:
        run_training(train_cfg(corpus, tmp_path / "out", checkpoint_every=0.0001))
    message = str(info.value)
    assert "disk full" in message and "the model needs about" in message and "MB are free there" in message
    assert f"w2v-nce train --resume {tmp_path / 'out'}" in message and "\n" not in message
    assert (tmp_path / "out" / "checkpoint.npz").exists()
    monkeypatch.setattr(model_mod.Model, "save", real_save)
    resume_training(str(tmp_path / "out"))
    assert (tmp_path / "out" / "model.npz").exists() and not (tmp_path / "out" / "checkpoint.npz").exists()


def test_resume_refuses_a_train_jsonl_that_is_a_symlink_and_leaves_its_target(tmp_path, monkeypatch):
    """A symlink planted in a shared output directory must not make us write to its target."""
    corpus = big_corpus(tmp_path / "big.txt", mb=2)
    halt = _halt_after_first_chunk(monkeypatch)
    with pytest.raises(Interrupted):
        run_training(train_cfg(corpus, tmp_path / "out"), halt=halt)
    monkeypatch.undo()
    target = tmp_path / "precious.txt"
    target.write_text("not yours\n")
    log = tmp_path / "out" / "train.jsonl"
    log.unlink()
    log.symlink_to(target)
    with pytest.raises(OutputError, match="train.jsonl is a symbolic link"):
        resume_training(str(tmp_path / "out"))
    assert target.read_text() == "not yours\n" and log.is_symlink()


def _halt_after_first_chunk(monkeypatch) -> threading.Event:
    """An event the trainer sets after its first chunk: a run given it as ``halt`` stops there."""
    halt, original = threading.Event(), Trainer.train_chunk

    def stop_after_one(self, *a):
        original(self, *a)
        halt.set()

    monkeypatch.setattr(Trainer, "train_chunk", stop_after_one)
    return halt


def test_a_corpus_changed_while_it_is_counted_is_an_error_not_a_short_run(tmp_path, monkeypatch):
    """Truncated during the counting pass, it was trained short and exited 0 (the change check
    began after counting); the fingerprint is now taken before it."""
    from w2v_nce.errors import CorpusError
    from w2v_nce.run import job

    corpus = big_corpus(tmp_path / "big.txt", mb=1)
    real = job.vocabulary_for_run

    def count_then_truncate(*a, **kw):
        out = real(*a, **kw)
        os.truncate(corpus, os.path.getsize(corpus) // 2)
        return out

    monkeypatch.setattr(job, "vocabulary_for_run", count_then_truncate)
    with pytest.raises(CorpusError, match="big.txt: corpus file changed while it was counted"):
        run_training(train_cfg(corpus, tmp_path / "o"))
    assert not (tmp_path / "o" / "model.npz").exists()


def test_quiet_keeps_warnings_and_sizes_read_in_kb_below_10_mb(monkeypatch, capsys):
    from w2v_nce.run import job, outputs

    log = job.log_for(Config(quiet=True), None)
    log("epoch 1/1 done")
    log("warning: no room for model.npz")
    assert capsys.readouterr().err.splitlines()[-1:] == ["warning: no room for model.npz"]
    assert "epoch 1/1" not in capsys.readouterr().err
    assert outputs.size_text(5_000) == "5.0 kB" and outputs.size_text(25_000_000) == "25 MB"


def test_a_file_added_to_a_corpus_directory_during_training_is_an_error(tmp_path, monkeypatch):
    """It was neither counted nor trained, exit 0 (a --resume then refused the directory)."""
    from w2v_nce.errors import CorpusError

    corpus_dir = tmp_path / "parts"
    corpus_dir.mkdir()
    big_corpus(corpus_dir / "a.txt", mb=1)
    real = loop.check_unchanged

    def add_then_check(fingerprint, corpus, when):  # at the epoch's end
        (corpus_dir / "b.txt").write_text("late words\n")
        return real(fingerprint, corpus, when)

    monkeypatch.setattr(loop, "check_unchanged", add_then_check)
    with pytest.raises(CorpusError, match="b.txt: a file added to the corpus directory during training"):
        run_training(train_cfg(str(corpus_dir), tmp_path / "o"))


def test_a_corpus_file_removed_after_counting_is_one_line_not_an_oserror(tmp_path, monkeypatch):
    from w2v_nce.errors import CorpusError
    from w2v_nce.run import job

    corpus_dir = tmp_path / "parts"
    corpus_dir.mkdir()
    big_corpus(corpus_dir / "a.txt", mb=1)
    (corpus_dir / "b.txt").write_text("more words here\n" * 100)
    real = job.vocabulary_for_run

    def count_then_remove(*a, **kw):
        out = real(*a, **kw)
        os.remove(corpus_dir / "b.txt")
        return out

    monkeypatch.setattr(job, "vocabulary_for_run", count_then_remove)
    with pytest.raises(CorpusError, match="b.txt: corpus file gone or unreadable while it was counted"):
        run_training(train_cfg(str(corpus_dir), tmp_path / "o"))
