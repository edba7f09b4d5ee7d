"""The training report: one self-contained HTML page comparing run directories, plus its charts as PNG.

Reads what ``w2v-nce train -o DIR`` writes: ``train.jsonl`` (required; one event per line:
``progress`` every ``progress_every`` seconds, ``epoch`` at each epoch's end, perhaps others,
which are skipped), ``metrics.json`` and ``config.yaml`` (both optional: a run still in progress
has no metrics yet). Charts overlay every run: training loss per progress interval and per epoch,
held-out full loss per epoch, learning rate and words/s against words trained. Tables: a summary,
analogy accuracy by section, every similarity set, vocabulary/reader counts, the settings (rows
that differ between runs highlighted). When one given run was initialised from another
(``--init``: metrics.json's ``init`` names its directory or model.npz, or its model.npz's
SHA-256), a section "What changed" compares the two models (``evaluation.compare``): drift,
neighbour overlap, words gained and lost, score deltas, and a chart of drift against frequency.

The charts are drawn by matplotlib (the optional extra ``w2v-nce[report]``), imported only when a
report is made, through its Agg canvas (no pyplot, no display). The page embeds them as base64
PNG and loads nothing from the network (its Content-Security-Policy forbids it).
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import yaml

from .artifact.model import MODEL_FILE
from .errors import FormatError, OutputError, UsageError
from .io import atomic_output, check_not_an_input, file_sha256, json_value
from .run.events import EVENTS_FILE, read_events

INSTALL_HINT = "pip install 'w2v-nce[report]'"
# The charts, in page order; their files are <page stem>-<name>.png beside the page.
CHARTS = ("loss", "heldout", "lr", "speed", "drift")
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


@dataclass
class Run:
    """One training output directory: its events by type, metrics.json and config.yaml."""

    path: str
    name: str = ""
    progress: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Reading run directories
# ---------------------------------------------------------------------------------------------


# What a report reads in a run directory (model.npz: the lineage's drift): never its output
RUN_INPUTS = (EVENTS_FILE, "metrics.json", "config.yaml", MODEL_FILE)


def load_run(path: str | os.PathLike) -> Run:
    """Read a run directory; ``FormatError`` naming the file when train.jsonl is missing or a
    file is malformed. Unknown events and keys are ignored, optional files may be absent."""
    run = Run(os.fspath(path))
    log = Path(path) / EVENTS_FILE
    if not log.is_file():
        raise FormatError(f"{log}: not found; give a training output directory (the -o DIR of w2v-nce train)")
    for event in read_events(log):
        kind = event.get("event")
        if kind == "progress":
            run.progress.append(event)
        elif kind == "epoch":
            run.epochs.append(event)
    metrics = Path(path) / "metrics.json"
    if metrics.is_file():
        run.metrics = _read_mapping(metrics, json_value, "JSON")
    config = Path(path) / "config.yaml"
    if config.is_file():
        run.config = _read_mapping(config, yaml.safe_load, "YAML")
    return run


def _read_mapping(path: Path, parse, kind: str) -> dict:
    try:
        data = parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError, RecursionError) as exc:
        reason = str(exc).split("\n")[0]
        raise FormatError(f"{path}: malformed {kind} ({reason}); remove or regenerate it") from None
    if not isinstance(data, dict):
        raise FormatError(f"{path}: expected a {kind} mapping; remove or regenerate it")
    return data


def chart_names(paths: list[str]) -> list[str]:
    """Chart labels: the directories' base names, or their paths when base names repeat."""
    names = [os.path.basename(os.path.normpath(p)) or p for p in paths]
    names = names if len(set(names)) == len(names) else [os.path.normpath(p) for p in paths]
    # a path's undecodable bytes (surrogate escapes) shown as U+FFFD: fonts and HTML take no surrogates
    return [n.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for n in names]


# ---------------------------------------------------------------------------------------------
# What changed: a run and the run it was initialised from (--init)
# ---------------------------------------------------------------------------------------------


@dataclass
class Change:
    """Run ``new`` started from run ``old`` (``--init``): ``compare``'s dict of the two models,
    and every shared word's drift with its count in ``old`` (in ``old``'s frequency order)."""

    old: Run
    new: Run
    comparison: dict
    counts: np.ndarray  # int64 [n]
    drift: np.ndarray  # float64 [n]


