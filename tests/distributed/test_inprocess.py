"""Replicas on the in-process backend: K = 1 is the single-machine run byte for byte, K = 2
replicas end identical, each replica reads only its own parts (all its threads at once, readers
kept across rounds), the lr clock is the global position (across rounds and a resume),
checkpoints resume exactly (with the same K) or onto another K, a lost replica is refilled and
the job finishes."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest

from tests.conftest import SAMPLE
from w2v_nce.artifact.model import Model
from w2v_nce.config import Config
from w2v_nce.distributed.inprocess import LocalBackend
from w2v_nce.distributed.replica import ReplicaLost
from w2v_nce.errors import Interrupted, UsageError
from w2v_nce.run.checkpoint import load_checkpoint, saved_replicas
from w2v_nce.run.job import resume_training, run_training
from w2v_nce.text.corpus import Corpus
from w2v_nce.train import Trainer, init_model
from w2v_nce.vocabulary.vocab import build_vocab


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
    run_training(config(parts, tmp_path / "k1", **kw), backend=LocalBackend(1))
    for name in ("vectors.txt", "vocab.tsv"):
        assert (tmp_path / "single" / name).read_bytes() == (tmp_path / "k1" / name).read_bytes()
    a, b = Model.load(str(tmp_path / "single")), Model.load(str(tmp_path / "k1"))
    assert same_arrays((a.w_in, a.w_out, a.bias), (b.w_in, b.w_out, b.bias))


def test_two_replicas_are_identical_after_the_final_sync(parts, tmp_path):
    backend = LocalBackend(2)
    result = run_training(config(parts, tmp_path / "k2"), backend=backend)
    assert same_arrays(backend.arrays(0), backend.arrays(1))
    m = Model.load(str(tmp_path / "k2"))
    assert same_arrays(backend.arrays(0), (m.w_in, m.w_out, m.bias))
    dist = result.metrics["distributed"]
    assert dist["replicas"] == 2 and dist["full_syncs"] >= 2 and dist["rounds"] >= 4 and dist["bytes"] > 0  # tiers reach V too
    assert dist["syncs"] == dist["rounds"]
    recs = records(tmp_path / "k2")
    prog = [r for r in recs if r["event"] == "progress"]
    assert prog and all("sync_bytes" in r and "sync_seconds" in r for r in prog)
    assert [r["epoch"] for r in recs if r["event"] == "epoch"] == [1, 2]
    for name in ("model.npz", "vectors.txt", "vocab.tsv", "metrics.json", "config.yaml", "train.jsonl"):
        assert (tmp_path / "k2" / name).exists()
    assert not (tmp_path / "k2" / "checkpoint.npz").exists()
    seconds = json.loads((tmp_path / "k2" / "metrics.json").read_text())["seconds"]  # the job's phases
    assert set(seconds) == {"cluster", "vocabulary", "setup", "train", "write", "evaluate"}
    assert seconds["train"] > 0 and all(v >= 0 for v in seconds.values())


@pytest.mark.parametrize("full_sync, expected", [("epoch", 3), ("end", 1)])
def test_full_sync_end_averages_every_row_only_before_the_outputs(parts, tmp_path, full_sync, expected):
    """3 epochs with a tier base of 1 (the tiers never reach V in this run): --full-sync epoch
    averages every row at each epoch's end, end only after the last; either way the replicas end
    identical and the outputs are that model."""
    backend = LocalBackend(2)
    result = run_training(config(parts, tmp_path / full_sync, epochs=3, sync_base=1, full_sync=full_sync),
                          backend=backend)
    dist = result.metrics["distributed"]
    assert dist["rounds"] < 2 ** 10 and dist["full_syncs"] == expected
    assert same_arrays(backend.arrays(0), backend.arrays(1))
    m = Model.load(str(tmp_path / full_sync))
    assert same_arrays(backend.arrays(0), (m.w_in, m.w_out, m.bias))


def test_each_replica_reads_only_its_own_parts_and_counts_the_clock_k_times(parts, tmp_path):
    """Replica k of 2 reads its half of the corpus (bytes), trains it, and its lr clock advances
    2 per token (the global position's estimate); together they train what one machine does."""
    cfg = config(parts, tmp_path, epochs=1)
    corpus = Corpus(cfg.corpus)
    vocab, _ = build_vocab(corpus, cfg.min_count)
    single = Trainer(cfg, corpus, vocab).run()
    size = sum(os.path.getsize(p) for p in corpus.sources)
    spans = []
    for k in range(2):
        mine = Corpus(cfg.corpus)
        tr = Trainer(cfg, mine, vocab, track_touched=True, replica=(k, 2), clock_scale=2)
        spans.append(tr.run())
        assert tr.state.epoch == 1 and spans[-1].epoch_ended
        assert 0.4 * size < mine.bytes_read <= 0.6 * size  # about corpus / K, never the whole corpus
        assert tr.touched().any()
        tr.clear_touched(len(vocab))
        assert not tr.touched().any()
    words = [s.tallies.words for s in spans]
    assert sum(words) == single.tallies.words and min(words) > 0


def test_every_thread_of_a_replica_trains_at_once(parts, tmp_path):
    """T = 3 threads of a replica of 2 are inside the kernel at the same time in a round (a
    barrier of 3 inside the chunk call: it breaks, and the test fails, if fewer ever run together)."""
    barrier = threading.Barrier(3, timeout=20)
    met = []

    class Counting(Trainer):
        def train_chunk(self, scratch, chunk, clock_start):
            if not met:
                barrier.wait()
                met.append(True)
            super().train_chunk(scratch, chunk, clock_start)

    cfg = config(parts, tmp_path, epochs=1, threads=3)
    corpus = Corpus(cfg.corpus)
    vocab, _ = build_vocab(corpus, cfg.min_count)
    tr = Counting(cfg, corpus, vocab, replica=(1, 2), clock_scale=2, block_bytes=4096)
    assert len(tr.splits) == 3 and [s.index for s in tr.splits] == [3, 4, 5]
    tr.run(budget_words=10**9)
    assert met and not barrier.broken


def test_compressed_parts_are_decompressed_once_an_epoch_across_rounds(tmp_path):
    """Readers stay open across rounds: a directory of .gz files is decompressed once per epoch
    in total, however many rounds the epoch takes (reopening each round would read them again)."""
    import gzip

    text = open(SAMPLE, encoding="utf-8").read()
    d = tmp_path / "gz"
    d.mkdir()
    raw = 0
    for i in range(2):
        data = (text * 2).encode()  # several 256 KiB chunks a file: several rounds inside each file
        raw += len(data)
        with gzip.open(d / f"part{i}.txt.gz", "wb") as fh:
            fh.write(data)
    result = run_training(config(str(d), tmp_path / "o", epochs=2, round_words=500), backend=LocalBackend(2))
    dist = result.metrics["distributed"]
    assert dist["rounds"] >= 2 * 3
    assert dist["bytes_read"] == [2 * raw // 2] * 2  # each replica its file, once an epoch, for two epochs


def test_rounds_by_time_unless_a_token_budget_is_given(parts, tmp_path):
    from w2v_nce.config import resolve

    r = resolve(config(parts, tmp_path, round_words=None), 2)
    assert (r.sync_seconds, r.round_words, r.lr_factor) == (1.0, None, 2.0)  # the scale rule by default
    assert resolve(config(parts, tmp_path, round_words=None), 1).sync_seconds is None  # one machine: no rounds
    assert resolve(config(parts, tmp_path, round_words=777), 8).round_words == 777
    run_training(config(parts, tmp_path / "k2", round_words=None, sync_seconds=0.05), backend=LocalBackend(2))
    metrics = json.loads((tmp_path / "k2" / "metrics.json").read_text())
    assert metrics["distributed"]["sync_seconds"] == 0.05 and metrics["distributed"]["round_words"] is None
    assert metrics["resolved"]["replicas"] == 2 and metrics["resolved"]["sync_seconds"] == 0.05
    assert metrics["distributed"]["rounds"] >= 2


@pytest.mark.parametrize("rule", ["mean", "scale"])
def test_lr_follows_the_global_schedule_across_rounds(parts, tmp_path, rule):
    run_training(config(parts, tmp_path / "k2", alpha=0.05, min_alpha=0.001, replica_rule=rule),
                 backend=LocalBackend(2))
    prog = [r for r in records(tmp_path / "k2") if r["event"] in ("progress", "epoch")]
    words = [r["words"] for r in prog]
    lrs = [r["lr"] for r in prog]
    assert words == sorted(words) and lrs == sorted(lrs, reverse=True)
    metrics = json.loads((tmp_path / "k2" / "metrics.json").read_text())
    total = metrics["vocabulary"]["in_vocab_tokens"] * 2
    f = 2.0 if rule == "scale" else 1.0
    assert metrics["distributed"]["lr_factor"] == f
    for r in prog:  # linear decay by the global token position, as on one machine (times K with the scale)
        assert r["lr"] == pytest.approx(f * (0.05 - (0.05 - 0.001) * min(r["words"] / total, 1.0)), rel=1e-6)


def test_each_replica_trains_at_k_times_the_lr_with_the_scale(parts, tmp_path):
    from w2v_nce.train import TrainState

    cfg = config(parts, tmp_path, epochs=1, alpha=0.02, min_alpha=0.001)
    vocab, _ = build_vocab(Corpus(cfg.corpus), cfg.min_count)
    for rule, want in (("scale", 0.06), ("mean", 0.02)):
        backend = LocalBackend(3)
        cfg.replica_rule = rule
        backend.start(cfg, vocab, init_model(cfg, vocab), [TrainState() for _ in range(3)])
        assert all(t.cfg.alpha == pytest.approx(want) and t.lr() == pytest.approx(want) for t in backend.trainers)
        backend.close()


def test_interrupt_and_resume_continue_exactly(parts, tmp_path):
    """A checkpoint after round 3 (a full sync), then stop; resume gives the bytes of a run that
    only checkpointed at round 3."""
    def checkpoint_at_3(run):
        if run.sync_totals["rounds"] == 3:
            run.checkpoint_request.set()

    run_training(config(parts, tmp_path / "ref"), backend=LocalBackend(2), on_round=checkpoint_at_3)

    def stop_at_3(run):
        if run.sync_totals["rounds"] == 3:
            run.halt.set()

    with pytest.raises(Interrupted):
        run_training(config(parts, tmp_path / "cut"), backend=LocalBackend(2), on_round=stop_at_3)
    assert saved_replicas(str(tmp_path / "cut")) == 2
    ck = load_checkpoint(str(tmp_path / "cut"))
    assert len(ck.states) == 2 and min(s.clock for s in ck.states) > 0  # each replica at its own position
    assert not (tmp_path / "cut" / "vectors.txt").exists()
    resume_training(str(tmp_path / "cut"), backend=LocalBackend(2))
    assert (tmp_path / "ref" / "vectors.txt").read_bytes() == (tmp_path / "cut" / "vectors.txt").read_bytes()
    prog = [r for r in records(tmp_path / "cut") if r["event"] in ("progress", "epoch")]
    assert [r["words"] for r in prog] == sorted(r["words"] for r in prog)  # the clock continues, never restarts
    assert [r["lr"] for r in prog] == sorted((r["lr"] for r in prog), reverse=True)


@pytest.mark.parametrize("k", [1, 3])
def test_a_checkpoint_resumes_with_another_number_of_replicas(parts, tmp_path, k):
    """Each part keeps its position: the parts are handed out to the new replicas, the epoch is
    finished once, and the next epoch is cut for the new K."""
    def stop_at_3(run):
        if run.sync_totals["rounds"] == 3:
            run.halt.set()

    with pytest.raises(Interrupted):
        run_training(config(parts, tmp_path / "cut", epochs=2), backend=LocalBackend(2), on_round=stop_at_3)
    result = resume_training(str(tmp_path / "cut"), backend=LocalBackend(k))
    epochs = [r for r in records(tmp_path / "cut") if r["event"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    m = Model.load(str(tmp_path / "cut"))
    assert result.totals.words == 2 * int(m.counts.sum())  # every in-vocab token once an epoch, none twice
    assert np.isfinite(m.w_in).all() and not (tmp_path / "cut" / "checkpoint.npz").exists()
    assert saved_replicas(str(tmp_path / "cut")) == 1  # no checkpoint left: the default


def test_a_checkpoint_with_a_replica_left_without_parts_resumes(parts, tmp_path):
    """2 parts resumed onto 3 replicas leaves replica 0 without parts: it ends its epoch at once
    and starts the next, cut for K = 3, while the others finish theirs. A checkpoint then holds
    positions of two epochs and two cuts; the position checks must take it, and it resumes again."""
    def stop_at(n):
        def hook(run):
            if run.sync_totals["rounds"] == n:
                run.halt.set()
        return hook

    with pytest.raises(Interrupted):
        run_training(config(parts, tmp_path / "cut", epochs=2), backend=LocalBackend(2), on_round=stop_at(2))
    with pytest.raises(Interrupted):
        resume_training(str(tmp_path / "cut"), backend=LocalBackend(3), on_round=stop_at(4))
    assert saved_replicas(str(tmp_path / "cut")) == 3
    result = resume_training(str(tmp_path / "cut"), backend=LocalBackend(3))
    m = Model.load(str(tmp_path / "cut"))
    assert result.totals.words == 2 * int(m.counts.sum())


def test_a_lost_replica_is_refilled_and_the_job_finishes(parts, tmp_path, capsys):
    backend = LocalBackend(2, fail={3: 1})
    logs: list[str] = []
    result = run_training(config(parts, tmp_path / "f"), backend=backend, log=logs.append)
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
        run_training(config("-", tmp_path / "o"), backend=LocalBackend(2))


def test_not_enough_memory_for_the_replicas_is_refused_before_training(parts, tmp_path, monkeypatch):
    from w2v_nce.errors import ResourceError
    from w2v_nce.run import memory

    monkeypatch.setattr(memory, "available_memory", lambda: 1 << 20)
    with pytest.raises(ResourceError, match="needs? about") as exc:
        run_training(config(parts, tmp_path / "o"), backend=LocalBackend(2))
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "o").exists()  # nothing written: the directory the run made is gone again


def test_two_replicas_lost_in_one_round_are_refilled_from_the_survivor(parts, tmp_path):
    class TwoLost(LocalBackend):
        def train_round(self, plans, stop, tick):
            out = super().train_round(plans, stop, tick)
            if self.rounds == 2:
                out[0] = ReplicaLost(0, "injected")
                out[2] = ReplicaLost(2, "injected")
            return out

    backend = TwoLost(3)
    result = run_training(config(parts, tmp_path / "f"), backend=backend)
    lost = [r for r in records(tmp_path / "f") if r["event"] == "replica_lost"]
    assert [r["replica"] for r in lost] == [0, 2] and lost[0]["refilled_from"] == 1  # the survivor, then any
    assert lost[1]["refilled_from"] in (0, 1)  # healthy replica: 0 was refilled from 1 first
    assert same_arrays(backend.arrays(0), backend.arrays(2)) and same_arrays(backend.arrays(1), backend.arrays(2))
    assert result.totals.words >= 2 * result.metrics["vocabulary"]["in_vocab_tokens"] * 0.99


@pytest.mark.parametrize("k", [2, 3])
def test_a_replica_that_cannot_be_restarted_leaves_its_parts_to_the_others(parts, tmp_path, k):
    """No node has room for the lost replica: the others take its parts from where it was at the
    previous round and the job finishes with K - 1, every token of every epoch trained once."""
    backend = LocalBackend(k, fail={3: 1}, gone={1})
    logs: list[str] = []
    result = run_training(config(parts, tmp_path / "f"), backend=backend, log=logs.append)
    lost = [r for r in records(tmp_path / "f") if r["event"] == "replica_lost"]
    assert len(lost) == 1 and lost[0]["replica"] == 1 and "refilled_from" not in lost[0]
    assert any("not restarted; its parts go to the others" in line for line in logs)
    dist = result.metrics["distributed"]
    assert backend.replicas == k - 1 and dist["replicas"] == k - 1 and dist["replicas_lost"] == 1
    m = Model.load(str(tmp_path / "f"))
    assert result.totals.words == 2 * int(m.counts.sum())
    assert [r["epoch"] for r in records(tmp_path / "f") if r["event"] == "epoch"] == [1, 2]
    assert np.isfinite(m.w_in).all()


def test_the_scale_rules_lr_factor_stops_at_four():
    from w2v_nce.config import REPLICA_LR_MAX, Config, resolve

    assert REPLICA_LR_MAX == 4
    assert [resolve(Config(), k).lr_factor for k in (1, 2, 4, 8, 16, 64)] == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert resolve(Config(replica_rule="mean"), 16).lr_factor == 1.0
    # subwords: null means sqrt (scale diverged with them); the others when asked for
    assert [resolve(Config(subwords=True), k).lr_factor for k in (1, 2, 4, 16)] == [1.0, 2 ** 0.5, 2.0, 2.0]
    assert resolve(Config(subwords=True, replica_rule="scale"), 4).lr_factor == 4.0
    assert resolve(Config(replica_rule="sqrt"), 4).lr_factor == 2.0


@pytest.mark.parametrize("hash_count", [0, 2])
def test_subword_replicas_share_their_ngram_rows_after_every_sync(parts, tmp_path, hash_count):
    """With subwords every touched row, the n-gram rows too (fastText's layout: the table after
    the V word rows; compact: the whole table), is averaged at every sync, whatever the tier
    (a tier base of 1 here): after each round the replicas' models are identical, and the
    outputs are the last one."""
    sub = dict(subwords=True, buckets=3000, minn=3, maxn=5, hash_count=hash_count)
    cfg = config(parts, tmp_path / "run", epochs=2, sync_base=1, full_sync="end", **sub)
    seen, final = [], []

    def check(run):
        a, b = run.backend.arrays(0), run.backend.arrays(1)
        seen.append(same_arrays(a, b))
        if run.epoch >= run.cfg.epochs:  # after the last sync (the outputs then reuse w_out's memory)
            final.extend([[x.copy() for x in a], [x.copy() for x in b]])

    result = run_training(cfg, backend=LocalBackend(2), on_round=check)
    assert len(seen) >= 4 and all(seen)
    assert same_arrays(*final)
    m = Model.load(str(tmp_path / "run"))
    assert same_arrays(final[0], (m.table, m.w_out, m.bias))
    assert m.table.shape[0] == (len(m.words) if hash_count == 0 else 0) + 3000
    assert (np.abs(m.table).max(axis=1) > 0.5 / m.dim).sum() > 100  # n-gram rows trained
    assert result.metrics["distributed"]["bytes"] > 0


def test_a_replica_marks_the_ngram_rows_of_the_words_it_trains(parts, tmp_path):
    """With subwords a trained word marks its w_out row TOUCHED_OUT and its bag's rows (compact
    layout: rows of the table, not its id) TOUCHED_IN: every row marked IN is in the bag of a word
    marked OUT (OUT also marks negatives, so those bags are a superset), and clearing the IN
    bits keeps the OUT ones."""
    from w2v_nce.kernels.records import TOUCHED_IN, TOUCHED_OUT
    from w2v_nce.subwords import SubwordSettings, subword_rows

    cfg = config(parts, tmp_path, epochs=1, subwords=True, buckets=2000, minn=3, maxn=5, hash_count=1, sample=0.0)
    corpus = Corpus(cfg.corpus)
    vocab, _ = build_vocab(corpus, cfg.min_count)
    tr = Trainer(cfg, corpus, vocab, track_touched=True, replica=(0, 2), clock_scale=2)
    tr.run()
    marks = tr.touched()
    assert len(marks) == max(len(vocab), 2000)
    sub = subword_rows(vocab.words, SubwordSettings(3, 5, 2000, 1))
    ins = set(np.flatnonzero(marks & TOUCHED_IN).tolist())
    outs = np.flatnonzero(marks & TOUCHED_OUT)
    bags = {int(r) for w in outs for r in sub.rows[sub.start[w]:sub.start[w + 1]]}
    assert ins and ins <= bags and max(ins) < 2000
    tr.clear_touched(2000, 0, TOUCHED_IN)
    assert not (tr.touched() & TOUCHED_IN).any() and (tr.touched() & TOUCHED_OUT).any()
