"""The resumable checkpoint: the model, every replica's exact position, and what the run reported.

``checkpoint.npz`` in the output directory holds the model's arrays, the resolved config, each
replica's ``TrainState`` (epoch, part positions, lr clock, reader counts) and worker RNG rows
(``rng_k``), the sync counter (the tier schedule's n), the run's tallies, its epoch records and
sync totals. One format for every K (a single machine is K = 1). It is written atomically, only
when the states and the matrices agree (between rounds; after a full sync when K > 1, so one
model is stored), and removed once the final outputs are written.

Version 1 files of a single machine (one ``train`` state and ``rng``) still resume; version 1
files of a distributed run (replicas sharing one stream by chunk index) cannot, and say so.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from ..artifact.model import Model, npz_problem
from ..config import Config, merge, validate
from ..errors import ConfigError, CorpusError, FormatError, ResumeError
from ..io import DEFLATE_MAX_RATIO, atomic_output, checked_npz, json_value, write_npz
from ..text.corpus import Corpus, is_compressed
from ..train import Tallies, TrainState, parts_of

CHECKPOINT_FILE = "checkpoint.npz"
VERSION = 2  # 2: replicas read their own parts (train.parts_of); 1: one stream shared by chunk index


@dataclass
class Checkpoint:
    """Where a run starts: fresh, or from a checkpoint."""

    cfg: Config
    model: Model  # the (synced) model
    states: list[TrainState]  # one per replica
    fingerprint: list  # Corpus.fingerprint() when the run started
    totals: Tallies  # over the whole run so far
    history: list  # the epoch records so far
    syncs: int = 0  # syncs done (the tier schedule's counter)
    sync_totals: dict = field(default_factory=dict)  # rounds, full_syncs, bytes, seconds, replicas_lost so far
    init: dict | None = None  # --init's lineage {path, sha256}, hashed when the run first read it
    epoch_words: int | None = None  # Vocab.epoch_words (None in older files: the counts' sum)


def save_checkpoint(out_dir: str, ck: Checkpoint) -> str:
    path = os.path.join(out_dir, CHECKPOINT_FILE)
    state = {"replicas": [s.to_json() for s in ck.states], "fingerprint": ck.fingerprint,
             "totals": ck.totals.__dict__, "history": ck.history, "version": VERSION, "syncs": ck.syncs,
             "sync_totals": ck.sync_totals, "init": ck.init, "epoch_words": ck.epoch_words}
    arrays = {**ck.model.npz_arrays(), "config": np.array(json.dumps(ck.cfg.to_dict())),
              "state": np.array(json.dumps(state))}
    # a position without worker RNG rows yet (a fresh or regrouped one): an empty array, read back as None
    arrays.update({f"rng_{k}": s.rng if s.rng is not None else np.zeros((0, 0), np.uint64)
                   for k, s in enumerate(ck.states)})
    with atomic_output(path, "wb") as fh:
        write_npz(fh, arrays)
    return path


def load_checkpoint(out_dir: str) -> Checkpoint:
    """The checkpoint in ``out_dir``, every part of it checked (types, shapes, ranges and their
    agreement) before anything is used: ``ResumeError`` naming the file otherwise."""
    path = os.path.join(out_dir, CHECKPOINT_FILE)
    if not os.path.exists(path):
        raise ResumeError(f"{path}: no checkpoint to resume from (did the run finish, or was it started elsewhere?)")
    try:
        with checked_npz(path) as z:
            cfg = _saved_config(json_value(str(z["config"])), path)
            model = Model.from_npz(z, path)  # words as bytes + offsets, or an old fixed-width array
            model.config = cfg.to_dict()
            st = json_value(str(z["state"]))
            _check_record(st, path)
            states = _states(st, z, path)
        _check(cfg, model, states, path)
        _check_positions(states, st["fingerprint"], cfg.epochs, path)
        return Checkpoint(cfg, model, states, st["fingerprint"], Tallies(**st["totals"]), st["history"],
                          int(st.get("syncs", 0)), dict(st.get("sync_totals", {})), st.get("init"),
                          st.get("epoch_words"))
    except FormatError as exc:
        raise ResumeError(f"{path}: checkpoint is unreadable ({exc})") from None
    except (KeyError, ValueError, OverflowError, OSError, TypeError, AttributeError, EOFError,
            zipfile.BadZipFile) as exc:
        raise ResumeError(f"{path}: checkpoint is unreadable ({npz_problem(exc)}); start a new run") from None


def _saved_config(values, path: str) -> Config:
    """The checkpoint's config with the checks of a config file (types, then ranges); keys this
    version does not know are ignored, as ``from_saved`` does."""
    if not isinstance(values, dict):
        raise ResumeError(f"{path}: the checkpoint's config is not a mapping; start a new run")
    try:
        known = {k: v for k, v in values.items() if k in Config.__dataclass_fields__}
        return validate(merge(Config(), known, f"{path} (config)"), f"{path} (config)")
    except ConfigError as exc:
        raise ResumeError(f"{exc}; the checkpoint is corrupt: start a new run") from None


_RECORD_TYPES = {"fingerprint": list, "totals": dict, "history": list, "syncs": int, "sync_totals": dict,
                 "init": (dict, type(None)), "epoch_words": (int, type(None))}


def _check_record(st, path: str) -> None:
    """The checkpoint's state record has the shape ``save_checkpoint`` writes."""
    problem = None
    if not isinstance(st, dict):
        problem = "the state record is not a mapping"
    else:
        for key, kind in _RECORD_TYPES.items():
            if (key in st or key in ("fingerprint", "totals", "history")) and not isinstance(st.get(key), kind):
                problem = f"'{key}' has the wrong type"
                break
        else:
            entries = st["fingerprint"] + st["history"]
            if not all(isinstance(e, dict) for e in entries) or not all(
                    isinstance(e.get("path"), str) for e in st["fingerprint"]):
                problem = "'fingerprint' or 'history' holds a malformed entry"
            elif isinstance(st.get("epoch_words"), bool) or (st.get("epoch_words") or 0) < 0:
                problem = "'epoch_words' is not a count"  # 0: no word of the new text in the vocabulary
            elif not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                         for v in [*st["totals"].values(), *st.get("sync_totals", {}).values()]):
                problem = "'totals' or 'sync_totals' holds a value that is not a number"
    if problem:
        raise ResumeError(f"{path}: checkpoint is unreadable ({problem}); start a new run")


