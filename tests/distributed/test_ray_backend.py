"""Distributed training on a real local Ray (``ray.init(num_cpus=2)``): the vocabulary (counted by
the actors) and K = 1 are the single-machine run's, K = 2 replicas end identical, a replica's process killed mid-run
does not end the job, and bad clusters are one-line errors before anything is written.

Needs the ray extra (``pip install -e '.[test,ray]'``); without it this module fails to import
rather than being skipped."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import ray

from tests.conftest import SAMPLE
from w2v_nce.artifact.model import Model
from w2v_nce.config import Config
from w2v_nce.distributed.ray_backend import RayBackend
from w2v_nce.errors import ClusterError
from w2v_nce.run.job import run_training
from w2v_nce.text.corpus import Corpus

pytestmark = pytest.mark.ray



@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 << 20, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def single(parts, tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    run_training(config(parts, out))
    return out


def config(corpus: str, out, **kw) -> Config:
    base = dict(corpus=[corpus], output=str(out), dim=16, window=3, min_count=2, epochs=2, num_sampled=5,
                batch_size=16, threads=1, quiet=True, checkpoint_every=0, round_words=5000, progress_every=0.001)
    base.update(kw)
    return Config(**base)


class Final:
    """on_round hook: the replicas' matrices after the last round's sync (before the actors go)."""

    def __init__(self):
        self.arrays = None

    def __call__(self, run):
        if run.epoch >= run.cfg.epochs:
            self.arrays = [run.backend.arrays(k) for k in range(run.backend.replicas)]


def test_one_actor_is_the_single_machine_run_byte_for_byte(cluster, parts, single, tmp_path):
    run_training(config(parts, tmp_path / "r1"), backend=RayBackend("auto", 1))
    for name in ("vectors.txt", "vocab.tsv"):
        assert (single / name).read_bytes() == (tmp_path / "r1" / name).read_bytes()


def test_two_actors_end_identical_with_the_same_vocabulary(cluster, parts, single, tmp_path, monkeypatch):
    from w2v_nce.run import vocabulary as run_vocabulary

    def driver_counts(*_, **__):
        raise AssertionError("the driver counted: the actors should have")

    monkeypatch.setattr(run_vocabulary, "count_corpus", driver_counts)  # the actors count, each over its splits
    monkeypatch.setattr(run_vocabulary, "EARLY_COUNT_BYTES", 0)  # as they do a corpus past the early-count size

    def no_early_count(*a, **kw):
        raise AssertionError("the driver counted early: the actors should have")

    monkeypatch.setattr(run_vocabulary.EarlyCount, "__init__", no_early_count)
    final = Final()
    result = run_training(config(parts, tmp_path / "r2"), backend=RayBackend("auto", 2), on_round=final)
    assert (single / "vocab.tsv").read_bytes() == (tmp_path / "r2" / "vocab.tsv").read_bytes()
    a, b = final.arrays
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    m = Model.load(str(tmp_path / "r2"))
    assert np.array_equal(m.w_in, a[0])
    dist = result.metrics["distributed"]
    assert dist["backend"] == "ray" and dist["replicas"] == 2 and dist["bytes"] > 0 and dist["full_syncs"] >= 2


@pytest.mark.parametrize("how", ["in_a_span", "in_a_sync", "between_rounds", "hung_in_a_span", "hung_in_a_sync"])
def test_a_killed_actor_does_not_end_the_job(cluster, parts, tmp_path, how):
    """The process is SIGKILLed: at the end of its span (before answering), as a sync starts (its
    peers wait for its rows among themselves: the driver aborts them), or by the test between two
    rounds; or it stops (SIGSTOP, a hung node) after its span or in a sync: the timeout makes it a
    lost replica, killed and restarted, not a hang."""
    final = Final()
    fail = {"in_a_span": {3: (1, "run")}, "in_a_sync": {4: (1, "sync")}, "hung_in_a_span": {3: (1, "hang")},
            "hung_in_a_sync": {4: (1, "sync_hang")}}.get(how)
    backend = RayBackend("auto", 2, fail=fail, round_timeout=15.0)

    def kill_between(run):
        final(run)
        if how == "between_rounds" and run.sync_totals["rounds"] == 2:
            os.kill(ray.get(run.backend.actors[0].pid.remote()), signal.SIGKILL)

    logs: list[str] = []
    result = run_training(config(parts, tmp_path / "k", quiet=False), backend=backend, on_round=kill_between,
                             log=logs.append)
    events = [json.loads(x) for x in open(tmp_path / "k" / "train.jsonl")]
    lost = [e for e in events if e["event"] == "replica_lost"]
    assert len(lost) == 1 and lost[0]["replica"] == (0 if how == "between_rounds" else 1)
    assert any("lost" in line for line in logs)
    assert ("round timeout" in lost[0]["reason"]) == (how == "hung_in_a_span")
    assert ("stopped answering" in lost[0]["reason"]) == (how == "hung_in_a_sync")
    assert result.metrics["distributed"]["replicas_lost"] == 1
    a, b = final.arrays
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]
    assert result.totals.words >= 2 * result.metrics["vocabulary"]["in_vocab_tokens"] * 0.99  # the share requeued
    m = Model.load(str(tmp_path / "k"))
    assert np.isfinite(m.w_in).all()


def test_more_replicas_than_the_cluster_can_place(cluster, parts, tmp_path):
    with pytest.raises(ClusterError, match="cannot be placed") as exc:
        run_training(config(parts, tmp_path / "o", threads=1), backend=RayBackend("auto", 3))
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "o").exists()  # nothing written


def test_a_node_that_cannot_read_the_corpus(cluster, parts, tmp_path):
    backend = RayBackend("auto", 1)
    try:
        with pytest.raises(ClusterError, match="cannot read the corpus|different corpus") as exc:
            other = tmp_path / "other.txt"
            other.write_text("not the corpus\n")
            backend.open(config(parts, tmp_path / "o"), Corpus([str(other)]))
        assert "node " in str(exc.value) and "\n" not in str(exc.value)
    finally:
        backend.close()


def test_an_unreachable_head_is_one_line_before_anything(parts, tmp_path):
    with pytest.raises(ClusterError, match="cannot reach the Ray head") as exc:
        run_training(config(parts, tmp_path / "o"), backend=RayBackend("127.0.0.1:9", 2))
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "o").exists()


def test_an_actor_checks_its_nodes_memory_before_allocating(parts, tmp_path, monkeypatch):
    """The actor's own checks, run as the plain class it is (Ray wraps it unchanged)."""
    from w2v_nce.distributed.ray_backend import ReplicaActor
    from w2v_nce.run import memory
    from w2v_nce.text.corpus import Corpus
    from w2v_nce.train import TrainState

    cfg = config(parts, tmp_path / "o")
    actor = ReplicaActor(0, 2, cfg.to_dict(), 1)
    monkeypatch.setattr(memory, "available_memory", lambda: 1 << 20)
    words, counts = ["a", "b", "c"], [3, 2, 1]
    problem = actor.start((words, counts, 6), (np.zeros((3, 16), np.float32),) * 2 + (np.zeros(3, np.float32),),
                          TrainState().to_json(), None, 0, 2, cfg.to_dict())
    assert "training needs about" in problem and "node " in problem and "\n" not in problem and actor.trainer is None
    assert actor.check_corpus(Corpus(cfg.corpus).fingerprint()) is None


