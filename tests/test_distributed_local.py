"""Distributed training on the in-process backend: K = 1 is the single-machine run byte for
byte, K = 2 replicas end identical, the lr clock is the global position (across rounds and a
resume), checkpoints resume exactly, a lost replica is refilled and the job finishes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from w2v_nce.config import Config
from w2v_nce.corpus import Corpus
from w2v_nce.distributed.checkpoint import load_distributed, saved_replicas
from w2v_nce.distributed.driver import resume_distributed, run_distributed
from w2v_nce.distributed.local import LocalBackend
from w2v_nce.distributed.shares import trainer_share
from w2v_nce.errors import Interrupted, UsageError
from w2v_nce.job import run_training
from w2v_nce.model import Model
from w2v_nce.train import Trainer, init_model
from w2v_nce.vocab import build_vocab

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "data", "sample.txt")


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """The bundled sample as 6 files: one chunk of the id stream per file, so replicas get shares."""
    d = tmp_path_factory.mktemp("parts")
    lines = open(SAMPLE, encoding="utf-8").read().splitlines()
    for i in range(6):
        (d / f"part{i}.txt").write_text("\n".join(lines[i::6]) + "\n", encoding="utf-8")
    return str(d)


def config(corpus: str, out, **kw) -> Config:
    base = dict(corpus=[corpus], output=str(out), dim=16, window=3, min_count=2, epochs=2, num_sampled=5,
                batch_size=16, threads=1, quiet=True, checkpoint_every=0, round_words=5000, progress_every=0.001)
    base.update(kw)
    return Config(**base)


def records(out) -> list[dict]:
    return [json.loads(x) for x in open(os.path.join(out, "train.jsonl"), encoding="utf-8")]


def same_arrays(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("kw", [dict(loss="nce"), dict(loss="neg"), dict(loss="neg", negatives="window"),
                                dict(loss="neg", arch="cbow", negatives="batch")])
def test_one_replica_is_the_single_machine_run_byte_for_byte(parts, tmp_path, kw):
    run_training(config(parts, tmp_path / "single", **kw))
    run_distributed(config(parts, tmp_path / "k1", **kw), LocalBackend(1))
    for name in ("vectors.txt", "vocab.tsv"):
        assert (tmp_path / "single" / name).read_bytes() == (tmp_path / "k1" / name).read_bytes()
    a, b = Model.load(str(tmp_path / "single")), Model.load(str(tmp_path / "k1"))
    assert same_arrays((a.w_in, a.w_out, a.bias), (b.w_in, b.w_out, b.bias))


def test_two_replicas_are_identical_after_the_final_sync(parts, tmp_path):
    backend = LocalBackend(2)
    result = run_distributed(config(parts, tmp_path / "k2"), backend)
    assert same_arrays(backend.arrays(0), backend.arrays(1))
    m = Model.load(str(tmp_path / "k2"))
    assert same_arrays(backend.arrays(0), (m.w_in, m.w_out, m.bias))
    dist = result.metrics["distributed"]
    assert dist["replicas"] == 2 and dist["full_syncs"] == 2 and dist["rounds"] >= 4 and dist["bytes"] > 0
    assert dist["syncs"] == dist["rounds"]
    recs = records(tmp_path / "k2")
    prog = [r for r in recs if r["event"] == "progress"]
    assert prog and all("sync_bytes" in r and "sync_seconds" in r for r in prog)
    assert [r["epoch"] for r in recs if r["event"] == "epoch"] == [1, 2]
    for name in ("model.npz", "vectors.txt", "vocab.tsv", "metrics.json", "config.yaml", "train.jsonl"):
        assert (tmp_path / "k2" / name).exists()
    assert not (tmp_path / "k2" / "checkpoint.npz").exists()
    seconds = json.loads((tmp_path / "k2" / "metrics.json").read_text())["seconds"]  # the job's phases
    assert set(seconds) == {"cluster", "vocabulary", "train", "write", "evaluate"}
    assert seconds["train"] > 0 and all(v >= 0 for v in seconds.values())


def test_replicas_share_the_corpus_and_the_global_clock(parts, tmp_path):
    """Each replica trains its chunks only; both clocks run over every chunk (the global position)."""
    cfg = config(parts, tmp_path, epochs=1)
    corpus = Corpus(cfg.corpus)
    vocab, _ = build_vocab(corpus, cfg.min_count)
    single = Trainer(cfg, corpus, vocab).run()
    spans = []
    for k in range(2):
        tr = Trainer(cfg, Corpus(cfg.corpus), vocab, track_touched=True, share=trainer_share(k, 2))
        spans.append(tr.run())
        assert tr.state.clock == single.state.clock  # the lr clock: every chunk's words, trained or not
        assert tr.touched().any()
        tr.clear_touched(len(vocab))
        assert not tr.touched().any()
    words = [s.tallies.words for s in spans]
    assert sum(words) == single.tallies.words and min(words) > 0
    assert all(s.epoch_ended for s in spans)


def test_shares_chunks_shrink_with_replicas():
    from w2v_nce.corpus import BLOCK_BYTES
    from w2v_nce.distributed.shares import share_block_bytes

    assert [share_block_bytes(k) for k in (1, 2, 3, 4, 5, 6, 8, 12, 16, 1024)] == [
        BLOCK_BYTES, BLOCK_BYTES, BLOCK_BYTES, BLOCK_BYTES, BLOCK_BYTES * 64 // 125, BLOCK_BYTES * 64 // 216,
        BLOCK_BYTES // 8, 64 << 10, 64 << 10, 64 << 10]
    assert trainer_share(3, 8) == (3, 8, BLOCK_BYTES // 8)
    with pytest.raises(ValueError):
        trainer_share(8, 8)


def test_a_round_is_whole_chunks_of_the_shares_size(tmp_path):
    """K = 8 replicas read 128 KiB chunks: a 2.25 MB corpus is 18 of them (3 at the single-machine
    1 MiB), so replicas 0 and 1 have 3. With a 1-token budget each round trains one chunk per
    replica, and a replica learns that its share has ended in the round after its last chunk:
    3 + 1 rounds (1 + 1 with 1 MiB)."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    lines = [" ".join(rng.choice(words, 20)) for _ in range(int(2.25e6 / 92.7))]
    path = tmp_path / "c.txt"
    path.write_text("\n".join(lines) + "\n")
    assert 17 * (128 << 10) < path.stat().st_size < 18 * (128 << 10)
    run_distributed(config(str(path), tmp_path / "o", epochs=1, round_words=1), LocalBackend(8))
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["distributed"]["rounds"] == 4


