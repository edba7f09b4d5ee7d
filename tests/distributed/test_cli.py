"""``w2v-nce train --replicas K`` / ``--ray ADDRESS`` through click: the backend chosen, the same
outputs, resume of a distributed run, and Ray missing (one line, exit 2)."""

from __future__ import annotations

import json
import os
import sys

import pytest

from tests.conftest import REPO, SAMPLE
from tests.conftest import run_cli as run
from w2v_nce.config import Config
from w2v_nce.distributed.inprocess import LocalBackend
from w2v_nce.errors import Interrupted
from w2v_nce.run.job import run_training

FLAGS = ["--dim", "16", "--window", "3", "--min-count", "2", "--epochs", "2", "--num-sampled", "5", "--batch-size",
         "16", "--threads", "1", "--quiet", "--checkpoint-every", "0", "--round-words", "5000"]




def test_replicas_without_ray_train_in_process(parts, tmp_path):
    r = run("train", parts, "-o", tmp_path / "o", "--replicas", "2", *FLAGS)
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["distributed"]["backend"] == "local" and metrics["distributed"]["replicas"] == 2
    for name in ("model.npz", "vectors.txt", "vocab.tsv", "config.yaml", "train.jsonl"):
        assert (tmp_path / "o" / name).exists()


def test_inprocess_with_one_replica_is_the_plain_run(parts, tmp_path):
    assert run("train", parts, "-o", tmp_path / "plain", *FLAGS).exit_code == 0
    r = run("train", parts, "-o", tmp_path / "one", "--ray", "inprocess", *FLAGS)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "plain" / "vectors.txt").read_bytes() == (tmp_path / "one" / "vectors.txt").read_bytes()
    metrics = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert "distributed" not in metrics and metrics["resolved"]["replicas"] == 1  # K = 1 is the one-machine run


def test_resume_continues_a_distributed_run(parts, tmp_path):
    out = tmp_path / "cut"
    cfg = Config(corpus=[parts], output=str(out), dim=16, window=3, min_count=2, epochs=2, num_sampled=5,
                 batch_size=16, threads=1, quiet=True, checkpoint_every=0, round_words=5000, replicas=2)

    def stop(run_):
        if run_.sync_totals["rounds"] == 2:
            run_.halt.set()

    with pytest.raises(Interrupted):
        run_training(cfg, backend=LocalBackend(2), on_round=stop)
    r = run("train", "--resume", out, "--quiet")
    assert r.exit_code == 0, r.output
    assert (out / "vectors.txt").exists() and not (out / "checkpoint.npz").exists()
    assert json.loads((out / "metrics.json").read_text())["distributed"]["replicas"] == 2


def test_ray_missing_is_one_line_exit_2(parts, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    r = run("train", parts, "-o", tmp_path / "o", "--ray", "auto", "--replicas", "2", *FLAGS)
    assert r.exit_code == 2
    assert "pip install 'w2v-nce[ray]'" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_the_core_package_does_not_import_ray(parts, tmp_path):
    import subprocess

    code = ("import sys; import w2v_nce.cli, w2v_nce.run.job, w2v_nce.run.loop, w2v_nce.distributed.inprocess, "
            "w2v_nce.distributed.backends; print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": REPO})
    assert out.stdout.strip() == "False"


def test_bad_distributed_settings_are_usage_errors(parts, tmp_path):
    r = run("train", parts, "-o", tmp_path / "o", *FLAGS, "--replicas", "0")
    assert r.exit_code == 2 and "--replicas" in r.output
    r = run("train", parts, "-o", tmp_path / "o", *FLAGS, "--round-words", "0")
    assert r.exit_code == 2 and "--round-words" in r.output


