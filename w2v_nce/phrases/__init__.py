"""Phrases: collocations (``new_york``) found by exact counts and joined while the corpus is read.

``kernels`` (Numba: candidate emission, greedy joining, scoring) -> ``table`` (the phrase
table and its file) -> ``build`` (count and score, pass by pass) ; ``join`` (the transforms
the reader applies, and the corpus a run reads).
"""
