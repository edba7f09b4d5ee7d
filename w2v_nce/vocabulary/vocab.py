"""The vocabulary: the one pruning rule, frequency order, and encoding token bytes to ids.

Ids are assigned by decreasing count; ties keep the order of first occurrence in the corpus
(as gensim does), so the same corpus always gives the same ids. The log-uniform sampler
relies on this order (id 0 = most frequent).

Encoding runs in a Numba kernel over a whole text block (no Python per token), through the
table of ``hashtable.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..config import MAX_TOKEN_BYTES
from ..errors import CorpusError
from ..io import atomic_output
from ..kernels.records import SENTENCE_END
from ..text.corpus import (
    Corpus,
)
from .count import CountResult, count_words
from .counter import WordCounter
from .hashtable import is_space, lookup, word_table
from .tsv import VOCAB_HEADER, read_vocab_tsv


class Vocab:
    """Words (str) in id order with their int64 counts, plus the encoder table."""

    def __init__(self, words: list[str], counts: np.ndarray, epoch_words: int | None = None):
        """``epoch_words``: in-vocabulary tokens one epoch of this run's corpus trains, where the
        counts hold more than that corpus (``--init`` adds the earlier run's); None: their sum."""
        self.words = list(words)
        self.counts = np.asarray(counts, dtype=np.int64)
        self._epoch_words = epoch_words
        self._table = None

    def __len__(self) -> int:
        return len(self.words)

    @property
    def total(self) -> int:
        """The counts' sum: the corpus's in-vocabulary tokens (with ``--init``, the earlier run's too)."""
        return int(self.counts.sum())

    @property
    def epoch_words(self) -> int:
        """In-vocabulary tokens one epoch trains: the lr clock's unit (``train.total_clock``)."""
        return self.total if self._epoch_words is None else self._epoch_words

    @classmethod
    def build(cls, counter: WordCounter, min_count: int, max_vocab: int = 0) -> "Vocab":
        """Keep words with count >= min_count, most frequent first (ties: first seen first)."""
        counts = counter.counts[: counter.distinct]
        word_of = counter.word
        kept = np.flatnonzero(counts >= min_count)
        kept = kept[np.argsort(-counts[kept], kind="stable")]  # ids are first-seen order: ties stay so
        if max_vocab and len(kept) > max_vocab:
            kept = kept[:max_vocab]
        words = [word_of(int(i)).decode("utf-8") for i in kept]
        return cls(words, counts[kept].copy())

    # -- encoding -------------------------------------------------------------------
    def table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(slots int32[M], word_bytes uint8[N], offsets int64[V+1]) for ``encode_block``."""
        if self._table is None:
            self._table = tuple(word_table([w.encode("utf-8") for w in self.words]))
        return self._table

    def encode(self, data: bytes, max_sentence_len: int) -> np.ndarray:
        """Ids of a text block with SENTENCE_END after each sentence (convenience, for tests/eval)."""
        slots, word_bytes, offsets = self.table()
        buf = np.frombuffer(data, dtype=np.uint8)
        out = np.empty(len(buf) // 2 + 2, dtype=np.int32)
        state = np.zeros(4, dtype=np.int64)
        n = encode_block(buf, slots, word_bytes, offsets, max_sentence_len, True, out, state)
        return out[:n]

    def ids_of(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    @classmethod
    def from_counts(cls, words: list[str], counts: np.ndarray, min_count: int, max_vocab: int = 0) -> "Vocab":
        """``build``'s rule on listed counts: words counted >= min_count, most frequent first, ties
        in list order (a saved vocab.tsv is in id order: the counted vocabulary again)."""
        counts = np.asarray(counts, dtype=np.int64)
        kept = np.flatnonzero(counts >= min_count)
        kept = kept[np.argsort(-counts[kept], kind="stable")]
        if max_vocab and len(kept) > max_vocab:
            kept = kept[:max_vocab]
        return cls([words[int(i)] for i in kept], counts[kept].copy())

    # -- persistence ----------------------------------------------------------------
    def save_tsv(self, path: str, header: dict[str, int] | None = None) -> None:
        """``word<TAB>count`` per line, id order, after an optional header line
        ``# w2v-nce vocab key=value ...`` (``tokens``: the corpus's token total, and the
        settings it was counted with; see ``read_vocab_tsv``)."""
        with atomic_output(path, "w") as fh:
            if header:
                fh.write(" ".join([VOCAB_HEADER] + [f"{k}={v}" for k, v in header.items()]) + "\n")
            for w, c in zip(self.words, self.counts.tolist()):
                fh.write(f"{w}\t{c}\n")

    @classmethod
    def load_tsv(cls, path: str) -> "Vocab":
        """Every word of a vocab.tsv with its count, in file order (see ``read_vocab_tsv``)."""
        words, counts, _ = read_vocab_tsv(path)
        return cls(words, counts)


def build_vocab(corpus: Corpus, min_count: int, max_vocab: int = 0, progress=None,
                max_token_bytes: int = MAX_TOKEN_BYTES, count_memory: int = 0,
                spill_dir: str | None = None, threads: int = 1) -> tuple[Vocab, CountResult]:
    """Count the corpus (see ``count_words``) and build the vocabulary; an empty result is a
    CorpusError saying what to do."""
    result = count_words(corpus, progress, max_token_bytes, count_memory, spill_dir, min_count, threads=threads)
    return vocab_from_count(corpus, result, min_count, max_vocab, max_token_bytes), result


def vocab_from_count(corpus: Corpus, result: CountResult, min_count: int, max_vocab: int,
                     max_token_bytes: int) -> Vocab:
    """The vocabulary of a count; an empty one is a CorpusError saying what to do."""
    if result.tokens == 0:
        raise CorpusError(f"{', '.join(corpus.paths)}: corpus is empty (no tokens)")
    vocab = Vocab.build(result.counter, min_count, max_vocab)
    if len(vocab) == 0:
        long = (f"; {result.long_tokens} tokens longer than --max-token-bytes {max_token_bytes} were left out"
                if result.long_tokens else "")
        raise CorpusError(
            f"no word occurs at least {min_count} times ({result.distinct} distinct words, "
            f"{result.tokens} tokens{long}); try a smaller --min-count"
        )
    return vocab


@njit(cache=True, nogil=True)
def encode_block(buf, slots, word_bytes, offsets, max_sentence_len, block_ends_sentence, out, state):
    """Encode a text block to ids, appending SENTENCE_END (-1) after each sentence.

    buf uint8[n]: text ending at a token boundary. out int32[>= n//2 + 2]: receives ids.
    state int64[4] (in/out): [0] raw tokens in the current sentence piece (carried across
    blocks of one line), [1] += raw tokens, [2] += out-of-vocabulary tokens (dropped),
    [3] += sentences split because they reached ``max_sentence_len`` raw tokens.
    A sentence ends at LF, after ``max_sentence_len`` raw tokens, or at the block's end when
    ``block_ends_sentence``. Empty sentences emit nothing. Returns the number of ints written.
    """
    n = buf.shape[0]
    k = 0
    piece = state[0]
    emitted = False  # an id was written since the last separator
    if k == 0 and piece > 0:
        emitted = True  # ids of this piece were emitted in an earlier block (caller carries them)
    i = 0
    while i < n:
        c = buf[i]
        if c == 10:
            if emitted:
                out[k] = SENTENCE_END
                k += 1
            emitted = False
            piece = 0
            i += 1
            continue
        if is_space(c):
            i += 1
            continue
        start = i
        while i < n and not is_space(buf[i]):
            i += 1
        w = lookup(buf, start, i, slots, word_bytes, offsets)
        state[1] += 1
        if w >= 0:
            out[k] = w
            k += 1
            emitted = True
        else:
            state[2] += 1
        piece += 1
        if piece >= max_sentence_len:
            if emitted:
                out[k] = SENTENCE_END
                k += 1
            emitted = False
            piece = 0
            state[3] += 1
    if block_ends_sentence:
        if emitted:
            out[k] = SENTENCE_END
            k += 1
        piece = 0
    state[0] = piece
    return k
