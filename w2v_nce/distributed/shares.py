"""Which part of the corpus each replica trains: the one place that choice is made.

Today replica k of K trains the chunks of each epoch's id stream (``pairs.id_chunks``) whose
index is k mod K: every replica reads the whole stream and skips the others' chunks (reading
and encoding are repeated K times; training, the expensive part, is not). When corpus splits
(issue 12) land, this function returns the replica's splits instead.

A chunk is the unit of a round: a replica stops at the first chunk boundary past its round's
budget. With 1 MiB chunks (~175k tokens of mix8) and K = 8, each replica has ~12 chunks an
epoch, so no round could be shorter than one chunk and rounds of 125k or 62.5k tokens were the
same run (measured in the README). So chunks shrink with K past 4 (``share_block_bytes``).
"""

from __future__ import annotations

from ..corpus import BLOCK_BYTES

_MIN_SHARE_BLOCK = 64 << 10  # bytes: below this, per-chunk overheads would show


def trainer_share(replica: int, replicas: int) -> tuple[int, int, int]:
    """The ``share`` argument of ``Trainer`` for replica ``replica`` (0-based) of ``replicas``:
    (k, K, bytes of text per chunk)."""
    if not 0 <= replica < replicas:
        raise ValueError(f"replica {replica} out of range for {replicas} replicas")
    return (replica, replicas, share_block_bytes(replicas))


def share_block_bytes(replicas: int) -> int:
    """Bytes of text per chunk when ``replicas`` share one stream: 1 MiB (the single-machine
    chunk, so K = 1 is that run byte for byte) for K <= 4, then 1 MiB x (4/K)^3, at least 64 KiB
    (K = 8: 128 KiB). The default round shrinks as 1/K^3 past K = 4 (``driver.round_words``:
    31,250 tokens at K = 8, a fifth of one 1 MiB chunk of mix8's ~175k); chunks follow it, so
    that a round is still about two chunks (measured in the README: at K = 4, 512 KiB chunks
    scored no better than 1 MiB ones; at K = 8, 128 KiB chunks with 31,250-token rounds scored
    3 points above 256 KiB with 62.5k)."""
    if replicas < 1:
        raise ValueError(f"replicas must be >= 1, got {replicas}")
    if replicas <= 4:
        return BLOCK_BYTES
    return max(_MIN_SHARE_BLOCK, BLOCK_BYTES * 64 // replicas**3)