def saved_replicas(out_dir: str) -> int:
    """The replica count of the checkpoint in ``out_dir`` (its positions: fewer than the run
    started with if one was lost for good; 1 if unreadable: the resume then reports what is wrong)."""
    try:
        with checked_npz(os.path.join(out_dir, CHECKPOINT_FILE)) as z:
            return max(1, len(json_value(str(z["state"])).get("replicas", [None])))
    except (OSError, KeyError, ValueError, OverflowError, TypeError, AttributeError, EOFError, zipfile.BadZipFile,
            FormatError):
        return 1


def _check(cfg: Config, model: Model, states: list[TrainState], path: str) -> None:
    """A checkpoint must agree with itself before any kernel sees an index from it: the config's
    dim with the matrices, every carried id within the vocabulary, positions and epochs in range."""
    V, D = len(model), model.dim
    if model.counts.shape != (V,) or not (model.counts >= 1).all():
        raise ResumeError(f"{path}: the checkpoint's word counts are not one count >= 1 per word; the checkpoint is "
                          "corrupt: start a new run")
    if cfg.dim != D or model.w_out.shape != (V, D) or model.bias.shape != (V,):
        raise ResumeError(f"{path}: the checkpoint contradicts itself (dim {cfg.dim}, matrices {model.input_table().shape}, "
                          f"{model.w_out.shape}, {model.bias.shape}); start a new run")
    for k, s in enumerate(states):
        streams = [s.stream, *s.streams]
        bad = (not 0 <= s.epoch <= cfg.epochs or s.clock < 0 or s.parts < 0 or s.block_bytes < 1
               or (s.streams and s.done and len(s.done) != len(s.streams))
               or any(x.position.source < 0 or x.position.block < 0 or x.piece_tokens < 0 or x.sentences < 0
                      or (len(x.carry_ids) and (x.carry_ids.min() < -1 or x.carry_ids.max() >= V)) for x in streams)
               or (s.rng is not None and (s.rng.ndim != 2 or s.rng.dtype != np.uint64)))
        if bad:
            raise ResumeError(f"{path}: replica {k}'s position is out of range (epoch, clock, stream or ids past the "
                              f"{V:,}-word vocabulary); the checkpoint is corrupt: start a new run")