def test_round_size_by_replicas_unless_given(parts, tmp_path):
    from w2v_nce.distributed.driver import round_words

    auto = config(parts, tmp_path, round_words=None)
    assert [round_words(auto, k) for k in (1, 2, 4, 5, 8, 16, 1000)] == [4_000_000, 1_000_000, 250_000, 128_000, 31_250,
                                                                      25_000, 25_000]
    assert round_words(config(parts, tmp_path, round_words=777), 8) == 777
    run_distributed(config(parts, tmp_path / "k2", round_words=None), LocalBackend(2))
    metrics = json.loads((tmp_path / "k2" / "metrics.json").read_text())
    assert metrics["distributed"]["round_words"] == 1_000_000
    assert metrics["distributed"]["rounds"] == 2  # the tiny corpus: one round an epoch (2 epochs)


@pytest.mark.parametrize("scale", [False, True])
def test_lr_follows_the_global_schedule_across_rounds(parts, tmp_path, scale):
    run_distributed(config(parts, tmp_path / "k2", alpha=0.05, min_alpha=0.001, replica_lr_scale=scale),
                    LocalBackend(2))
    prog = [r for r in records(tmp_path / "k2") if r["event"] in ("progress", "epoch")]
    words = [r["words"] for r in prog]
    lrs = [r["lr"] for r in prog]
    assert words == sorted(words) and lrs == sorted(lrs, reverse=True)
    metrics = json.loads((tmp_path / "k2" / "metrics.json").read_text())
    total = metrics["vocabulary"]["in_vocab_tokens"] * 2
    f = 2.0 if scale else 1.0
    assert metrics["distributed"]["lr_factor"] == f
    for r in prog:  # linear decay by the global token position, as on one machine (times K with the scale)
        assert r["lr"] == pytest.approx(f * (0.05 - (0.05 - 0.001) * min(r["words"] / total, 1.0)), rel=1e-6)


def test_each_replica_trains_at_k_times_the_lr_with_the_scale(parts, tmp_path):
    from w2v_nce.train import TrainState

    cfg = config(parts, tmp_path, epochs=1, alpha=0.02, min_alpha=0.001)
    vocab, _ = build_vocab(Corpus(cfg.corpus), cfg.min_count)
    for scale, want in ((True, 0.06), (False, 0.02)):
        backend = LocalBackend(3)
        cfg.replica_lr_scale = scale
        backend.start(cfg, vocab, init_model(cfg, vocab), [TrainState() for _ in range(3)])
        assert all(t.cfg.alpha == pytest.approx(want) and t.lr() == pytest.approx(want) for t in backend.trainers)
        backend.close()


