"""Fixtures shared by the test files: the bundled sample, its six-part split, the CLI runner."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout
SAMPLE = os.path.join(REPO, "data", "sample.txt")


@pytest.fixture(scope="session")
def sample() -> str:
    """Path of the bundled sample corpus (565 KB of State of the Union addresses)."""
    return SAMPLE


@pytest.fixture(scope="session")
def parts(tmp_path_factory) -> str:
    """The bundled sample as a directory of 6 files, its lines dealt round-robin: enough parts
    for 2 replicas x 3 threads to each read their own."""
    d = tmp_path_factory.mktemp("parts")
    lines = open(SAMPLE, encoding="utf-8").read().splitlines()
    for i in range(6):
        (d / f"part{i}.txt").write_text("\n".join(lines[i::6]) + "\n", encoding="utf-8")
    return str(d)


def run_cli(*args, input=None):
    """Run ``w2v-nce ARGS`` in this process (the click Result); exceptions propagate."""
    from w2v_nce.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)
