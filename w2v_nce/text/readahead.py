"""A bounded read-ahead: an iterable produced on a background thread while its items are used."""

from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator

from ..threads import ThreadGroup


class ReadAhead:
    """Produces the items of an iterable on a background thread, up to ``depth`` ahead of the
    consumer (the trainer's encoded chunks; the vocabulary count's decompressed blocks).

    Reading, decompressing and encoding then overlap with the work on the items. Errors in the
    producer are re-raised by ``get``; items must not be None (``get``'s end marker).
    """

    _END = object()

    def __init__(self, chunks, depth: int):
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._closed = threading.Event()
        # on an error the producer still ends the stream, after the error is kept for ``get``
        self._producer = ThreadGroup(1, lambda _t: self._fill(chunks), on_error=lambda: self._put(self._END),
                                     name="w2v-nce-read-ahead")

    def _put(self, item) -> bool:
        """Put unless closed; True if it was put."""
        while not self._closed.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self, chunks) -> None:
        for chunk in chunks:
            if not self._put(chunk):
                return
        self._put(self._END)

    def get(self):
        item = self._q.get()
        if item is self._END:
            self._q.put(self._END)  # later callers see the end too
            self._producer.raise_error()
            return None
        return item

    def close(self) -> None:
        self._closed.set()
        self._producer.join()


def read_ahead(items: Iterable, depth: int) -> Iterator:
    """Iterate ``items`` as they come, produced ``depth`` ahead on a background thread (closed
    when the iteration ends, early or not)."""
    ahead = ReadAhead(items, depth)
    try:
        while (item := ahead.get()) is not None:
            yield item
    finally:
        ahead.close()
