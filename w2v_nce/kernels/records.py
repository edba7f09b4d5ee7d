"""What the kernels receive: constants, and four small records of arrays and scalars.

Records are ``NamedTuple``s, which Numba passes by value and resolves field by field at
compile time (no runtime lookup). One call of ``train_chunk`` sees:

  Weights  the shared matrices (the Hogwild race we intend): w_in float32[V, D] (float32[V + buckets, D]
           with subwords: the words' rows, then the n-gram buckets'), w_out float32[V, D], bias float32[V]
  Tables   read-only distributions from the counts (subsampling, noise samplers), and each word's
           input rows when a word's input is the mean of its subword rows
  Params   the hyper-parameters of the run (scalars)
  Scratch  one worker's private state: its RNG, its float64 tallies, its buffers

``make_scratch`` is the one place a worker's buffers are allocated.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .numerics import log_q_tables

SENTENCE_END = -1  # the id between two sentences in an id stream (vocab.encode_block writes it)

LOSS_NCE = 0
LOSS_NEG = 1
LOSS_SSM = 2

ARCH_SKIPGRAM = 0  # the centre word's w_in row predicts each context word
ARCH_CBOW = 1  # the mean (or sum) of the context words' w_in rows predicts the centre word

SAMPLER_LOG_UNIFORM = 0
SAMPLER_UNIGRAM = 1
SAMPLER_UNIFORM = 2

# tallies layout (float64, one row per worker); the Trainer reduces the rows after a span
T_LOSS = 0  # summed per-example loss
T_EXAMPLES = 1  # (centre, context) examples trained
T_WORDS = 2  # in-vocabulary tokens read (before subsampling): the lr schedule's clock
T_KEPT = 3  # tokens kept by subsampling
T_BATCHES = 4  # negative draws (batches for nce/ssm, pairs for neg)
T_NONFINITE = 5  # 1.0 once a non-finite loss was seen (the kernel then stops)
N_TALLIES = 8

# rows marked in Scratch.touched (a bit mask per row: vocabulary ids, and with subwords the input
# table's rows too, so the mask spans max(V, table rows))
TOUCHED_IN = 1  # the w_in row (the input table's row) may have changed
TOUCHED_OUT = 2  # the w_out row and bias may have changed

# SGNS prefetches the w_out rows of the pair this many pairs ahead (1-3 measured alike;
# ``python scripts/bench_kernel.py --prefetch 0,2`` measures it against none)
PREFETCH_PAIRS = 2

ROW_PAD = 16  # per-worker rows of RNG state and tallies are padded to 128 bytes (no false sharing)


class Weights(NamedTuple):
    w_in: np.ndarray  # float32[V, D] centre-word (input) embeddings
    w_out: np.ndarray  # float32[V, D] context/class (output) weights, TF's ``weights``
    bias: np.ndarray  # float32[V] class biases, TF's ``biases`` (unused by neg)


class Tables(NamedTuple):
    keep_prob: np.ndarray  # float32[V] subsampling keep probability
    sampler_prob: np.ndarray  # float32[V] P(k) of the nce/ssm sampler (the log-Q tables and the initial bias come from it)
    alias_prob: np.ndarray  # float64[V] alias tables of the nce/ssm sampler (unigram only, else [1])
    alias_idx: np.ndarray  # int32[V]
    neg_alias_prob: np.ndarray  # float64[V] word2vec's unigram^distortion noise, for neg
    neg_alias_idx: np.ndarray  # int32[V]
    # the log-Q terms' tables for the nce/ssm sampler (make_tables fills them from sampler_prob)
    log_q_fixed: np.ndarray  # float32[V] log Q_k when no draw was rejected (log of S * P(k))
    log1m_prob: np.ndarray  # float32[V] log(1 - P(k)), for the count after rejections
    # subwords (``subwords.SubwordRows``): word w's input is the mean of w_in[sub_rows[sub_start[w]:sub_start[w+1]]];
    # sub_start int64[0] for a word-only run (the input is w_in[w]), which is how kernels tell the two apart
    sub_start: np.ndarray  # int64[V + 1] or int64[0]
    sub_rows: np.ndarray  # int32[sub_start[V]] or int32[0]


def make_tables(keep_prob, sampler_prob, alias_prob, alias_idx, neg_alias_prob, neg_alias_idx,
                num_sampled: int, sub_start=None, sub_rows=None) -> Tables:
    """Tables with the log-Q tables of ``sampler_prob`` (float32[V]) for draws of S = num_sampled;
    ``sub_start``/``sub_rows``: each word's input rows for a subword run (None: word-only)."""
    sampler_prob = np.asarray(sampler_prob, np.float32)
    log_q_fixed, log1m_prob = np.empty_like(sampler_prob), np.empty_like(sampler_prob)
    log_q_tables(sampler_prob, num_sampled, log_q_fixed, log1m_prob)
    sub_start = np.zeros(0, np.int64) if sub_start is None else np.asarray(sub_start, np.int64)
    sub_rows = np.zeros(0, np.int32) if sub_rows is None else np.asarray(sub_rows, np.int32)
    return Tables(keep_prob, sampler_prob, alias_prob, alias_idx, neg_alias_prob, neg_alias_idx, log_q_fixed, log1m_prob,
                  sub_start, sub_rows)


