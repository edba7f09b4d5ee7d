"""The hot math, in Numba: skip-gram pair generation, losses, gradients and SGD updates.

Only numpy, numba (and numba's llvmlite, for one prefetch intrinsic) and ``w2v_nce.rng`` are
imported here. Kernels take arrays, scalars and the small records of ``records.py``; they
never see a config object or module state. Each worker passes its own ``Scratch`` (RNG
state, buffers, float64 tallies); only the ``Weights`` are shared (Hogwild, no locks).

Direction: the centre word's ``w_in`` row predicts each context word as a class of
``w_out``/``bias`` (TensorFlow's and fastText's direction; word2vec.c/gensim go the other way).

  records    constants, Weights / Tables / Params / Scratch (Batch, Draw, PairStep, WindowStep), make_scratch
  schedule   learning_rate (the one lr formula)
  scalar     TF's log-Q terms, the float32 exp and sigmoid, row prefetch
  negatives  draws from the noise distributions
  sentence   subsampling, the dynamic window
  bags       an input's rows (a word's own, or with subwords its n-grams' too) and their mean
  batch      nce (tf.nn.nce_loss) and sampled softmax: batches sharing one draw (skip-gram, CBOW)
  sgns       word2vec SGNS: fresh negatives per pair
  window_neg SGNS with one draw per window, each window's step a small matrix product (HogBatch)
  rowblock   small products between lists of rows: the blocked steps of window_neg and cbow
  cbow       CBOW with negative sampling: fresh negatives per (context bag, centre) example, or
             one draw per batch of examples, each batch's step small matrix products
  chunk      train_chunk: a chunk of sentences, dispatched per sentence to one of the above

Losses (per (centre, context) example, T = 1):
  LOSS_NCE  softplus(-t) + sum_k softplus(u_k), t = x.w_ctx + b_ctx - log Qt,
            u_k = x.w_sk + b_sk - log Qs_k; S negatives shared by the batch; optional
            accidental-hit removal (masked terms contribute exactly 0, as TF's -FLT_MAX does).
  LOSS_SSM  logsumexp([t, u_1..u_S]) - t, same logits.
  LOSS_NEG  softplus(-x.w_ctx) + sum_k softplus(x.w_nk), fresh negatives per pair, no bias
            (params.shared_negatives: the pairs of a window, or a batch of CBOW examples,
            share one draw).
"""

from ..rng import rng_below, rng_next, rng_uniform  # noqa: F401  (the kernels' RNG, for replays)
from .bags import add_to_rows, append_rows, bag_input, words_bag  # noqa: F401
from .cbow import (  # noqa: F401
    cbow_batch_sentence,
    cbow_batch_update,
    cbow_neg_sentence,
    draw_bag_batch,
)
from .chunk import train_chunk  # noqa: F401
from .nce import (  # noqa: F401
    batched_sentence,
    cbow_batched_sentence,
    draw_and_process,
    gather_inputs,
    process_batch,
)
from .negatives import draw_batch, draw_candidate, mark_samples, marked_pos  # noqa: F401
from .numerics import FASTMATH  # noqa: F401
from .records import (  # noqa: F401
    ARCH_CBOW,
    ARCH_SKIPGRAM,
    LOSS_NCE,
    LOSS_NEG,
    LOSS_SSM,
    N_TALLIES,
    PREFETCH_PAIRS,
    ROW_PAD,
    SAMPLER_LOG_UNIFORM,
    SAMPLER_UNIFORM,
    SAMPLER_UNIGRAM,
    T_BATCHES,
    T_EXAMPLES,
    T_KEPT,
    T_LOSS,
    T_NONFINITE,
    T_WORDS,
    TOUCHED_IN,
    TOUCHED_OUT,
    Batch,
    Draw,
    PairStep,
    Params,
    Scratch,
    Tables,
    Weights,
    WindowStep,
    make_draw,
    make_scratch,
    make_tables,
    marks_capacity,
    scratch_bytes,
    tables_bytes,
    window_label_mask,
)
from .schedule import learning_rate  # noqa: F401
from .sentence import subsample, window_bounds  # noqa: F401
from .sgns import (  # noqa: F401
    draw_centre,
    neg_update,
    sgns_pair,
    sgns_sentence,
    subword_sgns_sentence,
)
from .window_neg import draw_window, window_neg_sentence, window_update  # noqa: F401