def initialised_from(new: Run, old: Run, digest=file_sha256) -> bool:
    """Whether ``new``'s metrics.json ``init`` names run ``old``: its directory or model.npz
    (links resolved) or, for a run moved since, the SHA-256 of its model.npz (``digest``)."""
    init = new.metrics.get("init")
    if new is old or not isinstance(init, dict):
        return False
    model = os.path.join(old.path, MODEL_FILE)
    path = init.get("path")
    if isinstance(path, str) and os.path.realpath(path) in (os.path.realpath(old.path), os.path.realpath(model)):
        return True
    sha = init.get("sha256")
    if not isinstance(sha, str) or not os.path.isfile(model):
        return False
    try:
        return digest(model) == sha
    except OSError:
        return False


def lineage_changes(runs: list[Run]) -> list[Change]:
    """A ``Change`` for each given run initialised from another given run, both with a model.npz."""
    from functools import lru_cache

    from .evaluation.compare import align, compare, load_vectors

    digest = lru_cache(maxsize=None)(file_sha256)  # each model hashed once at most
    changes = []
    for new in runs:
        old = next((r for r in runs if initialised_from(new, r, digest)), None)
        if old is None or not all(os.path.isfile(os.path.join(r.path, MODEL_FILE)) for r in (old, new)):
            continue
        a, b = load_vectors(old.path), load_vectors(new.path)
        al = align(a, b)
        changes.append(Change(old, new, compare(a, b, evaluate=False, alignment=al), a.counts[al.rows_a], al.drift))
    return changes


# ---------------------------------------------------------------------------------------------
# Charts (matplotlib, imported on first use)
# ---------------------------------------------------------------------------------------------


