"""``w2v-nce split``: a corpus written out as N files, so that N readers (replicas, threads) can share it.

A single compressed file cannot be cut (a compressed stream cannot be entered in the middle),
so a replica or thread reading it is the only one with text. One pass over the corpus writes
its lines to N part files in turn, about ``block_bytes`` of whole lines at a time (part i gets
blocks i, i + N, ...): the parts are balanced whatever the corpus's size, and no line is cut.
Every token reaches exactly one part; the order of lines within a part is the corpus's.
Parts are plain text (``part-00000.txt``) or, with ``compress``, gzip (``.txt.gz``, level 1).
Written atomically: into a temp directory beside the output, renamed when complete.
"""

from __future__ import annotations

import errno
import gzip
import os
import shutil
import tempfile
from typing import Callable

from ..errors import OutputError
from .corpus import Corpus

PART_BLOCK_BYTES = 1 << 20


def split_corpus(corpus: Corpus, out_dir: str, parts: int, compress: bool = False,
                 block_bytes: int = PART_BLOCK_BYTES, progress: Callable[[int], None] | None = None) -> list[str]:
    """Write ``corpus`` as ``parts`` files in ``out_dir`` (which must not exist); their paths."""
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    if os.path.exists(out_dir):
        raise OutputError(f"{out_dir}: already exists; choose a new directory with -o")
    parent = os.path.dirname(os.path.abspath(out_dir))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise OutputError(f"{parent}: directory is missing or not writable; choose another -o")
    tmp = tempfile.mkdtemp(prefix=".w2v-nce-split-", dir=parent)
    suffix = ".txt.gz" if compress else ".txt"
    names = [f"part-{i:05d}{suffix}" for i in range(parts)]
    handles: list = []
    try:
        try:
            for n in names:
                handles.append(gzip.open(os.path.join(tmp, n), "wb", compresslevel=1) if compress
                               else open(os.path.join(tmp, n), "wb"))
        except OSError as exc:
            for fh in handles:
                fh.close()
            hint = "; lower --parts or raise the limit (ulimit -n)" if exc.errno == errno.EMFILE else ""
            raise OutputError(f"{out_dir}: cannot open part {len(handles) + 1} of {parts} "
                              f"({exc.strerror or exc}){hint}") from None
        try:
            _deal(corpus, handles, block_bytes, progress)
        finally:
            for fh in handles:
                fh.close()
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [os.path.join(out_dir, n) for n in names]


def _deal(corpus: Corpus, handles: list, block_bytes: int, progress) -> None:
    """Lines to the parts in turn, ``block_bytes`` at a time, cut after a line break."""
    pending, turn = b"", 0
    for block in corpus.blocks():
        pending += block.data
        if block.source_end and pending and not pending.endswith(b"\n"):
            pending += b"\n"  # a source's last line ends there, as the reader treats it
        while len(pending) >= block_bytes:
            cut = pending.find(b"\n", block_bytes - 1) + 1  # the first line break past the block's size
            if cut <= 0:
                break  # one line longer than a block: wait for its end
            handles[turn % len(handles)].write(pending[:cut])
            pending, turn = pending[cut:], turn + 1
        if progress is not None:
            progress(block.stats.bytes)
    if pending:
        handles[turn % len(handles)].write(pending)
