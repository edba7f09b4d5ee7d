"""``vocab.tsv``: ``word<TAB>count`` lines under a ``# w2v-nce vocab`` header, read strictly.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ..text.corpus import (
    WHITESPACE,
)

VOCAB_HEADER = "# w2v-nce vocab"


def read_vocab_tsv(path: str) -> tuple[list[str], np.ndarray, dict[str, int]]:
    """(words, int64 counts, header) of a ``word<TAB>count`` file; the header (the first line,
    when it starts with ``# ``) maps keys to ints. Anything else malformed is a FormatError
    naming the file and line: not two fields, a count that is not an integer >= 1, an empty
    word or one with whitespace, a word seen twice, invalid UTF-8, no words at all."""
    words: list[str] = []
    counts: list[int] = []
    header: dict[str, int] = {}
    seen: dict[str, int] = {}
    try:
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                line = _decoded(raw, path, lineno).rstrip("\n").removesuffix("\r")
                if lineno == 1 and line.startswith("# "):
                    header = _header(line, path)
                    continue
                word, count = _entry(line, path, lineno)
                if word in seen:
                    raise FormatError(f"{path}: line {lineno}: word {word!r} already on line {seen[word]}; "
                                      "each word must appear once")
                seen[word] = lineno
                words.append(word)
                counts.append(count)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read the vocabulary file ({exc.strerror})") from None
    if not words:
        raise FormatError(f"{path}: vocabulary file holds no words; write one with: w2v-nce vocab CORPUS -o {path}")
    if sum(counts) >= 1 << 62:  # the int64 totals the sampler and the lr clock are computed in
        raise FormatError(f"{path}: the counts add up to more than 2^62; is this a vocab.tsv?")
    return words, np.array(counts, dtype=np.int64), header


def _decoded(raw: bytes, path: str, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"{path}: line {lineno}: invalid UTF-8; a vocabulary file is UTF-8 text") from None


# A word counted more often than this is a corrupt or forged file (10^15 tokens of one word).
MAX_COUNT = 10**15


def _entry(line: str, path: str, lineno: int) -> tuple[str, int]:
    parts = line.split("\t")
    if len(parts) != 2:
        raise FormatError(f"{path}: line {lineno}: expected 'word<TAB>count', got {line[:60]!r}")
    word, count = parts
    if not word or any(c in word for c in WHITESPACE.decode()):
        raise FormatError(f"{path}: line {lineno}: word {word!r} is empty or holds whitespace; words are tokens")
    if not (count.isascii() and count.isdigit()) or int(count) < 1:
        raise FormatError(f"{path}: line {lineno}: count {count[:30]!r} is not an integer >= 1")
    if len(count) > 16 or int(count) > MAX_COUNT:
        raise FormatError(f"{path}: line {lineno}: count {count[:30]!r} is above {MAX_COUNT:,} (no corpus holds a "
                          "word that often); is this a vocab.tsv?")
    return word, int(count)


def _header(line: str, path: str) -> dict[str, int]:
    if not line.startswith(VOCAB_HEADER):
        raise FormatError(f"{path}: line 1: unknown header {line[:60]!r}; expected '{VOCAB_HEADER} tokens=N ...'")
    out = {}
    for item in line[len(VOCAB_HEADER):].split():
        key, _, value = item.partition("=")
        if not (value.isascii() and value.isdigit()):  # counts: a negative one is no count
            raise FormatError(f"{path}: line 1: header field {item!r} is not key=integer >= 0")
        out[key] = int(value)
    return out
