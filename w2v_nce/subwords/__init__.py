"""Subword (fastText) vectors: character n-grams hashed into rows shared by all words."""

from .hashing import fnv1a_hash
from .table import (
    DEFAULT_BUCKETS,
    DEFAULT_MAXN,
    DEFAULT_MINN,
    SubwordRows,
    SubwordSettings,
    ngram_buckets,
    subword_rows,
    unseen_vector,
    word_vectors,
)

__all__ = ["DEFAULT_BUCKETS", "DEFAULT_MAXN", "DEFAULT_MINN", "SubwordRows", "SubwordSettings", "fnv1a_hash",
           "ngram_buckets", "subword_rows", "unseen_vector", "word_vectors"]
