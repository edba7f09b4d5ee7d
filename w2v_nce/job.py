"""The whole training batch job: checks first, vocabulary, training, checkpoints, outputs.

Order matters for a batch job: everything that can fail cheaply (settings, output
directory, corpus paths) is checked before the first token is counted; memory is estimated
before the matrices are allocated; every output is written to a temp file and renamed.

Outputs in the output directory: ``vectors.txt`` (+ ``vectors.bin`` with ``binary``),
``model.npz``, ``vocab.tsv``, ``config.yaml``, ``train.jsonl``, ``metrics.json``; while a run is
unfinished, ``checkpoint.npz`` (removed once the final outputs are written).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import kernels as K
from .config import Config, to_yaml, validate, validate_against_vocab
from .corpus import Corpus
from .errors import DivergenceError, Interrupted, OutputError, ResourceError, ResumeError
from .formats import atomic_output
from .model import MODEL_FILE, Model
from .pairs import heldout_pairs, id_chunks
from .train import Tallies, Trainer, TrainState
from .vocab import Vocab, build_vocab

CHECKPOINT_FILE = "checkpoint.npz"
OUTPUT_FILES = ("vectors.txt", "vectors.bin", MODEL_FILE, "vocab.tsv", "config.yaml", "train.jsonl",
                "metrics.json", CHECKPOINT_FILE)

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
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
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".w2v-nce-write-test")
        with open(probe, "wb") as fh:
            fh.write(b"ok")
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{path}: output directory is not writable ({exc.strerror})") from None


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def estimate_memory(V: int, D: int, threads: int, S: int, B: int) -> int:
    """Bytes the training allocates: w_in, w_out [V, D] float32, bias, noise tables, per-thread scratch,
    plus one more V x D float32 copy for writing outputs/checkpoints."""
    matrices = 3 * V * D * 4 + V * 4
    tables = V * (4 + 4 + 8 + 4 + 8 + 4)
    scratch = threads * (V * 12 + 2 * B * S * 4 + B * D * 4)
    return matrices + tables + scratch


def check_memory(V: int, cfg: Config) -> None:
    need = estimate_memory(V, cfg.dim, cfg.resolved_threads(), cfg.num_sampled, cfg.batch_size)
    avail = _available_memory()
    if avail is not None and need > 0.9 * avail:
        raise ResourceError(
            f"training needs about {need / 2**30:.1f} GiB for {V} words x {cfg.dim} dims but only "
            f"{avail / 2**30:.1f} GiB is available; lower --dim or --max-vocab, or raise --min-count"
        )


# ---------------------------------------------------------------------------------------
# checkpoint
# ---------------------------------------------------------------------------------------
def save_checkpoint(out_dir: str, cfg: Config, model: Model, trainer: Trainer, fingerprint: list, totals: Tallies,
                    history: list) -> str:
    path = os.path.join(out_dir, CHECKPOINT_FILE)
    state = {
        "train": trainer.state.to_json(),
        "fingerprint": fingerprint,
        "totals": totals.__dict__,
        "history": history,
        "batch_counters": [int(s.batch_counter[0]) for s in trainer._scratch],
        "version": 1,
    }
    with atomic_output(path, "wb") as fh:
        np.savez(fh, w_in=model.w_in, w_out=model.w_out, bias=model.bias,
                 words=np.array(model.words, dtype=str), counts=model.counts,
                 config=np.array(json.dumps(cfg.to_dict())), state=np.array(json.dumps(state)),
                 rng=trainer.state.rng)
    return path


@dataclass
class Checkpoint:
    cfg: Config
    model: Model
    state: TrainState
    fingerprint: list
    totals: Tallies
    history: list
    batch_counters: list


def load_checkpoint(out_dir: str) -> Checkpoint:
    path = os.path.join(out_dir, CHECKPOINT_FILE)
    if not os.path.exists(path):
        raise ResumeError(f"{path}: no checkpoint to resume from (did the run finish, or was it started elsewhere?)")
    try:
        with np.load(path, allow_pickle=False) as z:
            cfg = Config(**json.loads(str(z["config"])))
            words = [str(w) for w in z["words"].tolist()]
            model = Model(words, z["counts"], z["w_in"], z["w_out"], z["bias"], cfg.to_dict())
            st = json.loads(str(z["state"]))
            rng = z["rng"].copy()
    except (KeyError, ValueError, OSError, TypeError) as exc:
        raise ResumeError(f"{path}: checkpoint is unreadable ({exc})") from None
    return Checkpoint(cfg, model, TrainState.from_json(st["train"], rng), st["fingerprint"], Tallies(**st["totals"]),
                      st["history"], st.get("batch_counters", []))


def _check_fingerprint(saved: list, corpus: Corpus) -> None:
    now = corpus.fingerprint()
    if any(s.get("path") == "-" for s in saved):
        raise ResumeError("the corpus was read from stdin, which cannot be read again; start a new run")
    if len(now) != len(saved):
        raise ResumeError(f"the corpus changed since the checkpoint ({len(saved)} files then, {len(now)} now); start a new run")
    for a, b in zip(saved, now):
        if a != b:
            raise ResumeError(f"{a['path']}: corpus file changed since the checkpoint (size or mtime); start a new run")


# ---------------------------------------------------------------------------------------
# the job
# ---------------------------------------------------------------------------------------
@dataclass
class JobResult:
    output: str
    vocab_size: int
    totals: Tallies
    seconds: float
    metrics: dict = field(default_factory=dict)


class _Signals:
    """SIGINT/SIGTERM set ``halt`` and remember which signal; restored on exit."""

    def __init__(self, halt: threading.Event, enabled: bool):
        self.halt = halt
        self.signum = 0
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self._old = {}

    def __enter__(self):
        if self.enabled:
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signum = signum
        self.halt.set()

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


def run_training(cfg: Config, force: bool = False, resume: str | None = None, log: Log | None = None,
                 handle_signals: bool = False, halt: threading.Event | None = None,
                 threads_override: int | None = None, quiet_override: bool | None = None) -> JobResult:
    """Run a whole training job (or resume one from ``resume``, an output directory)."""
    from tqdm import tqdm

    t_start = time.time()
    halt = halt or threading.Event()
    checkpoint: Checkpoint | None = None
    if resume is not None:
        checkpoint = load_checkpoint(resume)
        cfg = checkpoint.cfg
        if threads_override is not None:
            cfg.threads = threads_override
        if quiet_override is not None:
            cfg.quiet = quiet_override
        cfg.output = resume
    validate(cfg)
    log = log or (lambda m: None if cfg.quiet else _stderr(m))
    out = cfg.output
    if checkpoint is None:
        prepare_output_dir(out, force)
    corpus = Corpus(cfg.corpus, lowercase=cfg.lowercase, spool_dir=out)
    heldout_corpus = Corpus(cfg.heldout, lowercase=cfg.lowercase) if cfg.heldout else None
    try:
        if checkpoint is not None:
            _check_fingerprint(checkpoint.fingerprint, corpus)
            model = checkpoint.model
            vocab = Vocab(model.words, model.counts)
            log(f"resuming {out}: epoch {checkpoint.state.epoch + 1}/{cfg.epochs}, "
                f"{checkpoint.state.clock:,} of {cfg.epochs * vocab.total:,} words done")
        else:
            with tqdm(unit="B", unit_scale=True, desc="vocabulary", disable=cfg.quiet, file=sys.stderr,
                      leave=False) as bar:
                vocab, counted = build_vocab(corpus, cfg.min_count, cfg.max_vocab, progress=bar.update)
            log(f"vocabulary: {len(vocab):,} words kept of {counted.counter.distinct:,} distinct; "
                f"{vocab.total:,} of {counted.tokens:,} tokens in vocabulary"
                + (f"; {counted.stats.replaced_chars:,} invalid UTF-8 sequences replaced by U+FFFD"
                   if counted.stats.replaced_chars else "")
                + (f"; {counted.stats.forced_splits:,} tokens longer than 1 MiB split" if counted.stats.forced_splits else ""))
            del counted
            validate_against_vocab(cfg, len(vocab))
            check_memory(len(vocab), cfg)
            model = Model.initial(vocab.words, vocab.counts, cfg.dim, cfg.seed, cfg.to_dict())
            if cfg.loss != "neg" and cfg.bias_init == "log_q":
                model.bias[:] = initial_bias(vocab.counts, cfg)
        validate_against_vocab(cfg, len(vocab))
        fingerprint = corpus.fingerprint()
        heldout = None
        if heldout_corpus is not None:
            heldout = heldout_pairs(id_chunks(heldout_corpus, vocab, cfg.max_sentence_len), cfg.window, cfg.heldout_max_pairs)
        elif cfg.holdout_fraction > 0:
            heldout = heldout_pairs(id_chunks(corpus, vocab, cfg.max_sentence_len, holdout=cfg.holdout_fraction,
                                              heldout_side=True), cfg.window, cfg.heldout_max_pairs)
        trainer = Trainer(cfg, corpus, vocab, model, checkpoint.state if checkpoint else None)
        if checkpoint is not None:
            for s, n in zip(trainer._scratch, checkpoint.batch_counters):
                s.batch_counter[0] = n
        totals = checkpoint.totals if checkpoint else Tallies()
        history = checkpoint.history if checkpoint else []
        jsonl_mode = "a" if checkpoint else "w"
        with open(os.path.join(out, "train.jsonl"), jsonl_mode, encoding="utf-8") as jsonl, \
                _Signals(halt, handle_signals) as sig, \
                tqdm(total=trainer.total_clock, initial=trainer.state.clock, unit="word", unit_scale=True,
                     desc="train", disable=cfg.quiet, file=sys.stderr, smoothing=0.1) as bar:
            metrics = _train_loop(cfg, trainer, model, heldout, totals, history, jsonl, bar, halt, sig, fingerprint, log, out)
        del trainer  # its tables and scratch are not needed for writing (peak RSS)
        _write_outputs(cfg, model, vocab, out, metrics, log)
        with atomic_output(os.path.join(out, "metrics.json"), "w") as fh:
            json.dump(metrics, fh, indent=2)
        try:
            os.unlink(os.path.join(out, CHECKPOINT_FILE))
        except FileNotFoundError:
            pass
        return JobResult(out, len(vocab), totals, time.time() - t_start, metrics)
    finally:
        corpus.close()


def initial_bias(counts: np.ndarray, cfg: Config) -> np.ndarray:
    """log(S * P(k)) under the run's sampler: the -log Q term of the logits starts cancelled, so
    NCE starts from SGNS's logits (x.w) instead of x.w - log Q (measured: +3.6 analogy points on
    mix8, 1 epoch; scripts/bench_quality.py --nce-flags '--bias-init zero' reproduces the other)."""
    from .train import NoiseTables

    prob = NoiseTables.build(counts, cfg).sampler_prob.astype(np.float64)
    return np.log(prob * cfg.num_sampled).astype(np.float32)


def _train_loop(cfg, trainer, model, heldout, totals, history, jsonl, bar, halt, sig, fingerprint, log, out) -> dict:
    def record(obj: dict) -> None:
        jsonl.write(json.dumps(obj) + "\n")
        jsonl.flush()

    last = {"t": time.time(), "tallies": trainer.tallies(), "probe": time.time(), "ckpt": time.time()}
    checkpoint_due = threading.Event()

    def on_tick(tr: Trainer) -> None:
        now = time.time()
        cur = tr.tallies()
        bar.n = min(tr.state.clock, tr.total_clock)
        if now - last["probe"] >= 5.0:  # cheap divergence probe every few seconds
            last["probe"] = now
            if not tr.check_finite():
                raise DivergenceError(
                    f"training diverged (NaN/Inf in the weights) in epoch {tr.state.epoch + 1} after "
                    f"{tr.state.clock:,} words at lr {tr.lr():.6g}; try a smaller --alpha")
        if now - last["t"] >= cfg.progress_every:
            d = cur.minus(last["tallies"])
            rate = d.words / (now - last["t"])
            bar.set_postfix(lr=f"{tr.lr():.5f}", loss=f"{d.mean_loss:.4f}", refresh=False)
            record({"event": "progress", "epoch": tr.state.epoch + 1, "words": tr.state.clock,
                    "words_per_sec": round(rate, 1), "lr": tr.lr(), "loss": d.mean_loss, "examples": d.examples,
                    "time": round(now, 3)})
            last["t"], last["tallies"] = now, cur
        bar.refresh()
        if cfg.checkpoint_every > 0 and now - last["ckpt"] >= 60 * cfg.checkpoint_every:
            checkpoint_due.set()
            halt.set()

    epoch_start = trainer.tallies()
    t_epoch = time.time()
    while not trainer.finished:
        try:
            span = trainer.run(stop=halt, on_tick=on_tick)
        except DivergenceError:
            raise
        totals_now = trainer.tallies()
        if span.stopped:
            if sig.signum or not checkpoint_due.is_set():  # a signal, or the caller's halt
                path = save_checkpoint(out, cfg, model, trainer, fingerprint, totals_now, history)
                signum = sig.signum or signal.SIGINT
                name = signal.Signals(signum).name if sig.signum else "request"
                raise Interrupted(f"stopped by {name} after {trainer.state.clock:,} words; checkpoint {path}; "
                                  f"resume with: w2v-nce train --resume {out}", signum)
            if checkpoint_due.is_set():
                save_checkpoint(out, cfg, model, trainer, fingerprint, totals_now, history)
                last["ckpt"] = time.time()
                checkpoint_due.clear()
                halt.clear()
                continue
        if span.epoch_ended:
            d = totals_now.minus(epoch_start)
            rec = {"event": "epoch", "epoch": trainer.state.epoch, "words": trainer.state.clock,
                   "words_per_sec": round(d.words / max(time.time() - t_epoch, 1e-9), 1),
                   "lr": trainer.lr(), "loss": d.mean_loss, "examples": d.examples}
            if heldout is not None and len(heldout[0]):
                from .evaluate import full_sigmoid_loss_pairs

                mean, stderr, n = full_sigmoid_loss_pairs(model.w_in, model.w_out, model.bias, heldout[0], heldout[1],
                                                          threads=trainer.threads)
                rec["heldout_loss"] = {"mean": mean, "stderr": stderr, "pairs": n}
            history.append(rec)
            jsonl.write(json.dumps(rec) + "\n")
            jsonl.flush()
            log(f"epoch {rec['epoch']}/{cfg.epochs}: loss {rec['loss']:.4f}, {rec['words_per_sec']:,.0f} words/s"
                + (f", held-out full loss {rec['heldout_loss']['mean']:.4f}" if "heldout_loss" in rec else ""))
            epoch_start = totals_now
            t_epoch = time.time()
    final = trainer.tallies()
    totals.__dict__.update(final.__dict__)
    return {"epochs": history, "train_loss": final.mean_loss, "examples": final.examples, "words": final.words}


def _write_outputs(cfg: Config, model: Model, vocab: Vocab, out: str, metrics: dict, log: Log) -> None:
    from .formats import write_word2vec_binary, write_word2vec_text

    write_word2vec_text(os.path.join(out, "vectors.txt"), model.words, model.w_in)
    if cfg.binary:
        write_word2vec_binary(os.path.join(out, "vectors.bin"), model.words, model.w_in)
    model.config = cfg.to_dict()
    model.save(os.path.join(out, MODEL_FILE))
    model.w_out = model.bias = None  # saved; only w_in is scored below, and the peak RSS counts
    vocab.save_tsv(os.path.join(out, "vocab.tsv"))
    with atomic_output(os.path.join(out, "config.yaml"), "w") as fh:
        fh.write(to_yaml(cfg))
    try:
        from .evaluate import default_analogy_files, default_similarity_files, evaluate_analogies, evaluate_similarity
    except ImportError:
        return
    analogy_files = default_analogy_files()
    if analogy_files:
        metrics["analogy"] = evaluate_analogies(model.words, model.w_in, analogy_files[0])
    sims = {}
    for path in default_similarity_files():
        sims[os.path.splitext(os.path.basename(path))[0]] = evaluate_similarity(model.words, model.w_in, path)
    if sims:
        metrics["similarity"] = sims
    if "analogy" in metrics:
        log(f"analogy accuracy {metrics['analogy']['accuracy']:.4f} ({metrics['analogy']['answered']} answered)")
