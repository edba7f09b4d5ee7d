"""The links a sync travels on: one TCP connection between every two replica actors.

A sync moves each replica's touched rows of block j to block j's reducer and each reducer's
averaged block back to every replica (``sync.py``). Over Ray's object store that cost 2.0-3.6x
the least time the wire allows (3 namespaced nodes, 80 MB: docs/distributed.md), and
torch.distributed's gloo, 1.06-1.38x, needs a CPU-only torch build that an extra cannot pin.
Direct links carry the same bytes (about 2 x the payload per node, any K) with one copy each
way and no driver, store or serialiser in the path.

A mesh is formed by the driver in two calls to each actor: ``Mesh(host)`` listens on the node's
address (the OS picks the port) and ``connect`` links rank r to every lower rank and accepts
every higher one. A link opens with a hello carrying the job's random token and the sender's
rank; a connection without it is dropped, so a stranger on the network cannot join.

A frame is a fixed header and raw arrays, never a pickle: magic, the sync's number, the block
[lo, hi) and the row counts, each checked before anything is allocated, then the ids (checked
ascending inside the block before any matrix is indexed by them) and the rows. Every socket
has the round timeout, so a hung peer is a ``SyncAborted``, not a wait; ``abort`` closes every
link, which wakes the waits of a sync in progress (the driver then forms a new mesh).
"""

from __future__ import annotations

import hmac
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from .sync import Piece, apply_piece, extract_piece, reduce_pieces

HELLO = struct.Struct("<4s16sII")  # magic, token, rank, world
FRAME = struct.Struct("<4sqqqqq")  # magic, sync number, lo, hi, rows of w_in, rows of w_out
HELLO_MAGIC, FRAME_MAGIC = b"W2VL", b"W2VF"


class SyncAborted(Exception):
    """A sync this actor gave up: a peer was lost (the driver aborted it), timed out, or sent a bad frame."""


def _recv_into(sock: socket.socket, buf: memoryview) -> None:
    while len(buf):
        n = sock.recv_into(buf)
        if n == 0:
            raise ConnectionError("the peer closed the link")
        buf = buf[n:]


def _recv_array(sock: socket.socket, shape: tuple, dtype) -> np.ndarray:
    a = np.empty(shape, dtype)
    if a.size:
        _recv_into(sock, memoryview(a).cast("B"))
    return a


def send_piece(sock: socket.socket, seq: int, piece: Piece) -> None:
    sock.sendall(FRAME.pack(FRAME_MAGIC, seq, piece.lo, piece.hi, len(piece.in_ids), len(piece.out_ids)))
    for a in (piece.in_ids, piece.w_in, piece.out_ids, piece.w_out, piece.bias):
        if a.size:
            sock.sendall(memoryview(np.ascontiguousarray(a)).cast("B"))


def _check_ids(ids: np.ndarray, lo: int, hi: int) -> bool:
    return not ids.size or (ids[0] >= lo and ids[-1] < hi and bool(np.all(ids[1:] > ids[:-1])))


def recv_piece(sock: socket.socket, seq: int, block: tuple[int, int], dim: int) -> Piece:
    """The frame of sync ``seq`` for rows [lo, hi) = ``block``, checked; ValueError if it is not one."""
    magic, got_seq, lo, hi, n_in, n_out = FRAME.unpack(bytes(_recv_array(sock, (FRAME.size,), np.uint8)))
    if magic != FRAME_MAGIC or got_seq != seq or (lo, hi) != tuple(block) or not (0 <= n_in <= hi - lo) \
            or not (0 <= n_out <= hi - lo):
        raise ValueError(f"a bad frame (sync {got_seq} rows [{lo}, {hi}) with {n_in}/{n_out} rows; expected sync "
                         f"{seq} rows [{block[0]}, {block[1]})")
    in_ids = _recv_array(sock, (n_in,), np.int32)
    w_in = _recv_array(sock, (n_in, dim), np.float32)
    out_ids = _recv_array(sock, (n_out,), np.int32)
    w_out = _recv_array(sock, (n_out, dim), np.float32)
    bias = _recv_array(sock, (n_out,), np.float32)
    if not (_check_ids(in_ids, lo, hi) and _check_ids(out_ids, lo, hi)):
        raise ValueError(f"a bad frame (row ids not ascending inside [{lo}, {hi}))")
    return Piece(lo, hi, in_ids, w_in, out_ids, w_out, bias)


