"""Drawing negatives: one draw from a noise distribution, a batch of S with TF's rejection, and
word2vec's S unigram draws with replacement."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..rng import rng_below, rng_uniform
from .records import SAMPLER_LOG_UNIFORM, SAMPLER_UNIFORM, SAMPLER_UNIGRAM, TOUCHED_OUT


@njit(cache=True, nogil=True)
def draw_candidate(sampler_kind, range_max, alias_prob, alias_idx, rng):
    """One draw from the noise distribution (ids assumed sorted by decreasing count)."""
    if sampler_kind == SAMPLER_LOG_UNIFORM:
        # TF LogUniformSampler::Sample: floor(exp(U * log(range_max + 1))) - 1, mod range_max
        k = np.int64(math.exp(rng_uniform(rng) * math.log1p(range_max))) - 1
        return k % range_max
    if sampler_kind == SAMPLER_UNIFORM:
        return rng_below(rng, range_max)
    # alias method (Walker/Vose): one uniform column, one biased coin
    k = rng_below(rng, range_max)
    if rng_uniform(rng) < alias_prob[k]:
        return k
    return np.int64(alias_idx[k])


# Draws a unique batch may take per sample before its fallback: a distribution with almost all
# its mass on fewer than S ids (counts of 10^15 beside counts of 1) would otherwise reject
# forever, or, at 2^24 draws a batch, train 50 words/s. Real noise tables need about one draw a
# sample for S = 25 (measured: ~30 a batch for unigram^0.75 over mix8's 71k words).
UNIQUE_TRIES_PER_SAMPLE = 1024


_MARK_HASH = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: 2^64 / golden ratio


@njit(cache=True, nogil=True)
def mark_slot(draw, c, batch_no):
    """The slot of id c in this batch's marks: the one marking it, else the empty slot where it
    would go (linear probing; the set is at most a quarter full, so one exists)."""
    mask = draw.keys.shape[0] - 1
    slot = np.int64((np.uint64(c) * _MARK_HASH) >> np.uint64(32)) & mask
    while draw.tags[slot] == batch_no and draw.keys[slot] != c:
        slot = (slot + 1) & mask
    return slot


@njit(cache=True, nogil=True)
def marked_pos(draw, c, batch_no):
    """The last position of id c among this batch's samples, or -1 (not drawn)."""
    slot = mark_slot(draw, c, batch_no)
    return draw.pos[slot] if draw.tags[slot] == batch_no else -1


@njit(cache=True, nogil=True)
def _mark(draw, c, k, batch_no):
    slot = mark_slot(draw, c, batch_no)
    draw.keys[slot] = c
    draw.tags[slot] = batch_no
    draw.pos[slot] = k


@njit(cache=True, nogil=True)
def draw_batch(draw, unique, batch_no, sampler_kind, range_max, alias_prob, alias_idx, rng):
    """Fill draw.samples[S]; mark each id for ``batch_no`` (>= 1, above every earlier batch's)
    with its last position.

    unique: rejection until S distinct ids (TF semantics). Returns num_tries (all draws). After
    UNIQUE_TRIES_PER_SAMPLE x S draws the rest of the batch is the smallest ids not drawn yet (a documented
    fallback for degenerate distributions; a normal one never gets there).
    """
    samples = draw.samples
    S = samples.shape[0]
    k = 0
    tries = 0
    max_tries = UNIQUE_TRIES_PER_SAMPLE * S
    while k < S:
        c = draw_candidate(sampler_kind, range_max, alias_prob, alias_idx, rng)
        tries += 1
        slot = mark_slot(draw, c, batch_no)
        if unique and draw.tags[slot] == batch_no:  # drawn already in this batch
            if tries < max_tries:
                continue
            c = _first_not_drawn(draw, batch_no, range_max)
            slot = mark_slot(draw, c, batch_no)
        draw.keys[slot], draw.tags[slot], draw.pos[slot] = c, batch_no, k
        samples[k] = c
        k += 1
    return tries


@njit(cache=True, nogil=True)
def _first_not_drawn(draw, batch_no, range_max):
    """The smallest id below range_max not marked for this batch (range_max >= S: one exists)."""
    for c in range(range_max):
        if marked_pos(draw, c, batch_no) < 0:
            return c
    return 0


@njit(cache=True, nogil=True)
def mark_samples(draw, batch_no):
    """Mark draw.samples for ``batch_no`` (last copy wins), as draw_batch does."""
    for k in range(draw.samples.shape[0]):
        _mark(draw, draw.samples[k], k, batch_no)


@njit(cache=True, nogil=True)
def draw_unigram_negatives(S, alias_prob, alias_idx, rng, out, touched):
    """out[:S] = S draws with replacement from word2vec's unigram^distortion noise (its alias
    tables), marked TOUCHED_OUT in ``touched`` when it is tracked (touched.shape[0] > 0)."""
    V = alias_prob.shape[0]
    for k in range(S):
        out[k] = draw_candidate(SAMPLER_UNIGRAM, V, alias_prob, alias_idx, rng)
    if touched.shape[0] > 0:
        for k in range(S):
            touched[out[k]] |= TOUCHED_OUT
