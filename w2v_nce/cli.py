"""The command line: parse, merge config, call the library, map errors to exit codes.

Exit codes: 0 success; 1 error (bad input, divergence, disk full, ...); 2 usage error (bad
flag or setting); 130/143 interrupted by SIGINT/SIGTERM after writing a checkpoint.
This is the only module that imports click.
"""

from __future__ import annotations

import functools
import json
import sys

import click

from . import __version__
from .config import Config, cli_settings, load_yaml, merge
from .errors import W2VError


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


_CLICK_TYPES = {"int": int, "int | None": int, "float": float, "str": str}


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
@_setting_options
@_library_errors
def train(corpus, config_file, output, force, resume_dir, **flags) -> None:
    """Train skip-gram vectors on CORPUS (files, directories, .gz/.bz2/.xz, or - for stdin).

    \b
    Example:
      w2v-nce train data/sample.txt -c configs/tiny.yaml -o runs/sample --force
      w2v-nce train --resume runs/sample
    """
    from .job import resume_training, run_training

    given = {k: (list(v) if isinstance(v, tuple) else v) for k, v in flags.items() if v is not None and v != ()}
    if resume_dir is not None:
        extra = set(given) - {"threads", "quiet"}
        if corpus or config_file or output or extra:
            raise click.UsageError("--resume takes only --threads and --quiet; corpus and settings come from the checkpoint")
        result = resume_training(resume_dir, threads=given.get("threads"), quiet=given.get("quiet"),
                                 handle_signals=True)
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
        result = run_training(cfg, force=force, handle_signals=True)
    click.echo(f"wrote {result.output} ({result.vocab_size:,} words, {result.seconds:.1f} s)")


@main.command("eval")
@click.argument("model_dir", required=False)
@click.option("--vectors", "vectors_file", type=click.Path(dir_okay=False), help="Score a word2vec-format file instead of a model.")
@click.option("--binary/--text", "binary", default=None, help="Format of --vectors [auto-detect].")
@click.option("--heldout", multiple=True, help="Held-out text for the full sigmoid loss (model only).")
@click.option("--max-pairs", type=int, default=100000, show_default=True, help="Held-out pairs scored.")
@click.option("--window", type=int, help="Held-out pair window [the model's].")
@click.option("--analogies", multiple=True, help="questions-words.txt-style files [bundled set].")
@click.option("--restrict-vocab", type=int, default=30000, show_default=True, help="Answer among the N most frequent words.")
@click.option("--method", type=click.Choice(["3cosadd", "3cosmul"]), default="3cosadd", show_default=True)
@click.option("--similarity", multiple=True, help="Word-pair similarity files [bundled sets].")
@click.option("--json", "json_file", help="Also write the results as JSON here.")
@click.option("--threads", type=int, help="Threads for the full loss [all cores].")
@_library_errors
def eval_cmd(model_dir, vectors_file, binary, heldout, max_pairs, window, analogies, restrict_vocab, method,
             similarity, json_file, threads) -> None:
    """Score a trained model: full sigmoid loss on held-out text, analogies, word similarity.

    \b
    Example:
      w2v-nce eval runs/sample --heldout heldout.txt --json scores.json
      w2v-nce eval --vectors GoogleNews-vectors.bin --binary
    """
    from .evaluate import format_report, run_evaluation

    if (model_dir is None) == (vectors_file is None):
        raise click.UsageError("give either MODEL_DIR or --vectors FILE")
    if vectors_file and heldout:
        raise click.UsageError("--heldout needs a model (MODEL_DIR): a vectors file has no output weights")
    report = run_evaluation(model_dir=model_dir, vectors_file=vectors_file, binary=binary, heldout=list(heldout),
                            max_pairs=max_pairs, window=window, analogies=list(analogies),
                            restrict_vocab=restrict_vocab, method=method, similarity=list(similarity),
                            threads=threads)
    click.echo(format_report(report))
    if json_file:
        from .formats import atomic_output

        with atomic_output(json_file, "w") as fh:
            json.dump(report, fh, indent=2)


@main.command()
@click.argument("model_dir")
@click.option("-o", "--output", required=True, help="Output file (text/binary) or prefix (npy/projector).")
@click.option("--format", "fmt", type=click.Choice(["text", "binary", "npy", "projector"]), default="text", show_default=True)
@click.option("--vectors", "which", type=click.Choice(["in", "out", "sum", "avg"]), default="in", show_default=True,
              help="in = centre-word embeddings, out = context/NCE weights, sum/avg of both.")
@click.option("--limit", type=int, help="Keep the N most frequent words.")
@click.option("--normalize", is_flag=True, help="Write unit-length rows.")
@click.option("--force", is_flag=True, help="Overwrite existing output.")
@_library_errors
def export(model_dir, output, fmt, which, limit, normalize, force) -> None:
    """Write a trained model's vectors as word2vec text/binary, NumPy or Projector files.

    \b
    Example:
      w2v-nce export runs/sample -o vectors.bin --format binary
      w2v-nce export runs/sample -o proj --format projector --vectors avg --limit 10000
    """
    from .formats import export_vectors
    from .model import Model

    if limit is not None and limit < 1:
        raise click.BadParameter("must be >= 1", param_hint="--limit")
    model = Model.load(model_dir)
    written = export_vectors(output, model.words, model.w_in, model.w_out, fmt, which, limit, normalize, force)
    click.echo("wrote " + ", ".join(str(p) for p in written))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
