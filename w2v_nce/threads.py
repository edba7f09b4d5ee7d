"""Worker threads whose first error stops the others and is raised on the caller's thread."""

from __future__ import annotations

import threading
from typing import Callable


class ThreadGroup:
    """``n`` daemon threads running ``target(t)`` for t = 0 .. n-1, started at once.

    An exception in a thread (BaseException included: nothing a worker raises is lost) is kept
    in ``errors[t]`` *before* ``on_error`` runs, so ``on_error`` can wake the others (set a halt
    event, abort a dispatcher, put an end marker) and whoever wakes sees the error.
    ``raise_error`` raises the error of the lowest thread index, on the caller's thread.
    """

    def __init__(self, n: int, target: Callable[[int], None], on_error: Callable[[], None] | None = None,
                 name: str = "w2v-nce"):
        self.errors: list[BaseException | None] = [None] * n
        self._target, self._on_error = target, on_error
        self._threads = [threading.Thread(target=self._run, args=(t,), name=f"{name}-{t}", daemon=True)
                         for t in range(n)]
        for th in self._threads:
            th.start()

    def _run(self, t: int) -> None:
        try:
            self._target(t)
        except BaseException as exc:  # raised on the caller's thread by raise_error
            self.errors[t] = exc
            if self._on_error is not None:
                self._on_error()

    def alive(self) -> bool:
        return any(th.is_alive() for th in self._threads)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds on a running thread; True once every thread has ended."""
        running = [th for th in self._threads if th.is_alive()]
        if running:
            running[0].join(timeout)
        return not self.alive()

    def join(self, timeout: float | None = None) -> None:
        for th in self._threads:
            th.join(timeout)

    def raise_error(self) -> None:
        for exc in self.errors:
            if exc is not None:
                raise exc