def _matplotlib():
    """matplotlib's Figure and Agg canvas classes; ``UsageError`` (exit 2) naming the extra."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError(f"w2v-nce report draws its charts with matplotlib, which is not installed: "
                         f"{INSTALL_HINT}") from None
    return Figure, FigureCanvasAgg


# No figure a run records comes near this (words ~1e12, words/s ~1e8): beyond it a value is damage,
# and matplotlib's axis arithmetic overflows on values near the float's limit (1e308)
_PLOT_MAX = 1e30


def _value(x: Any) -> float:
    """A number from an event, NaN for null/missing, infinite or beyond ``_PLOT_MAX`` (matplotlib
    leaves a gap)."""
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return math.nan
    try:
        v = float(x)
    except OverflowError:  # an integer of hundreds of digits in a damaged file
        return math.nan
    return v if abs(v) <= _PLOT_MAX else math.nan


def _points(events: Iterable[dict], xkey: str, ykey: str) -> tuple[list[float], list[float]]:
    pairs = [(_value(e.get(xkey)), _value(e.get(ykey))) for e in events]
    pairs = [(x, y) for x, y in pairs if not math.isnan(x)]
    return [x for x, _ in pairs], [y for _, y in pairs]


def _new_axes(title: str, xlabel: str, ylabel: str):
    """An 800 x 400 pixel figure with one set of axes; x ticks as 100k, 1.5M..."""
    Figure, FigureCanvasAgg = _matplotlib()
    from matplotlib.ticker import EngFormatter

    fig = Figure(figsize=(8.0, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if xlabel == "words trained":
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    return fig, ax


# A log y axis when the positive values of a chart span more than this factor (e.g. the full
# loss of an SGNS run next to an NCE run's), so that no run is flattened against the axis.
_LOG_RATIO = 30.0


def figure_png(fig, ax, auto_log: bool = True) -> bytes:
    ys = [y for line in ax.get_lines() for y in line.get_ydata() if isinstance(y, float) and math.isfinite(y)]
    if auto_log and ys and min(ys) > 0 and max(ys) / min(ys) > _LOG_RATIO:
        ax.set_yscale("log")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _series_chart(runs: list[Run], ykey: str, title: str, ylabel: str, auto_log: bool = True) -> bytes:
    """``ykey`` against words trained: progress intervals as a line, epochs as markers."""
    fig, ax = _new_axes(title, "words trained", ylabel)
    for i, run in enumerate(runs):
        colour = f"C{i % 10}"
        x, y = _points(run.progress, "words", ykey)
        if x:
            ax.plot(x, y, color=colour, linewidth=1.2, alpha=0.8, label=f"{run.name} (intervals)")
        x, y = _points(run.epochs, "words", ykey)
        if x:
            ax.plot(x, y, color=colour, linestyle="none", marker="o", markersize=6, label=f"{run.name} (epochs)")
    return figure_png(fig, ax, auto_log)


def _heldout_chart(runs: list[Run]) -> bytes | None:
    fig, ax = _new_axes("Held-out full loss per epoch", "epoch", "full sigmoid loss (± stderr)")
    drawn = False
    for i, run in enumerate(runs):
        held = [(e.get("epoch"), e["heldout_loss"]) for e in run.epochs if isinstance(e.get("heldout_loss"), dict)]
        points = [(_value(ep), _value(h.get("mean")), _value(h.get("stderr"))) for ep, h in held]
        points = [p for p in points if not math.isnan(p[0])]
        if points:
            x, y, err = zip(*points)
            ax.errorbar(x, y, yerr=[0 if math.isnan(e) else e for e in err], color=f"C{i % 10}", marker="o",
                        capsize=3, label=run.name)
            drawn = True
    if not drawn:
        return None
    ax.xaxis.get_major_locator().set_params(integer=True)
    return figure_png(fig, ax)


def drift_by_frequency(counts: np.ndarray, drift: np.ndarray, bins: int = 16) -> list[tuple[float, ...]]:
    """(geometric bin centre, p10, median, p90 of drift, words) per non-empty bin of ``counts``
    on a log scale: how far words moved as a function of how often the old run saw them."""
    counts = np.maximum(np.asarray(counts, np.float64), 1.0)
    edges = np.geomspace(counts.min(), counts.max(), bins + 1)
    which = np.clip(np.searchsorted(edges, counts, side="right") - 1, 0, bins - 1)  # the largest: the last bin
    rows = []
    for i in range(bins):
        d = drift[which == i]
        if len(d):
            p10, p50, p90 = np.quantile(d, [0.1, 0.5, 0.9])
            rows.append((math.sqrt(edges[i] * edges[i + 1]), float(p10), float(p50), float(p90), len(d)))
    return rows


def _drift_chart(changes: list[Change]) -> bytes | None:
    if not changes:
        return None
    fig, ax = _new_axes("Drift against frequency", "count in the run initialised from (log)", "drift (1 − cosine)")
    for i, ch in enumerate(changes):
        x, p10, p50, p90, _ = zip(*drift_by_frequency(ch.counts, ch.drift))
        ax.plot(x, p50, color=f"C{i % 10}", marker="o", label=f"{ch.old.name} → {ch.new.name} (median)")
        ax.fill_between(x, p10, p90, color=f"C{i % 10}", alpha=0.2, label=f"{ch.old.name} → {ch.new.name} (p10–p90)")
    ax.set_xscale("log")
    return figure_png(fig, ax, auto_log=False)


def make_charts(runs: list[Run], changes: list[Change] = ()) -> dict[str, bytes]:
    """PNG bytes by chart name (``CHARTS``); ``heldout`` only when some run has a held-out loss,
    ``drift`` only with ``changes`` (``lineage_changes``)."""
    charts = {
        "loss": _series_chart(runs, "loss", "Training loss", "mean loss per example"),
        "heldout": _heldout_chart(runs),
        "lr": _series_chart(runs, "lr", "Learning rate", "learning rate", auto_log=False),  # linear decay
        "speed": _series_chart(runs, "words_per_sec", "Training speed", "words/s"),
        "drift": _drift_chart(list(changes)),
    }
    return {name: png for name, png in charts.items() if png is not None}


# ---------------------------------------------------------------------------------------------
# Tables (HTML)
# ---------------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 1e4:
            return f"{value:,.0f}"
        return f"{value:.4g}" if abs(value) < 1e-3 else f"{value:.4f}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value) or "[]"
    return str(value)


def _pct(value: Any) -> str:
    value = _value(value)
    return "—" if math.isnan(value) else f"{100 * value:.1f}%"


def _table(header: list[str], rows: list[list[str]], classes: list[str] | None = None, cls: str = "") -> str:
    """An HTML table; header and cells are already-escaped HTML; ``classes``: one per row ('' = none)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = []
    for row, row_class in zip(rows, classes or [""] * len(rows)):
        attr = f' class="{row_class}"' if row_class else ""
        body.append(f"<tr{attr}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _e(value: Any) -> str:
    return html.escape(_fmt(value))


def _last_heldout(run: Run) -> str:
    held = [e["heldout_loss"] for e in run.epochs if isinstance(e.get("heldout_loss"), dict)]
    if not held:
        return "—"
    return f"{_e(held[-1].get('mean'))} ± {_e(held[-1].get('stderr'))}"


def summary_table(runs: list[Run]) -> str:
    rows = []
    for run in runs:
        m, c = run.metrics, run.config
        analogy = m.get("analogy") if isinstance(m.get("analogy"), dict) else {}
        speeds = [_value(e.get("words_per_sec")) for e in run.epochs]
        speeds = [s for s in speeds if not math.isnan(s)]
        rows.append([
            html.escape(run.name), _e(c.get("loss")), _e(c.get("dim")),
            f"{len(run.epochs)} / {_e(c.get('epochs'))}", _e(m.get("words", (run.epochs or [{}])[-1].get("words"))),
            _e(m.get("train_loss")), _last_heldout(run), _e(sum(speeds) / len(speeds) if speeds else None),
            f"{_pct(analogy.get('accuracy'))} ({_pct(analogy.get('semantic'))} / {_pct(analogy.get('syntactic'))})"
            if analogy else "—",
        ])
    header = ["run", "loss", "dim", "epochs done", "words trained", "train loss", "held-out loss (last epoch)",
              "words/s (epoch mean)", "analogy (semantic / syntactic)"]
    return _table(header, rows)


def analogy_table(runs: list[Run]) -> str | None:
    reports = [r.metrics.get("analogy") if isinstance(r.metrics.get("analogy"), dict) else None for r in runs]
    if not any(reports):
        return None
    sections: dict[str, None] = {}
    for rep in reports:
        for s in (rep or {}).get("sections", []):
            sections.setdefault(str(s.get("section")), None)

    def cell(rep: dict | None, section: str) -> str:
        s = next((s for s in (rep or {}).get("sections", []) if str(s.get("section")) == section), None)
        if s is None:
            return "—"
        return f"{_pct(s.get('accuracy'))} <small>({_e(s.get('correct'))}/{_e(s.get('answered'))})</small>"

    rows = [[html.escape(name)] + [cell(rep, name) for rep in reports] for name in sections]
    for group in ("semantic", "syntactic", "accuracy"):
        label = "all sections" if group == "accuracy" else f"{group} sections"
        rows.append([f"<b>{label}</b>"] + [f"<b>{_pct((rep or {}).get(group))}</b>" for rep in reports])
    rows.append(["<i>answered / skipped</i>"] + [
        f"{_e(rep.get('answered'))} / {_e(rep.get('skipped'))}" if rep else "—" for rep in reports])
    header = ["section"] + [html.escape(f"{r.name} ({(rep or {}).get('method', '—')})") for r, rep in zip(runs, reports)]
    return _table(header, rows)


def similarity_table(runs: list[Run]) -> str | None:
    sets = [r.metrics.get("similarity") if isinstance(r.metrics.get("similarity"), dict) else {} for r in runs]
    names = list(dict.fromkeys(name for s in sets for name in s))
    if not names:
        return None

    def cell(result: Any) -> str:
        if not isinstance(result, dict):
            return "—"
        return (f"ρ {_e(result.get('spearman'))} · r {_e(result.get('pearson'))} "
                f"<small>({_e(result.get('pairs'))}/{_e(result.get('total'))} pairs)</small>")

    rows = [[html.escape(name)] + [cell(s.get(name)) for s in sets] for name in names]
    return _table(["similarity set"] + [html.escape(r.name) for r in runs], rows)


def counts_table(runs: list[Run], groups: tuple[str, ...] = ("vocabulary", "reader")) -> str | None:
    """Rows ``group: key`` for each mapping of counts in metrics.json that some run has."""
    keys: dict[tuple[str, str], None] = {}
    for run in runs:
        for group in groups:
            if isinstance(run.metrics.get(group), dict):
                for key in run.metrics[group]:
                    keys.setdefault((group, str(key)), None)
    if not keys:
        return None
    rows = [[html.escape(f"{group}: {key}")] + [_e((run.metrics.get(group) or {}).get(key)) for run in runs]
            for group, key in keys]
    return _table(["count"] + [html.escape(r.name) for r in runs], rows, cls="numbers")


def _score_change(old: Any, new: Any, pct: bool) -> str:
    a, b = _value(old), _value(new)
    if math.isnan(a) or math.isnan(b):
        return "—"
    if pct:
        return f"{_pct(a)} → {_pct(b)} ({100 * (b - a):+.1f} pt)"
    return f"{a:.4f} → {b:.4f} ({b - a:+.4f})"


def score_changes(old: dict, new: dict) -> list[tuple[str, str]]:
    """(name, "old → new (delta)") for analogy accuracy and each similarity set in both runs."""
    def accuracy(m: dict) -> Any:
        return m["analogy"].get("accuracy") if isinstance(m.get("analogy"), dict) else None

    rows = [("analogy accuracy", _score_change(accuracy(old), accuracy(new), pct=True))]
    sims = [m.get("similarity") if isinstance(m.get("similarity"), dict) else {} for m in (old, new)]
    for name in (n for n in sims[0] if n in sims[1]):
        a, b = (s[name].get("spearman") if isinstance(s[name], dict) else None for s in sims)
        rows.append((f"{name} Spearman", _score_change(a, b, pct=False)))
    return rows


def changes_table(changes: list[Change]) -> str:
    """One column per lineage pair: compare's summary and the score deltas from metrics.json."""
    def words(items: list[dict]) -> str:
        return ", ".join(f"{m['word']} {m['drift']:.3f}" for m in items[:5])

    columns = []
    for ch in changes:
        r = ch.comparison
        d, o = r["drift"], r["overlap"]
        columns.append({
            "shared words (aligned on)": f"{r['shared']:,} ({r['aligned_on']:,})",
            "mean drift": f"{d['mean']:.4f}",
            "median drift (p10–p90)": f"{d['median']:.4f} ({d['p10']:.4f}–{d['p90']:.4f})",
            f"neighbour overlap@{o['k']} ({o['words']:,} most frequent)": _fmt(o["mean"]),
            "moved most": words(r["moved_most"]), "moved least": words(r["moved_least"]),
            "words gained": f"{r['gained']['count']:,}: " + " ".join(r["gained"]["most_frequent"][:5]),
            "words lost": f"{r['lost']['count']:,}: " + " ".join(r["lost"]["most_frequent"][:5]),
            **dict(score_changes(ch.old.metrics, ch.new.metrics)),
        })
    keys = list(dict.fromkeys(k for c in columns for k in c))
    rows = [[html.escape(k)] + [html.escape(c.get(k, "—")) for c in columns] for k in keys]
    return _table([""] + [html.escape(f"{ch.old.name} → {ch.new.name}") for ch in changes], rows)


def settings_table(runs: list[Run]) -> str | None:
    keys = list(dict.fromkeys(k for run in runs for k in run.config))
    if not keys:
        return None
    rows, classes = [], []
    for key in keys:
        values = [_fmt(run.config.get(key)) if key in run.config else "—" for run in runs]
        rows.append([html.escape(str(key))] + [html.escape(v) for v in values])
        classes.append("diff" if len(runs) > 1 and len(set(values)) > 1 else "")
    return _table(["setting"] + [html.escape(r.name) for r in runs], rows, classes)


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto; max-width: 62em;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } tbody tr:nth-child(even) { background: #fafafa; }
table.numbers td + td { text-align: right; font-variant-numeric: tabular-nums; }
tr.diff td { background: #fff4cc; } small { color: #666; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; } .note { color: #666; font-size: .92em; }
"""


def _figure(name: str, png: bytes, caption: str, file_name: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="chart-{name}"><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)} <span class=\"note\">(also {html.escape(file_name)})</span>"
            "</figcaption></figure>")


def render_page(runs: list[Run], charts: dict[str, bytes], chart_files: dict[str, str],
                changes: list[Change] = ()) -> str:
    """The HTML page: charts embedded as data: URIs, every text escaped; "What changed" with
    ``changes`` (``lineage_changes``)."""
    captions = {
        "loss": "Training loss against words trained: lines are progress intervals, dots epoch means.",
        "heldout": "Held-out full sigmoid loss after each epoch (error bars: ± one standard error).",
        "lr": "Learning rate against words trained (linear decay from alpha to min_alpha).",
        "speed": "Words per second: lines are progress intervals, dots epoch means.",
        "drift": "Drift (1 − cosine between a word's vector before and after, aligned) against the word's count "
                 "in the run initialised from: median per frequency bin, band p10–p90.",
    }
    parts = [f"<h2>Summary</h2>{summary_table(runs)}"]
    parts.append("<h2>Training loss</h2>" + _figure("loss", charts["loss"], captions["loss"], chart_files["loss"]))
    parts.append("<h2>Held-out loss</h2>" + (
        _figure("heldout", charts["heldout"], captions["heldout"], chart_files["heldout"]) if "heldout" in charts
        else '<p class="note">No held-out loss in these runs (train with --heldout FILE or --holdout-fraction).</p>'))
    parts.append("<h2>Learning rate and speed</h2>"
                 + _figure("lr", charts["lr"], captions["lr"], chart_files["lr"])
                 + _figure("speed", charts["speed"], captions["speed"], chart_files["speed"]))
    if changes:
        parts.append("<h2>What changed</h2><p class=\"note\">A run continued from another (<code>--init</code>): the "
                     "later model rotated onto the earlier one by orthogonal Procrustes over their most frequent "
                     "shared words, as <code>w2v-nce compare</code> does; scores from each run's metrics.json.</p>"
                     + changes_table(list(changes))
                     + _figure("drift", charts["drift"], captions["drift"], chart_files["drift"]))
    settings = settings_table(runs)
    if settings and len(runs) > 1:
        settings += '<p class="note">Highlighted settings differ between runs.</p>'
    for title, table, missing in (
        ("Analogies", analogy_table(runs), "No analogy results in these runs' metrics.json."),
        ("Word similarity", similarity_table(runs), "No similarity results in these runs' metrics.json."),
        ("Vocabulary and reader", counts_table(runs), "No vocabulary or reader counts in these runs' metrics.json."),
        ("Settings", settings, "No config.yaml in these runs."),
    ):
        parts.append(f"<h2>{title}</h2>" + (table or f'<p class="note">{missing}</p>'))
    names = ", ".join(html.escape(r.name) for r in runs)
    sources = "".join(f"<li><code>{html.escape(r.name)}</code>: {html.escape(os.path.abspath(r.path))}</li>"
                      for r in runs)
    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>w2v-nce report: {names}</title><style>{_STYLE}</style></head>\n<body>\n"
        f"<h1>w2v-nce training report</h1><p class=\"note\">Generated {html.escape(stamp)} from {len(runs)} "
        f"run{'s' if len(runs) != 1 else ''}:</p><ul>{sources}</ul>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def chart_paths(out: str | os.PathLike) -> dict[str, Path]:
    """The PNG files written beside the page: ``<stem>-<chart>.png``."""
    out = Path(out)
    return {name: out.with_name(f"{out.stem}-{name}.png") for name in CHARTS}


def _check_output(out: Path) -> None:
    if out.is_dir():
        raise OutputError(f"{out}: is a directory; give -o a file name such as {out / 'report.html'}")
    if not out.parent.is_dir():
        raise OutputError(f"{out}: directory {out.parent} does not exist; create it or choose another -o")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: directory {out.parent} is not writable; choose another -o")


def write_report(run_dirs: list[str], out: str | os.PathLike = "report.html") -> list[Path]:
    """Read ``run_dirs``, draw the charts and write the page and its PNG files (each written to
    a temp file and renamed). Returns the paths written, the page first.

    Errors before anything is written: ``UsageError`` without matplotlib, ``FormatError`` for a
    run directory without train.jsonl or with a malformed file, ``OutputError`` for an unusable
    ``out``.
    """
    if not run_dirs:
        raise UsageError("give at least one run directory")
    _matplotlib()
    runs = [load_run(p) for p in run_dirs]
    for run, name in zip(runs, chart_names([r.path for r in runs])):
        run.name = name
    out = Path(out)
    _check_output(out)
    check_not_an_input(out, run_dirs, RUN_INPUTS)
    changes = lineage_changes(runs) if len(runs) > 1 else []
    charts = make_charts(runs, changes)
    files = chart_paths(out)
    page = render_page(runs, charts, {name: path.name for name, path in files.items()}, changes)
    html = page.encode("utf-8", "replace")  # a path's undecodable bytes: '?' (before any file is written)
    written = []
    for name, png in charts.items():
        with atomic_output(files[name], "wb") as fh:
            fh.write(png)
        written.append(files[name])
    with atomic_output(out, "wb") as fh:
        fh.write(html)
    return [out] + written
