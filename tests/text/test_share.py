"""--replay's share of a text's lines: chosen by a hash of each line's bytes, whatever the blocks."""

from __future__ import annotations

import numpy as np
import pytest

from w2v_nce.text.corpus import Corpus
from w2v_nce.text.share import keep_share

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
    lines = data.splitlines(keepends=True)  # only LF here: the test texts hold no other break
    return b"".join(line for line in lines if reference_uniform(line) < share)


def _lines(n: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return b"".join(" ".join(f"w{x}" for x in rng.integers(0, 500, rng.integers(0, 12))).encode() + b"\n"
                     for _ in range(n))


@pytest.mark.parametrize("share", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_the_share_keeps_exactly_the_lines_the_reference_keeps(share):
    data = _lines(3000) + b"a last line without its feed"
    kept = keep_share(data, share)
    assert kept == reference_keep(data, share)
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