class Mesh:
    """This actor's end of the links: listening from construction, linked by ``connect``."""

    def __init__(self, host: str):
        self.server = socket.create_server((host, 0), backlog=128)
        self.rank, self.links = 0, {}
        self._pool: ThreadPoolExecutor | None = None
        self._closing = threading.Lock()  # abort runs on a sync's thread and on the driver's call at once
        self._closed = False

    @property
    def address(self) -> tuple[str, int]:
        return self.server.getsockname()[:2]

    def connect(self, rank: int, addresses: list[tuple[str, int]], token: bytes, timeout: float) -> None:
        """Link rank ``rank`` to every peer in ``addresses`` (index = rank) within ``timeout`` seconds."""
        self.rank, world = rank, len(addresses)
        deadline = time.monotonic() + timeout
        for peer in range(rank):  # a connect completes in the peer's backlog: no order to deadlock on
            sock = socket.create_connection(tuple(addresses[peer]), timeout=timeout)
            sock.sendall(HELLO.pack(HELLO_MAGIC, token, rank, world))
            self._keep(peer, sock, timeout)
        while len(self.links) < world - 1:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise socket.timeout
                self.server.settimeout(left)
                sock, _ = self.server.accept()
            except socket.timeout:
                raise SyncAborted(f"rank {rank}: {world - 1 - len(self.links)} peer(s) did not link within "
                                  f"{timeout:.0f} s") from None
            peer = self._hello(sock, token, world)
            if peer is None or peer <= rank or peer in self.links:
                sock.close()  # not one of ours: keep waiting for the peers
                continue
            self._keep(peer, sock, timeout)
        with self._closing:
            if self._closed:
                raise SyncAborted(f"rank {rank}: the links were closed (aborted) while they formed")
            self._pool = ThreadPoolExecutor(max(1, 2 * (world - 1)), thread_name_prefix="w2v-nce-link")
        self.server.close()  # every peer is linked: nobody else may connect

    @staticmethod
    def _hello(sock: socket.socket, token: bytes, world: int) -> int | None:
        try:
            sock.settimeout(5.0)
            magic, got, peer, peer_world = HELLO.unpack(bytes(_recv_array(sock, (HELLO.size,), np.uint8)))
        except (OSError, ConnectionError):
            return None
        ok = magic == HELLO_MAGIC and hmac.compare_digest(got, token) and peer_world == world and peer < world
        return peer if ok else None

    def _keep(self, peer: int, sock: socket.socket, timeout: float) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a header then its rows: no Nagle stall
        sock.settimeout(timeout)
        with self._closing:
            if self._closed:
                sock.close()
                raise SyncAborted("the links were closed (aborted) while they formed")
            self.links[peer] = sock

    def exchange(self, seq: int, outgoing: list[Piece], expect: list[tuple[int, int]], dim: int) -> list[Piece]:
        """Send ``outgoing[p]`` to every peer p while receiving from each a piece of rows
        ``expect[p]``; returns the received pieces by sender (``outgoing[rank]`` at my own)."""
        with self._closing:
            pool, links = self._pool, dict(self.links)
        if pool is None:
            raise SyncAborted(f"sync {seq} on rank {self.rank}: the links were closed (aborted)")
        got: list[Piece | None] = [None] * (len(links) + 1)
        got[self.rank] = outgoing[self.rank]
        futures = {}
        try:
            for peer, sock in links.items():
                futures[pool.submit(send_piece, sock, seq, outgoing[peer])] = None
                futures[pool.submit(recv_piece, sock, seq, expect[peer], dim)] = peer
        except RuntimeError:  # the pool was shut down by an abort meanwhile
            raise SyncAborted(f"sync {seq} on rank {self.rank}: the links were closed (aborted)") from None
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when="FIRST_EXCEPTION")
            for f in done:
                if f.exception() is not None:
                    self.abort()  # wakes this sync's other sends and receives
                    raise SyncAborted(f"sync {seq} on rank {self.rank}: {type(f.exception()).__name__}: "
                                      f"{f.exception()}") from None
                if futures[f] is not None:
                    got[futures[f]] = f.result()
        return got

    def abort(self) -> None:
        """Close every link and the listener (idempotent, from any thread): a sync in progress,
        or a ``connect``, ends in SyncAborted, and the mesh stays closed."""
        with self._closing:
            self._closed = True
            socks, self.links = [self.server, *self.links.values()], {}
            pool, self._pool = self._pool, None
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if pool is not None:
            pool.shutdown(wait=False)


def average_on_mesh(mesh: Mesh, matrices: tuple[np.ndarray, np.ndarray, np.ndarray], touched: np.ndarray,
                    blocks: list[tuple[int, int]], seq: int, bits: int) -> tuple[int, int]:
    """This rank's part of sync ``seq`` (``sync.average_touched``'s result, spread over the
    ranks): my touched rows of block j to rank j, the mean of my block's pieces (in rank order,
    as ``average_touched`` sums them) to every rank, every rank's mean applied to ``matrices``
    (input table, w_out, bias) in place. The marks are the caller's to clear. Returns (bytes
    of the pieces I reduced, bytes of my mean)."""
    dim = matrices[1].shape[1]
    mine = [extract_piece(*matrices, touched, lo, hi, bits) for lo, hi in blocks]
    pieces = mesh.exchange(seq, mine, [blocks[mesh.rank]] * len(blocks), dim)
    del mine
    mean, reduced = reduce_pieces(pieces), sum(p.nbytes for p in pieces)
    del pieces
    for piece in mesh.exchange(seq, [mean] * len(blocks), blocks, dim):
        apply_piece(*matrices, piece)
    return reduced, mean.nbytes
