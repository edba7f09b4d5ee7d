"""Which part of the corpus each replica trains: the one place that choice is made.

Today replica k of K trains the chunks of each epoch's id stream (``pairs.id_chunks``) whose
index is k mod K: every replica reads the whole stream and skips the others' chunks (reading
and encoding are repeated K times; training, the expensive part, is not). When corpus splits
(issue 12) land, this function returns the replica's splits instead.
"""

from __future__ import annotations


def trainer_share(replica: int, replicas: int) -> tuple[int, int]:
    """The ``share`` argument of ``Trainer`` for replica ``replica`` (0-based) of ``replicas``."""
    if not 0 <= replica < replicas:
        raise ValueError(f"replica {replica} out of range for {replicas} replicas")
    return (replica, replicas)
