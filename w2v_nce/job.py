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
                      st["history"])


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
    """Run a whole training job (or resume one from ``resume``, an output directory).

    ``halt`` (or SIGINT/SIGTERM with ``handle_signals``) stops the run: after the vocabulary
    pass has begun, a checkpoint is written and ``Interrupted`` raised (exit 130/143).
    """
    t_start = time.time()
    halt = halt or threading.Event()
    with _Signals(halt, handle_signals) as sig:
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
        if checkpoint is None:  # absolute paths: a resume may start from another directory
            cfg.corpus = [p if p == "-" else os.path.abspath(p) for p in cfg.corpus]
            cfg.heldout = [os.path.abspath(p) for p in cfg.heldout]
        log = log or (lambda m: None if cfg.quiet else _stderr(m))
        out = cfg.output
        # Inputs first (cheap, and a typo must not create an output directory), then the output.
        corpus = Corpus(cfg.corpus, lowercase=cfg.lowercase, spool_dir=None if checkpoint else out)
        heldout_corpus = Corpus(cfg.heldout, lowercase=cfg.lowercase) if cfg.heldout else None
        if checkpoint is None:
            prepare_output_dir(out, force)
            if force:
                _remove_stale_outputs(out)
        try:
            run = _Run(cfg, corpus, heldout_corpus, checkpoint, halt, sig, log, out)
            metrics = run.train()
            _write_outputs(cfg, run.model, run.vocab, out, metrics, log)
            with atomic_output(os.path.join(out, "metrics.json"), "w") as fh:
                json.dump(metrics, fh, indent=2)
            try:
                os.unlink(os.path.join(out, CHECKPOINT_FILE))
            except FileNotFoundError:
                pass
            return JobResult(out, len(run.vocab), run.totals(), time.time() - t_start, metrics)
        finally:
            corpus.close()


def initial_bias(counts: np.ndarray, cfg: Config) -> np.ndarray:
    """log(S * P(k)) under the run's sampler: the -log Q term of the logits starts cancelled, so
    NCE starts from SGNS's logits (x.w) instead of x.w - log Q (measured: +3.6 analogy points on
    mix8, 1 epoch; scripts/bench_quality.py --nce-flags '--bias-init zero' reproduces the other)."""
    from .train import NoiseTables

    prob = NoiseTables.build(counts, cfg).sampler_prob.astype(np.float64)
    return np.log(prob * cfg.num_sampled).astype(np.float32)


def _remove_stale_outputs(out: str) -> None:
    """With --force: a previous run's files must not survive next to the new ones (a stale
    checkpoint could be resumed, a stale vectors.bin mistaken for this run's)."""
    for name in OUTPUT_FILES:
        try:
            os.unlink(os.path.join(out, name))
        except FileNotFoundError:
            pass