def test_a_run_interrupted_in_process_resumes_on_ray_exactly(cluster, parts, tmp_path):
    """A checkpoint is every replica's position: it continues on another backend with the same bytes."""
    from w2v_nce.distributed.inprocess import LocalBackend
    from w2v_nce.errors import Interrupted
    from w2v_nce.run.job import resume_training

    def at_round_3(action):
        def hook(run):
            if run.sync_totals["rounds"] == 3:
                getattr(run, action).set()
        return hook

    run_training(config(parts, tmp_path / "ref"), backend=LocalBackend(2), on_round=at_round_3("checkpoint_request"))
    with pytest.raises(Interrupted):
        run_training(config(parts, tmp_path / "cut"), backend=LocalBackend(2), on_round=at_round_3("halt"))
    resume_training(str(tmp_path / "cut"), backend=RayBackend("auto", 2))
    assert (tmp_path / "ref" / "vectors.txt").read_bytes() == (tmp_path / "cut" / "vectors.txt").read_bytes()


def test_a_single_compressed_file_is_counted_by_the_driver_while_the_cluster_starts(cluster, tmp_path, monkeypatch):
    """One .gz cannot be cut: the driver counts it on a thread during ``open`` (no actor counts),
    and the vocabulary and K = 1 vectors are the single-machine run's, byte for byte."""
    import gzip

    from w2v_nce.run import vocabulary as run_vocabulary

    gz = tmp_path / "sample.txt.gz"
    with open(SAMPLE, "rb") as src, gzip.open(gz, "wb") as dst:
        dst.write(src.read())
    run_training(config(str(gz), tmp_path / "single"))  # before count_corpus is patched

    def actors_count(*_, **__):
        raise AssertionError("an actor counted a one-part corpus: the driver should have, during open")

    def driver_counts_after(*_, **__):
        raise AssertionError("the driver's counting pass ran: the early count should have been used")

    monkeypatch.setattr(RayBackend, "count", actors_count)
    monkeypatch.setattr(run_vocabulary, "count_corpus", driver_counts_after)
    result = run_training(config(str(gz), tmp_path / "r1"), backend=RayBackend("auto", 1))
    for name in ("vocab.tsv", "vectors.txt"):
        assert (tmp_path / "single" / name).read_bytes() == (tmp_path / "r1" / name).read_bytes()
    assert result.metrics["vocabulary"]["tokens"] == json.load(open(tmp_path / "single" / "metrics.json"))["vocabulary"]["tokens"]


