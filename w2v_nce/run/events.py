"""What a training run reports over time: typed events, and their one writer.

A run (local or, later, a distributed driver) emits ``Progress`` every ``progress_every``
seconds and ``EpochEnd`` after each epoch. ``EventLog`` is the only writer: one JSON line per
event in ``train.jsonl``, and for the person watching, either a progress bar (stderr is a
terminal) or plain timestamped lines (a batch job's log file: no carriage-return redraws).
``read_events`` is the reader (resume, reports).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import IO, Callable

from ..errors import FormatError, OutputError
from ..io import json_safe, json_value

Log = Callable[[str], None]


@dataclass
class Progress:
    """Training over the last interval."""

    epoch: int  # 1-based epoch in progress
    words: int  # the lr clock: in-vocab tokens handed out so far, all epochs
    words_per_sec: float  # over the interval
    lr: float  # at the end of the interval
    loss: float  # mean per-example loss over the interval (NaN: no example finished)
    examples: float  # examples in the interval
    time: float  # unix time at the end of the interval
    # distributed runs: rounds ended in the interval, seconds spent averaging the replicas in them,
    # and the bytes their syncs moved (pieces up + averaged blocks down)
    rounds: int | None = None
    sync_seconds: float | None = None
    sync_bytes: int | None = None

    event = "progress"


@dataclass
class EpochEnd:
    epoch: int  # 1-based, the epoch that ended
    words: int
    words_per_sec: float  # over the epoch (this process's part of it, after a resume)
    lr: float
    loss: float  # mean per-example loss over the epoch
    examples: float
    time: float
    kept: float = 0.0  # tokens kept by subsampling during the epoch
    heldout_loss: dict | None = None  # {"mean", "stderr", "pairs"}: full sigmoid loss on held-out pairs
    reader: dict | None = None  # pairs.ReaderCounts of the epoch's pass over the corpus

    event = "epoch"


@dataclass
class ReplicaLost:
    """A replica died; its parts since its last round are trained again, by it restarted or by the others."""

    replica: int  # 0-based replica index
    words: int  # the lr clock of the position it restarts from
    reason: str  # one line: what the backend reported
    refilled_from: int | None  # the healthy replica whose model it was given; None: not restarted, the
    # others took its parts (the run goes on with K - 1 replicas)
    time: float

    event = "replica_lost"


def to_record(ev: "Progress | EpochEnd | ReplicaLost") -> dict:
    """The JSON object of an event: ``{"event": kind, ...fields}``, None fields left out."""
    fields = {k: v for k, v in dataclasses.asdict(ev).items() if v is not None}
    return json_safe({"event": ev.event, **fields})


def read_events(path: str | os.PathLike) -> list[dict]:
    """The JSON objects of a train.jsonl, the package's one reader of it (resume, report).

    A last line without its newline (a run killed or still writing) is skipped; blank lines and
    records that are not objects are ignored; any other bad line is a ``FormatError`` naming it.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
    except FileNotFoundError:
        raise FormatError(f"{path}: no train.jsonl here (is this a w2v-nce run directory?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: cannot read ({exc})") from None
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json_value(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):  # no newline after it: torn, or still being written
                continue
            raise FormatError(f"{path}:{number}: not JSON ({exc.msg}); is this a w2v-nce train.jsonl?") from None
        if isinstance(record, dict):
            out.append(record)
    return out


EVENTS_FILE = "train.jsonl"  # a run directory's event log

_LINK_REFUSED = "{path} is a symbolic link; w2v-nce writes only files it creates: remove it and run again"


