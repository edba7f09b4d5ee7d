"""The learning-rate schedule: one definition for the kernels and for Python callers."""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def learning_rate(clock, total, alpha, min_alpha):
    """Linear decay: ``alpha - (alpha - min_alpha) * clock / total``, floored at ``min_alpha``.

    ``clock`` counts in-vocabulary tokens read over all epochs so far (subsampled ones
    included, as word2vec.c does); ``total = epochs * tokens trained per epoch``. float64.
    """
    lr = alpha - (alpha - min_alpha) * clock / total
    if lr < min_alpha:
        lr = min_alpha
    return lr