def test_a_small_split_corpus_is_counted_by_the_driver_while_the_cluster_starts(cluster, parts, single, tmp_path,
                                                                               monkeypatch):
    """Up to ``EARLY_COUNT_BYTES`` a corpus the actors could share is counted by the driver during
    ``open`` (hidden by the cluster's start), with the single-machine vocabulary."""
    from w2v_nce.run import vocabulary as run_vocabulary

    def actors_count(*_, **__):
        raise AssertionError("the actors counted a small corpus: the driver should have, during open")

    monkeypatch.setattr(RayBackend, "count", actors_count)
    assert run_vocabulary.counts_early(Corpus([parts]))
    run_training(config(parts, tmp_path / "r2"), backend=RayBackend("auto", 2))
    assert (single / "vocab.tsv").read_bytes() == (tmp_path / "r2" / "vocab.tsv").read_bytes()


def test_a_cluster_error_stops_the_early_count(tmp_path):
    """The early count runs beside ``open``: an unreachable head ends the job and the count with it."""
    import gzip
    import threading

    gz = tmp_path / "sample.txt.gz"
    with open(SAMPLE, "rb") as src, gzip.open(gz, "wb") as dst:
        dst.write(src.read() * 4)
    with pytest.raises(ClusterError, match="cannot reach the Ray head"):
        run_training(config(str(gz), tmp_path / "o"), backend=RayBackend("127.0.0.1:9", 2))
    assert not [t for t in threading.enumerate() if t.name == "w2v-nce-count" and t.is_alive()]
    assert not (tmp_path / "o").exists()


def test_an_actor_that_hangs_while_the_replicas_start_is_an_error_not_a_wait(cluster, parts, tmp_path, monkeypatch):
    """The driver waited without a bound for the actors to build their models: one hung node (here
    an actor stopped with SIGSTOP) held the job forever. Now the round timeout bounds it."""
    from w2v_nce.errors import ClusterError

    backend = RayBackend("auto", 2, round_timeout=10.0)  # checking the corpus, before, must fit in it too
    start, stopped = RayBackend.start, []

    def stop_one_then_start(self, *args):
        stopped.append(ray.get(self.actors[1].pid.remote()))
        os.kill(stopped[0], signal.SIGSTOP)
        return start(self, *args)

    monkeypatch.setattr(RayBackend, "start", stop_one_then_start)
    try:
        with pytest.raises(ClusterError, match="did not all answer within 10 s \\(building their models\\)"):
            run_training(config(parts, tmp_path / "h"), backend=backend)
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        for a in backend.actors:
            ray.kill(a, no_restart=True)


def test_an_actor_that_does_not_come_back_leaves_its_parts_to_the_others(cluster, parts, tmp_path, monkeypatch):
    """An actor killed for good (its node gone: Ray cannot restart it): after RESTART_SECONDS the
    job goes on with the other actor, which takes its parts, and finishes."""
    from w2v_nce.distributed import ray_backend

    monkeypatch.setattr(ray_backend, "RESTART_SECONDS", 1.0)
    backend = RayBackend("auto", 2)

    def kill_for_good(run):
        if run.sync_totals["rounds"] == 2 and run.K == 2:
            pid = ray.get(run.backend.actors[1].pid.remote())
            ray.kill(run.backend.actors[1], no_restart=True)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    result = run_training(config(parts, tmp_path / "g"), backend=backend, on_round=kill_for_good)
    lost = [json.loads(x) for x in open(tmp_path / "g" / "train.jsonl") if '"replica_lost"' in x]
    assert len(lost) == 1 and lost[0]["replica"] == 1 and "refilled_from" not in lost[0]
    assert result.metrics["distributed"]["replicas"] == 1 and backend.replicas == 1
    assert result.totals.words == 2 * int(Model.load(str(tmp_path / "g")).counts.sum())


