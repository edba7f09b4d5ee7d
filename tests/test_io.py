"""io.py: atomic writes (see artifact/test_word2vec.py for the full-disk cases) and the .npz
reader that checks every array's header against its bytes before anything is allocated."""

import io
import zipfile

import numpy as np
import pytest

from w2v_nce.errors import FormatError, ResumeError
from w2v_nce.io import checked_npz


def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _lying_npy(shape, dtype="<f4") -> bytes:
    """An .npy whose header claims ``shape`` but holds 64 bytes."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\x00" * 64


def _npz(path, members: dict, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, raw in members.items():
            z.writestr(name, raw)
    return str(path)


def test_a_sound_archive_loads_as_numpy_loads_it(tmp_path):
    path = _npz(tmp_path / "a.npz", {"x.npy": _npy(np.arange(6, dtype=np.int32).reshape(2, 3))})
    with checked_npz(path) as z:
        np.testing.assert_array_equal(z["x"], np.arange(6).reshape(2, 3))


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_header_claiming_10_to_the_11_rows_is_refused_before_allocating(tmp_path, compression):
    path = _npz(tmp_path / "m.npz", {"w_in.npy": _lying_npy((10**11, 100))}, compression)
    with pytest.raises(FormatError, match=r"w_in\.npy claims shape \(100000000000, 100\)"):
        checked_npz(path)


def test_object_arrays_and_non_arrays_are_refused(tmp_path):
    obj = _npz(tmp_path / "o.npz", {"x.npy": _lying_npy((1,), "|O")})
    with pytest.raises(FormatError, match="Python objects|not a NumPy array"):
        checked_npz(obj)
    junk = _npz(tmp_path / "j.npz", {"x.npy": b"\x93NUMPY\x01\x00\x05\x00{'de"})
    with pytest.raises(FormatError, match="not a NumPy array"):
        checked_npz(junk)


def test_an_impossible_compression_ratio_is_refused(tmp_path):
    path = _npz(tmp_path / "z.npz", {"x.npy": _npy(np.zeros(10))}, zipfile.ZIP_DEFLATED)
    data = bytearray(open(path, "rb").read())
    # forge the declared uncompressed size (central directory and local header) to 1 GB
    archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = archive.infolist()[0]
    for offset in (info.header_offset + 22, data.rfind(b"PK\x01\x02") + 24):
        data[offset:offset + 4] = (1 << 30).to_bytes(4, "little")
    open(path, "wb").write(bytes(data))
    with pytest.raises(FormatError, match="claims 1073741824 bytes"):
        checked_npz(path)


def test_an_unknown_compression_method_is_a_format_error(tmp_path):
    """A damaged method field in the central directory (the fuzz found method 20) made zipfile
    raise NotImplementedError, which no reader caught."""
    path = _npz(tmp_path / "c.npz", {"x.npy": _npy(np.zeros(3))})
    data = bytearray(open(path, "rb").read())
    central = data.rfind(b"PK\x01\x02")
    data[central + 10:central + 12] = (20).to_bytes(2, "little")
    open(path, "wb").write(bytes(data))
    with pytest.raises(FormatError, match="compression method 20"):
        checked_npz(path)


def test_model_and_checkpoint_readers_use_it(tmp_path):
    from w2v_nce.artifact.model import Model
    from w2v_nce.run.checkpoint import load_checkpoint

    lying = {"w_in.npy": _lying_npy((10**11, 8))}
    with pytest.raises(FormatError, match="claims shape"):
        Model.load(_npz(tmp_path / "model.npz", lying))
    _npz(tmp_path / "checkpoint.npz", lying)
    with pytest.raises(ResumeError, match="claims shape"):
        load_checkpoint(str(tmp_path))


def test_write_npz_writes_what_np_savez_writes(tmp_path):
    import numpy as np

    from w2v_nce.io import NPZ_PIECE_BYTES, write_npz

    rng = np.random.default_rng(0)
    arrays = {"big": rng.random((NPZ_PIECE_BYTES // 400 + 7, 100), dtype=np.float32),  # several pieces
              "ids": np.arange(11, dtype=np.int64), "empty": np.zeros((0, 3), np.float32),
              "strided": np.arange(20)[::3], "fortran": np.asfortranarray(rng.random((4, 5))),
              "config": np.array('{"dim": 100}'), "bytes": np.frombuffer("naïve".encode(), np.uint8)}
    with open(tmp_path / "ours.npz", "wb") as fh:
        write_npz(fh, arrays)
    np.savez(tmp_path / "numpy.npz", **arrays)
    with np.load(tmp_path / "ours.npz", allow_pickle=False) as ours, np.load(tmp_path / "numpy.npz") as ref:
        assert ours.files == ref.files
        for name in ref.files:
            assert ours[name].dtype == ref[name].dtype and ours[name].shape == ref[name].shape
            np.testing.assert_array_equal(ours[name], ref[name])


def test_json_nested_too_deeply_is_malformed_json_not_a_recursion_error():
    import json

    from w2v_nce.io import json_value

    with pytest.raises(json.JSONDecodeError, match="nested too deeply"):
        json_value("[" * 100_000 + "]" * 100_000)
    assert json_value('{"a": [1, 2]}') == {"a": [1, 2]}