class Params(NamedTuple):
    loss_kind: int  # LOSS_*
    arch: int  # ARCH_*
    cbow_mean: bool  # CBOW input: mean of the context rows (else their sum)
    cbow_exact: bool  # CBOW mean: each context row takes 1/n of the input's gradient (else all of it)
    window: int  # maximum context distance
    num_sampled: int  # S: negatives per batch (nce/ssm) or per pair (neg)
    batch_size: int  # B: pairs sharing one draw (nce/ssm), examples sharing one (CBOW neg, shared_negatives)
    remove_hits: bool  # mask sampled ids equal to the label (nce/ssm)
    unique: bool  # S distinct negatives per batch (nce/ssm)
    sampler_kind: int  # SAMPLER_* (nce/ssm)
    alpha: float  # lr at clock 0
    min_alpha: float  # lr floor, reached at clock total_words
    total_words: float  # the lr clock's end: epochs x in-vocab tokens trained per epoch
    prefetch_pairs: int  # how far ahead SGNS prefetches rows (speed only: results do not depend on it)
    shared_negatives: bool = False  # neg: one draw per window (skip-gram, window_neg) or per batch_size examples (CBOW)


class Batch(NamedTuple):
    """A batch of (input, label) pairs sharing one negative draw: nce/ssm (skip-gram and CBOW) and
    CBOW's ``negatives: batch``. The pairs come in runs: the pairs of run r share one input
    x_r = bag_scale[r] * sum of the w_in rows of its bag (skip-gram: a run is one centre with its
    contexts as labels, its bag that centre, scale 1; CBOW: a run is one example, its bag the
    context words, its label the centre)."""
    fill: np.ndarray  # int64[3]: pairs in the batch, runs in the batch, centre position of the last run
    labels: np.ndarray  # int32[B]: the class of each pair
    run_start: np.ndarray  # int32[B + 1]: run r is pairs run_start[r]..run_start[r+1]-1
    bag_ids: np.ndarray  # int32[B * 2 * window * bag_width]: the input rows of each run, run after run
    bag_start: np.ndarray  # int32[B + 1]: run r's bag is bag_ids[bag_start[r]:bag_start[r+1]]
    bag_scale: np.ndarray  # float32[B]: 1 / bag size (CBOW mean) or 1
    xin: np.ndarray  # float32[B, D]: each run's input vector, from the parameters before the batch
    u: np.ndarray  # float32[B, S]: sampled logits per run, then their gradient factors (CBOW batch)
    coef: np.ndarray  # float32[B, S]: nce/ssm: the sampled logits' gradient factors
    gt: np.ndarray  # float32[B]: each pair's true logit, then its gradient factor
    dx: np.ndarray  # float32[B, D]: input gradient per run
    logq_s: np.ndarray  # float32[S]: log Q of each sample (nce/ssm)
    logq_t: np.ndarray  # float32[B]: log Q of each label (nce/ssm)


