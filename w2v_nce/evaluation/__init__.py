"""⑧ Scoring a model: full loss over all classes, analogies, word-pair similarity."""
