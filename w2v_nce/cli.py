"""The command line: parse, merge config, call the library, map errors to exit codes.

Exit codes: 0 success; 1 error (bad input, divergence, disk full, ...); 2 usage error (bad
flag or setting); 130/143 interrupted by SIGINT/SIGTERM after writing a checkpoint.
This is the only module that imports click.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, NamedTuple

import click

from . import __version__
from .artifact.embeddings import METHODS, RESTRICT_VOCAB
from .artifact.export import FORMATS, WHICH
from .config import Config, cli_settings, load_yaml, merge
from .errors import W2VError
from .evaluation.compare import ALIGN_WORDS, OVERLAP_K, OVERLAP_WORDS
from .phrases.build import PHRASE_COUNT_MEMORY
from .phrases.kernels import SCORINGS
from .phrases.table import DEFAULT_THRESHOLDS, MAX_PASSES, PhraseSettings

if TYPE_CHECKING:
    from .artifact.embeddings import Embeddings


class _Exit(click.ClickException):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.exit_code = code


def _library_errors(fn):
    """Turn our exceptions into a one-line message and the exception's exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except W2VError as exc:
            raise _Exit(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise _Exit("interrupted", 130) from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="w2v-nce")
def main() -> None:
    """w2v-nce: skip-gram word vectors with TensorFlow-exact NCE, word2vec SGNS and sampled softmax.

    \b
    Example:
      w2v-nce train data/sample.txt -c configs/tiny.yaml -o runs/sample
      w2v-nce eval runs/sample
      w2v-nce export runs/sample -o vectors.bin --format binary
    """


_CLICK_TYPES = {"int": int, "int | None": int, "float": float, "str": str, "str | None": str}


def _default_text(value) -> str:
    if value is None or value == []:
        return ""
    if isinstance(value, bool):
        return " [on]" if value else " [off]"
    return f" [{value}]"


def _setting_options(fn):
    """One click option per Config setting, with the config's help, default and choices.

    Every option defaults to None ("not given"), so a value from ``-c FILE`` stands unless the
    flag is passed; the bracketed default in the help is the built-in one.
    """
    for name, kind, default, help_text, choices, flag in reversed(cli_settings()):
        opt = "--" + name.replace("_", "-")
        text = help_text + _default_text(default)
        if kind == "list[str]":
            fn = click.option(opt, name, multiple=True, help=text)(fn)
        elif kind.startswith("bool"):
            decl = flag or f"{opt}/--no-{opt[2:]}"
            fn = click.option(decl, name, default=None, help=text)(fn)
        else:
            kind_ = click.Choice(list(choices)) if choices else _CLICK_TYPES[kind]
            fn = click.option(opt, name, type=kind_, default=None, help=text)(fn)
    return fn