def test_a_full_sync_streams_in_stretches_with_the_same_result(cluster, parts, tmp_path, monkeypatch):
    """A stretch of 100 rows at a time (instead of 256 MB): the same vectors as one stretch."""
    from w2v_nce.distributed import sync

    run_training(config(parts, tmp_path / "one"), backend=RayBackend("auto", 2))
    monkeypatch.setattr(sync, "SYNC_STREAM_BYTES", 100 * (2 * 16 + 1) * 4)
    run_training(config(parts, tmp_path / "many"), backend=RayBackend("auto", 2))
    assert (tmp_path / "one" / "vectors.txt").read_bytes() == (tmp_path / "many" / "vectors.txt").read_bytes()


def test_a_replica_whose_weights_explode_stops_the_job(cluster, tmp_path):
    """The driver cannot probe an actor's rows: the actor does, after each span, so a run that
    explodes without overflowing (lines of one token repeated thousands of times) is a
    DivergenceError on Ray too, not vectors written from a loss of 1e33."""
    from w2v_nce.errors import DivergenceError

    lines = open(SAMPLE, encoding="utf-8").read().splitlines()
    text = [row for i, line in enumerate(lines) for row in ([line, " ".join(["\u2550" * 3] * 9000)] if i % 500 == 0
                                                           else [line])]
    corpus = tmp_path / "tables.txt"
    corpus.write_text("\n".join(text) + "\n", encoding="utf-8")
    cfg = Config(corpus=[str(corpus)], output=str(tmp_path / "out"), threads=1, epochs=1, quiet=True, checkpoint_every=0)
    with pytest.raises(DivergenceError, match="diverged on replica 0"):
        run_training(cfg, backend=RayBackend("auto", 1))
    assert not (tmp_path / "out" / "vectors.txt").exists()


@pytest.mark.parametrize("hash_count", [0, 1])
def test_two_actors_train_a_subword_model_and_end_identical(cluster, parts, tmp_path, hash_count):
    """--subwords on Ray, both layouts: the actors average every touched row at every sync (the
    n-gram rows too), end identical, and the outputs are that model."""
    final = Final()
    run_training(config(parts, tmp_path / "sub", subwords=True, buckets=3000, minn=3, maxn=5, hash_count=hash_count),
                 backend=RayBackend("auto", 2), on_round=final)
    a, b = final.arrays
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    m = Model.load(str(tmp_path / "sub"))
    first = len(m.words) if hash_count == 0 else 0  # the n-gram rows' first row
    assert m.table.shape == (first + 3000, m.dim) and np.array_equal(m.table, a[0])
    assert (np.abs(m.table[first:]).max(axis=1) > 0.5 / m.dim).sum() > 100  # n-gram rows trained


@pytest.mark.parametrize("layout", [{}, {"subwords": True}, {"subwords": True, "hash_count": 1}])
def test_the_driver_pulls_a_replicas_model_a_stretch_at_a_time(cluster, parts, tmp_path, monkeypatch, layout):
    """Checkpoints and outputs take replica 0's matrices in ``sync.stretches`` (here 100 rows
    each), never as one object of the whole model: the same arrays as the actor holds, for the
    word-only table and both subword layouts (their input tables are longer than V)."""
    from w2v_nce.distributed import sync

    monkeypatch.setattr(sync, "SYNC_STREAM_BYTES", 100 * (2 * 16 + 1) * 4)
    seen = {}

    def pull(run):
        if run.epoch >= run.cfg.epochs and not seen:
            seen["whole"] = ray.get(run.backend.actors[0].arrays.remote())
            got, real_get = [], ray.get
            monkeypatch.setattr(ray, "get", lambda *a, **kw: got.append(real_get(*a, **kw)) or got[-1])
            seen["pulled"] = run.backend.arrays(0)
            monkeypatch.setattr(ray, "get", real_get)
            seen["largest"] = max(len(x) for answer in got for block in answer if isinstance(block, tuple)
                                  for x in block)
            seen["stretches"] = sync.stretches(run.backend.vocab_size, run.backend.vocab_size,
                                               run.cfg.subword_settings(), run.cfg.dim)

    sub = dict(buckets=3000, minn=3, maxn=5) if layout else {}
    run_training(config(parts, tmp_path / "o", epochs=1, **layout, **sub), backend=RayBackend("auto", 2), on_round=pull)
    assert len(seen["stretches"]) >= 4 and seen["largest"] == 100  # no answer held more than a stretch
    assert [a.shape for a in seen["pulled"]] == [a.shape for a in seen["whole"]]
    assert all(np.array_equal(a, b) for a, b in zip(seen["pulled"], seen["whole"]))
    assert np.array_equal(Model.load(str(tmp_path / "o")).input_table(), seen["whole"][0])
