"""⑦ The trained model and its files: model.npz, word2vec text/binary, exports, queries."""
