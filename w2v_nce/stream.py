"""Ids to training examples: the stream of id chunks, and (centre, context) pair order.

The training kernels generate skip-gram pairs themselves (dynamic window, subsampling) from
chunks of whole sentences; this module makes those chunks from corpus blocks and holds the
plain-Python definition of the pair order used by evaluation and by the tests.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from .kernels.records import SENTENCE_END
from .rng import hash_uniform
from .text.corpus import BLOCK_BYTES, Corpus, Position, ReadStats, continuation_bytes
from .text.splits import Split, split_blocks
from .vocabulary.vocab import Vocab, encode_block


@dataclass
class StreamState:
    """Exact place in the id stream: the corpus position plus the sentence piece in progress."""

    position: Position = field(default_factory=Position)
    carry_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    piece_tokens: int = 0  # raw tokens already in the sentence piece in progress
    sentences: int = 0  # complete (non-empty) sentences emitted so far: the hold-out selection's index

    def to_json(self) -> dict:
        return {
            "position": self.position.to_json(),
            "carry_ids": self.carry_ids.tolist(),
            "piece_tokens": self.piece_tokens,
            "sentences": self.sentences,
        }

    @classmethod
    def from_json(cls, d: dict) -> "StreamState":
        carry = d["carry_ids"]
        if not isinstance(carry, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in carry):
            raise ValueError("carry_ids are not integers")  # a float 1.5 was truncated to row 1
        return cls(Position.from_json(d["position"]), np.array(carry, dtype=np.int32), int(d["piece_tokens"]),
                   int(d.get("sentences", 0)))


@dataclass
class IdChunk:
    """Whole sentences as ids separated by SENTENCE_END (ends with it), and where the stream is after it."""

    ids: np.ndarray  # int32
    words: int  # in-vocabulary tokens (ids >= 0)
    state_after: StreamState
    raw_tokens: int = 0
    oov_tokens: int = 0
    split_sentences: int = 0
    stats: ReadStats = field(default_factory=ReadStats)


@dataclass
class ReaderCounts:
    """What the reader saw over a span of chunks: reported after each epoch and in metrics.json."""

    tokens: int = 0  # raw tokens read (held-out sentences included)
    oov_tokens: int = 0  # of them, not in the vocabulary (dropped)
    split_sentences: int = 0  # lines split because they reached max_sentence_len tokens
    stats: ReadStats = field(default_factory=ReadStats)  # bytes read, invalid UTF-8 replaced, forced splits

    def add(self, chunk: IdChunk) -> None:
        self.tokens += chunk.raw_tokens
        self.oov_tokens += chunk.oov_tokens
        self.split_sentences += chunk.split_sentences
        self.stats.add(chunk.stats)

    def merge(self, other: "ReaderCounts") -> None:
        """Add another reader's counts (replicas reading other parts of the same epoch)."""
        self.tokens += other.tokens
        self.oov_tokens += other.oov_tokens
        self.split_sentences += other.split_sentences
        self.stats.add(other.stats)

    def to_json(self) -> dict:
        return {"tokens": self.tokens, "oov_tokens": self.oov_tokens, "split_sentences": self.split_sentences,
                **dataclasses.asdict(self.stats)}

    @classmethod
    def from_json(cls, d: dict) -> "ReaderCounts":
        """ValueError for a count below 0 (a checkpoint's, forged or corrupt: metrics would report it)."""
        stats = ReadStats(**{f.name: int(d.get(f.name, 0)) for f in dataclasses.fields(ReadStats)})
        counts = cls(int(d.get("tokens", 0)), int(d.get("oov_tokens", 0)), int(d.get("split_sentences", 0)), stats)
        if min(counts.to_json().values()) < 0:
            raise ValueError("the reader's counts hold a negative number")
        return counts


def held_out(index: np.ndarray, fraction: float) -> np.ndarray:
    """Whether sentence number ``index`` (int64 array) is held out: ``rng.hash_uniform(index) < fraction``.

    A fixed hash of the sentence's position in the stream, so the same sentences are held out
    in every epoch, on resume, and when the held-out side is read for evaluation.
    """
    if fraction <= 0:
        return np.zeros(len(index), dtype=bool)
    u = np.empty(len(index), dtype=np.float64)
    hash_uniform(np.asarray(index, dtype=np.int64), u)
    return u < fraction


def _select_sentences(ids: np.ndarray, first: int, fraction: float, heldout_side: bool) -> tuple[np.ndarray, int]:
    """Keep the training (or the held-out) sentences of ``ids``; returns (ids, sentences seen)."""
    ends = np.flatnonzero(ids == SENTENCE_END)
    n = len(ends)
    if fraction <= 0 or n == 0:
        return ids, n
    keep = held_out(np.arange(first, first + n, dtype=np.int64), fraction)
    if not heldout_side:
        keep = ~keep
    lengths = np.diff(np.concatenate([[-1], ends]))
    return ids[np.repeat(keep, lengths)], n


def first_sentence(split: Split | None) -> int:
    """The hold-out index of a part's first sentence: part s numbers its sentences from s << 40
    (0 for the whole corpus), so parts read apart never share an index."""
    return 0 if split is None else split.index << 40


