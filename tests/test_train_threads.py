"""Parallel reading for training: each worker reads its own part; positions, clock and counts stay exact."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest

from tests.corpora import big_corpus, train_cfg
from w2v_nce.errors import ResumeError
from w2v_nce.kernels.records import T_WORDS
from w2v_nce.stream import id_chunks
from w2v_nce.text.corpus import Corpus
from w2v_nce.text.splits import make_splits
from w2v_nce.train import Trainer, TrainState
from w2v_nce.vocabulary.vocab import build_vocab


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("par")
    path = big_corpus(d / "big.txt", mb=3)
    c = Corpus([path])
    vocab, counted = build_vocab(c, 1)
    return path, c, vocab, counted


def _roundtrip(state: TrainState) -> TrainState:
    return TrainState.from_json(json.loads(json.dumps(state.to_json())), state.rng.copy())


def test_two_workers_train_every_word_once_an_epoch(setup, tmp_path):
    path, c, vocab, counted = setup
    tr = Trainer(train_cfg(path, tmp_path, epochs=2, threads=2), c, vocab)
    assert len(tr.splits) == 2 and tr.state.parts == 2
    for epoch in (1, 2):
        span = tr.run()
        assert span.epoch_ended and tr.state.epoch == epoch
        assert span.tallies.words == vocab.total  # each part's words, once
        assert span.epoch_reader.tokens == counted.tokens  # the per-epoch reader counts add up
        assert span.epoch_reader.stats.bytes == counted.stats.bytes
    assert tr.state.clock == 2 * vocab.total and tr.finished


def test_parts_read_by_one_worker_resume_exactly_mid_epoch(setup, tmp_path):
    """One worker over two given parts is deterministic: spans and a JSON round trip of the
    state (as a checkpoint stores it) continue each other bit for bit."""
    path, c, vocab, _ = setup
    cfg = train_cfg(path, tmp_path, epochs=1, threads=1)
    splits = make_splits(c, 2)
    whole = Trainer(cfg, c, vocab, splits=splits)
    full = whole.run()
    assert full.epoch_ended and full.tallies.words == vocab.total
    cut = Trainer(cfg, c, vocab, splits=splits)
    first = cut.run(budget_words=vocab.total * 3 // 4)  # into the second part
    assert not first.epoch_ended and cut.state.done == [True, False]
    resumed = Trainer(cfg, c, vocab, model=cut.model, state=_roundtrip(cut.state), splits=splits)
    rest = resumed.run()
    assert rest.epoch_ended and first.tallies.words + rest.tallies.words == vocab.total
    np.testing.assert_array_equal(resumed.model.w_in, whole.model.w_in)


def test_a_parallel_checkpoint_resumes_with_another_thread_count(setup, tmp_path):
    """A state saved by two workers mid-epoch: one worker finishes both parts' remainders (no
    word lost or repeated), and the next epoch is cut for one thread."""
    path, c, vocab, counted = setup
    two = Trainer(train_cfg(path, tmp_path, epochs=2, threads=2), c, vocab)
    first = two.run(budget_words=vocab.total // 3)
    assert not first.epoch_ended and len(two.state.streams) == 2
    one = Trainer(train_cfg(path, tmp_path, epochs=2, threads=1), c, vocab, model=two.model,
                  state=_roundtrip(two.state))
    assert len(one.splits) == 2  # the epoch in progress keeps its parts
    rest = one.run()
    assert rest.epoch_ended and first.tallies.words + rest.tallies.words == vocab.total
    assert rest.epoch_reader.tokens == counted.tokens
    assert one.state.parts == 1 and one.state.streams == [] and len(one.splits) == 1
    assert one.run().tallies.words == vocab.total


def test_a_trainer_given_one_split_trains_only_that_part(setup, tmp_path):
    path, c, vocab, _ = setup
    splits = make_splits(c, 3)
    cfg = train_cfg(path, tmp_path, epochs=1, threads=2)
    tr = Trainer(cfg, c, vocab, splits=[splits[1]])
    span = tr.run()
    words = sum(ch.words for ch in id_chunks(c, vocab, cfg.max_sentence_len, split=splits[1]))
    assert span.epoch_ended and span.tallies.words == words and 0 < words < vocab.total
    assert tr.state.parts == 3 and tr.splits == [splits[1]]
    with pytest.raises(ResumeError, match="saved position has 2 parts"):
        Trainer(cfg, c, vocab, state=_roundtrip(Trainer(cfg, c, vocab, splits=splits[:2]).state),
                splits=[splits[0]])


def test_spans_with_two_workers_keep_the_state_exact_and_the_readers_open(setup, tmp_path):
    """A span stopped mid-epoch (as for a checkpoint) leaves state and tallies in agreement; the
    next span continues with the same readers: the epoch reads the corpus once in all."""
    path, c, vocab, counted = setup
    tr = Trainer(train_cfg(path, tmp_path, epochs=1, threads=2), c, vocab)
    stop, read_before = threading.Event(), c.bytes_read

    def on_tick(t):
        if t.state.clock > 0:
            stop.set()

    span = tr.run(stop=stop, on_tick=on_tick, tick_seconds=0.01)
    assert span.stopped and not span.epoch_ended and tr.state.clock == span.tallies.words  # every word handed out trained
    rest = tr.run()
    assert rest.epoch_ended and span.tallies.words + rest.tallies.words == vocab.total
    assert rest.epoch_reader.tokens == counted.tokens
    assert c.bytes_read - read_before == os.path.getsize(path)  # the epoch read the corpus once


def test_held_out_sentences_are_never_trained_on_with_two_parts(setup, tmp_path):
    """Each part chooses its held-out sentences by their place in the part; the job's held-out
    side is read the same way, so the two sides are complementary."""
    path, c, vocab, counted = setup
    cfg = train_cfg(path, tmp_path, epochs=1, threads=2, holdout_fraction=0.2)
    tr = Trainer(cfg, c, vocab)
    trained = tr.run().tallies.words
    held = sum(ch.words for s in tr.splits
               for ch in id_chunks(c, vocab, cfg.max_sentence_len, holdout=0.2, heldout_side=True, split=s))
    assert trained + held == vocab.total and 0.1 < held / vocab.total < 0.3
    assert tr.state.parts == 2  # with holdout the parts stay for the whole run


def test_the_job_trains_with_two_workers(setup, tmp_path):
    from w2v_nce.run.job import run_training

    path, *_ = setup
    res = run_training(train_cfg(path, tmp_path / "out", epochs=2, threads=2, holdout_fraction=0.1))
    epochs = res.metrics["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2] and all("heldout_loss" in e for e in epochs)
    assert epochs[0]["reader"]["tokens"] == epochs[1]["reader"]["tokens"] == res.metrics["vocabulary"]["tokens"]


def test_one_compressed_file_still_keeps_every_worker_busy(tmp_path):
    """A single .gz cannot be cut: it is one part, and the workers share its chunks."""
    import gzip

    from tests.corpora import big_corpus
    from w2v_nce.config import Config
    from w2v_nce.text.corpus import Corpus
    from w2v_nce.train import Trainer
    from w2v_nce.vocabulary.vocab import build_vocab

    plain = big_corpus(tmp_path / "big.txt", mb=4)
    gz = tmp_path / "big.txt.gz"
    with open(plain, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
        dst.write(src.read())
    cfg = Config(corpus=[str(gz)], dim=8, window=2, min_count=1, epochs=1, threads=2, loss="neg", num_sampled=2,
                 quiet=True)
    c = Corpus([str(gz)])
    vocab, _ = build_vocab(c, 1)
    trainer = Trainer(cfg, c, vocab)
    assert sum(1 for s in trainer.splits if s.pieces) == 1
    span = trainer.run()
    assert span.epoch_ended and span.tallies.words == vocab.total
    per_worker = trainer.worker_rows()[:, T_WORDS]
    assert np.all(per_worker > 0), per_worker


def test_worker_seconds_split_each_workers_time(setup, tmp_path):
    """Each worker's wall time in run() holds its kernel and dispatcher time; the kernels take
    most of it (the serial share is what docs/benchmarks.md projects to many threads)."""
    path, c, vocab, _ = setup
    tr = Trainer(train_cfg(path, tmp_path, epochs=1, threads=2), c, vocab)
    assert not tr.worker_seconds().any()
    tr.run()
    secs = tr.worker_seconds()
    wall, kernel, dispatch, dispatch_cpu = secs.T
    assert secs.shape == (2, 4) and (kernel > 0).all() and (dispatch > 0).all() and (dispatch_cpu > 0).all()
    assert (kernel + dispatch <= wall + 1e-6).all()
    assert kernel.sum() > 0.5 * wall.sum()
    tr.run()  # a span of a fresh epoch adds to the sums
    assert (tr.worker_seconds()[:, 0] > wall).all()