def _open_log(path: str, append: bool) -> IO:
    """train.jsonl for writing, never through a symbolic link (one planted in a shared output
    directory would have us append to its target): ``OutputError`` naming it."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if os.path.islink(path):
            raise OutputError(_LINK_REFUSED.format(path=path)) from None
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return os.fdopen(fd, "a" if append else "w", encoding="utf-8")


def _drop_records_after(path: str, words: int) -> None:
    """Rewrite ``path`` without the records whose lr clock is past ``words`` (and a torn last line)."""
    from ..io import atomic_output

    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return
    keep = []
    for line in lines:
        try:
            record = json_value(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict) or record.get("words", 0) <= words:
            keep.append(line)
    if len(keep) != len(lines):
        with atomic_output(path, "w") as fh:
            fh.write("".join(x + "\n" for x in keep))


def _duration(seconds: float) -> str:
    if not seconds == seconds or seconds == float("inf"):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class EventLog:
    """Writes each event to ``train.jsonl`` and shows progress on ``stream``.

    ``total_words`` is the lr clock's end (for % done and the ETA); ``start_words`` where this
    process starts on it (a resume); ``quiet`` shows nothing but still writes the file. When
    appending (a resume), records past ``start_words`` are dropped first: a process killed after
    its last checkpoint wrote them, and the resume trains those words again (and writes them again).
    """

    def __init__(self, path: str, append: bool, total_words: int, start_words: int, epochs: int, quiet: bool,
                 log: Log, stream: IO | None = None):
        if os.path.islink(path):  # checked first: the resume's rewrite would read through it too
            raise OutputError(_LINK_REFUSED.format(path=path))
        if append:
            _drop_records_after(path, start_words)
        self._fh = _open_log(path, append)
        self._total, self._start_words, self._epochs, self._log = total_words, start_words, epochs, log
        self._t0 = time.time()
        stream = stream or sys.stderr
        self._plain = not quiet and not is_terminal(stream)
        self._bar = None
        if not quiet and not self._plain:
            from tqdm import tqdm

            self._bar = tqdm(total=total_words, initial=min(start_words, total_words), unit="word", unit_scale=True,
                             desc="train", file=stream, smoothing=0.1)

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._fh.close()

    def advance(self, words: int) -> None:
        """The position on the lr clock (the bar's position; cheap, call it often)."""
        if self._bar is not None:
            self._bar.n = min(words, self._total)
            self._bar.refresh()

    def eta(self, words: int, now: float) -> float:
        """Seconds to the end of training at this process's mean rate so far."""
        rate = (words - self._start_words) / max(now - self._t0, 1e-9)
        return (self._total - words) / rate if rate > 0 else float("inf")

    def emit(self, ev: "Progress | EpochEnd | ReplicaLost") -> None:
        self._fh.write(json.dumps(to_record(ev)) + "\n")
        self._fh.flush()
        if isinstance(ev, Progress):
            self._show_progress(ev)
        elif isinstance(ev, ReplicaLost):
            if self._bar is not None:
                self._bar.clear()
            if ev.refilled_from is None:
                self._log(f"replica {ev.replica} lost ({ev.reason}) and not restarted; its parts go to the others "
                          f"from {ev.words:,} words")
            else:
                self._log(f"replica {ev.replica} lost ({ev.reason}); restarted from {ev.words:,} words with replica "
                          f"{ev.refilled_from}'s model")
        else:
            self._show_epoch(ev)

    def _show_progress(self, ev: Progress) -> None:
        eta = _duration(self.eta(ev.words, ev.time))
        if self._bar is not None:
            self._bar.set_postfix(lr=f"{ev.lr:.5f}", loss=f"{ev.loss:.4f}", eta=eta, refresh=True)
        elif self._plain:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ev.time))
            self._log(f"{stamp} train: epoch {ev.epoch}/{self._epochs}, {ev.words:,}/{self._total:,} words "
                      f"({100.0 * ev.words / self._total:.1f}%), {ev.words_per_sec:,.0f} words/s, loss {ev.loss:.4f}, "
                      f"lr {ev.lr:.6f}, ETA {eta}")

    def _show_epoch(self, ev: EpochEnd) -> None:
        if self._bar is not None:
            self._bar.clear()
        held = f", held-out full loss {ev.heldout_loss['mean']:.4f}" if ev.heldout_loss else ""
        self._log(f"epoch {ev.epoch}/{self._epochs}: loss {ev.loss:.4f}, {ev.words_per_sec:,.0f} words/s{held}")


def is_terminal(stream: IO) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False
