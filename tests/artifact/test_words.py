"""model.npz and checkpoints store words as UTF-8 bytes + offsets: cost follows the words' total
length, never V x the longest word; files written with the old fixed-width layout still load."""

from __future__ import annotations

import json
import os
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from w2v_nce.artifact.model import Model, model_file_bytes, model_save_bytes
from w2v_nce.artifact.words import pack_words, unpack_words
from w2v_nce.errors import FormatError


def _model(words: list[str], dim: int = 4) -> Model:
    V = len(words)
    rng = np.random.default_rng(0)
    return Model(list(words), np.arange(V, 0, -1, dtype=np.int64), rng.random((V, dim), dtype=np.float32),
                 rng.random((V, dim), dtype=np.float32), rng.random(V, dtype=np.float32), {"dim": dim})


def _assert_same(a: Model, b: Model) -> None:
    assert a.words == b.words
    for name in ("counts", "w_in", "w_out", "bias"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.config == b.config


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=40))
def test_pack_unpack_round_trips_any_words(words):
    data, offsets = pack_words(words)
    assert data.dtype == np.uint8 and offsets.dtype == np.int64 and len(offsets) == len(words) + 1
    assert data.tobytes() == "".join(words).encode("utf-8")
    assert unpack_words(data, offsets) == words


def test_unpack_rejects_inconsistent_offsets():
    data, offsets = pack_words(["é", "ab"])
    with pytest.raises(ValueError):
        unpack_words(data, np.array([0, 1, 4]))  # inside "é"
    with pytest.raises(ValueError):
        unpack_words(data, np.array([0, 3]))  # does not cover the bytes
    with pytest.raises(ValueError):
        unpack_words(np.frombuffer(b"\xff\xfe", np.uint8), np.array([0, 1, 2]))


def test_old_fixed_width_model_file_still_loads(tmp_path):
    m = _model(["the", "café", "naïve", "日本"])
    path = str(tmp_path / "model.npz")
    np.savez(path, w_in=m.w_in, w_out=m.w_out, bias=m.bias, words=np.array(m.words, dtype=str),
             counts=m.counts, config=np.array(json.dumps(m.config)))  # the layout before word_bytes
    _assert_same(Model.load(path), m)


def test_old_checkpoint_layout_loads_through_from_npz(tmp_path):
    m = _model(["a", "bb", "ccc"])
    path = str(tmp_path / "checkpoint.npz")
    np.savez(path, w_in=m.w_in, w_out=m.w_out, bias=m.bias, words=np.array(m.words, dtype=str), counts=m.counts,
             config=np.array(json.dumps(m.config)), state=np.array("{}"), rng=np.zeros(4, np.uint64))
    with np.load(path, allow_pickle=False) as z:
        _assert_same(Model.from_npz(z, path), m)


def test_npz_arrays_hold_words_as_bytes_and_offsets():
    m = _model(["x", "yy", "ü"])
    arrays = m.npz_arrays()
    assert set(arrays) == {"w_in", "w_out", "bias", "word_bytes", "word_offsets", "counts", "config"}
    assert arrays["word_bytes"].tobytes() == "xyyü".encode()
    assert arrays["word_offsets"].tolist() == [0, 1, 3, 5]


def test_ten_megabyte_word_round_trips_and_costs_its_length(tmp_path):
    words = [f"w{i}" for i in range(200)] + ["x" * (10 << 20)] + ["ä" * 1000]
    m = _model(words)
    path = str(tmp_path / "model.npz")
    m.save(path)
    _assert_same(Model.load(path), m)
    word_bytes = sum(len(w.encode()) for w in words)
    size = os.path.getsize(path)
    assert size <= model_file_bytes(len(words), m.dim, word_bytes)
    assert size < (10 << 20) + (1 << 20)  # fixed width would be 202 x 10 MiB x 4


def test_model_file_is_near_its_matrices_with_a_one_megabyte_word(tmp_path):
    V, D = 20_000, 200
    words = [f"word{i}" for i in range(V - 1)] + ["u" * (1 << 20)]
    m = _model(words, dim=D)
    path = str(tmp_path / "model.npz")
    m.save(path)
    matrices = m.w_in.nbytes + m.w_out.nbytes + m.bias.nbytes
    assert os.path.getsize(path) <= 1.10 * matrices


def _save_peak(m: Model, path: str) -> int:
    tracemalloc.start()
    try:
        m.save(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_save_memory_does_not_grow_with_the_longest_word(tmp_path):
    V = 500
    short = [f"w{i}" for i in range(V)]
    peaks = {}
    for longest in (1 << 10, 1 << 16):
        words = short[:-1] + ["z" * longest]
        peaks[longest] = _save_peak(_model(words), str(tmp_path / f"m{longest}.npz"))
        word_bytes = sum(len(w) for w in words)
        assert peaks[longest] <= model_save_bytes(V, 4, word_bytes)
    # Linear in the one long word (a few copies of it), not V x longest x 4 (~128 MB here).
    assert peaks[1 << 16] - peaks[1 << 10] < 8 * ((1 << 16) - (1 << 10))


def test_corrupt_word_arrays_are_a_format_error(tmp_path):
    m = _model(["a", "b"])
    arrays = m.npz_arrays()
    arrays["word_offsets"] = np.array([0, 1, 5])
    path = str(tmp_path / "model.npz")
    np.savez(path, **arrays)
    with pytest.raises(FormatError, match="model.npz"):
        Model.load(path)
