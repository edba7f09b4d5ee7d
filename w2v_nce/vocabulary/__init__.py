"""② Tokens to a counted, ordered vocabulary: exact counting in threads, spilling, vocab.tsv."""
