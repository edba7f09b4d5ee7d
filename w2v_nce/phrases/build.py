"""Building a phrase table: per pass, count words and candidates exactly (the vocabulary's
counter: parallel over corpus parts, spilling under ``count_memory``), then score them.
"""

from __future__ import annotations

import numpy as np

from ..text.corpus import Corpus
from ..vocabulary.count import CountResult, count_words
from ..vocabulary.hashtable import empty_slots
from .join import CandidateEmitter, PhraseJoiner
from .kernels import SCORINGS, SEP, index_words, score_candidates
from .table import Phrase, PhraseSettings, PhraseTable

# Longest candidate key counted (bytes): keys are two words and the connectors between them.
# Must stay below the reader's block size (count_words' rule); longer keys are tallied, not counted.
MAX_KEY_BYTES = 1 << 16
# The phrases command's default count_memory (bytes): candidates are many more entries than words
# (en-mix: 17.9M against 0.7M). Counting en-mix with English connectors takes 1.5 GB unbounded;
# under the vocabulary's 2 GiB (1 GiB a thread at 2 threads) it spilled: 26 s instead of 17 s.
PHRASE_COUNT_MEMORY = 4 << 30


def build_table(corpus: Corpus, settings: PhraseSettings, threads: int = 1, count_memory: int = 0,
                spill_dir: str | None = None, progress=None) -> PhraseTable:
    """The phrase table of ``corpus`` (read ``settings.passes`` times; pass p counts the text
    with passes 1..p-1 joined). ``progress(nbytes)`` as in ``count_words``."""
    settings.check()
    table = PhraseTable(settings)
    saved = corpus.transform
    try:
        for pass_no in range(1, settings.passes + 1):
            joined = PhraseJoiner(table) if table.phrases else None
            emitter = CandidateEmitter(settings.connectors, joined)
            corpus.transform = emitter
            counted = count_words(corpus, progress, MAX_KEY_BYTES, count_memory, spill_dir, settings.min_count,
                                  threads=threads)
            found = scored_phrases(counted, settings, emitter.words, pass_no)
            table.passes.append({"words": emitter.words, "entries": counted.distinct, "phrases": len(found)})
            table.phrases.extend(found)
    finally:
        corpus.transform = saved
    return table


def scored_phrases(counted: CountResult, settings: PhraseSettings, words: int, pass_no: int) -> list[Phrase]:
    """The candidates of one pass's count that score above the threshold, highest first
    (ties by key bytes). ``words``: the pass's token total."""
    c = counted.counter
    n = c.distinct
    offsets, counts = c.offsets[: n + 1], c.counts[:n]
    frequent = int(np.count_nonzero(counts >= settings.min_count))  # the words among them are indexed
    slots = empty_slots(frequent)
    index_words(c.arena, offsets, counts, settings.min_count, slots)
    scores = np.empty(n, dtype=np.float64)
    score_candidates(c.arena, offsets, counts, slots, SCORINGS.index(settings.scoring), settings.min_count,
                     words, counted.distinct, scores)
    kept = np.flatnonzero(scores > settings.threshold)
    keys = [c.arena[offsets[w]: offsets[w + 1]].tobytes() for w in kept]
    order = sorted(range(len(kept)), key=lambda i: (-scores[kept[i]], keys[i]))
    sep = bytes([SEP])
    return [Phrase(pass_no, tuple(t.decode("utf-8") for t in keys[i].split(sep)), int(counts[kept[i]]),
                   float(scores[kept[i]])) for i in order]
