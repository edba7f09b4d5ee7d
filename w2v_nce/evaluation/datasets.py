"""The bundled evaluation sets, and what analogies and similarity share: reading a UTF-8 file
strictly, and gensim's restricted, optionally case-folded word lookup.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterable

from ..errors import FormatError

# ---------------------------------------------------------------------------------------------
# Bundled evaluation sets
# ---------------------------------------------------------------------------------------------

_ANALOGY_FILES = ("questions-words.txt",)
_SIMILARITY_FILES = (
    "wordsim353_combined.csv",
    "SimLex-999.txt",
    "MEN_dataset_natural_form_full",
    "rw.txt",
    "MTURK-771.csv",
    "wordsim_similarity_goldstandard.txt",
    "wordsim_relatedness_goldstandard.txt",
)


def eval_data_dir() -> Path:
    """Where the bundled evaluation sets are: ``data/eval`` of the checkout holding this package
    (editable install), else ``<prefix>/share/w2v-nce/eval`` (pyproject's data-files, for a
    regular ``pip install``). May not exist."""
    checkout = Path(__file__).resolve().parents[2] / "data" / "eval"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "w2v-nce" / "eval"


def default_analogy_files() -> list[Path]:
    """The bundled analogy sets that exist (questions-words.txt); [] when not bundled."""
    return [p for p in (eval_data_dir() / name for name in _ANALOGY_FILES) if p.is_file()]


def default_similarity_files() -> list[Path]:
    """The bundled word-pair similarity sets that exist, WordSim-353 first; [] when not bundled."""
    return [p for p in (eval_data_dir() / name for name in _SIMILARITY_FILES) if p.is_file()]


# ---------------------------------------------------------------------------------------------
# Lookup shared by analogies and similarity
# ---------------------------------------------------------------------------------------------


def vocab_lookup(words: list[str], restrict_vocab: int | None, case_insensitive: bool) -> tuple[dict[str, int], list[str]]:
    """gensim's restricted vocabulary: key -> row for the first ``restrict_vocab`` words, keys
    upper-cased when ``case_insensitive``; among case variants the first (most frequent) row wins.
    Also returns each row's key."""
    rows = words if restrict_vocab is None else words[:restrict_vocab]
    keys = list(map(str.upper, rows)) if case_insensitive else list(rows)
    # built from the last row to the first, so that the first row of each key is what stays
    # (a C-level loop: it runs once per evaluation set over the whole vocabulary)
    index = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1)))
    return index, keys


def lookup_of(words: list[str], wanted: Iterable[str], case_insensitive: bool) -> dict[str, int]:
    """``vocab_lookup``'s index (unrestricted) for the ``wanted`` words' keys only: one pass over
    the vocabulary that keeps no key of its own (an index of all V keys is ~130 bytes a word:
    200 MB at V = 1.5M, for a few thousand words looked up)."""
    fold = str.upper if case_insensitive else str
    keys = {fold(w) for w in wanted}
    index: dict[str, int] = {}
    for row, key in enumerate(map(fold, words)):
        if key in keys:
            index.setdefault(key, row)
    return index


def read_lines(path: str | os.PathLike) -> list[str]:
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise FormatError(f"{name}: cannot read ({exc.strerror or exc})") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = data.count(b"\n", 0, exc.start) + 1
        raise FormatError(f"{name}: line {line_no}: not valid UTF-8") from None
    return text.split("\n")
