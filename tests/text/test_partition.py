"""``w2v-nce split``: every line in exactly one part, balanced parts, one pass over any input."""

from __future__ import annotations

import gzip
import os

import pytest
from click.testing import CliRunner

from tests.conftest import SAMPLE
from w2v_nce.cli import main
from w2v_nce.errors import OutputError
from w2v_nce.text.corpus import Corpus
from w2v_nce.text.partition import split_corpus


def lines_of(paths) -> list[bytes]:
    out = []
    for p in paths:
        opener = gzip.open if p.endswith(".gz") else open
        with opener(p, "rb") as fh:
            out.extend(fh.read().splitlines())
    return out


@pytest.mark.parametrize("compress_input", [False, True])
def test_every_line_lands_in_one_part_and_parts_are_balanced(tmp_path, compress_input):
    src = SAMPLE
    if compress_input:  # one .gz: what cannot be cut otherwise
        src = str(tmp_path / "sample.txt.gz")
        with open(SAMPLE, "rb") as a, gzip.open(src, "wb") as b:
            b.write(a.read())
    paths = split_corpus(Corpus([src]), str(tmp_path / "parts"), 4, block_bytes=16 << 10)
    original = open(SAMPLE, "rb").read().splitlines()
    assert sorted(lines_of(paths)) == sorted(original)  # no line lost, cut or repeated
    sizes = [os.path.getsize(p) for p in paths]
    assert min(sizes) > 0.8 * max(sizes)
    part1 = open(paths[1], "rb").read().splitlines()  # a part keeps the corpus's order of its lines
    assert part1 == sorted(part1, key=original.index)


def test_gzip_parts_and_the_cli(tmp_path):
    r = CliRunner().invoke(main, ["split", SAMPLE, "-o", str(tmp_path / "p"), "--parts", "2", "--gzip"])
    assert r.exit_code == 0, r.output
    names = sorted(os.listdir(tmp_path / "p"))
    assert names == ["part-00000.txt.gz", "part-00001.txt.gz"]
    assert sorted(lines_of([str(tmp_path / "p" / n) for n in names])) == sorted(open(SAMPLE, "rb").read().splitlines())


def test_an_existing_output_is_refused_and_nothing_is_left_behind(tmp_path):
    (tmp_path / "p").mkdir()
    with pytest.raises(OutputError, match="already exists"):
        split_corpus(Corpus([SAMPLE]), str(tmp_path / "p"), 2)
    r = CliRunner().invoke(main, ["split", SAMPLE, "-o", str(tmp_path / "p"), "--parts", "2"])
    assert r.exit_code == 1 and "already exists" in r.output and len(r.output.strip().splitlines()) == 1
    r = CliRunner().invoke(main, ["split", str(tmp_path / "missing.txt"), "-o", str(tmp_path / "q"), "--parts", "2"])
    assert r.exit_code == 1 and not (tmp_path / "q").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".w2v-nce-split-")]  # no temp directory left
