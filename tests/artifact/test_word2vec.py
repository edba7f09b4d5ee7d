"""Bytes on disk: word2vec text/binary as word2vec.c, gensim and fastText write and read them,
NumPy/Projector exports, refusals, and atomic writes that survive a failing writer."""

from __future__ import annotations

import errno
import gzip
import os
import struct

import numpy as np
import pytest

from w2v_nce import io as io_mod
from w2v_nce.artifact import export as X
from w2v_nce.artifact import floattext
from w2v_nce.artifact import word2vec as F
from w2v_nce.errors import FormatError, OutputError

WORDS = ["</s>", "the", "naïve", "東京", "😀", "Zoë"]


def _matrix(v=len(WORDS), d=5, seed=0, scale=0.3):
    return (np.random.default_rng(seed).standard_normal((v, d)) * scale).astype(np.float32)


# --- the float format -----------------------------------------------------------------------

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1e-4, 9.99999e-5, 1e-5, 123456789.0, 1e9, 99999999.0,
           3.4028235e38, 1.17549435e-38, 1.4e-45, 1e-40, 1234.5678, -2.5e-7, 1e20, np.inf, -np.inf]


def test_float_text_is_printf_9g_and_round_trips_exactly():
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**32, 60_000, dtype=np.uint64).astype(np.uint32)
    tens = np.array([10.0**k for k in range(-45, 39)], np.float32)  # edges of the exponent tables
    edges = np.concatenate([tens, np.nextafter(tens, np.float32(np.inf)), np.nextafter(tens, np.float32(0))])
    values = np.concatenate([np.array(SPECIAL, np.float32), edges, -edges, bits.view(np.float32),
                             (rng.standard_normal(40_000) * 0.1).astype(np.float32)])
    values = values[~np.isnan(values)]
    values = values[: len(values) // 100 * 100].reshape(-1, 100)
    tokens = floattext.format_rows(values).split()
    flat = values.ravel()
    back = np.array([float(t) for t in tokens], dtype=np.float32)
    assert np.array_equal(back.view(np.uint32), flat.view(np.uint32))  # bit-identical, -0.0 included
    assert [t.decode() for t in tokens] == ["%.9g" % v for v in flat.tolist()]


def test_float_text_nan_and_separator():
    line = floattext.format_rows(np.array([[np.nan, 1.5, -2.0]], np.float32), None, "\t")
    assert line == b"nan\t1.5\t-2\n"


# --- writing --------------------------------------------------------------------------------


@pytest.mark.parametrize("which", X.WHICH)
def test_round_trip_text_and_binary_for_each_choice(tmp_path, which):
    w_in, w_out = _matrix(seed=1), _matrix(seed=2)
    expected = X.select_vectors(w_in, w_out, which)
    for fmt, binary in (("text", False), ("binary", True)):
        out = tmp_path / f"v.{fmt}"
        X.export_vectors(out, WORDS, w_in, w_out, fmt=fmt, which=which)
        words, vectors = F.load_word2vec(out)
        assert words == WORDS
        assert vectors.dtype == np.float32
        assert np.array_equal(vectors, expected)  # text too: 9 digits round-trip float32 exactly
        assert F.load_word2vec(out, binary=binary)[0] == WORDS


def test_select_vectors_formulas():
    w_in, w_out = _matrix(seed=1), _matrix(seed=2)
    assert np.array_equal(X.select_vectors(w_in, w_out, "in"), w_in)
    assert np.array_equal(X.select_vectors(w_in, w_out, "out"), w_out)
    assert np.array_equal(X.select_vectors(w_in, w_out, "sum"), w_in + w_out)
    assert np.array_equal(X.select_vectors(w_in, w_out, "avg"), (w_in + w_out) / np.float32(2))
    with pytest.raises(ValueError, match="unknown vector choice"):
        X.select_vectors(w_in, w_out, "both")


def test_binary_layout_byte_for_byte(tmp_path):
    vectors = np.array([[1.0, -2.5], [0.25, 3.0]], np.float32)
    F.write_word2vec_binary(tmp_path / "v.bin", ["</s>", "東京"], vectors)
    expected = (b"2 2\n"
                + b"</s> " + struct.pack("<2f", 1.0, -2.5) + b"\n"
                + "東京".encode("utf-8") + b" " + struct.pack("<2f", 0.25, 3.0) + b"\n")
    assert (tmp_path / "v.bin").read_bytes() == expected


def test_text_layout(tmp_path):
    F.write_word2vec_text(tmp_path / "v.txt", ["a", "naïve"], np.array([[0.5, -1e-5], [3.0, 0.1]], np.float32))
    assert (tmp_path / "v.txt").read_bytes() == "2 2\na 0.5 -9.99999975e-06\nnaïve 3 0.100000001\n".encode()


def test_text_blocks_come_in_order_whatever_the_threads(tmp_path, monkeypatch):
    """Blocks formatted by several threads are written in row order: the file is the one-thread file."""
    from w2v_nce.artifact import floattext
    monkeypatch.setattr(F, "BLOCK_ROWS", 7)
    vectors = _matrix(52, 3)  # 7 full blocks and a short one
    words = [f"w{i}" for i in range(52)]
    def block(a, b):
        return floattext.format_rows(vectors[a:b], [w.encode() for w in words[a:b]])

    texts = {t: b"".join(F.formatted_blocks(block, len(words), t)) for t in (1, 3)}
    assert texts[1] == texts[3]
    assert texts[1] == floattext.format_rows(vectors, [w.encode() for w in words])
    F.write_word2vec_text(tmp_path / "v.txt", words, vectors)
    assert (tmp_path / "v.txt").read_bytes() == b"52 3\n" + texts[1]
    multi = ["naïve", "日本", "x\u00a0y"] * 20  # packed multi-byte words cut into blocks of 7 rows
    F.write_word2vec_text(tmp_path / "m.txt", multi, _matrix(60, 3))
    assert (tmp_path / "m.txt").read_bytes() == b"60 3\n" + floattext.format_rows(_matrix(60, 3), [w.encode() for w in multi])


def test_words_with_whitespace_or_empty_are_refused(tmp_path):
    for bad in ["new york", "tab\there", "line\n", "cr\rx", "vt\x0bx", ""]:
        with pytest.raises(ValueError, match="whitespace"):
            F.write_word2vec_text(tmp_path / "v.txt", ["ok", bad], _matrix(2, 3))
    assert not (tmp_path / "v.txt").exists()


def test_npy_and_projector_exports(tmp_path):
    vectors = _matrix()
    paths = X.export_vectors(str(tmp_path / "np") + os.sep, WORDS, vectors, fmt="npy")  # a new directory
    assert paths == [tmp_path / "np" / "vectors.npy", tmp_path / "np" / "words.txt"]
    assert np.array_equal(np.load(paths[0]), vectors)
    assert paths[1].read_text("utf-8").split("\n") == WORDS + [""]
    prefix = X.export_vectors(tmp_path / "run1", WORDS, vectors, fmt="projector")
    assert prefix == [tmp_path / "run1.vectors.tsv", tmp_path / "run1.metadata.tsv"]
    rows = prefix[0].read_text().splitlines()
    assert len(rows) == len(WORDS)
    assert np.array_equal(np.array([r.split("\t") for r in rows], dtype=np.float32), vectors)
    assert prefix[1].read_text("utf-8") == "".join(w + "\n" for w in WORDS)  # no header: one column


def test_limit_and_normalize(tmp_path):
    vectors = _matrix()
    vectors[2] = 0.0
    X.export_vectors(tmp_path / "v.bin", WORDS, vectors, fmt="binary", limit=4, normalize=True)
    words, got = F.load_word2vec(tmp_path / "v.bin")
    assert words == WORDS[:4]
    norms = np.linalg.norm(got.astype(np.float64), axis=1)
    assert np.allclose(norms[[0, 1, 3]], 1.0, atol=1e-6) and norms[2] == 0.0  # zero row stays zero
    assert np.allclose(got[0], vectors[0] / np.linalg.norm(vectors[0]), atol=1e-7)
    with pytest.raises(ValueError):
        X.limit_rows(WORDS, vectors, 0)


def test_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "v.txt"
    out.write_text("precious")
    with pytest.raises(OutputError, match=str(out)):
        X.export_vectors(out, WORDS, _matrix())
    assert out.read_text() == "precious"
    X.export_vectors(out, WORDS, _matrix(), force=True)
    assert F.load_word2vec(out)[0] == WORDS
    with pytest.raises(OutputError, match="does not exist"):
        X.export_vectors(tmp_path / "missing" / "v.txt", WORDS, _matrix())
    with pytest.raises(OutputError, match="is a directory"):
        X.export_vectors(tmp_path, WORDS, _matrix())
    (tmp_path / "np").mkdir()
    (tmp_path / "np" / "words.txt").write_text("x")
    with pytest.raises(OutputError, match="words.txt"):
        X.export_vectors(tmp_path / "np", WORDS, _matrix(), fmt="npy")
    assert not (tmp_path / "np" / "vectors.npy").exists()  # checked before writing anything


class _FullDisk:
    """A file object whose writes fail like a full disk after ``budget`` bytes."""

    def __init__(self, fh, budget):
        self.fh, self.budget = fh, budget

    def write(self, data):
        self.budget -= len(data)
        if self.budget < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def test_atomic_output_keeps_old_file_when_disk_fills(tmp_path, monkeypatch):
    out = tmp_path / "v.txt"
    out.write_bytes(b"old contents")
    real_fdopen = os.fdopen
    monkeypatch.setattr(io_mod.os, "fdopen", lambda fd, mode: _FullDisk(real_fdopen(fd, mode), 100))
    with pytest.raises(OutputError, match="disk full"):
        X.export_vectors(out, WORDS * 50, _matrix(300, 20), force=True)
    assert out.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.txt"]  # no temp file left behind


def test_atomic_output_leaves_no_file_when_writer_raises(tmp_path):
    out = tmp_path / "new.bin"
    with pytest.raises(RuntimeError):
        with io_mod.atomic_output(out) as fh:
            fh.write(b"partial")
            raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []


# --- reading files as the peers write them -------------------------------------------------

def _f32(*values) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def test_reads_word2vec_c_text_with_trailing_spaces(tmp_path):
    # word2vec.c: fprintf("%s ", word), then "%lf " per value, then "\n".
    path = tmp_path / "w2v.txt"
    path.write_bytes(b"3 2\n</s> 0.001000 -0.002000 \nthe 0.500000 0.250000 \nna\xc3\xafve -1.000000 2.000000 \n")
    words, vectors = F.load_word2vec(path)
    assert words == ["</s>", "the", "naïve"]
    assert np.array_equal(vectors, np.array([[0.001, -0.002], [0.5, 0.25], [-1, 2]], np.float32))


def test_reads_word2vec_c_binary_with_newlines(tmp_path):
    path = tmp_path / "w2v.bin"
    path.write_bytes(b"2 3\n</s> " + _f32(1, 2, 3) + b"\n" + "東京".encode() + b" " + _f32(0.5, 10, -1) + b"\n")
    words, vectors = F.load_word2vec(path)
    assert words == ["</s>", "東京"]
    assert np.array_equal(vectors, np.array([[1, 2, 3], [0.5, 10, -1]], np.float32))


def test_reads_gensim_binary_without_newlines(tmp_path):
    # gensim: word + b" " + float32 bytes, nothing after; a vector may hold 0x20 and 0x0A bytes.
    tricky = struct.unpack("<f", b" \n \n")[0]
    path = tmp_path / "gensim.bin"
    path.write_bytes(b"3 2\na " + _f32(tricky, 1) + b"b " + _f32(2, tricky) + b"c " + _f32(3, 4))
    words, vectors = F.load_word2vec(path)
    assert words == ["a", "b", "c"]
    assert np.array_equal(vectors, np.array([[tricky, 1], [2, tricky], [3, 4]], np.float32))
    assert F.load_word2vec(path, limit=2)[0] == ["a", "b"]


def test_reads_gensim_text_and_fasttext_vec(tmp_path):
    gensim_txt = tmp_path / "gensim.txt"
    gensim_txt.write_text("2 2\nhello 0.1 -0.2\n😀 1.0 2.0\n", "utf-8")  # no trailing space
    words, vectors = F.load_word2vec(gensim_txt)
    assert words == ["hello", "😀"]
    assert np.array_equal(vectors, np.array([[0.1, -0.2], [1, 2]], np.float32))
    # fastText .vec: setprecision(5), each value followed by ' '.
    vec = tmp_path / "model.vec"
    vec.write_text("3 2\n</s> 0.0012346 -0.5 \n, 1.2346e-05 3 \nnaïve 12346 -0.25 \n", "utf-8")
    words, vectors = F.load_word2vec(vec)
    assert words == ["</s>", ",", "naïve"]
    assert vectors[1, 0] == np.float32(1.2346e-05) and vectors[2, 0] == 12346


def test_text_numbers_parse_as_python_float(tmp_path, monkeypatch):
    # The Numba fast path and the Python fallback must agree with float() -> float32 on every
    # spelling; a 16-byte read size puts line ends and numbers across chunk boundaries.
    tokens = ["0", "-0", "+1.5", "1E5", ".5", "5.", "0.000123", "1e-45", "3.4028235e38", "1e39", "nan", "-inf",
              "0.1234567890123456789", "123456789012345678901234", "1_000", "9.99999975e-06", "-2.5e-7",
              "0.100000001", "12345678.9", "1e22", "1e23", "4.9e-324", "00012", "7e+0"]
    lines = [f"w{i} {tok} {tokens[-1 - i]}" for i, tok in enumerate(tokens)]
    path = tmp_path / "numbers.txt"
    path.write_text(f"{len(lines)} 2\n" + "\n".join(lines), "ascii")  # no final newline
    monkeypatch.setattr(F, "READ_CHUNK", 16)
    with np.errstate(over="ignore"):
        expected = np.array([[float(t), float(tokens[-1 - i])] for i, t in enumerate(tokens)]).astype(np.float32)
        words, vectors = F.load_word2vec(path, allow_nonfinite=True)
    assert words == [f"w{i}" for i in range(len(tokens))]
    assert np.array_equal(vectors.view(np.uint32), expected.view(np.uint32))


def test_reads_gzip_and_limit(tmp_path):
    vectors = _matrix()
    F.write_word2vec_text(tmp_path / "v.txt", WORDS, vectors)
    with gzip.open(tmp_path / "v.txt.gz", "wb") as fh:
        fh.write((tmp_path / "v.txt").read_bytes())
    words, got = F.load_word2vec(tmp_path / "v.txt.gz", limit=3)
    assert words == WORDS[:3] and np.array_equal(got, vectors[:3])


def test_unicode_errors_policy(tmp_path):
    # word2vec.c cuts tokens at 99 bytes, possibly inside a UTF-8 character.
    path = tmp_path / "cut.bin"
    path.write_bytes(b"2 1\nok " + _f32(1) + b"\n" + "東".encode()[:2] + b" " + _f32(2) + b"\n")
    with pytest.raises(FormatError, match=r"record 2 of 2.*unicode_errors"):
        F.load_word2vec(path)
    assert F.load_word2vec(path, unicode_errors="replace")[0] == ["ok", "\ufffd"]
    assert F.load_word2vec(path, unicode_errors="ignore")[0] == ["ok", ""]


@pytest.mark.parametrize("content, binary, message", [
    (b"", None, r"line 1: expected a header"),
    (b"3 two\n", None, r"line 1: expected a header"),
    (b"hello 0.1 0.2\n", None, r"line 1: expected a header"),
    (b"2 0\n", None, r"line 1: bad header"),
    (b"2 2\na 0.1 0.2\n", False, r"line 3: file ends after 1 of 2 rows"),
    (b"2 2\na 0.1 0.2\nb 0.3\n", False, r"line 3: expected a word and 2 values, found 1"),
    (b"2 2\na 0.1 0.2\nb 0.3 0.4 0.5\n", False, r"line 3: expected a word and 2 values, found 3"),
    (b"2 2\na 0.1 0.2\nb 0.3 x1\n", False, r"line 3: bad number 'x1'"),
    (b"2 2\na " + _f32(1, 2) + b"\nb " + _f32(3), True, r"record 2 of 2: file ends inside the vector"),
    (b"2 2\na " + _f32(1, 2) + b"\n", True, r"record 2 of 2: file ends before the word"),
])
def test_malformed_files_name_file_and_line(tmp_path, content, binary, message):
    path = tmp_path / "bad.vec"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=message) as info:
        F.load_word2vec(path, binary=binary)
    assert str(path) in str(info.value)