class Draw(NamedTuple):
    """A batch's S negatives and the marks that find a label among them (accidental hits).

    The marks are a small open-addressing set of the batch's ids (C = ``marks_capacity(S)``
    slots, at most S used), not V-sized arrays: a worker's scratch does not grow with the
    vocabulary (12 bytes per word per thread before: 18 MB at V = 1.5M), and the set stays in
    L1 where a V-sized array misses the cache. A slot is empty unless its tag is this batch's."""
    samples: np.ndarray  # int64[S]
    keys: np.ndarray  # int64[C]: the id marked in each slot
    tags: np.ndarray  # int64[C]: the batch number that marked the slot (batch numbers start at 1)
    pos: np.ndarray  # int32[C]: the last position of the slot's id in samples
    batch_counter: np.ndarray  # int64[1]: batches drawn by this worker (the tags)


def marks_capacity(S: int) -> int:
    """Slots of a Draw's marks: a power of two >= 4 S (a quarter full at most), at least 16."""
    return max(16, 1 << (4 * S - 1).bit_length())


def make_draw(S: int) -> Draw:
    C = marks_capacity(S)
    return Draw(samples=np.empty(S, np.int64), keys=np.zeros(C, np.int64), tags=np.zeros(C, np.int64),
                pos=np.zeros(C, np.int32), batch_counter=np.zeros(1, np.int64))


class PairStep(NamedTuple):
    """neg, one (input, class) pair at a time (SGNS, CBOW neg): one centre drawn ahead, and one
    pair's targets."""
    ctx_buf: np.ndarray  # int64[2, 2 * window]: contexts of the current and next centre
    neg_buf: np.ndarray  # int64[2, 2 * window, S + 1]: their negatives (window_neg: [slot, 0] = centre, negatives)
    targets: np.ndarray  # int64[S + 1]: distinct rows of one pair
    mult: np.ndarray  # int64[S + 1]: how often each appears
    grads: np.ndarray  # float32[S + 1]: logits, then gradient factors
    neu1e: np.ndarray  # float32[D]: the input's accumulated gradient (times lr)
    neu1: np.ndarray  # float32[1, D]: CBOW's input vector (neg), a row as sgns' inputs are
    bag: np.ndarray  # int64[2 * window * bag_width]: a subword example's input rows (neg)
    acc: np.ndarray  # float32[D]: a subword centre's input gradient over its window (skip-gram neg)


class WindowStep(NamedTuple):
    """``negatives: window``: one window's step, its contexts against one shared draw."""
    logits: np.ndarray  # float32[2 * window, S + 1]: logits, then gradient factors
    flat: np.ndarray  # float32[2 * window * (S + 1)]: logits' memory as one row (vector loops)
    label_mask: np.ndarray  # float32[2 * window * (S + 1)]: 1.0 where flat holds a label logit (column 0)
    dx: np.ndarray  # float32[2 * window, D]: the input rows' deltas
    x: np.ndarray  # float32[2 * window, D]: with subwords, the contexts' bag means (the window's inputs)


class Scratch(NamedTuple):
    """One worker's buffers: its RNG and tallies, then one record per algorithm (each buffer has
    one name and one meaning)."""
    rng: np.ndarray  # uint64[>=1]: word 0 is this worker's splitmix64 state, advanced in place
    tallies: np.ndarray  # float64[>=N_TALLIES]: this worker's sums (T_*)
    sent: np.ndarray  # int32[max_sentence_len]: the kept words of the current sentence
    touched: np.ndarray  # uint8[max(V, table rows)] (TOUCHED_* bits, set by the kernel) or uint8[0] (not tracked)
    rows: np.ndarray  # int64[max(2 * window, B)]: 0, 1, 2, ... (row lists of the block loops; never written)
    batch: Batch
    draw: Draw
    pair: PairStep
    window: WindowStep


