"""The driver's early count (``run.vocabulary.EarlyCount``): a corpus of one part is counted on a thread
while the cluster starts. Its result is the single-machine count; it stops on request, gives None
when the count must spill, and a halt while waiting is ``Interrupted``."""

from __future__ import annotations

import gzip
import os
import threading

import pytest

from tests.conftest import SAMPLE
from w2v_nce.config import Config
from w2v_nce.errors import Interrupted
from w2v_nce.run.prepare import Signals
from w2v_nce.run.vocabulary import EarlyCount
from w2v_nce.text.corpus import Corpus
from w2v_nce.vocabulary.count import count_words
from w2v_nce.vocabulary.vocab import build_vocab, vocab_from_count


@pytest.fixture()
def gz(tmp_path):
    path = tmp_path / "sample.txt.gz"
    with open(SAMPLE, "rb") as src, gzip.open(path, "wb") as dst:
        dst.write(src.read() * 3)
    return str(path)


def cfg(corpus: str, **kw) -> Config:
    return Config(corpus=[corpus], output="unused", min_count=2, quiet=True, **kw)


def test_the_early_count_is_the_single_machine_count(gz):
    corpus = Corpus([gz])
    got = EarlyCount(cfg(gz), corpus).result(threading.Event(), Signals(threading.Event(), False))
    want = count_words(Corpus([gz]))
    assert got.tokens == want.tokens and got.distinct == want.distinct
    a, _ = build_vocab(Corpus([gz]), 2)
    b = vocab_from_count(corpus, got, 2, 0, cfg(gz).max_token_bytes)
    assert list(a.words) == list(b.words) and list(a.counts) == list(b.counts)


def test_a_count_that_must_spill_gives_none(tmp_path):
    path = tmp_path / "many.txt.gz"
    with gzip.open(path, "wt") as fh:  # 40k distinct words: the first table (32k words) must grow
        fh.write(" ".join(f"w{i}" for i in range(40_000)) + "\n")
    early = EarlyCount(cfg(str(path), count_memory=200_000), Corpus([str(path)]))
    assert early.result(threading.Event(), Signals(threading.Event(), False)) is None
    early = EarlyCount(cfg(str(path), count_memory=64 << 20), Corpus([str(path)]))
    assert early.result(threading.Event(), Signals(threading.Event(), False)).distinct == 40_000


def test_a_halt_while_waiting_is_interrupted_and_stops_the_count(gz, monkeypatch):
    from w2v_nce.run import vocabulary as run_vocabulary

    gate = threading.Event()
    real = run_vocabulary.count_splits

    def slow(*args, progress=None, **kw):
        gate.wait(10)
        return real(*args, progress=progress, **kw)

    monkeypatch.setattr(run_vocabulary, "count_splits", slow)
    halt = threading.Event()
    early = EarlyCount(cfg(gz), Corpus([gz]))
    halt.set()
    threading.Timer(0.2, gate.set).start()  # the count gets going while the wait is being stopped
    with pytest.raises(Interrupted, match="counting the vocabulary"):
        early.result(halt, Signals(halt, False))
    assert early.ended(10)
    assert early.counted is None  # stopped between blocks, not counted to the end


@pytest.mark.parametrize("bad", ["utf16", "broken_link"])
def test_the_vocab_command_checks_the_corpus_as_train_does(tmp_path, bad):
    """`w2v-nce vocab` wrote a vocabulary of NUL-laced words from UTF-16 text (exit 0), and a
    broken symbolic link in a corpus directory ended in a traceback."""
    from tests.conftest import run_cli

    d = tmp_path / "d"
    d.mkdir()
    text = "the cat sat on the mat\n" * 50
    if bad == "utf16":
        (d / "a.txt").write_bytes(text.encode("utf-16"))
    else:
        (d / "a.txt").write_text(text)
        (d / "b.txt").symlink_to(tmp_path / "nowhere")
    r = run_cli("vocab", d, "-o", tmp_path / "v.tsv")
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    assert ("UTF-16" if bad == "utf16" else "broken symbolic link") in r.output
    assert not (tmp_path / "v.tsv").exists()


def test_the_vocab_command_refuses_a_corpus_changed_while_it_counted(tmp_path, monkeypatch):
    """It wrote a vocab.tsv of part of the file, exit 0; train refused the same."""
    from tests.corpora import big_corpus
    from w2v_nce.errors import CorpusError
    from w2v_nce.run import vocabulary as run_vocabulary

    corpus = big_corpus(tmp_path / "big.txt", mb=1)
    real = run_vocabulary.count_corpus

    def count_then_truncate(*a, **kw):
        out = real(*a, **kw)
        os.truncate(corpus, 1000)
        return out

    monkeypatch.setattr(run_vocabulary, "count_corpus", count_then_truncate)
    with pytest.raises(CorpusError, match="changed while it was counted"):
        run_vocabulary.write_vocabulary(Config(corpus=[str(corpus)]), str(tmp_path / "v.tsv"), log=lambda m: None)
    assert not (tmp_path / "v.tsv").exists()


def test_split_into_more_parts_than_files_can_be_opened_is_one_line(tmp_path, monkeypatch):
    import builtins
    import errno

    from w2v_nce.errors import OutputError
    from w2v_nce.text.corpus import Corpus
    from w2v_nce.text.partition import split_corpus

    src = tmp_path / "c.txt"
    src.write_text("a b c\n" * 100)
    real_open, opened = builtins.open, []

    def limited_open(path, *a, **kw):
        if "part-" in str(path):
            if len(opened) >= 3:
                raise OSError(errno.EMFILE, "Too many open files")
            opened.append(path)
        return real_open(path, *a, **kw)

    monkeypatch.setattr(builtins, "open", limited_open)
    with pytest.raises(OutputError, match="cannot open part 4 of 10.*ulimit -n"):
        split_corpus(Corpus([str(src)]), str(tmp_path / "parts"), 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]  # no parts, no temp directory


def test_sighup_stops_a_run_as_sigterm_does():
    """A closed terminal or ssh session: it used to kill the run without a word, lock left behind."""
    import signal
    import time

    halt = threading.Event()
    with Signals(halt, True) as sig:
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(0.05)
        assert halt.is_set() and sig.signum == signal.SIGHUP
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL
