"""A finished run's files: the model first, then vectors, vocab.tsv, config.yaml and metrics.json
(with the bundled evaluation scores), each written atomically.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ..artifact.model import MODEL_FILE, Model
from ..config import Config, to_yaml
from ..errors import OutputError, W2VError
from ..evaluation.command import bundled_scores, bundled_unseen
from ..io import atomic_output
from ..vocabulary.vocab import Vocab
from .checkpoint import CHECKPOINT_FILE
from .prepare import Log

# A model that cannot be saved for want of room is tried again this often (seconds)
SAVE_RETRY_SECONDS = 30.0
from .vocabulary import vocab_header


def write_outputs(cfg: Config, model: Model, vocab: Vocab, out: str, metrics: dict, log: Log,
                   seconds: dict | None = None, halt: threading.Event | None = None) -> None:
    """The model first (whatever fails later, the trained matrices are on disk), then the rest;
    a failure after the model is an ``OutputError`` saying what was written (exit 1). Once the
    model is saved, the bundled evaluation (``cfg.evaluate``) runs on a second thread beside the
    writing of the rest (it reads w_in only; w_out and the bias are dropped first: peak RSS).

    ``seconds``: wall seconds of this process's earlier phases; "write" and "evaluate" (the
    evaluation's time after the writing ended: the part not overlapped) are added, and
    metrics.json gets them all as "seconds" (the job's fixed costs, for benchmarks). ``halt``
    (a signal) ends a wait for room to save the model (``save_model``)."""
    seconds = dict(seconds or {})
    t_write = time.time()
    model.config = cfg.to_dict()
    with ThreadPoolExecutor(1, thread_name_prefix="w2v-nce-evaluate") as pool:
        save_model(model, out, cfg.save_wait_minutes, halt or threading.Event(), log)
        written = [MODEL_FILE]
        spare = model.w_out if model.table is not None else None  # saved: its memory takes the vectors (peak RSS)
        model.w_out = model.bias = None
        vectors = model.word_vectors(out=spare)  # w_in, or with subwords each word's mean of its rows
        # subwords: the bundled sets' unseen words' vectors, taken now (no reference to the table is kept)
        unseen = model.unseen_vectors() if cfg.evaluate else None
        if unseen is not None:
            unseen = bundled_unseen(unseen)
        # saved: only the vectors are written and scored (with subwords w_in is a view of the table: both go)
        model.w_in = model.table = None
        scoring = pool.submit(bundled_scores, model.words, vectors, unseen) if cfg.evaluate else None
        step = "writing the outputs"  # the error itself names the file
        try:
            _write_the_rest(cfg, model.words, vectors, vocab, out, written, metrics)
            seconds["write"] = time.time() - t_write
            step = "scoring the bundled evaluation sets"
            t_eval = time.time()
            if scoring is not None:
                metrics.update(scoring.result())
            seconds["evaluate"] = time.time() - t_eval
            metrics["seconds"] = {k: round(v, 3) for k, v in seconds.items()}
            step = "writing metrics.json"
            with atomic_output(os.path.join(out, "metrics.json"), "w") as fh:
                json.dump(metrics, fh, indent=2)
        except Exception as exc:  # noqa: BLE001 -- any failure here must still point to the saved model
            detail = str(exc) if isinstance(exc, W2VError) else f"{type(exc).__name__}: {exc}"
            raise OutputError(f"{step} failed ({detail}); the trained model is saved: {', '.join(written)} in {out} "
                              f"(w2v-nce export {out} writes the vectors again)") from None
    if "analogy" in metrics:
        log(f"analogy accuracy {metrics['analogy']['accuracy']:.4f} ({metrics['analogy']['answered']} answered)")


def save_model(model: Model, out: str, wait_minutes: float, halt: threading.Event, log: Log) -> None:
    """model.npz in ``out``. For want of room (ENOSPC, EDQUOT) the model stays in memory and the
    save is tried again every ``SAVE_RETRY_SECONDS`` for ``wait_minutes`` (room an operator can
    make at 3 a.m. saves the run); then, on any other error, or on ``halt``, an ``OutputError``
    saying how much room it needs and the way out."""
    deadline = time.monotonic() + 60.0 * wait_minutes
    while True:
        try:
            model.save(os.path.join(out, MODEL_FILE))
            return
        except OutputError as exc:
            cause = exc.__cause__
            no_room = isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT)
            left = deadline - time.monotonic()
            if not no_room or left <= 0 or halt.is_set():
                raise OutputError(_model_not_saved(str(exc), model, out, room=no_room)) from None
            log(f"warning: {_model_not_saved(str(exc), model, out, way_out=False)}; the trained model is kept in memory: "
                f"trying again every {SAVE_RETRY_SECONDS:.0f} s for {left / 60:.0f} more minutes (Ctrl-C gives up)")
            halt.wait(min(SAVE_RETRY_SECONDS, left))


def _model_not_saved(reason: str, model: Model, out: str, way_out: bool = True, room: bool = True) -> str:
    """The way out when model.npz cannot be written (a full disk): how much room it needs, how
    much there is, and the checkpoint to resume from once there is room (``room`` False: the
    cause was not the room, so the advice is to fix what ``reason`` names)."""
    need = sum(a.nbytes for a in model.npz_arrays().values())
    try:
        free = f"{size_text(shutil.disk_usage(out).free)} are free there"
    except OSError:
        free = "the free space is unknown"
    if not way_out:
        return f"{reason}; the model needs about {size_text(need)} and {free}"
    fix = "make room" if room else "fix that"
    checkpoint = os.path.join(out, CHECKPOINT_FILE)
    if os.path.exists(checkpoint):
        saved = time.strftime("%H:%M", time.localtime(os.path.getmtime(checkpoint)))
        way_out = (f"the checkpoint of {saved} is kept: {fix} and run 'w2v-nce train --resume {out}' "
                   "(it repeats only the training after that checkpoint)")
    else:
        way_out = f"no checkpoint was written (--checkpoint-every 0, or a short run): {fix} and train again"
    return f"{reason}; the model needs about {size_text(need)} and {free}; {way_out}"


def size_text(nbytes: int) -> str:
    """Bytes for a message: MB, or kB below 10 MB (a small model's "0 MB" told nothing)."""
    return f"{nbytes / 1e6:,.0f} MB" if nbytes >= 10e6 else f"{nbytes / 1e3:,.1f} kB"


def _write_the_rest(cfg: Config, words: list[str], vectors, vocab: Vocab, out: str, written: list[str],
                    metrics: dict) -> None:
    from ..artifact.word2vec import write_word2vec_binary, write_word2vec_text

    if cfg.text_vectors:
        write_word2vec_text(os.path.join(out, "vectors.txt"), words, vectors)
        written.append("vectors.txt")
    if cfg.binary:
        write_word2vec_binary(os.path.join(out, "vectors.bin"), words, vectors)
        written.append("vectors.bin")
    counted = metrics.get("vocabulary") or {}
    tokens = counted.get("tokens", (metrics.get("reader") or {}).get("tokens"))  # a resume: the first epoch's reader
    vocab.save_tsv(os.path.join(out, "vocab.tsv"), vocab_header(cfg, tokens, counted.get("distinct")))
    written.append("vocab.tsv")
    with atomic_output(os.path.join(out, "config.yaml"), "w") as fh:
        fh.write(to_yaml(cfg))
    written.append("config.yaml")