def test_a_given_vocabulary_is_not_counted_again_with_replicas(parts, tmp_path):
    """Drift 1 of the two old loops: with --replicas the corpus was counted anyway."""
    assert run("vocab", parts, "-o", tmp_path / "v.tsv", "--min-count", "2").exit_code == 0
    logs: list[str] = []
    cfg = Config(corpus=[parts], output=str(tmp_path / "o"), dim=16, window=3, min_count=2, epochs=1, num_sampled=5,
                 batch_size=16, threads=1, checkpoint_every=0, round_words=5000, replicas=2, vocab=str(tmp_path / "v.tsv"))
    run_training(cfg, backend=LocalBackend(2), log=logs.append)
    assert any("counting skipped" in line for line in logs)
    assert not any("tokens read" in line for line in logs)


def test_every_run_reports_what_its_null_settings_resolved_to(parts, tmp_path):
    """Drift 2: metrics.json "resolved" is there for replicas too, from the one config.resolve."""
    r = run("train", parts, "-o", tmp_path / "o", "--replicas", "2", *FLAGS)
    assert r.exit_code == 0, r.output
    resolved = json.loads((tmp_path / "o" / "metrics.json").read_text())["resolved"]
    assert resolved == {"replicas": 2, "threads": 1, "batch_size": 16, "remove_accidental_hits": False,
                        "sync_seconds": None, "round_words": 5000, "lr_factor": 2.0}


def test_progress_never_shows_an_epoch_past_the_last(parts, tmp_path):
    """Drift 3: the last progress line of a replicated run read "epoch 2/1"."""
    logs: list[str] = []
    cfg = Config(corpus=[parts], output=str(tmp_path / "o"), dim=16, window=3, min_count=2, epochs=1, num_sampled=5,
                 batch_size=16, threads=1, checkpoint_every=0, round_words=2000, replicas=2, progress_every=1e-6)
    run_training(cfg, backend=LocalBackend(2), log=logs.append)
    records = [json.loads(x) for x in open(tmp_path / "o" / "train.jsonl", encoding="utf-8")]
    progress = [r for r in records if r["event"] == "progress"]
    assert progress and all(r["epoch"] == 1 for r in progress)


def test_a_version_1_single_machine_checkpoint_still_resumes(parts, tmp_path):
    """Checkpoints written before the one loop (one "train" state and "rng") resume as K = 1."""
    import numpy as np

    out = tmp_path / "cut"
    cfg = Config(corpus=[parts], output=str(out), dim=16, window=3, min_count=2, epochs=2, num_sampled=5,
                 batch_size=16, threads=1, quiet=True, checkpoint_every=0)
    run_training(Config(**{**cfg.to_dict(), "output": str(tmp_path / "full")}))

    def stop(run_):
        run_.halt.set()

    with pytest.raises(Interrupted):  # K = 1: a round is an epoch, so this stops after epoch 1
        run_training(cfg, on_round=stop)
    path = out / "checkpoint.npz"
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    state = json.loads(str(arrays["state"]))
    old = {"train": state["replicas"][0], "fingerprint": state["fingerprint"], "totals": state["totals"],
           "history": state["history"], "version": 1}
    arrays["state"], arrays["rng"] = np.array(json.dumps(old)), arrays.pop("rng_0")
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    r = run("train", "--resume", out, "--quiet")
    assert r.exit_code == 0, r.output
    assert (out / "vectors.txt").read_bytes() == (tmp_path / "full" / "vectors.txt").read_bytes()


def test_replicas_on_one_compressed_file_are_told_how_to_cut_it(tmp_path):
    """One .gz cannot be cut: the job says at its start that one replica reads it, and how to split it."""
    import gzip

    gz = tmp_path / "c.txt.gz"
    with open(SAMPLE, "rb") as src, gzip.open(gz, "wb") as dst:
        dst.write(src.read())
    logs: list[str] = []
    cfg = Config(corpus=[str(gz)], output=str(tmp_path / "o"), dim=16, window=3, min_count=2, epochs=1, num_sampled=5,
                 batch_size=16, threads=1, checkpoint_every=0, round_words=5000, replicas=2)
    run_training(cfg, backend=LocalBackend(2), log=logs.append)
    assert any("1 of 2 parts hold text" in line and "w2v-nce split" in line for line in logs), logs
