"""w2v-nce: skip-gram word embeddings with TensorFlow-exact NCE, word2vec SGNS and sampled softmax."""

__version__ = "0.1.0"
