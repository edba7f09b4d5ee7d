"""The distributed checkpoint: ``checkpoint.npz`` with every replica's position.

Written only after a full sync (all replicas hold the same matrices), so one model is stored,
plus each replica's ``TrainState`` and RNG rows and the sync counter (the tier schedule's n).
The file is the single-machine checkpoint (``checkpoint.load_checkpoint`` reads its model,
config, totals and history; its ``state``/``rng`` are replica 0's) with the replicas added.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from ..checkpoint import CHECKPOINT_FILE, VERSION, load_checkpoint
from ..config import Config
from ..errors import ResumeError
from ..formats import atomic_output
from ..model import Model
from ..train import Tallies, TrainState


@dataclass
class DistStart:
    """Where a distributed run starts: fresh, or from a checkpoint."""

    cfg: Config
    model: Model  # the synced model
    states: list[TrainState]  # one per replica
    syncs: int  # syncs done (the tier schedule's counter)
    fingerprint: list
    totals: Tallies
    history: list
    sync_totals: dict = field(default_factory=dict)  # rounds, full_syncs, bytes, seconds, replicas_lost so far


def save_distributed(out_dir: str, ck: DistStart) -> str:
    path = os.path.join(out_dir, CHECKPOINT_FILE)
    state = {"train": ck.states[0].to_json(), "fingerprint": ck.fingerprint, "totals": ck.totals.__dict__,
             "history": ck.history, "version": VERSION,
             "replicas": [s.to_json() for s in ck.states], "syncs": ck.syncs, "sync_totals": ck.sync_totals}
    arrays = {**ck.model.npz_arrays(), "config": np.array(json.dumps(ck.cfg.to_dict())),
              "state": np.array(json.dumps(state)), "rng": ck.states[0].rng}
    arrays.update({f"rng_{k}": s.rng for k, s in enumerate(ck.states)})
    with atomic_output(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def saved_replicas(out_dir: str) -> int | None:
    """The replica count of the checkpoint in ``out_dir``; None if it is a single-machine one
    (or there is none: ``load_checkpoint`` then says so)."""
    path = os.path.join(out_dir, CHECKPOINT_FILE)
    try:
        with np.load(path, allow_pickle=False) as z:
            reps = json.loads(str(z["state"])).get("replicas")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return len(reps) if reps else None


def load_distributed(out_dir: str) -> DistStart:
    ck = load_checkpoint(out_dir)
    path = os.path.join(out_dir, CHECKPOINT_FILE)
    try:
        with np.load(path, allow_pickle=False) as z:
            st = json.loads(str(z["state"]))
            states = [TrainState.from_json(s, z[f"rng_{k}"].copy()) for k, s in enumerate(st["replicas"])]
    except (KeyError, ValueError, OSError, TypeError, zipfile.BadZipFile) as exc:
        raise ResumeError(f"{path}: not a distributed checkpoint ({exc})") from None
    return DistStart(ck.cfg, ck.model, states, int(st["syncs"]), ck.fingerprint, ck.totals, ck.history,
                     dict(st.get("sync_totals", {})))
