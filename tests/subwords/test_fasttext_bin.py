"""The fastText .bin writer: a reader written here from fastText 0.9.2's source (saveModel,
Args::save, Dictionary::save, DenseMatrix::save) parses every field back; fastText itself and
gensim, where installed, give our vectors for vocabulary and unseen words."""

from __future__ import annotations

import contextlib
import os
import struct

import numpy as np
import pytest

from w2v_nce.errors import FormatError
from w2v_nce.io import atomic_output
from w2v_nce.subwords import SubwordSettings, subword_rows, unseen_vector, word_vectors
from w2v_nce.subwords.fasttext_bin import fasttext_bin_bytes, write_fasttext_bin

ARG_NAMES = ("dim", "ws", "epoch", "minCount", "neg", "wordNgrams", "loss", "model", "bucket", "minn", "maxn",
             "lrUpdateRate")


class Cursor:
    """Reads little-endian packed fields from a bytes object, left to right."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def cstring(self) -> bytes:
        end = self.data.index(b"\0", self.pos)
        word, self.pos = self.data[self.pos:end], end + 1
        return word

    def matrix(self) -> tuple[bool, np.ndarray]:
        quantized, m, n = self.take("?qq")
        values = np.frombuffer(self.data, dtype="<f4", count=m * n, offset=self.pos).reshape(m, n)
        self.pos += 4 * m * n
        return quantized, values


def read_fasttext_bin(path) -> dict:
    """Every field of a fastText 0.9.2 .bin, in the order FastText::saveModel writes them."""
    with open(path, "rb") as fh:
        cur = Cursor(fh.read())
    out = dict(zip(("magic", "version"), cur.take("ii")))
    out["args"] = dict(zip(ARG_NAMES, cur.take("12i")))
    out["args"]["t"] = cur.take("d")[0]
    out.update(zip(("size", "nwords", "nlabels", "ntokens", "pruneidx_size"), cur.take("iiiqq")))
    out["words"], out["counts"], out["types"] = [], [], []
    for _ in range(out["size"]):
        out["words"].append(cur.cstring().decode("utf-8"))
        count, kind = cur.take("qb")
        out["counts"].append(count)
        out["types"].append(kind)
    out["pruneidx"] = [cur.take("ii") for _ in range(max(0, out["pruneidx_size"]))]
    out["quant_input"], out["input"] = cur.matrix()
    out["qout"], out["output"] = cur.matrix()
    out["trailing"] = len(cur.data) - cur.pos
    return out


def small_model(words, settings, dim=4, seed=0):
    rng = np.random.default_rng(seed)
    V = len(words)
    table = rng.standard_normal((V + settings.buckets, dim)).astype(np.float32)
    w_out = rng.standard_normal((V, dim)).astype(np.float32)
    counts = np.sort(rng.integers(1, 1000, V))[::-1].astype(np.int64)
    return counts, table, w_out


SMALL_WORDS = ["the", "naïve", "日本語", "a", "Straße", "x😀y"]
SMALL = SubwordSettings(minn=2, maxn=5, buckets=37)
TRAINING = {"window": 7, "epochs": 3, "min_count": 2, "num_sampled": 11, "sample": 1e-3}


@pytest.mark.parametrize("skipgram, model", [(True, 2), (False, 1)])
def test_every_field_reads_back(tmp_path, skipgram, model):
    counts, table, w_out = small_model(SMALL_WORDS, SMALL)
    path = tmp_path / "m.bin"
    write_fasttext_bin(str(path), SMALL_WORDS, counts, table, w_out, SMALL, skipgram=skipgram, **TRAINING)
    got = read_fasttext_bin(path)
    assert (got["magic"], got["version"]) == (793712314, 12)
    assert got["args"] == {"dim": 4, "ws": 7, "epoch": 3, "minCount": 2, "neg": 11, "wordNgrams": 1, "loss": 2,
                           "model": model, "bucket": 37, "minn": 2, "maxn": 5, "lrUpdateRate": 100, "t": 1e-3}
    V = len(SMALL_WORDS)
    assert (got["size"], got["nwords"], got["nlabels"]) == (V, V, 0)
    assert got["ntokens"] == int(counts.sum())
    assert got["pruneidx_size"] == -1 and got["pruneidx"] == []
    assert got["words"] == SMALL_WORDS
    assert got["counts"] == counts.tolist() and got["types"] == [0] * V
    assert got["quant_input"] is False and got["qout"] is False
    assert got["input"].shape == (V + 37, 4) and np.array_equal(got["input"], table)
    assert got["output"].shape == (V, 4) and np.array_equal(got["output"], w_out)
    assert got["trailing"] == 0


def test_pieces_and_other_dtypes_write_the_same_bytes(tmp_path, monkeypatch):
    """Matrices and the dictionary written a few bytes at a time, from a float64 table and a
    Fortran-order output matrix, make exactly the file one piece makes."""
    counts, table, w_out = small_model(SMALL_WORDS, SMALL, dim=3)
    whole, pieces = tmp_path / "whole.bin", tmp_path / "pieces.bin"
    write_fasttext_bin(str(whole), SMALL_WORDS, counts, table, w_out, SMALL, skipgram=True, **TRAINING)
    writes = []

    @contextlib.contextmanager
    def recorded(path, mode):
        with atomic_output(path, mode) as fh:
            real = fh.write
            fh.write = lambda data: writes.append(memoryview(data).nbytes) or real(data)
            yield fh

    monkeypatch.setattr("w2v_nce.subwords.fasttext_bin.atomic_output", recorded)
    monkeypatch.setattr("w2v_nce.subwords.fasttext_bin.BLOCK_BYTES", 20)  # one row (12 bytes) a piece; 2 words a piece
    write_fasttext_bin(str(pieces), SMALL_WORDS, counts, table.astype(np.float64), np.asfortranarray(w_out), SMALL,
                       skipgram=True, **TRAINING)
    assert whole.read_bytes() == pieces.read_bytes()
    assert sum(writes) == len(whole.read_bytes()) and max(writes) <= 56  # the Args header; no whole matrix
    assert writes.count(12) == len(table) + len(w_out)  # a row at a time
    assert np.array_equal(read_fasttext_bin(pieces)["input"], table)


def test_size_estimate_is_the_file_size(tmp_path):
    counts, table, w_out = small_model(SMALL_WORDS, SMALL, dim=5)
    path = tmp_path / "m.bin"
    write_fasttext_bin(str(path), SMALL_WORDS, counts, table, w_out, SMALL, skipgram=False, **TRAINING)
    word_bytes = sum(len(w.encode("utf-8")) for w in SMALL_WORDS)
    assert fasttext_bin_bytes(len(SMALL_WORDS), 5, 37, word_bytes) == os.path.getsize(path)
    # header 92 + entries (bytes + 10 each) + two matrices (17 bytes of shape each + floats)
    assert fasttext_bin_bytes(2, 3, 4, 7) == 92 + 7 + 20 + 34 + 4 * 3 * (6 + 2)


@pytest.mark.parametrize("bad", ["new york", "tab\there", "line\nbreak", "nul\0byte", "cr\r", "\x0bvt", "ff\x0c"])
def test_a_word_fasttext_cannot_store_is_refused(tmp_path, bad):
    words = SMALL_WORDS[:3] + [bad]
    counts, table, w_out = small_model(words, SMALL)
    path = tmp_path / "m.bin"
    with pytest.raises(FormatError) as err:
        write_fasttext_bin(str(path), words, counts, table, w_out, SMALL, skipgram=True, **TRAINING)
    message = str(err.value)
    assert str(path) in message and repr(bad) in message and "\n" not in message
    assert os.listdir(tmp_path) == []  # no file, no temporary left beside it


def test_a_long_bad_word_is_shown_cut_and_an_old_file_is_kept(tmp_path):
    path = tmp_path / "m.bin"
    path.write_bytes(b"previous")
    words = ["ok", "a" * 100 + " " + "b" * 100]
    counts, table, w_out = small_model(words, SMALL)
    with pytest.raises(FormatError, match=r"'a{40}'\.\.\.") as err:
        write_fasttext_bin(str(path), words, counts, table, w_out, SMALL, skipgram=True, **TRAINING)
    assert "b" * 10 not in str(err.value)
    assert path.read_bytes() == b"previous" and os.listdir(tmp_path) == ["m.bin"]


def test_a_word_that_is_not_unicode_is_refused(tmp_path):
    words = ["ok", "bad\udcffbyte"]  # a lone surrogate, as errors="surrogateescape" makes
    counts, table, w_out = small_model(words, SMALL)
    with pytest.raises(FormatError, match=r"'bad\\udcffbyte' is not valid Unicode"):
        write_fasttext_bin(str(tmp_path / "m.bin"), words, counts, table, w_out, SMALL, skipgram=True, **TRAINING)
    assert os.listdir(tmp_path) == []


def test_shapes_that_disagree_are_refused(tmp_path):
    counts, table, w_out = small_model(SMALL_WORDS, SMALL)
    path = str(tmp_path / "m.bin")
    with pytest.raises(ValueError, match="input table"):
        write_fasttext_bin(path, SMALL_WORDS, counts, table[:-1], w_out, SMALL, skipgram=True, **TRAINING)
    with pytest.raises(ValueError, match="output matrix"):
        write_fasttext_bin(path, SMALL_WORDS, counts[:-1], table, w_out, SMALL, skipgram=True, **TRAINING)
    assert os.listdir(tmp_path) == []


# --- peers: fastText itself and gensim read the file and give our vectors -----------------------

PEER = SubwordSettings(minn=2, maxn=5, buckets=20_000)
LETTERS = list("abcdefghijklmnopqrstuvwxyz") + list("éïßçñøжыщ日本語中文한글") + ["😀", "𝔸"]


def generated_words(rng, n, exclude=()):
    """``n`` distinct words of 1-12 characters, mostly ASCII, some 2-, 3- and 4-byte UTF-8."""
    out, seen = [], set(exclude)
    while len(out) < n:
        k = int(rng.integers(1, 13))
        weights = np.where(np.arange(len(LETTERS)) < 26, 3.0, 1.0)
        word = "".join(rng.choice(LETTERS, size=k, p=weights / weights.sum()))
        if word not in seen:
            seen.add(word)
            out.append(word)
    return out


@pytest.fixture(scope="module")
def peer_model(tmp_path_factory):
    rng = np.random.default_rng(20240611)
    fixed = ["naïve", "日本語", "café", "Straße", "the", "a", "I", "😀", "über-cool", "don't"]
    words = fixed + generated_words(rng, 300 - len(fixed), exclude=fixed)
    counts, table, w_out = small_model(words, PEER, dim=16, seed=7)
    path = tmp_path_factory.mktemp("peer") / "model.bin"
    write_fasttext_bin(str(path), words, counts, table, w_out, PEER, skipgram=True, window=5, epochs=5,
                       min_count=1, num_sampled=5, sample=1e-4)
    ours = word_vectors(table, subword_rows(words, PEER))
    unseen = generated_words(rng, 1000, exclude=words)
    ours_unseen = np.stack([unseen_vector(table, len(words), w, PEER) for w in unseen])
    return {"path": str(path), "words": words, "counts": counts, "table": table, "ours": ours, "unseen": unseen,
            "ours_unseen": ours_unseen}


def test_fasttext_reads_our_vectors(peer_model):
    fasttext = pytest.importorskip("fasttext")
    ft = fasttext.load_model(peer_model["path"])
    words, counts = ft.get_words(include_freq=True)
    assert words == peer_model["words"] and counts.tolist() == peer_model["counts"].tolist()
    assert (ft.get_dimension(), ft.f.getArgs().minn, ft.f.getArgs().maxn, ft.f.getArgs().bucket) == (16, 2, 5, 20_000)
    theirs = np.stack([ft.get_word_vector(w) for w in peer_model["words"]])
    assert np.max(np.abs(theirs - peer_model["ours"])) <= 1e-5
    theirs_unseen = np.stack([ft.get_word_vector(w) for w in peer_model["unseen"]])
    assert np.max(np.abs(theirs_unseen - peer_model["ours_unseen"])) <= 1e-5
    assert np.min(np.abs(theirs_unseen).sum(axis=1)) > 0  # every unseen word has n-grams here


def test_gensim_reads_our_vectors(peer_model):
    pytest.importorskip("gensim")
    from gensim.models.fasttext import load_facebook_model

    model = load_facebook_model(peer_model["path"])
    assert model.wv.index_to_key == peer_model["words"]
    assert (model.wv.vector_size, model.wv.min_n, model.wv.max_n, model.wv.bucket) == (16, 2, 5, 20_000)
    assert model.sg == 1 and model.negative == 5 and model.window == 5
    theirs = np.stack([model.wv[w] for w in peer_model["words"]])
    assert np.max(np.abs(theirs - peer_model["ours"])) <= 1e-5
    theirs_unseen = np.stack([model.wv[w] for w in peer_model["unseen"]])
    assert np.max(np.abs(theirs_unseen - peer_model["ours_unseen"])) <= 1e-5


def test_end_of_line_word_has_no_ngrams_in_fasttext(tmp_path):
    """The caveat the module states: fastText gives a vocabulary word "</s>" (its end-of-line
    token) its own row alone, where we average it with its n-grams; other words are unaffected."""
    fasttext = pytest.importorskip("fasttext")
    words = ["</s>", "the", "naïve"]
    counts, table, w_out = small_model(words, PEER, dim=8)
    path = str(tmp_path / "eos.bin")
    write_fasttext_bin(path, words, counts, table, w_out, PEER, skipgram=True, **TRAINING)
    ours = word_vectors(table, subword_rows(words, PEER))
    ft = fasttext.load_model(path)
    theirs = np.stack([ft.get_word_vector(w) for w in words])
    assert np.max(np.abs(theirs[0] - table[0])) == 0
    assert np.max(np.abs(theirs[0] - ours[0])) > 0.1
    assert np.max(np.abs(theirs[1:] - ours[1:])) <= 1e-5