def make_scratch(V: int, D: int, params: Params, max_sentence_len: int, rng: np.ndarray, tallies: np.ndarray,
                 track_touched: bool = False, bag_width: int = 1, marked_rows: int = 0) -> Scratch:
    """One worker's buffers. ``rng`` and ``tallies`` are views the caller owns (checkpointed/reduced);
    ``bag_width``: the most input rows one word has (``SubwordRows.longest``; 1 word-only);
    ``marked_rows``: the touched mask's length when tracked (at least V; with subwords the input
    table's rows if more)."""
    S, B, W = params.num_sampled, params.batch_size, params.window
    win_flat = np.empty(2 * W * (S + 1), np.float32)
    batch = Batch(
        fill=np.zeros(3, np.int64),
        labels=np.empty(B, np.int32), run_start=np.zeros(B + 1, np.int32),
        bag_ids=np.empty(B * 2 * W * bag_width, np.int32), bag_start=np.zeros(B + 1, np.int32), bag_scale=np.ones(B, np.float32),
        xin=np.empty((B, D), np.float32),
        u=np.empty((B, S), np.float32), coef=np.empty((B, S), np.float32), gt=np.empty(B, np.float32),
        dx=np.empty((B, D), np.float32), logq_s=np.empty(S, np.float32), logq_t=np.empty(B, np.float32),
    )
    draw = make_draw(S)
    pair = PairStep(
        ctx_buf=np.empty((2, 2 * W), np.int64), neg_buf=np.empty((2, 2 * W, S + 1), np.int64),
        targets=np.empty(S + 1, np.int64), mult=np.empty(S + 1, np.int64), grads=np.empty(S + 1, np.float32),
        neu1e=np.empty(D, np.float32), neu1=np.empty((1, D), np.float32),
        bag=np.empty(2 * W * bag_width, np.int64), acc=np.empty(D, np.float32),
    )
    window = WindowStep(logits=win_flat.reshape(2 * W, S + 1), flat=win_flat,
                        label_mask=window_label_mask(2 * W, S + 1), dx=np.empty((2 * W, D), np.float32),
                        x=np.empty((2 * W, D), np.float32))
    return Scratch(
        rng=rng, tallies=tallies,
        sent=np.empty(max_sentence_len, np.int32),
        touched=np.zeros(max(V, marked_rows) if track_touched else 0, np.uint8),
        rows=np.arange(max(2 * W, B), dtype=np.int64),
        batch=batch, draw=draw, pair=pair, window=window,
    )


def window_label_mask(rows: int, width: int) -> np.ndarray:
    """float32 [rows * width]: 1.0 at the label column (0) of each row of a [rows, width] block, else 0."""
    mask = np.zeros((rows, width), np.float32)
    mask[:, 0] = 1.0
    return mask.reshape(-1)


def tables_bytes(V: int) -> int:
    """Bytes of a run's Tables at most (the unigram sampler: its alias tables are the neg ones,
    shared): keep_prob, sampler_prob, log_q_fixed, log1m_prob float32, two alias tables of
    float64 + int32 each, counted twice (the other samplers' are one entry)."""
    return V * (4 * 4 + 2 * (8 + 4))


def scratch_bytes(V: int, D: int, S: int, B: int, window: int, max_sentence_len: int, bag_width: int = 1) -> int:
    """Bytes ``make_scratch`` allocates (for the memory check before training)."""
    # nothing per word: touched (1 byte per word) is only tracked by the distributed trainer
    bags = B * 2 * window * bag_width * 4 + 2 * window * bag_width * 8 + D * 4
    return bags + marks_capacity(S) * (8 + 8 + 4) + B * (4 + 4 + 4 + 4 + 4 + 4) + 2 * B * S * 4 + 2 * B * D * 4 \
        + S * (8 + 4) + max_sentence_len * 4 + 2 * 2 * window * (2 + S) * 8 + (S + 1) * 20 + 2 * D * 4 \
        + 2 * window * (2 * (S + 1) + 2 * D) * 4 + max(2 * window, B) * 8
