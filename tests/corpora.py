"""Corpora the tests write: small, seeded, each shaped for what it tests."""

from __future__ import annotations

import numpy as np

from w2v_nce.config import Config


def planted_corpus(path, lines=1500, seed=0):
    """Two topics that never share a sentence: a0..a9 and b0..b9, plus shared glue words."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        for i in range(lines):
            topic = "a" if i % 2 else "b"
            words = [f"{topic}{rng.integers(10)}" if rng.random() < 0.7 else str(rng.choice(["x", "y", "z"]))
                     for _ in range(20)]
            fh.write(" ".join(words) + "\n")
    return str(path)


def big_corpus(path, mb=6, seed=1):
    """About ``mb`` MB of Zipf-distributed words w0..w1999, 50 a line: several chunks per epoch."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(2000)])
    ranks = np.minimum(rng.zipf(1.3, size=mb * 200_000), 2000) - 1
    words = vocab[ranks]
    with open(path, "w") as fh:
        for i in range(0, len(words), 50):
            fh.write(" ".join(words[i:i + 50]) + "\n")
    return str(path)


def train_cfg(corpus, out, **kw):
    """A small seeded one-thread nce run of ``corpus`` into ``out`` (``kw`` overrides)."""
    base = dict(corpus=[corpus], output=str(out), dim=16, window=3, min_count=1, epochs=3, threads=1, seed=5,
                quiet=True, checkpoint_every=0, loss="nce")
    base.update(kw)
    return Config(**base)


def mixed_corpus(path, seed: int = 0, tokens: int = 400_000) -> list[bytes]:
    """Rare and frequent words, many ties, shared 8-byte prefixes, NUL bytes and prefixes of each other."""
    rng = np.random.default_rng(seed)
    ids = np.concatenate([rng.integers(0, 150_000, tokens // 2), rng.zipf(1.3, tokens // 2) % 20_000])
    rng.shuffle(ids)
    forms = (b"w%x", b"https://example.org/%d", b"pre\x00%d", b"%d", b"https://example.org/")
    words = [forms[i % len(forms)] % i if i % len(forms) != 4 else forms[4] for i in ids.tolist()]
    words += [b"pre", b"pre\x00", b"pre\x00\x00", b"\xc3\xa9t\xc3\xa9", b"\x7f"]
    with open(path, "wb") as fh:
        for k in range(0, len(words), 1000):
            fh.write(b" ".join(words[k:k + 1000]) + b"\n")
    return words
