"""--replay's share of a text's lines: chosen by a hash of each line's head, whatever the blocks."""

from __future__ import annotations

import numpy as np
import pytest

from w2v_nce.text.corpus import Corpus, Position
from w2v_nce.text.share import HEAD_BYTES, UNKNOWN, keep_share

M64 = (1 << 64) - 1


def reference_uniform(line: bytes) -> float:
    """The plain definition: FNV-1a 64 of the line, splitmix64's step and mix, top 53 bits."""
    h = 0xCBF29CE484222325
    for b in line:
        h = ((h ^ b) * 0x100000001B3) & M64
    z = (h + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    z ^= z >> 31
    return (z >> 11) / 2.0**53


def reference_keep(data: bytes, share: float) -> bytes:
    """Whole lines, each decided by its first HEAD_BYTES bytes."""
    lines = data.splitlines(keepends=True)  # only LF here: the test texts hold no other break
    return b"".join(line for line in lines if reference_uniform(line[:HEAD_BYTES]) < share)


def _lines(n: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return b"".join(" ".join(f"w{x}" for x in rng.integers(0, 500, rng.integers(0, 12))).encode() + b"\n"
                     for _ in range(n))


@pytest.mark.parametrize("share", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_the_share_keeps_exactly_the_lines_the_reference_keeps(share):
    data = _lines(3000) + b"a last line without its feed"
    kept, carried = keep_share(data, share)
    assert kept == reference_keep(data, share)
    assert carried == (1 if kept.endswith(b"a last line without its feed") else 0)  # data ends inside that line
    if share == 0.0:
        assert kept == b""
    if share == 1.0:
        assert kept == data
    distinct = set(data.splitlines())  # duplicate lines (the empty one) go together: count distinct ones
    share_kept = len(set(kept.splitlines()) & distinct) / len(distinct)
    assert abs(share_kept - share) < 0.05


def test_the_share_is_the_same_lines_whatever_the_block_size(tmp_path):
    """Blocks of a shared source end at a line break, so each line is hashed whole, and the
    same lines come back at any block size (and at any cut into parts: the hash has no position)."""
    data = _lines(4000, seed=2)
    path = tmp_path / "old.txt"
    path.write_bytes(data)
    reads = []
    for block_bytes in (1 << 10, 4099, 1 << 20):
        corpus = Corpus([str(path)], shares=[0.3])
        reads.append(b"".join(b.data for b in corpus.blocks(block_bytes=block_bytes)))
    assert reads[0] == reads[1] == reads[2] == reference_keep(data, 0.3)
    assert 0.2 < len(reads[0]) / len(data) < 0.4


def test_a_corpus_reads_its_own_text_whole_and_the_replay_text_by_its_share(tmp_path):
    new, old = tmp_path / "new.txt", tmp_path / "old.txt"
    new.write_bytes(_lines(500, seed=3))
    old.write_bytes(_lines(500, seed=4))
    corpus = Corpus([str(new), str(old)], shares=[1.0, 0.5])
    assert corpus.shares == [1.0, 0.5]
    text = b"".join(b.data for b in corpus.blocks(block_bytes=2048))
    assert text == new.read_bytes() + reference_keep(old.read_bytes(), 0.5)
    with pytest.raises(ValueError):
        Corpus([str(new), str(old)], shares=[1.0])  # one share a path


def _long_lines(seed: int) -> bytes:
    """Short lines around lines of 20-300 KB (longer than a replica's 64 KiB block)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(40):
        n = int(rng.integers(4000, 60000)) if i % 4 == 0 else int(rng.integers(1, 12))
        out.append(" ".join(f"w{x}" for x in rng.integers(0, 500, n)).encode() + b"\n")
    return b"".join(out)


def test_a_line_longer_than_a_block_is_kept_or_dropped_whole_at_any_block_size(tmp_path):
    """The count reads 1 MiB blocks and a replica 64 KiB: a long line reaches the sampler in
    pieces, and the decision at its head is carried to the rest, so every block size reads the
    same lines (hashing each piece on its own kept different text at each size)."""
    data = _long_lines(seed=5)
    path = tmp_path / "old.txt"
    path.write_bytes(data)
    reads = [b"".join(b.data for b in Corpus([str(path)], shares=[0.5]).blocks(block_bytes=size))
             for size in (4096, 64 << 10, 1 << 20)]
    assert reads[0] == reads[1] == reads[2] == reference_keep(data, 0.5)
    kept_long = [line for line in reads[0].splitlines() if len(line) > 64 << 10]
    assert kept_long and len(kept_long) < sum(len(line) > 64 << 10 for line in data.splitlines())


def test_a_read_resumed_inside_a_long_line_goes_on_with_its_decision(tmp_path):
    data = _long_lines(seed=6)
    path = tmp_path / "old.txt"
    path.write_bytes(data)
    corpus = Corpus([str(path)], shares=[0.5])
    blocks = list(corpus.blocks(block_bytes=4096))
    inside = [i for i, b in enumerate(blocks[:-1]) if b.position_after.kept != UNKNOWN]
    assert inside  # some block ends inside a long line
    for i in inside[:3] + inside[-2:]:
        pos = Position.from_json(blocks[i].position_after.to_json())  # as a checkpoint stores it
        tail = b"".join(b.data for b in corpus.blocks(pos, block_bytes=4096))
        assert tail == b"".join(b.data for b in blocks[i + 1:])
    with pytest.raises(ValueError):
        Position.from_json({"source": 0, "block": 1, "carry": "", "kept": 7})