# a chunk's text: the reader's blocks are 64 KiB (replicas) or 1 MiB; a forged 1 would crawl
BLOCK_BYTES_RANGE = (1 << 12, 1 << 30)


def _check_positions(states: list[TrainState], fingerprint: list, epochs: int, path: str) -> None:
    """Positions must lie in the corpus the checkpoint names: a stream per part the replica
    reads (none for a replica left without parts by a resume onto more replicas than parts),
    blocks and the lr clock (tokens read, at most one per byte) within the saved files' bytes.
    The byte bound is skipped where it is unknown: stdin (``check_fingerprint`` refuses it), and
    .bz2/.xz files, whose ratio has no useful bound (a .gz expands at most ``DEFLATE_MAX_RATIO`` x)."""
    sizes = [e["size"] if isinstance(e.get("size"), int) else 0 for e in fingerprint]
    unbounded = any(e["path"] == "-" or (is_compressed(e["path"]) and not e["path"].endswith(".gz")) for e in fingerprint)
    room = sum(sizes) * (DEFLATE_MAX_RATIO if any(is_compressed(e["path"]) for e in fingerprint) else 1)
    for k, s in enumerate(states):
        mine = len(parts_of(k, len(states), s.parts)) if s.parts else 1
        streams = [] if mine == 0 else [s.stream] if mine == 1 else s.streams
        if not BLOCK_BYTES_RANGE[0] <= s.block_bytes <= BLOCK_BYTES_RANGE[1]:
            _bad_position(path, k, f"a block size of {s.block_bytes} bytes")
        if len(streams) != mine:
            _bad_position(path, k, f"{len(streams)} stream(s) for {mine} part(s)")
        past = s.clock > epochs * room or any(x.position.source > len(fingerprint)
                                              or x.position.block * s.block_bytes > room for x in [s.stream, *s.streams])
        if past and not unbounded:
            _bad_position(path, k, f"past the end of the {len(fingerprint)} file(s) it names ({sum(sizes):,} bytes)")


def _bad_position(path: str, k: int, why: str) -> None:
    raise ResumeError(f"{path}: replica {k}'s position does not fit the corpus: {why}; the checkpoint is corrupt: "
                      "start a new run")


def _states(st: dict, z, path: str) -> list[TrainState]:
    version = st.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
        raise ResumeError(f"{path}: checkpoint version {str(version)[:20]} is not one this w2v-nce reads (1 to "
                          f"{VERSION}); resume it with the version that wrote it, or start a new run")
    if version >= 2:
        if not isinstance(st.get("replicas"), list) or not st["replicas"]:
            raise ResumeError(f"{path}: checkpoint is unreadable ('replicas' is not a list of positions); start a "
                              "new run")
        rngs = [z[f"rng_{k}"].copy() for k in range(len(st["replicas"]))]
        return [TrainState.from_json(s, r if r.size else None) for s, r in zip(st["replicas"], rngs)]
    if "replicas" in st:
        raise ResumeError(f"{path}: a distributed checkpoint of an older version (replicas shared one stream); "
                          "it cannot be resumed by this version: start the run again")
    return [TrainState.from_json(st["train"], z["rng"].copy())]


def check_unchanged(fingerprint: list, corpus: Corpus, when: str) -> None:
    """Every corpus file as ``fingerprint`` (taken before the counting pass) saw it: one that
    changed (size or mtime) ``when`` was counted or trained as text it no longer is; a file added
    to a corpus directory would be neither counted nor trained."""
    try:
        current = corpus.fingerprint()
    except OSError as exc:  # removed, or no longer readable
        raise CorpusError(f"{exc.filename}: corpus file gone or unreadable {when} ({exc.strerror}); the model is not "
                          "saved; start the run again on a corpus that stays put") from None
    for was, now in zip(fingerprint, current):
        if was != now:
            raise CorpusError(f"{was['path']}: corpus file changed {when} (size or mtime); the model is not saved; "
                              "start the run again on a corpus that stays put")
    added = corpus.added_files()
    if added:  # not trained, and a --resume would refuse the directory
        raise CorpusError(f"{added[0]}: a file added to the corpus directory {when}; the model is not saved; start "
                          "the run again on a corpus that stays put")


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
