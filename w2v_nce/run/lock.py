"""One writer per output directory: ``DIR/.w2v-nce.lock`` names the run that holds it.

The lock file holds JSON ``{pid, host, started, argv}`` (plus ``started_unix``, the kernel's
``boot`` id and a random ``token``). It is created atomically with its content: written to a
temp file, then hard-linked to its name (the link fails if the name exists), with
``O_CREAT | O_EXCL`` where a file system has no hard links. A lock is *live* when its process
runs on this host (same boot, ``os.kill(pid, 0)``, and the process is not clearly younger than
the lock: a reused pid is not the writer), or when it comes from another host (its pid cannot
be checked from here). A stale lock (its process gone, or an unreadable file) is taken over,
under a short-lived ``.w2v-nce.lock.break`` file so that two runs never both take it; the
takeover is reported (``OutputLock.took_over``, ``note``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import sys
import tempfile
import time

from ..errors import OutputError
from ..io import json_value

LOCK_FILE = ".w2v-nce.lock"
_ATTEMPTS = 50  # create / check / take over rounds before giving up (each waits at most 0.1 s)
_WAIT = 0.05  # seconds between rounds while another run is writing or breaking a lock
_FRESH = 5.0  # seconds: an unreadable lock younger than this may still be being written
_BREAK_STALE = 10.0  # seconds: a break file older than this was left by a run that died mid-takeover
_REUSE_MARGIN = 60.0  # seconds a process may seem younger than its lock (clock steps) and still own it
_MAX_PID = 1 << 31  # pids are C ints; Linux's pid_max is at most 2^22


class OutputLock:
    """Context manager holding ``directory``'s lock; ``OutputError`` if another live run holds it.

    ``took_over`` is the stale lock's record when one was replaced (``{}`` if it was unreadable),
    else None; ``note`` says the same in one line, for the log.
    """

    def __init__(self, directory: str, argv: list[str] | None = None):
        self.directory = directory
        self.path = os.path.join(directory, LOCK_FILE)
        self.argv = list(sys.argv if argv is None else argv)
        self.took_over: dict | None = None
        self._token: str | None = None

    def __enter__(self) -> "OutputLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    @property
    def note(self) -> str | None:
        if self.took_over is None:
            return None
        if not self.took_over:
            return f"took over {self.path}: it was unreadable"
        return f"took over {self.path}: {_holder(self.took_over)} is no longer running"

    def acquire(self) -> None:
        now = time.time()
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)), "started_unix": now,
                  "argv": self.argv, "boot": _boot_id(), "token": secrets.token_hex(8)}
        if os.path.isdir(self.path):
            raise OutputError(f"{self.path} is a directory, not a w2v-nce lock file; remove it, or choose another -o")
        for _ in range(_ATTEMPTS):
            if self._create(json.dumps(record).encode()):
                self._token = record["token"]
                return
            try:
                raw, held = _read(self.path)
            except PermissionError:
                raise OutputError(f"{self.directory} is being written by another user's run ({self.path} is not "
                                  "readable); wait for it or choose another -o") from None
            if raw is None:  # released meanwhile
                continue
            if held is not None and _alive(held):
                raise OutputError(f"{self.directory} is being written by {_holder(held)}; wait for it or choose "
                                  f"another -o (if that run is gone, delete {self.path})")
            if held is None and time.time() - _mtime(self.path) < _FRESH:
                time.sleep(_WAIT)  # perhaps still being written (O_EXCL fallback)
                continue
            self._take_over(raw, held)
        raise OutputError(f"{self.path}: could not take the output lock (other runs keep taking it); try again")

    def release(self) -> None:
        """Remove the lock file if it is still ours."""
        if self._token is None:
            return
        try:
            _, held = _read(self.path)
        except PermissionError:
            held = None
        if held is not None and held.get("token") == self._token:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        self._token = None

    def _create(self, content: bytes) -> bool:
        """Make the lock file holding ``content``; False if it exists."""
        try:
            fd, tmp = tempfile.mkstemp(prefix=LOCK_FILE + ".tmp-", dir=self.directory)
        except OSError as exc:
            raise OutputError(f"{self.directory}: cannot create the output lock ({exc.strerror})") from None
        try:
            os.fchmod(fd, 0o644)  # mkstemp makes 0600: other users' runs must be able to read who holds it
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            try:
                os.link(tmp, self.path)
                return True
            except FileExistsError:
                return False
            except OSError:  # no hard links here (some network/FUSE file systems)
                return self._create_exclusive(content)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def _create_exclusive(self, content: bytes) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise OutputError(f"{self.directory}: cannot create the output lock ({exc.strerror})") from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        return True

    def _take_over(self, raw: bytes, held: dict | None) -> None:
        """Remove the stale lock ``raw`` if it is still the one there, one run at a time."""
        breaker = self.path + ".break"
        try:
            os.close(os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            if os.path.isdir(breaker) and not os.path.islink(breaker):  # not ours: no run makes a directory
                raise OutputError(f"{breaker} is a directory, which blocks taking over a stale lock; remove it "
                                  "and run again") from None
            if time.time() - _mtime(breaker) > _BREAK_STALE:
                with contextlib.suppress(OSError):
                    os.unlink(breaker)
            time.sleep(_WAIT)
            return
        except OSError as exc:
            raise OutputError(f"{self.directory}: cannot create the output lock ({exc.strerror})") from None
        try:
            if _read(self.path)[0] == raw:  # nobody replaced it meanwhile
                os.unlink(self.path)
                self.took_over = held if held is not None else {}
        except PermissionError:
            pass  # replaced by another user's lock: the next round says so
        finally:
            with contextlib.suppress(OSError):
                os.unlink(breaker)


def _read(path: str) -> tuple[bytes | None, dict | None]:
    """(raw bytes or None if absent, the record or None if unreadable)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return None, None
    except PermissionError:
        raise
    except OSError:
        return b"", None
    try:
        held = json_value(raw)
    except ValueError:
        return raw, None
    if not isinstance(held, dict) or not isinstance(held.get("pid"), int) or not isinstance(held.get("host"), str):
        return raw, None
    if not 0 < held["pid"] < _MAX_PID:  # no process has it: a damaged or forged file
        return raw, None
    return raw, held


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _holder(held: dict) -> str:
    return f"pid {held['pid']} on {held['host']} since {held.get('started', '?')}"


def _alive(held: dict) -> bool:
    """Whether the lock's writer may still run (another host: assume so)."""
    if held["host"] != socket.gethostname():
        return True
    pid = held["pid"]
    boot = _boot_id()
    if pid <= 0 or (boot is not None and held.get("boot") not in (None, boot)):
        return False  # written before this machine last booted
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        pass
    started = _process_start(pid)
    lock_time = held.get("started_unix")
    if started is not None and isinstance(lock_time, (int, float)) and started > lock_time + _REUSE_MARGIN:
        return False  # the pid was reused by a process younger than the lock
    return True


def _boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return None


def _process_start(pid: int) -> float | None:
    """Start time (Unix seconds) of process ``pid`` from /proc, or None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith(b"btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime, in clock ticks
    except (OSError, ValueError, IndexError, StopIteration):
        return None