@main.command()
@click.argument("corpus", nargs=-1)
@click.option("-c", "--config", "config_file", type=click.Path(dir_okay=False), help="YAML file of settings (see configs/).")
@click.option("-o", "--output", help="Output directory [w2v-out].")
@click.option("--force", is_flag=True, help="Write into a non-empty output directory.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), help="Continue the interrupted run in this output directory.")
@click.option("--ray", "ray_address", metavar="ADDRESS",
              help="Train --replicas K model replicas as Ray actors: auto (the running cluster), local (start Ray "
                   "here), a head address (host:port), or inprocess (K replicas in this process, no Ray; also what "
                   "--replicas K > 1 alone does). Needs w2v-nce[ray] except for inprocess.")
@_setting_options
@_library_errors
def train(corpus, config_file, output, force, resume_dir, ray_address, **flags) -> None:
    """Train skip-gram vectors on CORPUS (files, directories, .gz/.bz2/.xz, or - for stdin).

    \b
    Example:
      w2v-nce train data/sample.txt -c configs/tiny.yaml -o runs/sample --force
      w2v-nce train --resume runs/sample
      w2v-nce train corpus.txt.gz --ray auto --replicas 4 --threads 16 -o runs/big
    """
    from .distributed.backends import make_backend
    from .run.checkpoint import saved_replicas
    from .run.job import resume_training, run_training

    given = {k: (list(v) if isinstance(v, tuple) else v) for k, v in flags.items() if v is not None and v != ()}
    if resume_dir is not None:
        extra = set(given) - {"threads", "quiet", "replicas"}
        if corpus or config_file or output or extra:
            raise click.UsageError("--resume takes only --threads, --replicas, --quiet and --ray; corpus and settings "
                                   "come from the checkpoint")
        for key in ("threads", "replicas"):
            if given.get(key) is not None and given[key] < 1:
                raise click.UsageError(f"--{key} must be at least 1, got {given[key]}")
        replicas = given.get("replicas") or saved_replicas(resume_dir)
        result = resume_training(resume_dir, threads=given.get("threads"), quiet=given.get("quiet"),
                                 handle_signals=True, backend=make_backend(ray_address, replicas))
    else:
        cfg = Config()
        if config_file:
            cfg = merge(cfg, load_yaml(config_file), config_file)
        cfg = merge(cfg, given, "command line")
        if corpus:
            cfg.corpus = list(corpus)
        if output:
            cfg.output = output
        if not cfg.corpus:
            raise click.UsageError("give a CORPUS (or 'corpus:' in the config file)")
        result = run_training(cfg, force=force, handle_signals=True, backend=make_backend(ray_address, cfg.replicas))
    click.echo(f"wrote {result.output} ({result.vocab_size:,} words, {result.seconds:.1f} s)")


def _count_options(fn: Callable) -> Callable:
    """The counting settings of ``train``, with the config's help and defaults."""
    keep = ("threads", "min_count", "max_vocab", "lowercase", "phrases", "max_token_bytes", "count_memory")
    specs = {name: (kind, default, text, flag) for name, kind, default, text, _, flag in cli_settings()}
    for name in reversed(keep):
        kind, default, text, flag = specs[name]
        opt = "--" + name.replace("_", "-")
        if kind.startswith("bool"):
            fn = click.option(flag or f"{opt}/--no-{opt[2:]}", name, default=None, help=text + _default_text(default))(fn)
        else:
            fn = click.option(opt, name, type=_CLICK_TYPES[kind], default=None, help=text + _default_text(default))(fn)
    return fn


@main.command()
@click.argument("corpus", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="The vocabulary file to write (word<TAB>count).")
@click.option("-c", "--config", "config_file", type=click.Path(dir_okay=False), help="YAML file of settings (see configs/).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@_count_options
@_library_errors
def vocab(corpus, output, config_file, force, **flags) -> None:
    """Count CORPUS's words only and write vocab.tsv, the file `train --vocab` reads.

    The same counting as training (and the same file it writes): words counted --min-count
    times or more, most frequent first, ties in order of first occurrence; a header line
    carries the corpus's token total. Counts with --threads threads (all cores by default);
    the reader's counts go to stderr.

    \b
    Example:
      w2v-nce vocab data/sample.txt -o runs/vocab.tsv --min-count 1
      w2v-nce train data/sample.txt -c configs/tiny.yaml --vocab runs/vocab.tsv -o runs/sample
    """
    from .run.vocabulary import write_vocabulary

    cfg = Config()
    if config_file:
        cfg = merge(cfg, load_yaml(config_file), config_file)
    cfg = merge(cfg, {k: v for k, v in flags.items() if v is not None}, "command line")
    cfg.corpus = list(corpus)
    words, counted = write_vocabulary(cfg, output, force)
    click.echo(f"wrote {output} ({len(words):,} words of {counted.distinct:,} distinct, {counted.tokens:,} tokens)")


@main.command()
@click.argument("corpus", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="The phrase table to write (or, with --apply, the joined text).")
@click.option("--apply", "apply_table", type=click.Path(dir_okay=False),
              help="Write CORPUS with this table's phrases joined to -o instead of building a table.")
@click.option("--min-count", type=click.IntRange(1), default=PhraseSettings.min_count, show_default=True,
              help="Ignore words and candidates counted fewer times.")
@click.option("--threshold", type=float, help="Keep candidates scoring above this [word2vec 100, gensim 10, npmi 0.5].")
@click.option("--scoring", type=click.Choice(SCORINGS), default=PhraseSettings.scoring, show_default=True,
              help="word2vec: word2phrase's (c(ab) - min_count) / (c(a) c(b)) * words; gensim: the same times the "
                   "number of distinct entries instead of words; npmi: normalised PMI.")
@click.option("--connectors", default="none", show_default=True,
              help="english (gensim's ENGLISH_CONNECTOR_WORDS: bank_of_america), none, or a file of words that may "
                   "sit inside a phrase but never start or end one.")
@click.option("--passes", type=click.IntRange(1, MAX_PASSES), default=1, show_default=True,
              help="2 or more find longer phrases on the joined text of the pass before (word2phrase run again).")
@click.option("--delimiter", default=PhraseSettings.delimiter, show_default=True, help="Joins a phrase's words.")
@click.option("--lowercase/--no-lowercase", default=False, show_default=True, help="Lowercase before counting.")
@click.option("--threads", type=click.IntRange(1), help="Counting threads [all cores].")
@click.option("--count-memory", type=click.IntRange(0), default=PHRASE_COUNT_MEMORY, show_default=True,
              help="Bytes the counting tables may use; beyond it sorted runs spill beside -o: the same counts.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@_library_errors
def phrases(corpus, output, apply_table, threshold, connectors, threads, count_memory, force, **kw) -> None:
    """Find phrases (new_york) in CORPUS by exact counts and write the phrase table,
    which `train --phrases` and `vocab --phrases` join while reading.

    \b
    Example:
      w2v-nce phrases data/sample.txt -o runs/phrases.tsv --min-count 3 --threshold 10
      w2v-nce train data/sample.txt --phrases runs/phrases.tsv -o runs/sample
      w2v-nce phrases data/sample.txt --apply runs/phrases.tsv -o runs/joined.txt
    """
    from .phrases.command import connector_words, write_joined, write_table

    if apply_table:
        nbytes = write_joined(list(corpus), apply_table, output, force)
        click.echo(f"wrote {output} ({nbytes:,} bytes)")
        return
    threshold = DEFAULT_THRESHOLDS[kw["scoring"]] if threshold is None else threshold
    settings = PhraseSettings(threshold=threshold, connectors=connector_words(connectors), **kw)
    table = write_table(list(corpus), output, settings, threads or Config().resolved_threads(), count_memory,
                        force, lambda line: click.echo(line, err=True))
    click.echo(f"wrote {output} ({len(table.phrases):,} phrases)")


@main.command("split")
@click.argument("corpus", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Directory to create with the part files.")
@click.option("--parts", type=click.IntRange(1, 100_000), required=True, help="Number of part files (e.g. replicas x threads).")
@click.option("--gzip", "compress", is_flag=True, help="Write .txt.gz parts (gzip level 1) instead of plain text.")
@_library_errors
def split(corpus, output, parts, compress) -> None:
    """Write CORPUS as --parts files, so that replicas and threads can each read their own.

    A single compressed file cannot be cut: one replica (or thread) would read it all. One pass
    writes its lines to the parts in turn, ~1 MiB of whole lines at a time (balanced parts, no
    line cut; text as the trainer reads it, invalid UTF-8 replaced).

    \b
    Example:
      w2v-nce split corpus.txt.gz -o corpus-parts --parts 64
      w2v-nce train corpus-parts --ray auto --replicas 4 --threads 16 -o runs/big
    """
    import signal

    from .errors import Interrupted
    from .text.corpus import Corpus
    from .text.partition import split_corpus

    def stop(signum, _frame):  # raised here, so the half-written parts are removed as on Ctrl-C
        raise Interrupted(f"split stopped by signal {signum}; nothing was written to {output}", signum)

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        paths = split_corpus(Corpus(list(corpus)), output, parts, compress)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    click.echo(f"wrote {len(paths)} parts in {output}")


def _write_json(path: str, value) -> None:
    """--json PATH: the value as indented JSON, atomically; ``-`` is stdout (after the text)."""
    from .io import atomic_output

    if path == "-":
        click.echo(json.dumps(value, indent=2))
        return
    with atomic_output(path, "w") as fh:
        json.dump(value, fh, indent=2)


def _unicode_errors_option(fn: Callable) -> Callable:
    """--unicode-errors, for the commands that read word2vec files (gensim's ``unicode_errors``)."""
    return click.option("--unicode-errors", type=click.Choice(["strict", "replace", "ignore"]), default="strict",
                        show_default=True, help="Words of a word2vec file that are not valid UTF-8 (word2vec.c "
                        "cuts long words inside a character): an error, U+FFFD, or dropped bytes.")(fn)


@main.command("eval")
@click.argument("model_dir", required=False)
@click.option("--vectors", "vectors_file", type=click.Path(dir_okay=False), help="Score a word2vec-format file instead of a model.")
@click.option("--binary/--text", "binary", default=None, help="Format of --vectors [auto-detect].")
@click.option("--heldout", multiple=True, help="Held-out text for the full sigmoid loss (model only).")
@click.option("--max-pairs", type=click.IntRange(min=1), default=Config().heldout_max_pairs, show_default=True, help="Held-out pairs scored.")
@click.option("--window", type=click.IntRange(min=1), help="Held-out pair window [the model's].")
@click.option("--analogies", multiple=True, help="questions-words.txt-style files [bundled set].")
@click.option("--restrict-vocab", type=int, default=RESTRICT_VOCAB, show_default=True, help="Answer among the N most frequent words.")
@click.option("--method", type=click.Choice(METHODS), default=METHODS[0], show_default=True)
@click.option("--similarity", multiple=True, help="Word-pair similarity files [bundled sets].")
@click.option("--json", "json_file", help="Also write the results as JSON here (- for stdout).")
@click.option("--threads", type=click.IntRange(min=1), help="Threads for the full loss [all cores].")
@_unicode_errors_option
@_library_errors
def eval_cmd(model_dir, vectors_file, heldout, analogies, similarity, json_file, **scoring) -> None:
    """Score a trained model: full sigmoid loss on held-out text, analogies, word similarity.

    \b
    Example:
      w2v-nce eval runs/sample --heldout heldout.txt --json scores.json
      w2v-nce eval --vectors GoogleNews-vectors.bin --binary
    """
    from .evaluation.command import format_report, run_evaluation

    if (model_dir is None) == (vectors_file is None):
        raise click.UsageError("give either MODEL_DIR or --vectors FILE")
    if vectors_file and heldout:
        raise click.UsageError("--heldout needs a model (MODEL_DIR): a vectors file has no output weights")
    if json_file:
        from .artifact.model import MODEL_FILE
        from .io import check_not_an_input

        check_not_an_input(json_file, [model_dir or vectors_file, *heldout], (MODEL_FILE,))
    # scoring: binary, max_pairs, window, restrict_vocab, method, threads, unicode_errors, as run_evaluation names them
    report = run_evaluation(model_dir=model_dir, vectors_file=vectors_file, heldout=list(heldout),
                            analogies=list(analogies), similarity=list(similarity), **scoring)
    click.echo(format_report(report))
    if json_file:
        _write_json(json_file, report)


@main.command()
@click.argument("model_dir")
@click.option("-o", "--output", required=True, help="Output file (text/binary) or prefix (npy/projector).")
@click.option("--format", "fmt", type=click.Choice(FORMATS + ("fasttext",)), default=FORMATS[0], show_default=True,
              help="fasttext: a .bin that fastText and gensim's load_facebook_model read (--subwords models).")
@click.option("--words", "words_file", help="Only these words (one a line; with --subwords also words outside "
              "the vocabulary), in this order.")
@click.option("--vectors", "which", type=click.Choice(WHICH), default=WHICH[0], show_default=True,
              help="in = centre-word embeddings, out = context/NCE weights, sum/avg of both.")
@click.option("--limit", type=int, help="Keep the N most frequent words.")
@click.option("--normalize", is_flag=True, help="Write unit-length rows.")
@click.option("--force", is_flag=True, help="Overwrite existing output.")
@_library_errors
def export(model_dir, output, fmt, which, limit, normalize, force, words_file) -> None:
    """Write a trained model's vectors as word2vec text/binary, NumPy or Projector files.

    \b
    Example:
      w2v-nce export runs/sample -o vectors.bin --format binary
      w2v-nce export runs/sample -o proj --format projector --vectors avg --limit 10000
    """
    from .artifact.export import export_vectors
    from .artifact.model import MODEL_FILE, Model
    from .io import check_not_an_input

    if limit is not None and limit < 1:
        raise click.BadParameter("must be >= 1", param_hint="--limit")
    check_not_an_input(output, [model_dir], (MODEL_FILE,))
    model = Model.load(model_dir)
    if fmt == "fasttext":
        from .subwords.fasttext_bin import export_fasttext

        if words_file or limit or normalize or which != "in":
            raise click.UsageError("--format fasttext writes the whole model: no --words, --limit, --normalize, --vectors")
        export_fasttext(output, model, force)
        click.echo(f"wrote {output}")
        return
    words, vectors, w_out = model.words, model.word_vectors(), model.w_out
    if words_file is not None:
        if which != "in":
            raise click.UsageError("--words exports input vectors only (--vectors in)")
        words = _read_word_list(words_file)
        vectors, w_out = _vectors_of(model, words, words_file), None
    written = export_vectors(output, words, vectors, w_out, fmt, which, limit, normalize, force)
    click.echo("wrote " + ", ".join(str(p) for p in written))


def _read_word_list(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            words = list(dict.fromkeys(w for line in fh for w in line.split()))
    except OSError as exc:
        raise _Exit(f"{path}: cannot read the word list ({exc.strerror or exc})", 1) from None
    except UnicodeDecodeError:
        raise _Exit(f"{path}: the word list is not UTF-8 text", 1) from None
    if not words:
        raise _Exit(f"{path}: the word list is empty", 1)
    return words


def _vectors_of(model, words: list[str], where: str):
    """float32[len(words), D]: each word's vector (unseen ones from a subword model's n-grams);
    ``_Exit`` naming the words a word-only model lacks."""
    from .artifact.embeddings import Embeddings

    emb = Embeddings(model.words, model.word_vectors(), model.unseen_vectors()).with_unseen(words)
    unknown = emb.missing(words)
    if unknown:
        shown = " ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        raise _Exit(f"{where}: {len(unknown):,} words not in the vocabulary (train with --subwords for vectors of "
                    f"unseen words): {shown}", 1)
    return emb.vectors[[emb.ids[w] for w in words]]


@main.command("vectors")
@click.argument("model_dir")
@_library_errors
def print_vectors(model_dir) -> None:
    """Print the vector of each word read from stdin (whitespace-separated), one "word v1 ... vD"
    line each, as fastText's print-word-vectors; a --subwords model gives words outside its
    vocabulary their n-grams' mean. Exit status 1 if a word had no vector (word-only model).

    \b
    Example:
      echo "physics physicists unphysicsy" | w2v-nce vectors runs/sub
    """
    from .artifact.embeddings import Embeddings
    from .artifact.model import Model
    from .config import from_saved

    model = Model.load(model_dir)
    emb, unseen = Embeddings(model.words, model.word_vectors()), model.unseen_vectors()
    longest = from_saved(model.config or {}).max_token_bytes  # the trainer drops longer tokens too
    missing = 0
    for line in _stdin_lines(""):
        for word in line.split():
            size = len(word.encode("utf-8", "surrogateescape"))
            if size > longest:  # its n-grams would take memory by the GB (a 20 MB line: 4 GB)
                click.echo(f"{model_dir}: a word of {size:,} bytes, longer than the model's max_token_bytes "
                           f"({longest:,}): {word[:40]}...", err=True)
                missing += 1
                continue
            if word in emb:
                vec = emb.vectors[emb.ids[word]]
            elif unseen is not None:
                vec = unseen(word)
            else:
                click.echo(f"{model_dir}: not in the vocabulary: {word}", err=True)
                missing += 1
                continue
            click.echo(word + " " + " ".join(f"{v:.6g}" for v in vec.tolist()))
    if missing:
        raise _Exit(f"{missing:,} words without a vector (see above)", 1)


# ---------------------------------------------------------------------------------------------
# Looking at a trained model: similar, analogy, report
# ---------------------------------------------------------------------------------------------

# Queries read from stdin are answered this many at a time (one matrix product per block).
STDIN_BATCH = 256


def _query_options(fn: Callable) -> Callable:
    """--topn, --vectors, --restrict-vocab, --json and --unicode-errors, shared by `similar` and `analogy`."""
    fn = _unicode_errors_option(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="One JSON object per query (JSON Lines).")(fn)
    fn = click.option("--restrict-vocab", type=click.IntRange(min=1),
                      help="Answer among the N most frequent words [all].")(fn)
    fn = click.option("--vectors", "which", type=click.Choice(WHICH), default=WHICH[0],
                      show_default=True, help="A model's matrix: in = centre-word embeddings, out = context "
                      "weights, sum/avg of both (word2vec files: in only).")(fn)
    return click.option("--topn", type=click.IntRange(min=1), default=10, show_default=True,
                        help="Answers per query.")(fn)


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _stdin_lines(prompt: str) -> Iterator[str]:
    """Query lines: prompted for on a terminal (until EOF or EXIT), else read from stdin."""
    if not stdin_is_terminal():
        yield from sys.stdin
        return
    while True:
        try:
            line = input(prompt)
        except EOFError:
            return
        if line.strip() == "EXIT":
            return
        yield line


class _Query(NamedTuple):
    label: str  # how the query is shown in text output and errors
    shown: object  # ... and in JSON output
    positive: list
    negative: list
    error: str | None = None  # a malformed line: reported, not answered


def _answer(emb: Embeddings, source: str, queries: Iterable[_Query], block_size: int, key: str,
            **search) -> tuple[int, int]:
    """Answer ``queries`` ``block_size`` at a time, printing each answer (or its one-line error,
    on stderr) in input order; ``search``: ``most_similar_batch``'s options.
    Returns (queries, failed queries)."""
    total = failed = 0
    block: list[_Query] = []
    for query in queries:
        block.append(query)
        if len(block) >= block_size:
            failed += _answer_block(emb, source, block, key, **search)
            total, block = total + len(block), []
    if block:
        failed += _answer_block(emb, source, block, key, **search)
        total += len(block)
    return total, failed


def _query_error(emb: Embeddings, q: _Query) -> str | None:
    unknown = emb.missing([*q.positive, *q.negative])
    return q.error or (f"not in the vocabulary ({len(emb):,} words): {' '.join(unknown)}" if unknown else None)


def _answer_block(emb: Embeddings, source: str, block: list[_Query], key: str, as_json: bool, **search) -> int:
    emb = emb.with_unseen(w for q in block for w in (*q.positive, *q.negative))  # subwords: vectors of unseen words
    errors = [_query_error(emb, q) for q in block]
    answered = [(q.positive, q.negative) for q, e in zip(block, errors) if e is None]
    answers = iter(emb.most_similar_batch(answered, **search) if answered else [])
    for q, error in zip(block, errors):
        if error is not None:
            click.echo(f"{source}: {q.label}: {error}", err=True)
            if as_json:  # keeps one output line per query
                click.echo(json.dumps({"query": q.shown, "error": error}))
            continue
        result = next(answers)
        if as_json:
            click.echo(json.dumps({"query": q.shown, key: [{"word": w, "score": s} for w, s in result]}))
        else:
            width = max((len(w) for w, _ in result), default=0)
            click.echo(f"{q.label}\n" + "".join(f"  {w:<{width}}  {s:.4f}\n" for w, s in result))
    sys.stdout.flush()
    return sum(e is not None for e in errors)


def _run_queries(emb: Embeddings, source: str, words: tuple, parse: Callable[[str], _Query], prompt: str,
                 **options) -> None:
    """The query from the command line, else one per stdin line (prompted for on a terminal).
    Exit status 1 when a query went unanswered (not at the prompt, where the user saw it)."""
    if words:
        query = parse(" ".join(words))
        error = _query_error(emb.with_unseen([*query.positive, *query.negative]), query)
        if error:
            raise _Exit(f"{source}: {error}", 1)
        _answer(emb, source, [query], 1, **options)
        return
    interactive = stdin_is_terminal()
    queries = (parse(line) for line in _stdin_lines(prompt) if line.strip())
    total, failed = _answer(emb, source, queries, 1 if interactive else STDIN_BATCH, **options)
    if failed and not interactive:
        raise _Exit(f"{failed:,} of {total:,} queries not answered (see above)", 1)


def _similar_query(line: str) -> _Query:
    words = line.split()
    if not words:  # an empty or blank WORD argument (a blank stdin line is skipped)
        return _Query(line, line, [], [], "no word given (an empty or blank WORD)")
    return _Query(" ".join(words), words, words, [])


def _analogy_query(line: str) -> _Query:
    words = line.split()
    if len(words) != 3:
        error = f"expected three words A B C (A : B :: C : ?), got {len(words)}"
        return _Query(line.strip(), line.strip(), [], [], error)
    a, b, c = words
    return _Query(f"{a} : {b} :: {c} : ?", {"a": a, "b": b, "c": c}, [b, c], [a])


@main.command()
@click.argument("source", metavar="MODEL_OR_VECTORS")
@click.argument("words", nargs=-1)
@_query_options
@_library_errors
def similar(source, words, topn, which, restrict_vocab, as_json, unicode_errors) -> None:
    """Nearest neighbours by cosine of WORD (of the mean of several), the query words excluded.

    MODEL_OR_VECTORS is a training output directory, a model.npz, or a word2vec .txt/.bin file.
    With no WORD, one query per stdin line (words separated by spaces); on a terminal, a prompt
    (EXIT or Ctrl-D ends it). Unknown words are reported on stderr; exit status 1 if a query
    went unanswered.

    \b
    Example:
      w2v-nce similar runs/sample america --topn 5
      w2v-nce similar vectors.bin king queen --json
      printf 'war\\npeace\\n' | w2v-nce similar runs/sample --json > neighbours.jsonl
    """
    from .artifact.model import load_embeddings

    emb = load_embeddings(source, which, unicode_errors)
    _run_queries(emb, source, words, _similar_query, "words> ", key="neighbours", as_json=as_json, topn=topn,
                 restrict_vocab=restrict_vocab)


@main.command()
@click.argument("source", metavar="MODEL_OR_VECTORS")
@click.argument("words", nargs=-1, metavar="[A B C]")
@click.option("--method", type=click.Choice(METHODS), default=METHODS[0], show_default=True,
              help="3cosadd: cosine with B - A + C; 3cosmul: Levy & Goldberg's multiplicative form.")
@_query_options
@_library_errors
def analogy(source, words, method, topn, which, restrict_vocab, as_json, unicode_errors) -> None:
    """A is to B as C is to ?: the words nearest to B - A + C, the three query words excluded.

    As gensim's most_similar(positive=[B, C], negative=[A]) (or most_similar_cosmul). With no
    words, one "A B C" query per stdin line; on a terminal, a prompt (EXIT or Ctrl-D ends it).

    \b
    Example:
      w2v-nce analogy runs/sample man king woman        # king - man + woman
      w2v-nce analogy vectors.bin france paris germany --method 3cosmul --topn 3
      printf 'man king woman\\nfrance paris italy\\n' | w2v-nce analogy runs/sample --json
    """
    from .artifact.model import load_embeddings

    if len(words) not in (0, 3):
        raise click.UsageError(f"give three words A B C (A : B :: C : ?), or none to read them from stdin; got {len(words)}")
    emb = load_embeddings(source, which, unicode_errors)
    _run_queries(emb, source, words, _analogy_query, "A B C> ", key="answers", as_json=as_json, topn=topn,
                 restrict_vocab=restrict_vocab, method=method)


@main.command()
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("--align-words", type=click.IntRange(min=2), default=ALIGN_WORDS, show_default=True,
              help="Most frequent shared words the rotation of B onto A is fitted on.")
@click.option("--overlap-words", type=click.IntRange(min=1), default=OVERLAP_WORDS, show_default=True,
              help="Most frequent shared words whose nearest neighbours are compared.")
@click.option("-k", "k", type=click.IntRange(min=1), default=OVERLAP_K, show_default=True,
              help="Neighbours per word for the overlap.")
@click.option("--no-eval", is_flag=True, help="Skip the bundled analogy and similarity scores.")
@click.option("--heldout", multiple=True, help="Held-out text: both models' full sigmoid loss on it (models only).")
@click.option("--max-pairs", type=click.IntRange(min=1), default=Config().heldout_max_pairs, show_default=True,
              help="Held-out pairs scored.")
@click.option("--json", "json_file", help="Also write the comparison as JSON here (- for stdout).")
@_unicode_errors_option
@_library_errors
def compare(a, b, align_words, overlap_words, k, no_eval, heldout, max_pairs, json_file, unicode_errors) -> None:
    """What changed from model A to model B: drift, neighbours, words gained and lost, scores.

    A and B are run directories, model.npz files or word2vec .txt/.bin files of the same
    dimension. B is rotated onto A (orthogonal Procrustes over their most frequent shared words,
    weighted by frequency); drift is 1 - cosine between a word's vector in A and in aligned B.

    \b
    Example:
      w2v-nce compare runs/2026-11 runs/2026-12
      w2v-nce compare old.bin runs/new --json drift.json --no-eval
    """
    from .artifact.model import MODEL_FILE
    from .evaluation.compare import compare as compare_models
    from .evaluation.compare import format_comparison, load_vectors
    from .io import check_not_an_input

    if json_file:
        check_not_an_input(json_file, [a, b, *heldout], (MODEL_FILE,))
    result = compare_models(load_vectors(a, unicode_errors), load_vectors(b, unicode_errors), align_words,
                            overlap_words, k, evaluate=not no_eval, heldout=list(heldout), max_pairs=max_pairs)
    click.echo(format_comparison(result))
    if json_file:
        from .io import json_safe

        _write_json(json_file, json_safe(result))


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, metavar="RUN_DIR...")
@click.option("-o", "--output", default="report.html", show_default=True,
              help="The HTML page; its charts are also written beside it as <name>-<chart>.png.")
@_library_errors
def report(run_dirs, output) -> None:
    """One self-contained HTML page comparing training runs (needs the extra w2v-nce[report]).

    Per run: training loss per progress interval and per epoch, held-out full loss per epoch,
    learning rate and words/s, analogy and similarity tables, vocabulary/reader counts and the
    settings. Several runs are overlaid on the same charts.

    \b
    Example:
      w2v-nce report runs/sample -o runs/sample/report.html
      w2v-nce report runs/nce runs/sgns -o compare.html
    """
    from .report import write_report

    written = write_report(list(run_dirs), output)
    click.echo("wrote " + ", ".join(str(p) for p in written))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
