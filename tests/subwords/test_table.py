"""Subword n-grams and their rows: fastText's hash and bucket ids, against fastText's own values
and a plain-Python reference of its computeSubwords; the CSR rows and the mean vectors."""

from __future__ import annotations

import numpy as np
import pytest

from w2v_nce.subwords import (
    SubwordSettings,
    fnv1a_hash,
    ngram_buckets,
    subword_rows,
    unseen_vector,
    word_vectors,
)

# Bucket ids (2M buckets, minn 3, maxn 6) printed by fasttext-wheel 0.9.2's get_subwords for
# these words, minus nwords: the first four n-grams of each, in fastText's order.
FASTTEXT_BUCKETS = {
    "the": [1151151, 409726, 1648960, 861980],
    "cat": [916747, 1988973, 1428137, 289031],
    "naïve": [1806890, 1907692, 878190, 933201],
    "日本語": [758587, 4581, 524609, 35559],
    "a": [1087600],
    "ab": [209508, 621742, 1241756],
    "é": [806231],
    "Ωmega": [713869, 512184, 664461, 613124],
}


def reference_hash(data: bytes) -> int:
    """fastText's Dictionary::hash: FNV-1a over int8-cast (sign-extended) bytes, uint32."""
    h = 2166136261
    for b in data:
        h = ((h ^ (b | 0xFFFFFF00 if b >= 0x80 else b)) * 16777619) & 0xFFFFFFFF
    return h


def reference_buckets(word: str, minn: int, maxn: int, buckets: int) -> list[int]:
    """fastText's computeSubwords on '<' + word + '>', character by character (Python str)."""
    chars = "<" + word + ">"
    out = []
    for i in range(len(chars)):
        for n in range(1, maxn + 1):
            if i + n > len(chars):
                break
            if n >= minn and not (n == 1 and (i == 0 or i + n == len(chars))):
                out.append(reference_hash(chars[i:i + n].encode("utf-8")) % buckets)
    return out


@pytest.mark.parametrize("word", sorted(FASTTEXT_BUCKETS))
def test_buckets_are_fasttexts(word):
    assert ngram_buckets(word, SubwordSettings(3, 6, 2_000_000))[:4].tolist() == FASTTEXT_BUCKETS[word]


def test_the_hash_sign_extends_bytes_as_fasttext_does():
    for text in ["<ab", "é", "日本", "x" * 40, ""]:
        data = text.encode("utf-8")
        assert int(fnv1a_hash(np.frombuffer(data, np.uint8))) == reference_hash(data)
    # textbook FNV-1a (unsigned bytes) differs for bytes >= 0x80: the cast matters
    textbook = 2166136261
    for b in "é".encode():
        textbook = ((textbook ^ b) * 16777619) & 0xFFFFFFFF
    assert int(fnv1a_hash(np.frombuffer("é".encode(), np.uint8))) != textbook


@pytest.mark.parametrize("minn, maxn, buckets", [(3, 6, 2_000_000), (1, 3, 97), (2, 2, 10), (3, 0, 5)])
def test_buckets_match_the_reference_on_mixed_scripts(minn, maxn, buckets):
    rng = np.random.default_rng(1)
    alphabet = list("abcxyzéüßЖж日本語😀-'")
    words = ["".join(rng.choice(alphabet, rng.integers(1, 15))) for _ in range(300)]
    for w in words:
        assert ngram_buckets(w, SubwordSettings(minn, maxn, buckets)).tolist() == reference_buckets(w, minn, maxn, buckets)


def test_rows_are_the_word_then_its_buckets_offset_by_v():
    words = ["the", "naïve", "a", "日本語"]
    s = SubwordSettings(3, 6, 1000)
    sub = subword_rows(words, s)
    assert sub.start[0] == 0 and len(sub.start) == len(words) + 1
    for w, word in enumerate(words):
        rows = sub.rows[sub.start[w]:sub.start[w + 1]].tolist()
        assert rows == [w] + [len(words) + b for b in reference_buckets(word, 3, 6, 1000)]
    assert sub.longest == max(sub.start[w + 1] - sub.start[w] for w in range(len(words)))


def test_word_vectors_are_row_means_and_unseen_words_their_ngram_means():
    words = ["physics", "physicist", "of"]
    s = SubwordSettings(3, 5, 50)
    rng = np.random.default_rng(2)
    table = rng.normal(size=(len(words) + 50, 4)).astype(np.float32)
    sub = subword_rows(words, s)
    got = word_vectors(table, sub)
    for w, word in enumerate(words):
        rows = [w] + [len(words) + b for b in reference_buckets(word, 3, 5, 50)]
        np.testing.assert_allclose(got[w], table[rows].astype(np.float64).mean(axis=0), rtol=1e-5, atol=1e-6)
    unseen = unseen_vector(table, len(words), "physically", s)
    rows = [len(words) + b for b in reference_buckets("physically", 3, 5, 50)]
    np.testing.assert_allclose(unseen, table[rows].astype(np.float64).mean(axis=0), rtol=1e-5, atol=1e-6)
    # no n-gram of the length asked for: fastText's zero vector
    assert not unseen_vector(table, len(words), "x", SubwordSettings(4, 6, 50)).any()


def test_a_query_with_undecodable_bytes_gets_the_rows_of_those_bytes():
    """argv and stdin hand undecodable bytes over as surrogate escapes; fastText hashes a
    word's bytes, so the n-grams are those of the bytes as they came (it was a UnicodeEncodeError)."""
    s = SubwordSettings(3, 6, 1000)
    sub = subword_rows(["ab\udcff", "ab"], s)
    got = sub.rows[sub.start[0] + 1:sub.start[1]].tolist()
    grams = (b"<ab", b"ab\xff", b"b\xff>", b"<ab\xff", b"ab\xff>", b"<ab\xff>")  # \xff starts a character
    assert sorted(b - 2 for b in got) == sorted(reference_hash(g) % 1000 for g in grams)