class _Run:
    """One training run over time: vocabulary (or checkpoint), epochs, progress, checkpoints."""

    def __init__(self, cfg: Config, corpus: Corpus, heldout_corpus: Corpus | None, checkpoint: Checkpoint | None,
                 halt: threading.Event, sig: _Signals, log: Log, out: str):
        self.cfg, self.corpus, self.halt, self.sig, self.log, self.out = cfg, corpus, halt, sig, log, out
        if checkpoint is not None:
            _check_fingerprint(checkpoint.fingerprint, corpus)
            self.model = checkpoint.model
            self.vocab = Vocab(self.model.words, self.model.counts)
            self.base = checkpoint.totals  # tallies of the runs before this process
            self.history = checkpoint.history
            log(f"resuming {out}: epoch {checkpoint.state.epoch + 1}/{cfg.epochs}, "
                f"{checkpoint.state.clock:,} words done")
        else:
            self.vocab = self._count()
            self.model = Model.initial(self.vocab.words, self.vocab.counts, cfg.dim, cfg.seed, cfg.to_dict())
            if cfg.loss != "neg" and cfg.bias_init == "log_q":
                self.model.bias[:] = initial_bias(self.vocab.counts, cfg)
            self.base = Tallies()
            self.history = []
        validate_against_vocab(cfg, len(self.vocab))
        self.fingerprint = corpus.fingerprint()
        self.heldout = self._heldout_pairs(heldout_corpus)
        self.trainer = Trainer(cfg, corpus, self.vocab, self.model, checkpoint.state if checkpoint else None)

    def _count(self) -> Vocab:
        from tqdm import tqdm

        cfg = self.cfg

        def progress(nbytes: int) -> None:
            bar.update(nbytes)
            if self.halt.is_set():  # nothing trained yet: nothing to checkpoint
                signum = self.sig.signum or signal.SIGINT
                raise Interrupted("stopped while counting the vocabulary; nothing to resume, start the run again",
                                  signum)

        with tqdm(unit="B", unit_scale=True, desc="vocabulary", disable=cfg.quiet, file=sys.stderr, leave=False) as bar:
            vocab, counted = build_vocab(self.corpus, cfg.min_count, cfg.max_vocab, progress=progress)
        stats = counted.stats
        self.log(f"vocabulary: {len(vocab):,} words kept of {counted.counter.distinct:,} distinct; "
                 f"{vocab.total:,} of {counted.tokens:,} tokens in vocabulary"
                 + (f"; {stats.replaced_chars:,} invalid UTF-8 sequences replaced by U+FFFD" if stats.replaced_chars else "")
                 + (f"; {stats.forced_splits:,} tokens longer than 1 MiB split" if stats.forced_splits else ""))
        validate_against_vocab(cfg, len(vocab))
        check_memory(len(vocab), cfg)
        return vocab

    def _heldout_pairs(self, heldout_corpus: Corpus | None):
        cfg = self.cfg
        if heldout_corpus is not None:
            chunks = id_chunks(heldout_corpus, self.vocab, cfg.max_sentence_len)
        elif cfg.holdout_fraction > 0:
            chunks = id_chunks(self.corpus, self.vocab, cfg.max_sentence_len, holdout=cfg.holdout_fraction,
                               heldout_side=True)
        else:
            return None
        return heldout_pairs(chunks, cfg.window, cfg.heldout_max_pairs)

    def totals(self) -> Tallies:
        """Tallies over the whole run, earlier processes (before a resume) included."""
        t = self.trainer.tallies()
        return Tallies(**{k: getattr(self.base, k) + v for k, v in t.__dict__.items()})

    def save_checkpoint(self) -> str:
        return save_checkpoint(self.out, self.cfg, self.model, self.trainer, self.fingerprint, self.totals(),
                               self.history)

    # -- the loop ---------------------------------------------------------------------
    def train(self) -> dict:
        from tqdm import tqdm

        cfg, trainer = self.cfg, self.trainer
        with open(os.path.join(self.out, "train.jsonl"), "a" if self.history or trainer.state.clock else "w",
                  encoding="utf-8") as self.jsonl, \
                tqdm(total=trainer.total_clock, initial=min(trainer.state.clock, trainer.total_clock), unit="word",
                     unit_scale=True, desc="train", disable=cfg.quiet, file=sys.stderr, smoothing=0.1) as self.bar:
            now = time.time()
            self.last = {"t": now, "tallies": trainer.tallies(), "probe": now, "ckpt": now}
            self.checkpoint_due = threading.Event()
            epoch_start, t_epoch = trainer.tallies(), time.time()
            while not trainer.finished:
                span = trainer.run(stop=self.halt, on_tick=self._tick, pause_request=self.checkpoint_due,
                                   on_pause=self._periodic_checkpoint)
                if span.epoch_ended:  # before any stop: the epoch's record must not be lost
                    self._end_epoch(epoch_start, t_epoch)
                    epoch_start, t_epoch = trainer.tallies(), time.time()
                if span.stopped and not trainer.finished:
                    self._interrupt()
        final = self.totals()
        return {"epochs": self.history, "train_loss": final.mean_loss, "examples": final.examples,
                "words": final.words}

    def _record(self, obj: dict) -> None:
        # NaN (no example finished in the interval) is not JSON: write null
        clean = {k: (None if isinstance(v, float) and v != v else v) for k, v in obj.items()}
        self.jsonl.write(json.dumps(clean) + "\n")
        self.jsonl.flush()

    def _tick(self, tr: Trainer) -> None:
        now = time.time()
        self.bar.n = min(tr.state.clock, tr.total_clock)
        if now - self.last["probe"] >= 5.0:  # cheap divergence probe every few seconds
            self.last["probe"] = now
            if not tr.check_finite():
                raise DivergenceError(
                    f"training diverged (NaN/Inf in the weights) in epoch {tr.state.epoch + 1} after "
                    f"{tr.state.clock:,} words at lr {tr.lr():.6g}; try a smaller --alpha")
        cur = tr.tallies()
        if now - self.last["t"] >= self.cfg.progress_every and cur.examples > self.last["tallies"].examples:
            d = cur.minus(self.last["tallies"])
            self.bar.set_postfix(lr=f"{tr.lr():.5f}", loss=f"{d.mean_loss:.4f}", refresh=False)
            self._record({"event": "progress", "epoch": tr.state.epoch + 1, "words": tr.state.clock,
                          "words_per_sec": round(d.words / (now - self.last["t"]), 1), "lr": tr.lr(),
                          "loss": d.mean_loss, "examples": d.examples, "time": round(now, 3)})
            self.last["t"], self.last["tallies"] = now, cur
        self.bar.refresh()
        every = 60 * self.cfg.checkpoint_every
        if every > 0 and now - self.last["ckpt"] >= every:
            self.checkpoint_due.set()  # Trainer.run pauses at a chunk boundary and calls back

    def _periodic_checkpoint(self, tr: Trainer) -> None:
        self.save_checkpoint()
        self.last["ckpt"] = time.time()

    def _interrupt(self) -> None:
        path = self.save_checkpoint()
        signum = self.sig.signum or signal.SIGINT
        name = signal.Signals(signum).name if self.sig.signum else "request"
        raise Interrupted(f"stopped by {name} after {self.trainer.state.clock:,} words; checkpoint {path}; "
                          f"resume with: w2v-nce train --resume {self.out}", signum)

    def _end_epoch(self, epoch_start: Tallies, t_epoch: float) -> None:
        tr = self.trainer
        d = tr.tallies().minus(epoch_start)
        rec = {"event": "epoch", "epoch": tr.state.epoch, "words": tr.state.clock,
               "words_per_sec": round(d.words / max(time.time() - t_epoch, 1e-9), 1),
               "lr": tr.lr(), "loss": d.mean_loss, "examples": d.examples}
        if self.heldout is not None and len(self.heldout[0]):
            from .evaluate import full_sigmoid_loss_pairs

            mean, stderr, n = full_sigmoid_loss_pairs(self.model.w_in, self.model.w_out, self.model.bias,
                                                      self.heldout[0], self.heldout[1], threads=tr.threads)
            rec["heldout_loss"] = {"mean": mean, "stderr": stderr, "pairs": n}
        self.history.append(rec)
        self._record(rec)
        self.bar.clear()
        self.log(f"epoch {rec['epoch']}/{self.cfg.epochs}: loss {rec['loss']:.4f}, {rec['words_per_sec']:,.0f} words/s"
                 + (f", held-out full loss {rec['heldout_loss']['mean']:.4f}" if "heldout_loss" in rec else ""))


def _write_outputs(cfg: Config, model: Model, vocab: Vocab, out: str, metrics: dict, log: Log) -> None:
    from .formats import write_word2vec_binary, write_word2vec_text

    model.config = cfg.to_dict()
    model.save(os.path.join(out, MODEL_FILE))  # first: whatever fails later, the model is on disk
    model.w_out = model.bias = None  # saved; only w_in is written and scored below (peak RSS)
    write_word2vec_text(os.path.join(out, "vectors.txt"), model.words, model.w_in)
    if cfg.binary:
        write_word2vec_binary(os.path.join(out, "vectors.bin"), model.words, model.w_in)
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
