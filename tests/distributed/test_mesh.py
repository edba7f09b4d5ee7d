"""The links a Ray sync travels on (``mesh.py``), without Ray: K ranks on threads of this
process linked over 127.0.0.1 give ``average_touched``'s rows bit for bit; a stranger's
connection is dropped; a bad frame, a peer that stops and an abort are ``SyncAborted`` within
the timeout, not a wait."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.distributed.test_sync import _replicas
from w2v_nce.distributed.mesh import (
    FRAME,
    FRAME_MAGIC,
    Mesh,
    SyncAborted,
    average_on_mesh,
)
from w2v_nce.distributed.sync import BOTH, average_touched, row_blocks

TOKEN = b"0123456789abcdef"


def linked(K: int, timeout: float = 10.0) -> list[Mesh]:
    meshes = [Mesh("127.0.0.1") for _ in range(K)]
    addresses = [m.address for m in meshes]
    with ThreadPoolExecutor(K) as pool:
        list(pool.map(lambda r: meshes[r].connect(r, addresses, TOKEN, timeout), range(K)))
    return meshes


def on_threads(meshes: list[Mesh], call) -> list:
    with ThreadPoolExecutor(len(meshes)) as pool:
        return list(pool.map(call, range(len(meshes))))


@pytest.mark.parametrize("K,rows,first", [(1, 40, 0), (2, 40, 0), (3, 40, 7), (4, 25, 0), (5, 3, 0)])
def test_the_mesh_gives_average_touched_bit_for_bit(K, rows, first):
    V, D = 40, 5
    _, reps, masks = _replicas(K, V, D, seed=K * 7 + rows)
    want = [tuple(a.copy() for a in r) for r in reps]
    want_masks = [m.copy() for m in masks]
    stats = average_touched(want, want_masks, rows, parts=K, first=first)
    blocks = [(first + a, first + b) for a, b in row_blocks(rows - first, K)]
    meshes = linked(K)
    sent = on_threads(meshes, lambda r: average_on_mesh(meshes[r], reps[r], masks[r], blocks, 1, BOTH))
    for got, exp in zip(reps, want):
        for a, b in zip(got, exp):
            np.testing.assert_array_equal(a, b)
    assert sum(up for up, _ in sent) + K * sum(down for _, down in sent) == stats.bytes
    for m in meshes:
        m.abort()


def test_many_syncs_on_one_mesh_and_an_empty_block():
    """Frames carry the sync's number; a block with no rows (more ranks than rows) is a header only."""
    K, V, D = 3, 12, 4
    _, reps, masks = _replicas(K, V, D, seed=5)
    meshes = linked(K)
    for seq, rows in enumerate([2, 12, 7], start=1):
        want = [tuple(a.copy() for a in r) for r in reps]
        average_touched(want, [m.copy() for m in masks], rows, parts=K)
        blocks = row_blocks(rows, K)
        on_threads(meshes, lambda r: average_on_mesh(meshes[r], reps[r], masks[r], blocks, seq, BOTH))
        for got, exp in zip(reps, want):
            for a, b in zip(got, exp):
                np.testing.assert_array_equal(a, b)
    for m in meshes:
        m.abort()


def test_a_stranger_without_the_token_is_dropped():
    meshes = [Mesh("127.0.0.1") for _ in range(2)]
    addresses = [m.address for m in meshes]
    stranger = socket.create_connection(addresses[0])
    stranger.sendall(b"GET / HTTP/1.0\r\n\r\n" + b"x" * 40)
    on_threads(meshes, lambda r: meshes[r].connect(r, addresses, TOKEN, 10.0))
    assert set(meshes[0].links) == {1} and set(meshes[1].links) == {0}
    stranger.settimeout(5)
    try:  # closed on it (a reset: it left bytes unread)
        assert stranger.recv(10) == b""
    except ConnectionResetError:
        pass
    for m in meshes:
        m.abort()


def test_a_peer_that_never_links_is_a_sync_aborted_within_the_timeout():
    meshes = [Mesh("127.0.0.1") for _ in range(2)]
    t = time.monotonic()
    with pytest.raises(SyncAborted, match="did not link"):
        meshes[0].connect(0, [m.address for m in meshes], TOKEN, 1.0)
    assert time.monotonic() - t < 5


def test_a_bad_frame_is_refused_before_anything_is_allocated():
    """A peer's header claiming more rows than its block holds (a forged or corrupt frame)."""
    meshes = linked(2)
    rng = np.random.default_rng(0)
    reps = [(rng.normal(size=(10, 3)).astype(np.float32), rng.normal(size=(10, 3)).astype(np.float32),
             rng.normal(size=10).astype(np.float32)) for _ in range(2)]
    before = reps[0][0].copy()
    meshes[1].links[0].sendall(FRAME.pack(FRAME_MAGIC, 1, 0, 5, 10 ** 12, 0))
    with pytest.raises(SyncAborted, match="bad frame"):
        average_on_mesh(meshes[0], reps[0], np.full(10, BOTH, np.uint8), row_blocks(10, 2), 1, BOTH)
    np.testing.assert_array_equal(reps[0][0], before)  # nothing applied
    meshes[1].abort()


def test_a_silent_peer_times_out_and_an_abort_ends_the_wait():
    meshes = linked(2, timeout=1.0)
    reps = [(np.zeros((4, 2), np.float32), np.zeros((4, 2), np.float32), np.zeros(4, np.float32)) for _ in range(2)]
    marks = np.full(4, BOTH, np.uint8)
    t = time.monotonic()
    with pytest.raises(SyncAborted, match="timeout|timed out"):
        average_on_mesh(meshes[0], reps[0], marks, row_blocks(4, 2), 1, BOTH)  # rank 1 never sends
    assert time.monotonic() - t < 5
    meshes = linked(2, timeout=60.0)
    threading.Timer(0.5, meshes[0].abort).start()
    t = time.monotonic()
    with pytest.raises(SyncAborted):
        average_on_mesh(meshes[0], reps[0], marks, row_blocks(4, 2), 1, BOTH)
    assert time.monotonic() - t < 10
    with pytest.raises(SyncAborted, match="closed"):  # an aborted mesh stays closed: the driver forms a new one
        average_on_mesh(meshes[0], reps[0], marks, row_blocks(4, 2), 2, BOTH)
    meshes[1].abort()


def test_an_abort_while_the_links_form_ends_the_wait_and_the_mesh_stays_closed():
    meshes = [Mesh("127.0.0.1") for _ in range(2)]
    addresses = [m.address for m in meshes]
    threading.Timer(0.3, meshes[0].abort).start()
    t = time.monotonic()
    with pytest.raises((SyncAborted, OSError)):
        meshes[0].connect(0, addresses, TOKEN, 60.0)  # rank 1 never links
    assert time.monotonic() - t < 10
    with pytest.raises(SyncAborted, match="closed"):
        meshes[0].exchange(1, [None, None], [(0, 1), (0, 1)], 2)
    meshes[1].abort()


def test_aborts_from_two_threads_at_once_close_the_mesh_once():
    meshes = linked(3)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: meshes[0].abort(), range(8)))
    assert meshes[0].links == {}
    for m in meshes[1:]:
        m.abort()
