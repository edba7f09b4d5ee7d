"""--init: continued training from a finished run, or a start from a word2vec file's vectors."""

import hashlib
import json
import os

import numpy as np
import pytest

from tests.conftest import REPO, run_cli
from tests.corpora import planted_corpus
from w2v_nce.artifact.model import Model
from w2v_nce.config import Config
from w2v_nce.run.init import initial_model, merge_vocab
from w2v_nce.vocabulary.vocab import Vocab

TINY = f"{REPO}/configs/tiny.yaml"


def test_merge_keeps_old_words_sums_counts_and_applies_min_count_to_new_ones():
    merged = merge_vocab(["the", "cat", "sat"], np.array([50, 10, 3]), ["cat", "dog", "emu", "the"],
                         np.array([45, 7, 1, 2]), min_count=2)
    assert merged.words == ["cat", "the", "dog", "sat"]  # by combined count: 55, 52, 7, 3
    assert merged.counts.tolist() == [55, 52, 7, 3]  # emu: 1 < min_count in the new text, dropped
    tie = merge_vocab(["a", "b"], np.array([5, 5]), ["c", "a"], np.array([5, 0]), min_count=1)
    assert tie.words == ["a", "b", "c"]  # ties: old words first, in their order, then new ones
    # an epoch reads the new text only: its counts of the merged words clock the lr, not old + new
    assert merged.epoch_words == 45 + 7 + 2 and merged.total == 117
    keep = merge_vocab(["the", "cat"], np.array([50, 10]), ["cat", "dog"], np.array([45, 7]), 1, "keep")
    assert keep.epoch_words == 45  # dog is not in the vocabulary: never trained
    replace = merge_vocab(["the", "cat"], np.array([50, 10]), ["cat", "dog"], np.array([45, 7]), 1, "replace")
    assert replace.epoch_words == 52 and replace.total == 62


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(tmp_path, name, corpus, *extra):
    r = run_cli("train", corpus, "-c", TINY, "-o", tmp_path / name, "--min-count", "1", "--seed", "1",
                "--threads", "1", "--quiet", *extra)
    assert r.exit_code == 0, r.output
    return tmp_path / name


def test_a_continued_run_starts_from_the_old_rows(tmp_path):
    old = Model.load(str(_run(tmp_path, "old", planted_corpus(tmp_path / "a.txt", lines=200, seed=1))))
    new_text = tmp_path / "b.txt"
    new_text.write_text("a1 a2 zebra zebra quagga\n" * 20)
    cfg = Config(corpus=[str(new_text)], dim=old.w_in.shape[1], min_count=2, init=str(tmp_path / "old"))
    vocab, model, note, lineage = initial_model(cfg, Vocab(["a1", "zebra", "a2", "quagga"], np.array([20, 40, 20, 20])))
    assert set(model.words) == set(old.words) | {"zebra", "quagga"} and "from scratch" in note
    assert lineage == {"path": str(tmp_path / "old"), "sha256": _sha256(tmp_path / "old" / "model.npz")}
    for w in ("a1", "b3", "x"):
        i, j = model.words.index(w), old.words.index(w)
        np.testing.assert_array_equal(model.w_in[i], old.w_in[j])
        np.testing.assert_array_equal(model.w_out[i], old.w_out[j])
        assert model.bias[i] == old.bias[j]
    assert list(vocab.counts) == sorted(vocab.counts, reverse=True)  # frequency order kept


def test_train_with_init_writes_lineage_and_resumes_identically(tmp_path):
    from tests.corpora import big_corpus
    from tests.run.test_job import _halt_after_first_chunk
    from w2v_nce.errors import Interrupted
    from w2v_nce.run.job import resume_training, run_training

    old = _run(tmp_path, "old", planted_corpus(tmp_path / "a.txt", lines=300, seed=1))
    corpus = big_corpus(tmp_path / "big.txt", mb=2)
    read = _sha256(old / "model.npz")
    full = _run(tmp_path, "full", corpus, "--init", old)
    metrics = json.loads((full / "metrics.json").read_text())
    assert metrics["init"] == {"path": str(old), "sha256": read}
    merged = len(Model.load(str(full)).words)  # the old words and the new: more than the new text's alone
    assert metrics["vocabulary"]["words"] == merged > len(Model.load(str(old)).words)
    assert "init:" in (full / "config.yaml").read_text()
    assert metrics["resolved"]["lr_factor"] == 0.5  # the lr restarts at init_lr_scale x alpha
    records = [json.loads(line) for line in (full / "train.jsonl").read_text().splitlines()]
    assert records[0]["lr"] <= 0.5 * 0.025
    # the schedule spans the new text's epochs (the merged counts also hold the old run's): the
    # lr ends at its floor, as a fresh run's does (it ended near half the start before)
    ends = [r["lr"] for r in records if r["event"] == "epoch"]
    assert ends[-1] == pytest.approx(0.5 * 0.0001) and ends[0] > ends[-1]
    assert metrics["vocabulary"]["in_vocab_tokens"] < Model.load(str(full)).counts.sum()
    mp = pytest.MonkeyPatch()
    try:
        halt = _halt_after_first_chunk(mp)
        cfg = Config(corpus=[corpus], output=str(tmp_path / "cut"), dim=8, window=2, min_count=1, epochs=3,
                     threads=1, seed=1, quiet=True, init=str(old), checkpoint_every=0)
        from w2v_nce.config import load_yaml, merge
        cfg = merge(merge(Config(), load_yaml(TINY), TINY), {k: v for k, v in cfg.to_dict().items()
                                                              if k in ("corpus", "output", "min_count", "threads",
                                                                       "seed", "quiet", "init", "checkpoint_every")},
                    "test")
        with pytest.raises(Interrupted):
            run_training(cfg, halt=halt)
    finally:
        mp.undo()
    (old / "model.npz").write_bytes(b"replaced after the run read it")  # the lineage is what was read
    resume_training(str(tmp_path / "cut"))
    assert (tmp_path / "cut" / "vectors.txt").read_bytes() == (full / "vectors.txt").read_bytes()
    assert json.loads((tmp_path / "cut" / "metrics.json").read_text())["init"]["sha256"] == read