def id_chunks(corpus: Corpus, vocab: Vocab, max_sentence_len: int, start: StreamState | None = None,
              block_bytes: int = BLOCK_BYTES, holdout: float = 0.0, heldout_side: bool = False,
              split: Split | None = None) -> Iterator[IdChunk]:
    """Encode the corpus (or one ``split`` of it) from ``start`` to its end into chunks of whole
    sentences.

    Chunk boundaries depend only on the corpus and ``start`` (fixed-offset blocks), so a
    resumed stream yields exactly the chunks the uninterrupted one would have.
    ``holdout`` > 0 drops that fraction of sentences (see ``held_out``); ``heldout_side``
    yields only those dropped sentences instead (the held-out text). ``start`` None is the
    part's beginning (``first_sentence``).
    """
    slots, word_bytes, offsets = vocab.table()
    st = start or StreamState(sentences=first_sentence(split))
    carry = st.carry_ids
    piece = st.piece_tokens
    sentences = st.sentences
    blocks = corpus.blocks(st.position, block_bytes) if split is None else split_blocks(corpus, split, st.position,
                                                                                          block_bytes)
    for block in blocks:
        # bytes that continue a token split at the previous block's end are part of one over-long
        # (out of vocabulary) token: skip them rather than read them as a word
        buf = np.frombuffer(block.data, dtype=np.uint8)[continuation_bytes(block):]
        out = np.empty(len(buf) // 2 + 2, dtype=np.int32)
        state = np.array([piece, 0, 0, 0], dtype=np.int64)
        n = encode_block(buf, slots, word_bytes, offsets, max_sentence_len, block.source_end, out, state)
        piece = int(state[0])
        ids = out[:n]
        # Keep only complete sentences; the piece in progress waits for the next block.
        ends = np.flatnonzero(ids == SENTENCE_END)
        cut = int(ends[-1]) + 1 if len(ends) else 0
        if cut:
            chunk_ids = np.concatenate([carry, ids[:cut]])
            carry = ids[cut:].copy()
        else:
            chunk_ids = np.zeros(0, dtype=np.int32)
            carry = np.concatenate([carry, ids])
        chunk_ids, n_sent = _select_sentences(chunk_ids, sentences, holdout, heldout_side)
        sentences += n_sent
        after = StreamState(block.position_after, carry.copy(), piece, sentences)
        words = int(np.count_nonzero(chunk_ids >= 0))
        yield IdChunk(chunk_ids, words, after, int(state[1]), int(state[2]), int(state[3]), block.stats)


def window_pairs(sentence: list[int], window: int, reduced: list[int] | None = None) -> list[tuple[int, int]]:
    """(centre, context) pairs of one sentence in corpus order: centre position ascending,
    then context position ascending, 1 <= distance <= window - reduced[i] (word2vec's dynamic
    window draws reduced[i] uniformly from 0..window-1; None = full window)."""
    pairs = []
    n = len(sentence)
    for i in range(n):
        w = window - (reduced[i] if reduced is not None else 0)
        for j in range(max(0, i - w), min(n, i + w + 1)):
            if j != i:
                pairs.append((sentence[i], sentence[j]))
    return pairs


def split_sentences(ids: np.ndarray) -> list[np.ndarray]:
    """Split an id stream at SENTENCE_END separators (empty sentences dropped)."""
    ends = np.flatnonzero(ids == SENTENCE_END)
    out, start = [], 0
    for e in ends:
        if e > start:
            out.append(ids[start:e])
        start = e + 1
    if start < len(ids):
        out.append(ids[start:])
    return out


def heldout_pairs(chunks: Iterator[IdChunk], window: int, max_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``max_pairs`` (centre, context) pairs of held-out text, full window, corpus order."""
    centres: list[int] = []
    contexts: list[int] = []
    for chunk in chunks:
        for sent in split_sentences(chunk.ids):
            s = sent.tolist()
            for c, x in window_pairs(s, window):
                centres.append(c)
                contexts.append(x)
                if len(centres) >= max_pairs:
                    return np.array(centres, dtype=np.int32), np.array(contexts, dtype=np.int32)
    return np.array(centres, dtype=np.int32), np.array(contexts, dtype=np.int32)


@dataclass
class HeldOut:
    """Held-out examples for the full loss: example e's input is the mean (or sum) of the w_in
    rows of its bag ``ids[start[e]:start[e + 1]]`` (skip-gram: a bag of one, the centre), its
    class ``labels[e]``."""

    ids: np.ndarray  # int32[total bag entries]
    start: np.ndarray  # int64[n + 1]
    labels: np.ndarray  # int32[n]

    def __len__(self) -> int:
        return len(self.labels)

    def bag(self, e: int) -> np.ndarray:
        return self.ids[self.start[e]:self.start[e + 1]]


def heldout_examples(chunks: Iterator[IdChunk], window: int, max_examples: int, arch: str) -> HeldOut:
    """The first ``max_examples`` held-out examples, full window, corpus order: skip-gram's
    (centre, context) pairs of ``heldout_pairs``, or one CBOW example per centre (its bag the
    window's context words, its class the centre)."""
    if arch == "skipgram":
        centres, contexts = heldout_pairs(chunks, window, max_examples)
        return HeldOut(centres, np.arange(len(centres) + 1, dtype=np.int64), contexts)
    ids: list[int] = []
    start = [0]
    labels: list[int] = []
    for chunk in chunks:
        for sent in split_sentences(chunk.ids):
            s = sent.tolist()
            for i, c in enumerate(s):
                bag = s[max(0, i - window):i] + s[i + 1:i + window + 1]
                if not bag:
                    continue
                ids.extend(bag)
                start.append(len(ids))
                labels.append(c)
                if len(labels) >= max_examples:
                    return HeldOut(np.array(ids, np.int32), np.array(start, np.int64), np.array(labels, np.int32))
    return HeldOut(np.array(ids, np.int32), np.array(start, np.int64), np.array(labels, np.int32))