def test_interrupt_and_resume_continue_exactly(parts, tmp_path):
    """A checkpoint after round 3 (a full sync), then stop; resume gives the bytes of a run that
    only checkpointed at round 3."""
    def checkpoint_at_3(run):
        if run.sync_totals["rounds"] == 3:
            run.checkpoint_request.set()

    run_distributed(config(parts, tmp_path / "ref"), LocalBackend(2), on_round=checkpoint_at_3)

    def stop_at_3(run):
        if run.sync_totals["rounds"] == 3:
            run.halt.set()

    with pytest.raises(Interrupted):
        run_distributed(config(parts, tmp_path / "cut"), LocalBackend(2), on_round=stop_at_3)
    assert saved_replicas(str(tmp_path / "cut")) == 2
    ck = load_distributed(str(tmp_path / "cut"))
    assert len(ck.states) == 2 and min(s.clock for s in ck.states) > 0  # each replica at its own position
    assert not (tmp_path / "cut" / "vectors.txt").exists()
    with pytest.raises(UsageError, match="--replicas 2"):
        resume_distributed(str(tmp_path / "cut"), LocalBackend(3))
    resume_distributed(str(tmp_path / "cut"), LocalBackend(2))
    assert (tmp_path / "ref" / "vectors.txt").read_bytes() == (tmp_path / "cut" / "vectors.txt").read_bytes()
    prog = [r for r in records(tmp_path / "cut") if r["event"] in ("progress", "epoch")]
    assert [r["words"] for r in prog] == sorted(r["words"] for r in prog)  # the clock continues, never restarts
    assert [r["lr"] for r in prog] == sorted((r["lr"] for r in prog), reverse=True)


def test_a_lost_replica_is_refilled_and_the_job_finishes(parts, tmp_path, capsys):
    backend = LocalBackend(2, fail={3: 1})
    logs: list[str] = []
    result = run_distributed(config(parts, tmp_path / "f"), backend, log=logs.append)
    lost = [r for r in records(tmp_path / "f") if r["event"] == "replica_lost"]
    assert len(lost) == 1 and lost[0]["replica"] == 1 and lost[0]["refilled_from"] == 0
    assert any("replica 1 lost" in line for line in logs)
    assert result.metrics["distributed"]["replicas_lost"] == 1
    assert same_arrays(backend.arrays(0), backend.arrays(1))
    # its share was requeued: every epoch still trained (about) every in-vocab token once
    tokens = result.metrics["vocabulary"]["in_vocab_tokens"]
    assert result.totals.words >= 2 * tokens * 0.99
    m = Model.load(str(tmp_path / "f"))
    assert np.isfinite(m.w_in).all() and m.w_in.shape[0] == result.vocab_size


def test_the_model_starts_from_the_shared_initialisation(parts, tmp_path):
    cfg = config(parts, tmp_path, epochs=1)
    vocab, _ = build_vocab(Corpus(cfg.corpus), cfg.min_count)
    backend = LocalBackend(3)
    model = init_model(cfg, vocab)
    from w2v_nce.train import TrainState

    backend.start(cfg, vocab, model, [TrainState() for _ in range(3)])
    assert same_arrays(backend.arrays(0), backend.arrays(2))
    assert backend.arrays(0)[0] is not backend.arrays(1)[0]  # each replica its own copy
    backend.close()


def test_stdin_is_refused(tmp_path):
    with pytest.raises(UsageError, match="stdin"):
        run_distributed(config("-", tmp_path / "o"), LocalBackend(2))


def test_not_enough_memory_for_the_replicas_is_refused_before_training(parts, tmp_path, monkeypatch):
    from w2v_nce.distributed import local
    from w2v_nce.errors import ResourceError

    monkeypatch.setattr(local, "_available_memory", lambda: 1 << 20)
    with pytest.raises(ResourceError, match="replicas need about") as exc:
        run_distributed(config(parts, tmp_path / "o"), LocalBackend(2))
    assert "\n" not in str(exc.value)
    assert os.listdir(tmp_path / "o") == []  # nothing written


def test_two_replicas_lost_in_one_round_are_refilled_from_the_survivor(parts, tmp_path):
    class TwoLost(LocalBackend):
        def train_round(self, budgets):
            out = super().train_round(budgets)
            if self.rounds == 2:
                from w2v_nce.distributed.driver import ReplicaLost

                out[0] = ReplicaLost(0, "injected")
                out[2] = ReplicaLost(2, "injected")
            return out

    backend = TwoLost(3)
    result = run_distributed(config(parts, tmp_path / "f"), backend)
    lost = [r for r in records(tmp_path / "f") if r["event"] == "replica_lost"]
    assert [(r["replica"], r["refilled_from"]) for r in lost] == [(0, 1), (2, 1)]
    assert same_arrays(backend.arrays(0), backend.arrays(2)) and same_arrays(backend.arrays(1), backend.arrays(2))
    assert result.totals.words >= 2 * result.metrics["vocabulary"]["in_vocab_tokens"] * 0.99