def test_init_from_a_word2vec_file_and_bad_inits_are_one_line(tmp_path):
    old = _run(tmp_path, "old", planted_corpus(tmp_path / "a.txt", lines=200, seed=1))
    assert run_cli("export", old, "-o", tmp_path / "v.txt").exit_code == 0
    run = _run(tmp_path, "w2v", planted_corpus(tmp_path / "b.txt", lines=200, seed=2), "--init", tmp_path / "v.txt")
    assert json.loads((run / "metrics.json").read_text())["init"]["path"] == str(tmp_path / "v.txt")
    r = run_cli("train", tmp_path / "b.txt", "-c", TINY, "-o", tmp_path / "x", "--init", old, "--dim", "12")
    assert r.exit_code == 2 and "pass --dim" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()  # checked before any work
    r = run_cli("train", tmp_path / "b.txt", "-c", TINY, "-o", tmp_path / "y", "--init", tmp_path / "none.bin")
    assert r.exit_code == 1 and "none.bin" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("content", [b"", b"PK not a zip at all", b"\x93NUMPY\x01\x00v\x00{}"])
def test_init_from_a_run_whose_model_is_not_a_zip_is_one_line(tmp_path, content):
    """A zero-byte, random or .npy model.npz raised zipfile.BadZipFile through `train --init`."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.npz").write_bytes(content)
    corpus = planted_corpus(tmp_path / "b.txt", lines=100, seed=2)
    r = run_cli("train", corpus, "-c", TINY, "-o", tmp_path / "x", "--init", tmp_path / "run")
    assert r.exit_code == 1 and "not a w2v-nce model" in r.output and len(r.output.strip().splitlines()) == 1


def test_init_from_vectors_that_are_not_utf8_gives_advice_train_can_follow(tmp_path):
    """The hint named --unicode-errors, which train does not have."""
    (tmp_path / "v.txt").write_bytes(b"2 3\n\xff\xfe 0.1 0.2 0.3\nb 0.1 0.2 0.3\n")
    corpus = planted_corpus(tmp_path / "b.txt", lines=100, seed=2)
    r = run_cli("train", corpus, "-c", TINY, "-o", tmp_path / "x", "--init", tmp_path / "v.txt", "--dim", "3")
    assert r.exit_code == 1 and "not valid UTF-8" in r.output and "convert the file to UTF-8" in r.output
    assert "--unicode-errors" not in r.output


def test_keep_and_replace_policies():
    old_w, old_c = ["the", "cat", "sat"], np.array([50, 10, 3])
    new_w, new_c = ["cat", "dog", "the"], np.array([45, 7, 2])
    keep = merge_vocab(old_w, old_c, new_w, new_c, 1, "keep")
    assert keep.words == ["cat", "the", "sat"] and keep.counts.tolist() == [55, 52, 3]  # no dog
    replace = merge_vocab(old_w, old_c, new_w, new_c, 1, "replace")
    assert replace.words == ["cat", "the", "dog"] and replace.counts.tolist() == [55, 52, 7]  # no sat


def test_replace_with_no_word_in_common_starts_from_scratch(tmp_path):
    old = _run(tmp_path, "old", planted_corpus(tmp_path / "a.txt", lines=100, seed=1))
    new_text = tmp_path / "b.txt"
    new_text.write_text("zebra quagga okapi\n" * 30)
    cfg = Config(corpus=[str(new_text)], dim=Model.load(str(old)).w_in.shape[1], min_count=1, init=str(old),
                 vocab_update="replace")
    vocab, model, note, _ = initial_model(cfg, Vocab(["zebra", "quagga", "okapi"], np.array([30, 30, 30])))
    assert vocab.words == ["zebra", "quagga", "okapi"] and note.startswith("init: 0 of 3 words")


def test_the_lineage_hash_is_of_the_file_as_read_at_the_start(tmp_path):
    """A model replaced while the run trains leaves the lineage naming the bytes loaded; one
    replaced while it is being loaded is a one-line error (the hash would not be its bytes)."""
    from w2v_nce.errors import FormatError
    from w2v_nce.run.init import read_once
    from w2v_nce.run.job import run_training

    old = _run(tmp_path, "old", planted_corpus(tmp_path / "a.txt", lines=200, seed=1))
    read = _sha256(old / "model.npz")
    other = _run(tmp_path, "other", planted_corpus(tmp_path / "c.txt", lines=200, seed=3))
    assert _sha256(other / "model.npz") != read

    def replace(run):  # after the first round: the run has read the old model long before
        if (other / "model.npz").exists():
            os.replace(other / "model.npz", old / "model.npz")

    from w2v_nce.config import load_yaml, merge

    cfg = merge(merge(Config(), load_yaml(TINY), TINY),
                {"corpus": [planted_corpus(tmp_path / "b.txt", lines=200, seed=2)], "output": str(tmp_path / "new"),
                 "min_count": 1, "threads": 1, "seed": 1, "quiet": True, "init": str(old)}, "test")
    result = run_training(cfg, on_round=replace)
    assert not (other / "model.npz").exists()  # replaced during the run
    assert result.metrics["init"] == {"path": str(old), "sha256": read}

    def load_while_replaced(path):
        (tmp_path / "v.txt").write_text("1 2\nx 0.5 0.5\n")
        return None

    (tmp_path / "v.txt").write_text("1 2\nx 1.0 0.0\n")
    with pytest.raises(FormatError, match="changed while it was read"):
        read_once(str(tmp_path / "v.txt"), load_while_replaced)


def test_a_continued_run_starts_at_init_lr_scale_times_alpha(tmp_path):
    """Measured (docs/training.md): a continued run does best from half the lr; resolve's lr
    factor is the one owner, for a run directory or model.npz, not for a vectors file."""
    from w2v_nce.config import Config, resolve

    run = tmp_path / "run"
    run.mkdir()
    vec = tmp_path / "v.txt"
    vec.write_text("1 2\nx 0.1 0.2\n")
    assert resolve(Config(init=str(run))).lr_factor == 0.5
    assert resolve(Config(init=str(run / "model.npz"))).lr_factor == 0.5
    assert resolve(Config(init=str(run), init_lr_scale=1.0)).lr_factor == 1.0
    assert resolve(Config(init=str(vec))).lr_factor == 1.0
    assert resolve(Config(init=str(run), replicas=2)).lr_factor == 1.0  # the scale rule's 2 x 0.5
    assert resolve(Config()).lr_factor == 1.0


def _lined(path, lines: int, seed: int):
    rng = np.random.default_rng(seed)
    path.write_text("".join(" ".join(f"v{x}" for x in rng.integers(0, 60, 8)) + "\n" for _ in range(lines)))
    return path


def test_replay_trains_a_share_of_the_init_runs_corpus_and_resumes_identically(tmp_path, monkeypatch):
    """--replay: the continued run also reads a share of the earlier run's lines (found in its
    model.npz's config) every epoch; they are counted with the new text, recorded in config.yaml
    as replay_corpus, and an interrupted run resumes to the same bytes."""
    from tests.interrupt import run_interrupted
    from w2v_nce.config import from_saved
    from w2v_nce.run.job import resume_training
    from w2v_nce.text.share import keep_share

    a = _lined(tmp_path / "a.txt", 4000, seed=1)
    old = _run(tmp_path, "old", a)
    b = _lined(tmp_path / "b.txt", 4000, seed=2)
    _run(tmp_path, "plain", b, "--init", old)
    full = _run(tmp_path, "full", b, "--init", old, "--replay", "0.25")
    saved = from_saved(json.loads(json.dumps(Model.load(str(full)).config)))
    assert saved.replay == 0.25 and saved.replay_corpus == [str(a)]
    tokens = {name: json.loads((tmp_path / name / "metrics.json").read_text())["vocabulary"]["tokens"]
              for name in ("plain", "full")}
    assert tokens["full"] - tokens["plain"] == len(keep_share(a.read_bytes(), 0.25)[0].split())
    assert 0.2 < (tokens["full"] - tokens["plain"]) / len(a.read_text().split()) < 0.3
    cfg = from_saved(saved.to_dict())
    cfg.output, cfg.checkpoint_every = str(tmp_path / "cut"), 0
    run_interrupted(cfg, monkeypatch, after_calls=2)
    resume_training(str(tmp_path / "cut"))
    assert (tmp_path / "cut" / "vectors.txt").read_bytes() == (full / "vectors.txt").read_bytes()


@pytest.mark.parametrize("extra,match", [
    (["--replay", "0.5"], "--replay rehearses an earlier run's text: add --init"),
    (["--replay-corpus", "{a}"], "--replay-corpus names the text --replay draws from"),
    (["--replay", "1.5", "--init", "{old}"], "--replay must be in [0, 1]"),
    (["--replay", "0.5", "--init", "{vec}"], "is a vectors file, which records no corpus"),
    (["--replay", "0.5", "--init", "{old}", "--replay-corpus", "-"], "cannot be standard input"),
    (["--replay", "0.5", "--init", "{old}", "--vocab", "{old}/vocab.tsv"], "needs the counting pass"),
    (["--replay", "0.5", "--init", "{old}", "--replay-corpus", "{out}/vectors.txt"], "is an input of this run"),
])
def test_bad_replay_settings_are_one_line_before_any_work(tmp_path, extra, match):
    a = _lined(tmp_path / "a.txt", 300, seed=1)
    old = _run(tmp_path, "old", a)
    assert run_cli("export", old, "-o", tmp_path / "v.txt").exit_code == 0
    out = tmp_path / "out"
    args = [x.format(a=a, old=old, vec=tmp_path / "v.txt", out=out) for x in extra]
    r = run_cli("train", _lined(tmp_path / "b.txt", 300, seed=2), "-c", TINY, "-o", out, *args)
    assert r.exit_code in (1, 2) and match in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not out.exists() or not any(out.iterdir())


def test_replay_of_a_run_whose_corpus_is_gone_says_what_to_do(tmp_path):
    a = _lined(tmp_path / "a.txt", 300, seed=1)
    old = _run(tmp_path, "old", a)
    a.rename(tmp_path / "moved.txt")
    b = _lined(tmp_path / "b.txt", 300, seed=2)
    r = run_cli("train", b, "-c", TINY, "-o", tmp_path / "out", "--init", old, "--replay", "0.5")
    assert r.exit_code == 1 and f"{a}, the corpus of {old}, is not there any more" in r.output
    assert "--replay-corpus" in r.output and len(r.output.strip().splitlines()) == 1
    _run(tmp_path, "given", b, "--init", old, "--replay", "0.5", "--replay-corpus", tmp_path / "moved.txt")


def test_replay_of_a_corpus_changed_since_its_run_warns(tmp_path):
    """The recorded text modified after the --init run wrote its model (here a file inside the
    corpus directory it trained, whose own mtime does not change): a warning (the rehearsal reads
    other lines than that run learnt from); none for text unchanged or named by the user."""
    (tmp_path / "texts").mkdir()
    a = _lined(tmp_path / "texts" / "a.txt", 300, seed=1)
    old = _run(tmp_path, "old", tmp_path / "texts")
    b = _lined(tmp_path / "b.txt", 300, seed=2)
    args = ("train", b, "-c", TINY, "--quiet", "--init", old, "--replay", "0.5")
    same = run_cli(*args, "-o", tmp_path / "same")
    assert same.exit_code == 0 and "warning" not in same.output, same.output
    later = os.stat(old / "model.npz").st_mtime + 60
    os.utime(a, (later, later))
    changed = run_cli(*args, "-o", tmp_path / "changed")
    assert changed.exit_code == 0, changed.output
    assert f"warning: --replay: {a}, of the corpus of {old}, was modified after that run ended" in changed.output
    named = run_cli(*args, "-o", tmp_path / "named", "--replay-corpus", a)
    assert named.exit_code == 0 and "warning" not in named.output, named.output


def test_replicas_read_the_same_replay_share_as_one_machine(tmp_path):
    """Each replica opens the run's corpus itself (``run_corpus``): the share of the earlier text
    reaches K = 2 in one process as it reaches one machine (the same tokens over the epochs)."""
    a = _lined(tmp_path / "a.txt", 3000, seed=1)
    old = _run(tmp_path, "old", a)
    b = _lined(tmp_path / "b.txt", 3000, seed=2)
    one = _run(tmp_path, "one", b, "--init", old, "--replay", "0.5")
    two = _run(tmp_path, "two", b, "--init", old, "--replay", "0.5", "--replicas", "2")
    m1, m2 = (json.loads((d / "metrics.json").read_text()) for d in (one, two))
    assert m1["vocabulary"] == m2["vocabulary"]
    assert sum(e["reader"]["tokens"] for e in m1["epochs"]) == sum(e["reader"]["tokens"] for e in m2["epochs"])
    assert m1["vocabulary"]["tokens"] > len(b.read_text().split())  # the share of a.txt was read too
