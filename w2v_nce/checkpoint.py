"""The resumable checkpoint: the model, the exact position, and what the run reported so far.

``checkpoint.npz`` in the output directory holds the model's arrays, the resolved config, the
``TrainState`` (epoch, stream position, lr clock, reader counts), every worker's RNG row, the
run's tallies and its epoch records. It is written atomically, only when the state and the
matrices agree (between chunks), and removed once the final outputs are written.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass

import numpy as np

from .config import Config, from_saved
from .corpus import Corpus
from .errors import FormatError, ResumeError
from .formats import atomic_output
from .model import Model
from .train import Tallies, TrainState

CHECKPOINT_FILE = "checkpoint.npz"
VERSION = 1


@dataclass
class Checkpoint:
    cfg: Config
    model: Model
    state: TrainState
    fingerprint: list  # Corpus.fingerprint() when the run started
    totals: Tallies  # over the whole run so far
    history: list  # the epoch records so far


def save_checkpoint(out_dir: str, ck: Checkpoint) -> str:
    path = os.path.join(out_dir, CHECKPOINT_FILE)
    state = {"train": ck.state.to_json(), "fingerprint": ck.fingerprint, "totals": ck.totals.__dict__,
             "history": ck.history, "version": VERSION}
    arrays = {**ck.model.npz_arrays(), "config": np.array(json.dumps(ck.cfg.to_dict())),
              "state": np.array(json.dumps(state)), "rng": ck.state.rng}
    with atomic_output(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def load_checkpoint(out_dir: str) -> Checkpoint:
    path = os.path.join(out_dir, CHECKPOINT_FILE)
    if not os.path.exists(path):
        raise ResumeError(f"{path}: no checkpoint to resume from (did the run finish, or was it started elsewhere?)")
    try:
        with np.load(path, allow_pickle=False) as z:
            cfg = from_saved(json.loads(str(z["config"])))
            model = Model.from_npz(z, path)  # words as bytes + offsets, or an old fixed-width array
            model.config = cfg.to_dict()
            st = json.loads(str(z["state"]))
            rng = z["rng"].copy()
    except FormatError as exc:
        raise ResumeError(f"{path}: checkpoint is unreadable ({exc})") from None
    except (KeyError, ValueError, OSError, TypeError, zipfile.BadZipFile) as exc:
        raise ResumeError(f"{path}: checkpoint is unreadable ({exc})") from None
    return Checkpoint(cfg, model, TrainState.from_json(st["train"], rng), st["fingerprint"], Tallies(**st["totals"]),
                      st["history"])


def check_fingerprint(saved: list, corpus: Corpus) -> None:
    """The corpus must be the one the checkpoint was trained on (same files, sizes, mtimes)."""
    now = corpus.fingerprint()
    if any(s.get("path") == "-" for s in saved):
        raise ResumeError("the corpus was read from stdin, which cannot be read again; start a new run")
    if len(now) != len(saved):
        raise ResumeError(f"the corpus changed since the checkpoint ({len(saved)} files then, {len(now)} now); start a new run")
    for a, b in zip(saved, now):
        if a != b:
            raise ResumeError(f"{a['path']}: corpus file changed since the checkpoint (size or mtime); start a new run")