def test_truncated_binary_autodetected(tmp_path):
    F.write_word2vec_binary(tmp_path / "v.bin", WORDS, _matrix())
    data = (tmp_path / "v.bin").read_bytes()
    (tmp_path / "t.bin").write_bytes(data[:-7])
    with pytest.raises(FormatError, match=r"record 6 of 6"):
        F.load_word2vec(tmp_path / "t.bin")


def test_missing_file_is_a_format_error(tmp_path):
    with pytest.raises(FormatError, match="cannot open"):
        F.load_word2vec(tmp_path / "nope.bin")


def test_gensim_reads_our_files(tmp_path):
    gensim_models = pytest.importorskip("gensim.models")
    vectors = _matrix(d=7)
    F.write_word2vec_text(tmp_path / "v.txt", WORDS, vectors)
    F.write_word2vec_binary(tmp_path / "v.bin", WORDS, vectors)
    for name, binary in (("v.txt", False), ("v.bin", True)):
        kv = gensim_models.KeyedVectors.load_word2vec_format(tmp_path / name, binary=binary)
        assert kv.index_to_key == WORDS
        assert np.array_equal(kv.vectors, vectors)


def test_unicode_spaces_inside_a_token_are_written_and_read_back(tmp_path):
    """The tokeniser splits on ASCII whitespace only (as word2vec.c), so 'a\\xa0b' is one word."""
    words = ["a\xa0b", "ideo\u3000graphic", "plain"]
    vectors = np.arange(9, dtype=np.float32).reshape(3, 3)
    for binary in (False, True):
        path = tmp_path / f"u{int(binary)}"
        (F.write_word2vec_binary if binary else F.write_word2vec_text)(path, words, vectors)
        got_words, got = F.load_word2vec(path)
        assert got_words == words
        np.testing.assert_array_equal(got, vectors)


