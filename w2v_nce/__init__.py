"""w2v-nce: word embeddings (skip-gram, CBOW) with TensorFlow-exact NCE, word2vec SGNS and sampled softmax."""

from .numba_cache import invalidate_if_changed

__version__ = "0.1.0"

invalidate_if_changed()  # before any jitted function is loaded from Numba's on-disk cache
