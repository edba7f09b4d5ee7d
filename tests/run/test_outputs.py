"""Nothing lost at the end of a run: huge tokens, failures after training, one writer per
directory, spills cleaned up — through the job and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from tests.corpora import planted_corpus
from tests.interrupt import run_interrupted
from w2v_nce.artifact.model import Model
from w2v_nce.cli import main
from w2v_nce.config import Config
from w2v_nce.errors import OutputError
from w2v_nce.run import job, memory
from w2v_nce.run import vocabulary as run_vocabulary
from w2v_nce.run.checkpoint import load_checkpoint
from w2v_nce.run.job import run_training


def _cfg(corpus, out, **kw):
    base = dict(corpus=[corpus], output=str(out), dim=8, window=2, min_count=1, epochs=1, threads=1, quiet=True,
                checkpoint_every=0, loss="neg", num_sampled=3)
    base.update(kw)
    return Config(**base)


def test_a_ten_megabyte_token_trains_and_writes_every_output(tmp_path):
    corpus = tmp_path / "c.txt"
    with open(corpus, "wb") as fh:
        fh.write(b"x" * (10 << 20) + b"\n")
        fh.write(b"the cat sat on the mat and the dog ran\n" * 200)
    r = CliRunner().invoke(main, ["train", str(corpus), "-o", str(tmp_path / "out"), "--min-count", "1",
                                  "--epochs", "1", "--dim", "8", "--threads", "1", "--loss", "neg"])
    assert r.exit_code == 0, r.output
    for name in ("model.npz", "vectors.txt", "vocab.tsv", "config.yaml", "train.jsonl", "metrics.json"):
        assert (tmp_path / "out" / name).exists(), name
    assert "1 tokens longer than --max-token-bytes 1000 left out (longest 10,485,760 bytes)" in r.output
    m = Model.load(str(tmp_path / "out"))
    assert sorted(m.words) == sorted(set("the cat sat on mat and dog ran".split()))
    assert os.path.getsize(tmp_path / "out" / "model.npz") < 20_000  # the token is not saved, never cut
    vocabulary = json.loads((tmp_path / "out" / "metrics.json").read_text())["vocabulary"]
    assert vocabulary["long_tokens"] == 1 and vocabulary["longest_token_bytes"] == 10 << 20


def test_a_failure_after_training_keeps_the_model_and_says_what_was_written(tmp_path, monkeypatch):
    corpus = planted_corpus(tmp_path / "p.txt", lines=100)
    import w2v_nce.evaluation.command as E  # bundled_scores looks evaluate_analogies up there

    def broken(*a, **k):
        raise ValueError("eval set went missing")

    monkeypatch.setattr(E, "evaluate_analogies", broken)
    with pytest.raises(OutputError) as info:
        run_training(_cfg(corpus, tmp_path / "out"))
    msg = str(info.value)
    assert "scoring the bundled evaluation sets failed (ValueError: eval set went missing)" in msg
    assert "model.npz, vectors.txt, vocab.tsv, config.yaml" in msg and "\n" not in msg
    assert Model.load(str(tmp_path / "out")).w_in.shape[1] == 8
    assert not (tmp_path / "out" / "metrics.json").exists()
    r = CliRunner().invoke(main, ["train", corpus, "-o", str(tmp_path / "cli"), "--min-count", "1", "--epochs", "1",
                                  "--dim", "8", "--quiet", "--loss", "neg"])
    assert r.exit_code == 1 and "the trained model is saved" in r.output


def test_a_second_run_into_the_same_directory_is_refused(tmp_path):
    corpus = planted_corpus(tmp_path / "p.txt", lines=50)
    out = tmp_path / "out"
    out.mkdir()
    hold = subprocess.Popen([sys.executable, "-c", "import sys\nfrom w2v_nce.run.lock import OutputLock\n"
                             "with OutputLock(sys.argv[1]):\n    print('held', flush=True)\n    sys.stdin.read()\n",
                             str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert hold.stdout.readline().strip() == "held"
        (out / "vectors.txt").write_text("the other run's file\n")
        r = CliRunner().invoke(main, ["train", corpus, "-o", str(out), "--force", "--min-count", "1", "--quiet",
                                      "--loss", "neg", "--num-sampled", "3"])
        assert r.exit_code == 1
        assert f"being written by pid {hold.pid}" in r.output and "choose another -o" in r.output
        assert (out / "vectors.txt").read_text() == "the other run's file\n"  # --force removed nothing
    finally:
        hold.stdin.close()
        hold.wait(10)
    r = CliRunner().invoke(main, ["train", corpus, "-o", str(out), "--force", "--min-count", "1", "--quiet",
                                  "--epochs", "1", "--dim", "8", "--loss", "neg", "--num-sampled", "3"])
    assert r.exit_code == 0, r.output
    assert not (out / ".w2v-nce.lock").exists()  # released at exit


def test_a_killed_counts_spill_directory_is_removed_by_the_next_run(tmp_path):
    corpus = planted_corpus(tmp_path / "p.txt", lines=50)
    out = tmp_path / "out"
    (out / ".w2v-nce-count-abc123").mkdir(parents=True)
    (out / ".w2v-nce-count-abc123" / "run-0").write_bytes(b"partial")
    run_training(_cfg(corpus, out), force=True)
    assert not (out / ".w2v-nce-count-abc123").exists()


def test_the_job_counts_under_its_memory_bound_and_reports_the_spill(tmp_path, monkeypatch):
    """The job passes count_memory and a spill directory inside -o to the counter; the spilled
    count gives the same vectors, is logged, and leaves no spill behind. (The bound is forced
    small here: the exactness of spilling itself is tests/vocabulary/test_spill.py's.)"""
    rng = np.random.default_rng(0)
    corpus = tmp_path / "c.txt"
    words = [f"{rng.integers(1 << 40):x}" for _ in range(60_000)] + ["common"] * 1000
    rng.shuffle(words)
    corpus.write_text("\n".join(" ".join(words[i:i + 50]) for i in range(0, len(words), 50)) + "\n")
    run_training(_cfg(str(corpus), tmp_path / "free", count_memory=0, epochs=1))
    real, seen = run_vocabulary.build_vocab, {}

    def small_bound(*a, **kw):
        seen.update(kw)
        return real(*a, **{**kw, "count_memory": 2 << 20})

    monkeypatch.setattr(run_vocabulary, "build_vocab", small_bound)
    lines = []
    run_training(_cfg(str(corpus), tmp_path / "bound", count_memory=64 << 20, epochs=1, quiet=False), log=lines.append)
    assert seen["count_memory"] == 64 << 20 and seen["spill_dir"] == str(tmp_path / "bound")
    assert (tmp_path / "free" / "vectors.txt").read_bytes() == (tmp_path / "bound" / "vectors.txt").read_bytes()
    vocab_line = next(ln for ln in lines if ln.startswith("vocabulary:"))
    assert "sorted runs" in vocab_line and "spilled to disk and merged" in vocab_line
    assert json.loads((tmp_path / "bound" / "metrics.json").read_text())["vocabulary"]["spill_runs"] > 0
    assert not [p for p in os.listdir(tmp_path / "bound") if p.startswith(".w2v-nce-count")]


def _interrupted_run(corpus, out, monkeypatch) -> None:
    """A 2-epoch run stopped after its first chunk: a checkpoint in ``out``, then the kernel restored."""
    run_interrupted(_cfg(corpus, out, epochs=2), monkeypatch)


def test_checkpoints_store_words_as_bytes_and_resume(tmp_path, monkeypatch):
    corpus = planted_corpus(tmp_path / "p.txt", lines=3000)
    _interrupted_run(corpus, tmp_path / "cut", monkeypatch)
    with np.load(tmp_path / "cut" / "checkpoint.npz") as z:
        assert "word_bytes" in z and "words" not in z
    ck = load_checkpoint(str(tmp_path / "cut"))
    assert len(ck.model.words) == len(ck.model.counts) > 0
    assert not (tmp_path / "cut" / ".w2v-nce.lock").exists()  # released on the interrupt too


def test_memory_estimate_counts_the_words_bytes():
    cfg = Config(dim=10, threads=1)
    assert memory.estimate_memory(1000, cfg, word_bytes=10 << 20) - memory.estimate_memory(1000, cfg) >= 10 << 20


def test_metrics_report_the_seconds_of_each_phase(tmp_path, monkeypatch):
    """metrics.json "seconds": what the counting pass, setup, training, writing and scoring each
    took (benchmarks report the fixed costs from them); a resume has no counting pass."""
    import time

    corpus = planted_corpus(tmp_path / "p.txt", lines=3000)
    t0 = time.time()
    run_training(_cfg(corpus, tmp_path / "out", epochs=2))
    wall = time.time() - t0
    seconds = json.loads((tmp_path / "out" / "metrics.json").read_text())["seconds"]
    assert set(seconds) == {"vocabulary", "setup", "train", "write", "evaluate"}
    assert all(v >= 0 for v in seconds.values())
    assert seconds["train"] > 0 and sum(seconds.values()) <= wall + 0.01

    _interrupted_run(corpus, tmp_path / "cut", monkeypatch)
    job.resume_training(str(tmp_path / "cut"))
    resumed = json.loads((tmp_path / "cut" / "metrics.json").read_text())["seconds"]
    assert set(resumed) == {"setup", "train", "write", "evaluate"}


def test_outputs_a_user_does_not_need_can_be_skipped(tmp_path):
    """--no-text-vectors writes no vectors.txt (vectors.bin with --binary holds the rows);
    --no-evaluate leaves the scores out of metrics.json; the bundled scores otherwise match
    what `w2v-nce eval` computes (they run beside the writing, on w_in)."""
    from tests.conftest import SAMPLE

    corpus = SAMPLE
    run_training(_cfg(corpus, tmp_path / "all"))
    run_training(_cfg(corpus, tmp_path / "lean", text_vectors=False, evaluate=False, binary=True))
    lean = os.listdir(tmp_path / "lean")
    assert "vectors.txt" not in lean and "vectors.bin" in lean and "model.npz" in lean
    metrics = json.loads((tmp_path / "lean" / "metrics.json").read_text())
    assert "analogy" not in metrics and "similarity" not in metrics and "evaluate" in metrics["seconds"]
    from w2v_nce.artifact.word2vec import load_word2vec

    words, vectors = load_word2vec(str(tmp_path / "lean" / "vectors.bin"))
    assert np.array_equal(vectors, Model.load(str(tmp_path / "all")).w_in)  # the same seeded run
    full = json.loads((tmp_path / "all" / "metrics.json").read_text())
    r = CliRunner().invoke(main, ["eval", str(tmp_path / "all"), "--json", str(tmp_path / "e.json")])
    assert r.exit_code == 0, r.output
    scored = json.loads((tmp_path / "e.json").read_text())
    assert full["analogy"]["answered"] == scored["analogy"]["answered"] > 0
    assert full["similarity"]["wordsim353_combined"]["pairs"] > 50
    assert {k: (v["pairs"], v["spearman"]) for k, v in full["similarity"].items()} == \
        {k: (v["pairs"], v["spearman"]) for k, v in scored["similarity"].items()}