@pytest.mark.parametrize("header, binary, message", [
    (b"100000000000 100\n", False, "header says 100000000000 rows of 100 values"),
    (b"100000000000 100\n", True, "header says 100000000000 rows of 100 values"),
    (b"3 1000000000000000000000000000000\n", None, "bad header"),
    (b"10000000000000000 8\n", None, "bad header"),
])
def test_a_header_the_file_cannot_hold_is_refused_before_allocating(tmp_path, header, binary, message):
    """A lying header is one line naming the file, not a multi-terabyte allocation (MemoryError)."""
    for name in ("v.vec", "v.vec.gz"):
        path = tmp_path / name
        body = header + b"the 0.1 0.2\n"
        path.write_bytes(gzip.compress(body) if name.endswith(".gz") else body)
        with pytest.raises(FormatError, match=message) as info:
            F.load_word2vec(path, binary=binary)
        assert str(path) in str(info.value)


@pytest.mark.parametrize("fmt", ["npy", "projector"])
def test_a_two_file_export_that_fails_on_its_second_file_replaces_neither(tmp_path, monkeypatch, fmt):
    """vectors and words belong together: a full disk while writing the words file leaves both
    previous files as they were (the vectors file used to be replaced already)."""
    out = tmp_path / "e"
    out.mkdir()  # a directory: the export's files go inside it
    X.export_vectors(out, WORDS, _matrix(len(WORDS), 4), fmt=fmt, force=True)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_fdopen, opened = os.fdopen, []

    def second_is_full(fd, mode):
        opened.append(fd)
        return _FullDisk(real_fdopen(fd, mode), 0 if len(opened) == 2 else 1 << 30)

    monkeypatch.setattr(io_mod.os, "fdopen", second_is_full)
    with pytest.raises(OutputError, match="disk full"):
        X.export_vectors(out, WORDS[::-1], _matrix(len(WORDS), 4, seed=9), fmt=fmt, force=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # both kept, no temp files


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_vectors_file_holding_nan_or_inf_is_refused_naming_the_row(tmp_path, value):
    """A NaN row made compare's SVD fail (a traceback) and eval's scores NaN."""
    path = tmp_path / "v.txt"
    path.write_text(f"3 2\nthe 1 2\nof 1 {value}\nand 3 4\n")
    with pytest.raises(FormatError, match=r"v\.txt: row 2 \('of'\) holds NaN or Inf"):
        F.load_word2vec(path)
    assert np.isnan(F.load_word2vec(path, allow_nonfinite=True)[1][1, 1]) == (value == "nan")


def test_a_model_holding_nan_or_a_matrix_not_float32_is_refused(tmp_path):
    from w2v_nce.artifact.model import Model

    rng = np.random.default_rng(0)
    m = Model.from_arrays(["a", "b"], np.array([3, 2]), rng.normal(size=(2, 4)).astype(np.float32),
                          rng.normal(size=(2, 4)).astype(np.float32), np.zeros(2, np.float32), {"dim": 4})
    m.w_out[1, 2] = np.inf
    m.save(str(tmp_path / "model.npz"))
    with pytest.raises(FormatError, match=r"model\.npz \(w_out\): row 2 holds NaN or Inf"):
        Model.load(str(tmp_path / "model.npz"))
    m.w_out[1, 2] = 0.5
    m.bias = m.bias.astype(np.float16)
    m.save(str(tmp_path / "model.npz"))
    with pytest.raises(FormatError, match="bias is float16, not float32"):
        Model.load(str(tmp_path / "model.npz"))
