"""Writing files safely: atomic replace with the usual mode, and strict JSON values."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from typing import IO, Iterator

from .errors import FormatError, OutputError


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import, before any worker thread
    os.umask(mask)
    return mask


_UMASK = _read_umask()


# bytes of an array written to a .npz at a time: numpy's own writer copies 16 MiB pieces, which
# the allocator keeps after the save (+18 MB of peak RSS measured at the job's end)
NPZ_PIECE_BYTES = 1 << 20


def write_npz(fh: IO, arrays: dict) -> None:
    """``np.savez(fh, **arrays)`` (the same archive: stored .npy members, ``np.load`` reads it),
    writing each C-contiguous array straight from its memory ``NPZ_PIECE_BYTES`` at a time
    instead of through copies."""
    import zipfile

    import numpy as np
    from numpy.lib import format as npy

    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in arrays.items():
            arr = np.asanyarray(value)
            with zf.open(name + ".npy", "w", force_zip64=True) as member:
                if not arr.flags.c_contiguous or arr.dtype.hasobject or arr.ndim == 0:
                    npy.write_array(member, arr, allow_pickle=False)
                    continue
                npy.write_array_header_1_0(member, npy.header_data_from_array_1_0(arr))
                raw = memoryview(arr.reshape(-1)).cast("B")
                for start in range(0, len(raw), NPZ_PIECE_BYTES):
                    member.write(raw[start:start + NPZ_PIECE_BYTES])


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``.

    On any exception the temp file is removed and ``path`` is left as it was, so a reader
    never sees a half-written file (a SIGKILL leaves at worst a stray ``.tmp-*`` file).
    ``OSError(ENOSPC)`` and other OS errors become ``OutputError`` naming the path.
    """
    with atomic_outputs([path], mode) as (fh,):
        yield fh


@contextlib.contextmanager
def atomic_outputs(paths: list, mode: str = "wb") -> Iterator[tuple]:
    """``atomic_output`` for files that belong together (vectors and their words): every one is
    written and fsynced before any is renamed, so an error while writing (a full disk) leaves all
    the previous files in place, none replaced."""
    paths = [os.fspath(p) for p in paths]
    for path in paths:  # a rename would put a regular file where a device, FIFO or socket was
        try:
            mode_bits = os.lstat(path).st_mode
        except OSError:  # not there yet (the usual case), or not ours to inspect: mkstemp says below
            continue
        if not (stat.S_ISREG(mode_bits) or stat.S_ISLNK(mode_bits)):
            raise OutputError(f"{path}: is a device, FIFO or socket, not a file; give the path of a file to write")
    temps: list[str] = []
    current = paths[0]
    try:
        handles = []
        for current in paths:
            try:
                fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(current) + ".tmp-",
                                           dir=os.path.dirname(os.path.abspath(current)))
            except OSError as exc:  # no such directory, not writable, no inodes left
                raise OutputError(f"{current}: cannot write ({exc.strerror or exc})") from None
            temps.append(tmp)
            os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual mode
            handles.append(os.fdopen(fd, mode))
        with contextlib.ExitStack() as stack:
            for fh in handles:
                stack.enter_context(fh)
            yield tuple(handles)
            for current, fh in zip(paths, handles):
                fh.flush()
                os.fsync(fh.fileno())
        for current, tmp in zip(paths, temps):
            os.replace(tmp, current)
    except BaseException as exc:
        for tmp in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
            reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            kept = "previous file left unchanged" if len(paths) == 1 else "previous files left unchanged"
            raise OutputError(f"{current}: cannot write ({reason}); {kept}") from exc
        raise


def check_output_file(output: str, force: bool, inputs: list[str] = ()) -> None:
    """Before any work: ``output`` (one file a command writes) is not a directory, not one of
    ``inputs``, does not exist unless ``force``, and its directory is writable; else OutputError."""
    if os.path.isdir(output):
        raise OutputError(f"{output}: is a directory; give the file to write with -o")
    check_not_an_input(output, [p for p in inputs if p != "-"], ())
    if os.path.exists(output) and not force:
        raise OutputError(f"{output}: already exists; pass --force to overwrite it")
    parent = os.path.dirname(os.path.abspath(output))
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{parent}: directory is missing or not writable; choose another -o")


def check_not_an_input(output: str | os.PathLike, inputs: list, run_files: tuple[str, ...]) -> None:
    """``OutputError`` when ``output`` is one of the files a command reads: an input file, or one
    of ``run_files`` inside an input run directory (``compare A B --json A/model.npz`` replaced
    the model it had just read)."""
    output = os.fspath(output)
    if not os.path.exists(output):
        return
    for given in inputs:
        given = os.fspath(given)
        read = [os.path.join(given, f) for f in run_files] if os.path.isdir(given) else [given]
        if any(os.path.exists(f) and os.path.samefile(f, output) for f in read):
            raise OutputError(f"{output}: is also an input (read from {given}); write to another file")


def json_safe(value):
    """NaN -> None, recursively, so records and reports are strict JSON (NaN is not JSON)."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def json_value(text: str | bytes):
    """``json.loads`` for text we did not write ourselves: a value nested too deeply for
    Python's recursion (a 1 KB file of brackets) is a ``json.JSONDecodeError`` like any other
    malformed JSON, not a RecursionError."""
    import json

    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text if isinstance(text, str) else "", 0) from None


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, hex (read in 1 MiB blocks); ``OSError`` as ``open`` raises it."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# deflate cannot expand data more than about 1032 times: a member (or .gz) claiming more is forged
DEFLATE_MAX_RATIO = 1032


def checked_npz(path: str):
    """``np.load`` of an .npz archive (no pickles), once every member's .npy header agrees with
    the member's size: a header claiming more data than the member holds (10^11 rows in a few
    bytes), an object dtype or an impossible compression ratio is a ``FormatError`` naming the
    file and member, before anything is allocated. Not-a-zip files raise as ``np.load`` does."""
    import math
    import tokenize
    import zipfile

    import numpy as np
    from numpy.lib import format as npy

    readers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):  # NumPy writes only these
                raise FormatError(f"{path}: member {info.filename} uses zip compression method "
                                  f"{info.compress_type}, which NumPy never writes: the file is damaged")
            if info.compress_type != zipfile.ZIP_STORED and info.file_size > DEFLATE_MAX_RATIO * max(info.compress_size, 1):
                raise FormatError(f"{path}: member {info.filename} claims {info.file_size} bytes from "
                                  f"{info.compress_size} compressed: the file is damaged")
            with archive.open(info) as fh:
                try:
                    version = npy.read_magic(fh)
                    shape, _, dtype = readers[version](fh) if version in readers else (None, None, None)
                except (ValueError, KeyError, EOFError, SyntaxError, tokenize.TokenError, zipfile.BadZipFile) as exc:
                    raise FormatError(f"{path}: member {info.filename} is not a NumPy array ({exc})") from None
                if shape is None:
                    raise FormatError(f"{path}: member {info.filename}: unsupported .npy version {version}")
                held = info.file_size - fh.tell()
            if dtype.hasobject:
                raise FormatError(f"{path}: member {info.filename} holds Python objects; only plain arrays are read")
            claimed = dtype.itemsize * math.prod(shape)
            if claimed != held:
                raise FormatError(f"{path}: member {info.filename} claims shape {shape} ({claimed} bytes) but "
                                  f"holds {held} bytes: the file is damaged or not written by w2v-nce")
    return np.load(path, allow_pickle=False)
