"""Before a run trains: the output directory (created, or checked, or cleared with --force after
its lock is held), stale files of a killed run, signals, and where log lines go.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
import threading
from typing import Callable

from ..artifact.model import MODEL_FILE
from ..config import Config
from ..errors import OutputError, UsageError
from .checkpoint import CHECKPOINT_FILE
from .events import EVENTS_FILE
from .lock import OutputLock

OUTPUT_FILES = ("vectors.txt", "vectors.bin", MODEL_FILE, "vocab.tsv", "config.yaml", EVENTS_FILE,
                "metrics.json", CHECKPOINT_FILE)

Log = Callable[[str], None]


def stderr_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# checks before any work
# ---------------------------------------------------------------------------------------
def prepare_output_dir(path: str, force: bool) -> None:
    """Create ``path`` or check it can be used; refuses a non-empty directory unless ``force``."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputError(f"{path}: output path is a file; choose a directory with -o")
    if os.path.isdir(path) and os.listdir(path) and not force:
        raise OutputError(f"{path}: output directory is not empty; pass --force to overwrite or choose another -o")
    for name in OUTPUT_FILES:  # --force replaces files; something else under an output's name is not ours
        there = os.path.join(path, name)
        if os.path.lexists(there) and not os.path.islink(there) and not os.path.isfile(there):
            raise OutputError(f"{there}: is not a file w2v-nce wrote (a directory?); move it away or choose another -o")
    probe = os.path.join(path, f".w2v-nce-write-test-{os.getpid()}")
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError:  # a dangling symbolic link at -o
        raise OutputError(f"{path}: cannot create the output directory (a broken symbolic link in its place?); "
                          "remove it or choose another -o") from None
    except OSError as exc:
        raise OutputError(f"{path}: output directory is not writable ({exc.strerror})") from None
    try:
        # created here or not at all: never through a symlink planted in a shared directory
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.close(fd)
        os.unlink(probe)
    except FileExistsError:  # O_EXCL: something sits under this process's probe name (a planted link?)
        raise OutputError(f"{probe}: is in the way of the writability check (a symbolic link?); remove it "
                          "and run again") from None
    except OSError as exc:
        raise OutputError(f"{path}: output directory is not writable ({exc.strerror})") from None


def remove_stale_outputs(out: str) -> None:
    """With --force: a previous run's files must not survive next to the new ones (a stale
    checkpoint could be resumed, a stale vectors.bin mistaken for this run's)."""
    for name in OUTPUT_FILES:
        try:
            os.unlink(os.path.join(out, name))
        except FileNotFoundError:
            pass
    remove_stale_spills(out)


def remove_stale_spills(out: str) -> None:
    """Spill directories of a counting pass that was killed (SIGKILL, OOM): safe to remove
    while this run holds the directory's lock."""
    import glob
    import shutil

    for d in glob.glob(os.path.join(out, ".w2v-nce-count-*")):
        shutil.rmtree(d, ignore_errors=True)


class Signals:
    """SIGINT/SIGTERM/SIGHUP set ``halt`` and remember which signal; restored on exit. SIGHUP (a
    closed terminal or ssh session) checkpoints and stops as SIGTERM does: it used to kill the
    run without a word and leave its lock."""

    def __init__(self, halt: threading.Event, enabled: bool):
        self.halt = halt
        self.signum = 0
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self._old = {}

    def __enter__(self):
        if self.enabled:
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signum = signum
        self.halt.set()

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


def refuse_output_in_corpus(cfg: Config) -> None:
    """The output directory must not be, or be inside, a corpus directory (``--force`` would
    delete corpus files named like outputs, and the outputs would become corpus); no input
    (corpus, --replay text, held-out text, --vocab, --init, --phrases) may be a file the run writes."""
    out = os.path.realpath(cfg.output)
    for p in [*cfg.corpus, *cfg.replay_corpus]:
        if p != "-" and os.path.isdir(p):
            d = os.path.realpath(p)
            if out == d or out.startswith(d + os.sep):
                raise UsageError(f"{cfg.output}: the output directory is inside the corpus directory {p}; choose "
                                 "an -o outside it")
    inputs = [p for p in [*cfg.corpus, *cfg.replay_corpus, *cfg.heldout, cfg.vocab, cfg.init, cfg.phrases] if p and p != "-"]
    for p in inputs:
        real = os.path.realpath(p)
        if real == out or (os.path.dirname(real) == out and os.path.basename(real) in OUTPUT_FILES):
            raise UsageError(f"{p}: is an input of this run and also what it writes in -o {cfg.output}; copy it "
                             "elsewhere or choose another -o")


def refuse_special_inputs(cfg: Config) -> None:
    """--vocab, --init and --phrases are read with a plain open(): a FIFO would block it beyond
    the reach of SIGINT (PEP 475 retries the call), a device would never end."""
    run_model = os.path.join(cfg.init, MODEL_FILE) if cfg.init and os.path.isdir(cfg.init) else None
    for flag, p in (("--vocab", cfg.vocab), ("--init", cfg.init), ("--init", run_model), ("--phrases", cfg.phrases)):
        if p and os.path.exists(p) and not os.path.isdir(p) and not stat.S_ISREG(os.stat(p).st_mode):
            raise UsageError(f"{flag} {p}: not a regular file (a pipe or device); write it to a file and give that")


@contextlib.contextmanager
def locked_output(out: str, log: Log):
    """Hold the output directory's lock (one writer per directory); a stale one taken over is logged."""
    with OutputLock(out, argv=sys.argv) as lock:
        if lock.note is not None:
            log(lock.note)
        yield lock
