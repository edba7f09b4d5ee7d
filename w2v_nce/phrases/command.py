"""The ``w2v-nce phrases`` command's library side: build a table, or write joined text."""

from __future__ import annotations

import os
import time
from typing import Callable

from ..errors import ConfigError
from ..io import atomic_output, check_output_file
from ..text.corpus import Corpus
from .build import build_table
from .join import PhraseJoiner
from .table import CONNECTOR_SETS, PhraseSettings, PhraseTable

Log = Callable[[str], None]


def connector_words(spec: str) -> tuple[str, ...]:
    """``english``, ``none``, or a UTF-8 file of connector words (whitespace-separated)."""
    if spec in CONNECTOR_SETS:
        return CONNECTOR_SETS[spec]
    try:
        with open(spec, encoding="utf-8") as fh:
            words = fh.read().split()
    except FileNotFoundError:
        raise ConfigError(f"--connectors: {spec} is neither english, none nor a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--connectors: cannot read {spec} as UTF-8 words ({exc})") from None
    return tuple(dict.fromkeys(words))  # once each, in file order


def write_table(paths: list[str], output: str, settings: PhraseSettings, threads: int, count_memory: int,
                force: bool, log: Log) -> PhraseTable:
    """Build the phrase table of ``paths`` and write it to ``output`` (atomically); spill files,
    if counting needs them, go beside it."""
    settings.check()
    corpus = Corpus(paths, lowercase=settings.lowercase)
    try:
        check_output_file(output, force, corpus.sources)
        corpus.check_readable()
        t = time.time()
        table = build_table(corpus, settings, threads, count_memory, os.path.dirname(os.path.abspath(output)))
    finally:
        corpus.close()
    for i, totals in enumerate(table.passes, 1):
        log(f"pass {i}: {totals['words']:,} words, {totals['entries']:,} words and candidates counted, "
            f"{totals['phrases']:,} phrases")
    table.write(output)
    log(f"{time.time() - t:.1f} s")
    return table


def write_joined(paths: list[str], table_path: str, output: str, force: bool) -> int:
    """Write ``paths``' text with the table's phrases joined (lowercased if the table was built
    so) to ``output``, atomically; returns the bytes written."""
    table = PhraseTable.read(table_path)
    corpus = Corpus(paths, lowercase=table.settings.lowercase, transform=PhraseJoiner(table))
    written = 0
    try:
        check_output_file(output, force, corpus.sources + [table_path])
        corpus.check_readable()
        with atomic_output(output) as fh:
            for block in corpus.blocks():
                fh.write(block.data)
                written += len(block.data)
    finally:
        corpus.close()
    return written
