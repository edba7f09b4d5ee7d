"""The run's settings: one flat typed dataclass, defaults in one place, strict YAML loading.

Precedence is built-in defaults < config file < command-line flags. Unknown keys, wrong
types and out-of-range values are ``ConfigError`` naming the key (and the file).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import reprlib
from dataclasses import dataclass, field, fields
from typing import Any

import yaml

from .errors import ConfigError
from .subwords.table import (
    DEFAULT_BUCKETS,
    DEFAULT_MAXN,
    DEFAULT_MINN,
    MAX_HASH_COUNT,
    SubwordSettings,
)

LOSSES = ("nce", "neg", "sampled_softmax")
SAMPLERS = ("log_uniform", "unigram", "uniform")
# Tokens longer than this many UTF-8 bytes are not words: the setting's default, and the library's
# (vocabulary counting) when no Config is given.
MAX_TOKEN_BYTES = 1000
BIAS_INITS = ("log_q", "zero")
ARCHS = ("skipgram", "cbow")
CBOW_UPDATES = ("word2vec", "exact")
NEGATIVES = ("pair", "window", "batch")
# pairs (or CBOW examples) a negative draw is shared by, unless batch_size is set: skip-gram nce
# computes a run's sampled logits once per centre whatever the batch, so a larger batch only
# saves per-batch work (the draw, the samples' log Q, the sample rows' loads and stores); 128 was
# as good as 32 over seeds at 1 and 5 epochs (256 was not), sampled_softmax lost 0.6 pt at 128,
# and CBOW nce was not measured at 128 (README, "Why 128 pairs a draw")
NCE_SKIPGRAM_BATCH = 128
# more threads (or replicas) than any machine runs: each thread allocates its scratch up front
MAX_THREADS = 4096
REPLICA_RULES = ("scale", "sqrt", "mean")
FULL_SYNCS = ("epoch", "end")
VOCAB_UPDATES = ("merge", "keep", "replace")
# The scale rule's lr factor is min(K, REPLICA_LR_MAX): K x alpha diverged at K = 16 (alpha 0.4,
# en-mix, word2vec-window.yaml), 4 x did not (docs/distributed.md, the replica-rule sweep)
REPLICA_LR_MAX = 4
DEFAULT_BATCH = 32
# Bounds far past any real run, so that a forged value is an error before it sizes a buffer
# (the per-thread scratch is O(batch_size x num_sampled + window x num_sampled + max_sentence_len)).
UPPER_BOUNDS = {"buckets": 1 << 30, "maxn": 1000, "window": 10_000, "num_sampled": 1_000_000, "batch_size": 1_000_000, "max_sentence_len": 1 << 30,
                "epochs": 1_000_000}


def setting(default: Any, help: str, choices: tuple | None = None, flag: str | None = None, cli: bool = True):
    """A Config field with its documentation: ``help`` is the one-line description (the CLI's
    help text and the comment in configs/default.yaml), ``choices`` the allowed values,
    ``flag`` a click declaration overriding ``--name`` (e.g. a paired on/off flag),
    ``cli=False`` for settings that have no train flag."""
    meta = {"help": help, "choices": choices, "flag": flag, "cli": cli}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Config:
    """Every setting of a training run, its default and its one-line documentation."""

    corpus: list[str] = setting([], "input paths: files, directories, '-' for stdin", cli=False)
    output: str = setting("w2v-out", "output directory", cli=False)
    dim: int = setting(100, "Embedding dimension D.")
    window: int = setting(5, "Maximum context distance; each centre draws its window from 1..window.")
    vocab: str | None = setting(None, "Train with this vocab.tsv (from `w2v-nce vocab` or a run) instead of counting "
                                "the corpus; --min-count and --max-vocab still apply to its counts.")
    init: str | None = setting(None, "Continue from a finished run (its directory or model.npz: its words keep their "
                               "vectors, output rows and biases; new words that pass --min-count are added) or start "
                               "from a word2vec text/binary file's vectors; the lr restarts from --alpha.")
    init_lr_scale: float = setting(0.5, "With --init from a run (its directory or model.npz), alpha and min_alpha "
                                   "are scaled by this: 0.5 kept more of what the earlier run learnt (28.1% analogies "
                                   "against 26.0% at 1, a third of the drift; WS353 0.53 against 0.57, "
                                   "docs/training.md); 1 restarts the schedule at --alpha. Not applied with --init "
                                   "from a vectors file.")
    vocab_update: str = setting("merge", "With --init from a run: merge = the old words plus the new text's "
                                "(min_count on the new counts), keep = the old words only, replace = the new "
                                "text's words only; counts of kept old words are old + new.", choices=VOCAB_UPDATES)
    replay: float = setting(0.0, "With --init from a run: also train on this share of that run's corpus, every epoch "
                            "(lines chosen by a hash of their text), so that the model rehearses what it learnt: "
                            "0.25 matched retraining on both texts on analogies (+0.1 and +1.2 points in two "
                            "runs) in 1.3-1.5x the new text's time (docs/training.md); 0 = off.")
    replay_corpus: list[str] = setting([], "The earlier text --replay draws its share from (repeatable; default: the "
                                       "corpus the --init run recorded).")
    min_count: int = setting(5, "Ignore words seen fewer times.")
    max_vocab: int = setting(0, "Keep only the N most frequent words (0 = no limit).")
    sample: float = setting(1e-3, "Subsampling threshold t (word2vec.c's formula); 0 = off.")
    epochs: int = setting(5, "Passes over the corpus.")
    threads: int | None = setting(None, "Worker threads (default: all cores).")
    alpha: float = setting(0.025, "Initial learning rate.")
    min_alpha: float = setting(0.0001, "Final learning rate (linear decay over all epochs).")
    arch: str = setting("skipgram", "Architecture: skipgram (the centre predicts each context word) or cbow (the "
                        "mean of the context words predicts the centre).", choices=ARCHS)
    cbow_mean: bool = setting(True, "CBOW input: the mean of the context rows (off: their sum, gensim's cbow_mean=0).")
    cbow_update: str = setting("word2vec", "How a mean input's gradient reaches each of its rows (CBOW's context rows, "
                               "a word's subword rows): word2vec = all of it (word2vec.c, gensim, fastText); "
                               "exact = 1/n of it, the exact gradient of the mean.",
                               choices=CBOW_UPDATES)
    subwords: bool = setting(False, "fastText's model: a word's input vector is the mean of its own row and the rows "
                             "of its character n-grams of <word>, hashed into --buckets rows with fastText's hash, "
                             "so words outside the vocabulary get vectors too.")
    minn: int = setting(DEFAULT_MINN, "With --subwords: shortest character n-gram.")
    maxn: int = setting(DEFAULT_MAXN, "With --subwords: longest character n-gram (0 = none: words only).")
    buckets: int = setting(DEFAULT_BUCKETS, "With --subwords: rows the n-grams are hashed into (D x 4 bytes each).")
    hash_count: int = setting(0, "With --subwords: 0 = fastText's table (a row per word, then the buckets); 1..4 = "
                              "floret's compact one: no word rows, the word and each n-gram hashed to this many of "
                              "--buckets rows (use with --buckets 50000..200000).")
    loss: str = setting("nce", "Training loss: nce (tf.nn.nce_loss), neg (word2vec SGNS), sampled_softmax.",
                        choices=LOSSES)
    sampler: str = setting("unigram", "Negative sampler for nce/sampled_softmax.", choices=SAMPLERS)
    distortion: float = setting(0.75, "Unigram sampler exponent (count**distortion); neg always uses it.")
    num_sampled: int = setting(25, "Negatives per batch (nce/sampled_softmax) or per pair (neg).")
    negatives: str = setting("pair", "neg: pair = fresh negatives for every pair or CBOW example (word2vec.c); "
                             "window (skip-gram) = one draw shared by the pairs of a window, whose step is one "
                             "small matrix product (pWord2Vec's HogBatch); batch (CBOW) = one draw shared by up to "
                             "batch_size examples of a sentence, centres at least 2*window+1 apart, likewise. "
                             "Faster, see the README.",
                             choices=NEGATIVES)
    batch_size: int | None = setting(
        None, "(centre, context) pairs sharing one negative draw (nce/sampled_softmax), or CBOW examples sharing "
        "one (neg with --negatives batch); null = 128 for skip-gram nce (as good as 32 at 1 and 5 epochs and 1.5x "
        "faster, see the README), 32 otherwise.")
    remove_accidental_hits: bool | None = setting(
        None, "Mask negatives equal to the label (default: TensorFlow's, nce off, sampled_softmax on).",
        flag="--remove-accidental-hits/--keep-accidental-hits")
    bias_init: str = setting("log_q", "Initial class bias for nce/sampled_softmax: log_q = log(S * P(k)), "
                             "cancelling the -log Q term at step 0; zero.", choices=BIAS_INITS)
    unique: bool = setting(True, "Draw distinct negatives per batch (TF's default; nce/sampled_softmax).")
    seed: int = setting(1, "Random seed; --threads 1 with a fixed seed is bit-reproducible.")
    max_sentence_len: int = setting(10000, "Split longer lines into pieces of N tokens.")
    lowercase: bool = setting(False, "Lowercase tokens before counting.")
    phrases: str | None = setting(None, "Join the phrases of this table (from `w2v-nce phrases`) while reading the "
                                  "corpus and held-out text: new_york becomes one word, no joined copy is written.")
    max_token_bytes: int = setting(
        MAX_TOKEN_BYTES, "Tokens longer than this many UTF-8 bytes (base64 blobs, data URIs, markup runs) are dropped from "
        "the vocabulary and counted, never cut (1000 keeps any real word in any script, URLs, unsegmented CJK "
        "clauses of ~300 characters; word2vec.c cuts at 99 bytes, even inside a character).")
    count_memory: int = setting(
        2 << 30, "Bytes the vocabulary count may use; beyond it sorted partial counts spill to a temp directory in "
        "the output directory and are merged: the same vocabulary, exactly. 0 = no bound.")
    heldout: list[str] = setting([], "Held-out text scored with the full loss after every epoch (repeatable).")
    holdout_fraction: float = setting(0.0, "Keep this fraction of sentences out of training and score them.")
    heldout_max_pairs: int = setting(4096, "Held-out pairs scored per epoch (and by eval): the first N, the same every epoch.")
    binary: bool = setting(False, "Also write vectors.bin (word2vec.c's binary layout).")
    text_vectors: bool = setting(True, "Write vectors.txt (word2vec text). At a large vocabulary it is most of the "
                                 "writing time (about 10 bytes a value: 4.5 GB at 1.5M words x 300); model.npz "
                                 "and --binary hold the same vectors, and w2v-nce export writes the text later.")
    evaluate: bool = setting(True, "Score the bundled analogy and similarity sets at the end (metrics.json), "
                             "while the outputs are written.")
    quiet: bool = setting(False, "No progress bar or log lines.")
    checkpoint_every: float = setting(10.0, "Minutes between checkpoints (0 = only on interrupt).")
    save_wait_minutes: float = setting(
        10.0, "When model.npz cannot be saved for want of room (a full disk or quota), keep the trained model in "
        "memory and try again every 30 s for this long, saying how much room it needs (0 = give up at once; "
        "Ctrl-C gives up).")
    progress_every: float = setting(5.0, "Seconds between progress records (train.jsonl, log lines).")
    replicas: int = setting(1, "Model replicas trained in parallel and averaged every round (with --ray: one Ray "
                            "actor each; without it and > 1: in-process replicas).")
    sync_seconds: float = setting(
        1.0, "Seconds each replica trains between two syncs (replicas > 1), measured on the replica itself: every "
        "thread trains its own parts until then; the same for any K.")
    round_words: int | None = setting(
        None, "Instead of --sync-seconds: in-vocabulary tokens each replica trains between two syncs (whole chunks, so "
        "at least this many); with one thread per replica a seeded run is then reproducible.")
    sync_base: int = setting(1024, "Rows averaged at every sync: sync n averages the base * 2^tz(n) most frequent "
                             "words (pWord2Vec's schedule); all rows before each checkpoint, at the end, and "
                             "(--full-sync epoch) at each epoch's end.")
    full_sync: str = setting(
        "epoch", "When replicas average every row besides the tier schedule, checkpoints and a lost replica: epoch = "
        "at each epoch's end; end = only before the outputs (a full sync moves the whole model: at V = 1.5M, d = 300 "
        "it was most of the sync time in scripts/scale_model.py). A held-out loss needs it each epoch.",
        choices=FULL_SYNCS)
    replica_rule: str | None = setting(
        None, "How K replicas' updates combine at a sync (null: scale, or sqrt with --subwords): scale = every replica "
        "trains at min(K, 4) x alpha and each touched row is averaged over the replicas that touched it; sqrt = at "
        "sqrt(min(K, 4)) x alpha, rows averaged; mean = the single-machine alpha, rows averaged (frequent rows then "
        "learn ~K times slower per token). Summing the touchers' changes diverged (the sweep in docs/distributed.md); "
        "so did scale with --subwords in 5 of 11 runs (docs/subwords.md).", choices=REPLICA_RULES)

    def subword_settings(self) -> SubwordSettings | None:
        """The run's subword settings (None without --subwords)."""
        return SubwordSettings(self.minn, self.maxn, self.buckets, self.hash_count) if self.subwords else None

    def resolved_threads(self) -> int:
        return resolve(self).threads

    def resolved_batch_size(self) -> int:
        return resolve(self).batch_size

    def resolved_remove_hits(self) -> bool:
        return resolve(self).remove_accidental_hits

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Resolved:
    """What the settings left null (``config.yaml`` keeps null) resolve to for one run:
    metrics.json "resolved". ``threads`` is per replica."""

    replicas: int
    threads: int
    batch_size: int
    remove_accidental_hits: bool
    sync_seconds: float | None  # rounds by time (replicas > 1 without round_words); None otherwise
    round_words: int | None  # rounds by tokens (replicas > 1 with round_words); None otherwise
    lr_factor: float  # each replica's lr schedule is alpha x this (min(K, 4) with scale, its square root with sqrt, else 1)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve(cfg: Config, replicas: int | None = None, cpus: int | None = None) -> Resolved:
    """The one owner of every "null means ..." rule.

    - threads: ``--threads`` (per replica), else ``cpus`` (default: this machine's) shared by the
      replicas, at least 1;
    - batch_size: 128 pairs a draw for skip-gram nce, 32 otherwise (``NCE_SKIPGRAM_BATCH``);
    - remove_accidental_hits: TensorFlow's defaults (off for nce, on for sampled_softmax);
    - a round (replicas > 1): ``round_words`` tokens if set, else ``sync_seconds``;
    - the lr factor: min(K, ``REPLICA_LR_MAX``) with ``replica_rule`` scale, its square root with
      sqrt, 1 with mean (null: scale, or sqrt with subwords); times ``init_lr_scale`` when the run
      continues an earlier run (``--init`` a directory or .npz).
    """
    k = cfg.replicas if replicas is None else replicas
    threads = cfg.threads if cfg.threads else max(1, (cpus or os.cpu_count() or 1) // k)
    if cfg.batch_size is not None:
        batch = cfg.batch_size
    else:
        batch = NCE_SKIPGRAM_BATCH if (cfg.loss, cfg.arch) == ("nce", "skipgram") else DEFAULT_BATCH
    hits = cfg.loss == "sampled_softmax" if cfg.remove_accidental_hits is None else cfg.remove_accidental_hits
    by_words = k > 1 and cfg.round_words is not None
    return Resolved(replicas=k, threads=threads, batch_size=batch, remove_accidental_hits=hits,
                    sync_seconds=cfg.sync_seconds if k > 1 and not by_words else None,
                    round_words=cfg.round_words if by_words else None,
                    lr_factor=_lr_factor(cfg, k))


def continues_run(cfg: Config) -> bool:
    """Whether --init names an earlier run (its directory or model.npz), not a vectors file."""
    return cfg.init is not None and (cfg.init.endswith(".npz") or os.path.isdir(cfg.init))


def _lr_factor(cfg: Config, k: int) -> float:
    rule = cfg.replica_rule or ("sqrt" if cfg.subwords else "scale")  # subwords: scale diverged (docs/subwords.md)
    factors = {"scale": float(min(k, REPLICA_LR_MAX)), "sqrt": math.sqrt(min(k, REPLICA_LR_MAX)), "mean": 1.0}
    replicas = factors[rule]
    return replicas * (cfg.init_lr_scale if continues_run(cfg) else 1.0)


_FIELDS = {f.name: f for f in fields(Config)}


def cli_settings() -> list[tuple[str, str, Any, str, tuple | None, str | None]]:
    """(name, type, default, help, choices, flag) of each setting that has a train flag."""
    out = []
    defaults = Config()
    for f in fields(Config):
        if f.metadata.get("cli", True):
            out.append((f.name, f.type, getattr(defaults, f.name), f.metadata["help"], f.metadata["choices"],
                        f.metadata["flag"]))
    return out


def from_saved(values: dict[str, Any]) -> Config:
    """The Config saved with a model or checkpoint; keys it lacks (older files) take today's
    defaults, keys this version does not know are ignored."""
    return Config(**{k: v for k, v in values.items() if k in _FIELDS})
_TYPES: dict[str, tuple] = {
    "int": (int,),
    "float": (float, int),
    "str": (str,),
    "bool": (bool,),
    "bool | None": (bool, type(None)),
    "int | None": (int, type(None)),
    "str | None": (str, type(None)),
    "list[str]": (list,),
}


# PyYAML reads YAML 1.1, where 1e-3 or 5e-06 (an exponent without a decimal point) is a string,
# not a number; the number a user means is taken for numeric settings (1e6 for an int only if whole).
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _yaml_number(kind: str, value: Any) -> Any:
    if kind in ("float", "int", "int | None") and isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        number = float(value)
        if kind == "float":
            return number
        if number.is_integer():
            return int(number)
    return value


def _check_type(key: str, value: Any, where: str) -> Any:
    kind = _FIELDS[key].type
    allowed = _TYPES[kind]
    value = _yaml_number(kind, value)
    if isinstance(value, bool) and bool not in allowed:
        raise ConfigError(f"{where}: '{key}' must be {kind}, got {_shown(value)}")
    if not isinstance(value, allowed):
        if kind == "list[str]" and isinstance(value, str):
            return [value]
        raise ConfigError(f"{where}: '{key}' must be {kind}, got {_shown(value)}")
    if kind == "float":
        try:
            value = float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise ConfigError(f"{where}: '{key}' must be a finite number, got {_shown(value)}") from None
    if kind == "list[str]":
        if not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: '{key}' must be a list of strings, got {_shown(value)}")
        value = list(value)
    return value


_SHOWN = reprlib.Repr()  # (keyword arguments need Python 3.12)
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxdict, _SHOWN.maxstring, _SHOWN.maxother = 2, 4, 4, 40, 40


def _shown(value: Any) -> str:
    """A value for an error line, bounded in size and time (a YAML alias bomb is a few hundred
    bytes that nest into an exponentially long repr)."""
    return _SHOWN.repr(value)


def merge(cfg: Config, overrides: dict[str, Any], where: str) -> Config:
    """Return a copy of ``cfg`` with ``overrides`` applied; unknown keys and wrong types raise."""
    values = cfg.to_dict()
    for key, value in overrides.items():
        name = key.replace("-", "_")
        if name not in _FIELDS:
            raise ConfigError(f"{where}: unknown setting '{key}' (see configs/default.yaml for the list)")
        values[name] = _check_type(name, value, where)
    return Config(**values)


class _UniqueKeys(yaml.SafeLoader):
    """yaml.safe_load's loader, except that a key given twice in one mapping is an error: a
    config with `alpha` twice would otherwise take the last one without a word."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden: not a repeat
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):  # a complex key: no setting is named so
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"the key '{key}' is given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_yaml(path: str) -> dict[str, Any]:
    """Read a YAML mapping of settings; malformed YAML (or a key given twice) names the file and line."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=_UniqueKeys)  # noqa: S506 -- a SafeLoader subclass
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config is not UTF-8 text; save it as UTF-8") from None
    except RecursionError:
        raise ConfigError(f"{path}: malformed YAML (nested too deeply for a config)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{line}: malformed YAML ({problem})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of setting: value")
    for key, value in data.items():  # .nan / .inf: caught here, the file and key named (validate names the flag)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{path}: '{key}' must be a finite number, got {value}")
    return data


def validate(cfg: Config, where: str = "config") -> Config:
    """Check every range; the message names the option as it is spelt on the command line."""

    def bad(key: str, why: str) -> None:
        raise ConfigError(f"{where}: --{key.replace('_', '-')} {why}")

    for f in fields(Config):  # NaN passes every comparison below, inf most of them
        value = getattr(cfg, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            bad(f.name, f"must be a finite number, got {value}")
    positive_ints = ("dim", "window", "epochs", "num_sampled", "max_sentence_len", "min_count", "replicas",
                     "sync_base")
    for key in positive_ints:
        if getattr(cfg, key) < 1:
            bad(key, f"must be >= 1, got {getattr(cfg, key)}")
    if cfg.batch_size is not None and cfg.batch_size < 1:
        bad("batch_size", f"must be >= 1 (omit it for the default by loss), got {cfg.batch_size}")
    if cfg.round_words is not None and cfg.round_words < 1:
        bad("round_words", f"must be >= 1 (omit it to sync by --sync-seconds), got {cfg.round_words}")
    if not cfg.sync_seconds > 0 or cfg.sync_seconds > 3600:
        bad("sync_seconds", f"must be in (0, 3600] seconds, got {cfg.sync_seconds}")
    if cfg.threads is not None and not 1 <= cfg.threads <= MAX_THREADS:
        bad("threads", f"must be in [1, {MAX_THREADS}] (omit it for all cores), got {cfg.threads}")
    if cfg.replicas > MAX_THREADS:
        bad("replicas", f"must be at most {MAX_THREADS}, got {cfg.replicas}")
    if not 0 <= cfg.seed < 1 << 63:
        bad("seed", f"must be in [0, 2^63), got {cfg.seed}")
    if cfg.max_vocab < 0:
        bad("max_vocab", f"must be >= 0 (0 = no limit), got {cfg.max_vocab}")
    if cfg.sample < 0:
        bad("sample", f"must be >= 0, got {cfg.sample}")
    if not 0 < cfg.init_lr_scale <= 1:
        bad("init_lr_scale", f"must be in (0, 1], got {cfg.init_lr_scale}")
    if not cfg.alpha > 0:
        bad("alpha", f"must be > 0, got {cfg.alpha}")
    if cfg.min_alpha < 0 or cfg.min_alpha > cfg.alpha:
        bad("min_alpha", f"must be in [0, alpha={cfg.alpha}], got {cfg.min_alpha}")
    for f in fields(Config):
        choices = f.metadata.get("choices")
        value = getattr(cfg, f.name)
        if choices and value not in choices and not (value is None and f.default is None):
            bad(f.name, f"must be one of {', '.join(choices)}, got {_shown(value)}")
    if cfg.distortion < 0:
        bad("distortion", f"must be >= 0, got {cfg.distortion}")
    if not 0.0 <= cfg.holdout_fraction < 1.0:
        bad("holdout_fraction", f"must be in [0, 1), got {cfg.holdout_fraction}")
    if cfg.heldout_max_pairs < 1:
        bad("heldout_max_pairs", f"must be >= 1, got {cfg.heldout_max_pairs}")
    if cfg.checkpoint_every < 0:
        bad("checkpoint_every", f"must be >= 0 minutes, got {cfg.checkpoint_every}")
    if not 0 <= cfg.save_wait_minutes <= 24 * 60:
        bad("save_wait_minutes", f"must be in [0, 1440] minutes, got {cfg.save_wait_minutes}")
    if cfg.progress_every <= 0:
        bad("progress_every", f"must be > 0 seconds, got {cfg.progress_every}")
    if not 1 <= cfg.max_token_bytes < 1 << 20:  # the reader splits tokens of 1 MiB (its block) anyway
        bad("max_token_bytes", f"must be in [1, {(1 << 20) - 1}] bytes, got {cfg.max_token_bytes}")
    if cfg.count_memory != 0 and cfg.count_memory < 64 << 20:
        bad("count_memory", f"must be 0 (no bound) or at least {64 << 20} bytes (64 MiB), got {cfg.count_memory}")
    if cfg.negatives == "window" and (cfg.loss != "neg" or cfg.arch != "skipgram"):
        bad("negatives", f"window needs --loss neg --arch skipgram (got --loss {cfg.loss} --arch {cfg.arch}); "
            "nce and sampled_softmax already share one draw per batch")
    if cfg.negatives == "batch" and (cfg.loss != "neg" or cfg.arch != "cbow"):
        hint = ("nce and sampled_softmax already share one draw per batch" if cfg.loss != "neg"
                else "skip-gram's shared draw is --negatives window")
        bad("negatives", f"batch needs --loss neg --arch cbow (got --loss {cfg.loss} --arch {cfg.arch}); {hint}")
    _check_subwords(cfg, bad)
    _check_replay(cfg, bad)
    if cfg.dim > 100_000:
        bad("dim", f"is unreasonably large ({cfg.dim})")
    for key, most in UPPER_BOUNDS.items():
        value = getattr(cfg, key)
        if value is not None and value > most:
            bad(key, f"must be at most {most:,}, got {_shown(value)}")
    return cfg


def _check_subwords(cfg: Config, bad) -> None:
    if not cfg.subwords:
        if cfg.hash_count:
            bad("hash_count", f"is a --subwords setting (got {cfg.hash_count} without it); add --subwords")
        return
    if cfg.minn < 1:
        bad("minn", f"must be >= 1, got {cfg.minn}")
    if cfg.maxn != 0 and cfg.maxn < cfg.minn:
        bad("maxn", f"must be 0 (no n-grams) or >= --minn {cfg.minn}, got {cfg.maxn}")
    if cfg.buckets < 1:
        bad("buckets", f"must be >= 1, got {cfg.buckets}")
    if not 0 <= cfg.hash_count <= MAX_HASH_COUNT:
        bad("hash_count", f"must be 0 (fastText's layout) or 1..{MAX_HASH_COUNT} (compact), got {cfg.hash_count}")


def _check_replay(cfg: Config, bad) -> None:
    if not 0 <= cfg.replay <= 1:
        bad("replay", f"must be in [0, 1] (a share of the earlier text's lines), got {cfg.replay}")
    if cfg.replay_corpus and not cfg.replay > 0:
        bad("replay_corpus", "names the text --replay draws from; add --replay SHARE (e.g. 0.25)")
    if cfg.replay > 0 and not (cfg.init or cfg.replay_corpus):
        bad("replay", "rehearses an earlier run's text: add --init RUN_DIR, or name the text with --replay-corpus")
    if cfg.replay > 0 and cfg.vocab:  # the clock's tokens would be the file's, without the share
        bad("replay", "needs the counting pass (its share is counted with the new text, and clocks the lr); drop "
            "--vocab")
    if "-" in cfg.replay_corpus:
        bad("replay_corpus", "cannot be standard input ('-'): it is read every epoch; give a file")


def validate_against_vocab(cfg: Config, vocab_size: int) -> None:
    """Checks that need the vocabulary size (known only after counting)."""
    if cfg.loss != "neg" and cfg.unique and cfg.num_sampled >= vocab_size:
        raise ConfigError(
            f"--num-sampled {cfg.num_sampled} must be below the vocabulary size {vocab_size} "
            "with unique sampling; lower --num-sampled or --min-count"
        )


def to_yaml(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
