"""One worker's unit of work: a chunk of whole sentences, dispatched to the loss's algorithm."""

from __future__ import annotations

import math

from numba import njit

# R: the tallies' columns (T_*), the id stream's SENTENCE_END, the loss and architecture codes
from . import records as R
from .cbow import cbow_batch_sentence, cbow_neg_sentence
from .nce import batched_sentence, cbow_batched_sentence, draw_and_process
from .schedule import learning_rate
from .sentence import subsample
from .sgns import sgns_sentence, subword_sgns_sentence
from .window_neg import window_neg_sentence


# No fastmath here: the loop does little arithmetic, and its isfinite checks must survive
# (compiled with FASTMATH they were optimised away: test_nonfinite_loss_stops_the_kernel).
@njit(cache=True, nogil=True)
def train_chunk(ids, word_offset, weights, tables, params, scratch):
    """Train on ``ids`` (int32, sentences separated by SENTENCE_END, ending with it).

    Per sentence: the lr at its start (``learning_rate`` of clock = word_offset + words read
    so far in this chunk), subsampling, then the pairs of each centre's dynamic window, in
    corpus order, trained by the (architecture, loss)'s algorithm:
      skip-gram neg      sgns_sentence: fresh negatives per pair, the pair's step before the next
                         (window_neg_sentence with params.shared_negatives: one draw per window;
                         subword_sgns_sentence with subwords: the bag's step once per centre)
      skip-gram nce/ssm  batched_sentence: batches of ``batch_size`` pairs share one draw
      CBOW neg           cbow_neg_sentence: fresh negatives per (context bag, centre) example
                         (cbow_batch_sentence with params.shared_negatives: one draw per batch)
      CBOW nce/ssm       cbow_batched_sentence: batches of ``batch_size`` examples share a draw
    Batches carry over from sentence to sentence; the chunk's last, partial batch is trained
    at its end.
    Accumulates into scratch.tallies (T_*); stops early if a loss is not finite.
    """
    tallies = scratch.tallies
    n_ids = ids.shape[0]
    batched = params.loss_kind != R.LOSS_NEG
    cbow = params.arch == R.ARCH_CBOW
    scratch.batch.fill[0] = 0
    scratch.batch.fill[1] = 0
    words = 0.0
    kept = 0.0
    loss = 0.0
    examples = 0.0
    lr = params.alpha
    start = 0
    while start < n_ids:
        end = start
        while end < n_ids and ids[end] != R.SENTENCE_END:
            end += 1
        lr = learning_rate(word_offset + words, params.total_words, params.alpha, params.min_alpha)
        n = subsample(ids, start, end, tables, scratch.rng, scratch.sent, scratch.touched)
        words += end - start
        kept += n
        if batched and cbow:
            sent_loss, sent_pairs = cbow_batched_sentence(scratch.sent, n, lr, weights, tables, params, scratch)
        elif batched:
            sent_loss, sent_pairs = batched_sentence(scratch.sent, n, lr, weights, tables, params, scratch)
        elif cbow and params.shared_negatives:
            sent_loss, sent_pairs, draws = cbow_batch_sentence(scratch.sent, n, lr, weights, tables, params, scratch)
            tallies[R.T_BATCHES] += draws
        elif cbow:
            sent_loss, sent_pairs = cbow_neg_sentence(scratch.sent, n, lr, weights, tables, params, scratch)
            tallies[R.T_BATCHES] += sent_pairs
        elif params.shared_negatives:
            sent_loss, sent_pairs = window_neg_sentence(scratch.sent, n, lr, weights, tables, params, scratch)
            tallies[R.T_BATCHES] += n
        elif tables.sub_start.shape[0] > 0:
            sent_loss, sent_pairs = subword_sgns_sentence(scratch.sent, n, lr, weights, tables, params, scratch)
            tallies[R.T_BATCHES] += sent_pairs
        else:
            sent_loss, sent_pairs = sgns_sentence(scratch.sent, n, lr, weights, tables, params, scratch)
            tallies[R.T_BATCHES] += sent_pairs
        loss += sent_loss
        examples += sent_pairs
        start = end + 1
        if not math.isfinite(loss):
            tallies[R.T_NONFINITE] = 1.0
            break
    if batched and scratch.batch.fill[0] > 0 and tallies[R.T_NONFINITE] == 0.0:  # the chunk's last, partial batch
        loss += draw_and_process(weights, lr, tables, params, scratch)
        if not math.isfinite(loss):
            tallies[R.T_NONFINITE] = 1.0
    tallies[R.T_LOSS] += loss
    tallies[R.T_EXAMPLES] += examples
    tallies[R.T_WORDS] += words
    tallies[R.T_KEPT] += kept
