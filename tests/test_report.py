"""`w2v-nce report`: what the page and its charts hold (runs overlaid), tolerance of unknown or
missing data, bad input and exit codes, the missing-matplotlib message, and the page rendered by
a real headless browser (Debian's chromium)."""

from __future__ import annotations

import base64
import builtins
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

from tests.conftest import REPO, run_cli
from tests.conftest import run_cli as run
from w2v_nce import report as R

pytest.importorskip("matplotlib")  # the report extra; CI installs it ('.[test,report]')




def _events(loss_scale: float, heldout: bool) -> list[dict]:
    events = [{"event": "start", "time": 1.0, "something_new": [1, 2]}]  # an event type we do not know
    words = 0
    for epoch in (1, 2, 3):
        for step in range(4):
            words += 1000
            loss = None if (epoch, step) == (1, 0) else loss_scale * (4 - epoch - step / 4)
            events.append({"event": "progress", "epoch": epoch, "words": words, "words_per_sec": 5000.0 + step,
                           "lr": 0.025 * (1 - words / 12000), "loss": loss, "examples": 3000, "time": 2.0 + words,
                           "extra_key": "ignored"})
        rec = {"event": "epoch", "epoch": epoch, "words": words, "words_per_sec": 4900.0, "lr": 0.025 * (1 - words / 12000),
               "loss": loss_scale * (3.5 - epoch), "examples": 12000}
        if heldout:
            rec["heldout_loss"] = {"mean": 9.0 - epoch, "stderr": 0.05, "pairs": 5000}
        events.append(rec)
    return events


def _metrics(events: list[dict], accuracy: float) -> dict:
    sections = [{"section": "capital-common-countries", "kind": "semantic", "correct": int(100 * accuracy),
                 "answered": 100, "skipped": 6, "accuracy": accuracy},
                {"section": "gram1-adjective-to-adverb", "kind": "syntactic", "correct": 0, "answered": 0,
                 "skipped": 992, "accuracy": float("nan")}]
    return {"epochs": [e for e in events if e["event"] == "epoch"], "train_loss": 1.25, "examples": 36000,
            "words": 12000, "analogy": {"accuracy": accuracy, "semantic": accuracy, "syntactic": float("nan"),
                                        "answered": 100, "skipped": 998, "correct": int(100 * accuracy),
                                        "method": "3cosadd", "sections": sections},
            "similarity": {"wordsim353_combined": {"spearman": 0.41, "pearson": 0.4, "pairs": 300, "oov": 53,
                                                   "total": 353},
                           "SimLex-999": {"spearman": None, "pearson": None, "pairs": 0, "oov": 999, "total": 999}},
            "vocabulary": {"words": 12345, "distinct": 67890, "tokens": 1234567, "in_vocab_tokens": 1200000},
            "reader": {"tokens": 1234567, "oov_tokens": 34567, "split_sentences": 2, "replaced_chars": 0,
                       "forced_splits": 1},
            "a_future_key": {"x": 1}}


def make_run(path, loss="nce", loss_scale=1.0, heldout=True, accuracy=0.5, metrics=True, config=True):
    path.mkdir(parents=True)
    events = _events(loss_scale, heldout)
    (path / "train.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    if metrics:
        (path / "metrics.json").write_text(json.dumps(_metrics(events, accuracy), indent=2))  # NaN as in job.py
    if config:
        (path / "config.yaml").write_text(yaml.safe_dump({"corpus": ["c.txt"], "dim": 100, "loss": loss, "epochs": 3,
                                                          "heldout": []}))
    return path


@pytest.fixture
def two_runs(tmp_path):
    return (make_run(tmp_path / "nce", "nce"),
            make_run(tmp_path / "sgns", "neg", loss_scale=300.0, heldout=False, accuracy=0.25))


def _data_images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_page_and_png_files(two_runs, tmp_path):
    out = tmp_path / "out" / "cmp.html"
    out.parent.mkdir()
    r = run("report", *two_runs, "-o", out)
    assert r.exit_code == 0, r.output
    files = [out] + [out.with_name(f"cmp-{name}.png") for name in ("loss", "heldout", "lr", "speed")]
    assert r.output.strip() == "wrote " + ", ".join(str(p) for p in files)
    assert sorted(os.listdir(out.parent)) == sorted(p.name for p in files)  # no temp files left
    page = out.read_text("utf-8")
    images = _data_images(page)
    assert images == [p.read_bytes() for p in files[1:]]  # the page embeds exactly the PNG files
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in images)
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing to fetch
    # tables: analogy by section, every similarity set, vocabulary/reader counts, settings
    for text in ("capital-common-countries", "gram1-adjective-to-adverb", "50.0%", "25.0%", "wordsim353_combined",
                 "SimLex-999", "ρ 0.4100", "vocabulary: words", "12,345", "reader: oov_tokens", "34,567",
                 "6 ± 0.0500", "nce (3cosadd)"):
        assert text in page, text
    settings = page[page.index("<h2>Settings</h2>"):]
    assert re.search(r'<tr class="diff"><td>loss</td><td>nce</td><td>neg</td></tr>', settings)
    assert re.search(r"<tr><td>dim</td><td>100</td><td>100</td></tr>", settings)


def test_runs_are_overlaid_on_each_chart(two_runs, monkeypatch):
    drawn = {}
    real_png = R.figure_png

    def capture(fig, ax, auto_log=True):
        drawn[ax.get_title()] = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
                                 for line in ax.get_lines()}
        png = real_png(fig, ax, auto_log)
        drawn[ax.get_title()]["log"] = ax.get_yscale()
        drawn[ax.get_title()]["legend"] = ax.get_legend_handles_labels()[1]
        drawn[ax.get_title()]["ys"] = [list(line.get_ydata()) for line in ax.get_lines()]
        return png

    monkeypatch.setattr(R, "figure_png", capture)
    runs = [R.load_run(p) for p in two_runs]
    for run_, name in zip(runs, ("nce", "sgns")):
        run_.name = name
    charts = R.make_charts(runs)
    assert list(charts) == ["loss", "heldout", "lr", "speed"]
    loss = drawn["Training loss"]
    assert loss["legend"] == ["nce (intervals)", "nce (epochs)", "sgns (intervals)", "sgns (epochs)"]
    x, y = loss["nce (intervals)"]
    assert x[:2] == [1000.0, 2000.0] and np.isnan(y[0]) and y[1] == pytest.approx(2.75)  # null loss: a gap
    assert loss["sgns (epochs)"] == ([4000.0, 8000.0, 12000.0], [750.0, 450.0, 150.0])
    assert loss["log"] == "log"  # SGNS's losses are 300x NCE's: a log axis keeps both visible
    assert drawn["Learning rate"]["log"] == "linear"
    assert drawn["Training speed"]["legend"] == loss["legend"] == drawn["Learning rate"]["legend"]
    held = drawn["Held-out full loss per epoch"]
    assert held["legend"] == ["nce"] and [8.0, 7.0, 6.0] in held["ys"]  # only nce has one


def test_tolerates_unknown_events_and_missing_optional_files(tmp_path):
    live = make_run(tmp_path / "live", heldout=False, metrics=False, config=False)
    with open(live / "train.jsonl", "a") as fh:
        fh.write('{"event": "progress", "epoch": 3, "wor')  # torn last line: still being written
    out = tmp_path / "r.html"
    r = run("report", live, "-o", out)
    assert r.exit_code == 0, r.output
    page = out.read_text("utf-8")
    assert "No held-out loss in these runs" in page and not (tmp_path / "r-heldout.png").exists()
    assert "No analogy results" in page and "No config.yaml" in page
    assert len(_data_images(page)) == 3
    assert len(R.load_run(live).progress) == 12


@pytest.mark.parametrize("case, message", [
    ("no_log", "train.jsonl: not found; give a training output directory"),
    ("bad_line", "train.jsonl:2: not JSON"),
    ("bad_metrics", "metrics.json: malformed JSON"),
    ("bad_config", "config.yaml: malformed YAML"),
])
def test_bad_run_directories_are_one_line_errors(tmp_path, case, message):
    path = tmp_path / "run"
    if case == "no_log":
        path.mkdir()
    else:
        make_run(path)
    if case == "bad_line":
        lines = (path / "train.jsonl").read_text().splitlines()
        lines[1] = "{oops"
        (path / "train.jsonl").write_text("\n".join(lines) + "\n")
    elif case == "bad_metrics":
        (path / "metrics.json").write_text("{")
    elif case == "bad_config":
        (path / "config.yaml").write_text("dim: [1\n")
    r = run("report", path, "-o", tmp_path / "r.html")
    assert r.exit_code == 1
    assert r.output.count("\n") == 1 and message in r.output and str(path) in r.output
    assert not (tmp_path / "r.html").exists()


def test_unusable_output_is_one_line_error(two_runs, tmp_path):
    r = run("report", *two_runs, "-o", tmp_path / "nowhere" / "r.html")
    assert r.exit_code == 1 and "does not exist" in r.output and r.output.count("\n") == 1
    r = run("report", *two_runs, "-o", tmp_path)
    assert r.exit_code == 1 and "is a directory" in r.output
    assert run("report").exit_code == 2


def test_missing_matplotlib_names_the_extra(two_runs, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    r = run("report", *two_runs, "-o", tmp_path / "r.html")
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == [
        "Error: w2v-nce report draws its charts with matplotlib, which is not installed: pip install 'w2v-nce[report]'"]
    assert not (tmp_path / "r.html").exists()


def test_the_core_package_never_imports_matplotlib():
    code = ("import sys, w2v_nce.cli, w2v_nce.report, w2v_nce.artifact.embeddings, w2v_nce.artifact.model, w2v_nce.evaluation.command, "
            "w2v_nce.run.job; sys.exit(any(m.split('.')[0] == 'matplotlib' for m in sys.modules))")
    root = REPO
    assert subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": root}).returncode == 0


def test_report_on_real_training_runs(tmp_path):
    corpus = tmp_path / "c.txt"
    words = ("the cat sat on the mat while the dog ran in the park and the bird sang " * 40).split()
    corpus.write_text("\n".join(" ".join(words[i:i + 30]) for i in range(0, len(words), 30)) + "\n")
    tiny = os.path.join(REPO, "configs", "tiny.yaml")
    for name, flags in (("a", ["--holdout-fraction", "0.3"]), ("b", ["--loss", "neg", "--dim", "16"])):
        r = run("train", corpus, "-c", tiny, "-o", tmp_path / name, "--quiet", "--threads", "1", *flags)
        assert r.exit_code == 0, r.output
    out = tmp_path / "report.html"
    r = run("report", tmp_path / "a", tmp_path / "b", "-o", out)
    assert r.exit_code == 0, r.output
    page = out.read_text("utf-8")
    assert len(_data_images(page)) == 4  # a held-out loss: run a used --holdout-fraction
    assert "capital-common-countries" in page and "wordsim353_combined" in page  # bundled evaluation sets
    assert re.search(r'<tr class="diff"><td>dim</td><td>32</td><td>16</td></tr>', page)


# --- the page in a real browser ------------------------------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Prepended to a copy of the page (the page itself has no script, and its CSP would block one):
# records errors, then writes each image's decoded size into the DOM that --dump-dom prints.
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message || (e.target && e.target.src))); }, true);
window.addEventListener("load", function () {
  var images = Array.prototype.map.call(document.images, function (i) {
    return {ok: i.complete && i.naturalWidth > 0, width: i.naturalWidth, height: i.naturalHeight}; });
  var pre = document.createElement("pre");
  pre.id = "w2v-probe";
  pre.textContent = JSON.stringify({errors: window.__errors, images: images});
  document.body.appendChild(pre);
});
</script>"""


def _chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def _browse(chromium: str, profile, *args) -> subprocess.CompletedProcess:
    profile.mkdir()
    return subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr",
                           "--v=0", *args], capture_output=True, text=True, timeout=120)


def test_page_renders_in_headless_chromium(two_runs, tmp_path):
    chromium = _chromium()
    out = tmp_path / "report.html"
    assert run("report", *two_runs, "-o", out).exit_code == 0
    url = out.as_uri()

    dom = _browse(chromium, tmp_path / "p1", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('src="data:image/png;base64,') == 4
    for chart in ("loss", "heldout", "lr", "speed"):
        assert f'<figure id="chart-{chart}">' in dom.stdout
    assert "<h2>Analogies</h2>" in dom.stdout and "capital-common-countries" in dom.stdout
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []  # no script errors, no blocked loads (CSP violations are logged here)

    probe = tmp_path / "probe.html"
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", out.read_text("utf-8"))
    probe.write_text(page.replace("<head>", "<head>" + PROBE, 1), "utf-8")
    dom = _browse(chromium, tmp_path / "p2", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="w2v-probe">(.*?)</pre>', dom.stdout)
    assert found, dom.stdout[-2000:]
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert result["errors"] == []
    assert result["images"] == [{"ok": True, "width": 800, "height": 400}] * 4  # every chart decoded

    shot = tmp_path / "screenshot.png"
    taken = _browse(chromium, tmp_path / "p3", "--window-size=1200,3000", f"--screenshot={shot}", url)
    assert taken.returncode == 0 and shot.read_bytes().startswith(b"\x89PNG")
    assert shot.stat().st_size > 50_000  # text, tables and charts, not a blank page


def test_numbers_beyond_a_float_and_infinity_in_the_files_are_drawn_as_gaps(tmp_path):
    """A damaged train.jsonl or metrics.json (a 400-digit number, Infinity) is still a report."""
    from w2v_nce.report import load_run, make_charts, render_page

    run_dir = make_run(tmp_path / "r")
    lines = (run_dir / "train.jsonl").read_text().splitlines()
    lines[1] = lines[1].replace('"words": ', '"words": ' + "9" * 400 + ", \"was\": ", 1)
    lines.insert(2, '{"event": "progress", "words": Infinity, "loss": -Infinity, "lr": NaN}')
    lines.insert(3, '{"event": "epoch", "epoch": 9, "words": 5, "words_per_sec": 1e308}')  # matplotlib overflowed
    (run_dir / "train.jsonl").write_text("\n".join(lines) + "\n")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["analogy"]["accuracy"] = int("9" * 400)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    run = load_run(run_dir)
    run.name = "r"
    charts = make_charts([run])
    page = render_page([run], charts, {name: name + ".png" for name in charts})
    assert "<table" in page and "—" in page  # the unreadable accuracy shown as a gap
    r = run_cli("report", run_dir, "-o", tmp_path / "report.html")
    assert r.exit_code == 0, r.output


# --- "What changed": a run and the run it was initialised from ---------------------------------


@pytest.fixture(scope="module")
def lineage(tmp_path_factory):
    """old (trained on a), new (b, --init old), other (b from scratch): real, tiny runs."""
    from tests.corpora import planted_corpus

    tmp = tmp_path_factory.mktemp("lineage")
    a = planted_corpus(tmp / "a.txt", lines=300, seed=1)
    b = tmp / "b.txt"
    b.write_text(open(planted_corpus(tmp / "b0.txt", lines=300, seed=2)).read() + "c1 c2 c3 a1 x c1\n" * 20)
    tiny = os.path.join(REPO, "configs", "tiny.yaml")
    for name, corpus, flags in (("old", a, []), ("new", b, ["--init", tmp / "old"]), ("other", b, [])):
        r = run("train", corpus, "-c", tiny, "-o", tmp / name, "--min-count", "1", "--seed", "1", "--threads", "1",
                "--quiet", *flags)
        assert r.exit_code == 0, r.output
    return tmp


def _what_changed(page: str) -> str:
    start = page.index("<h2>What changed</h2>")
    return page[start:page.index("<h2>", start + 1)]


def test_report_of_a_lineage_pair_has_what_changed(lineage, tmp_path):
    from w2v_nce.artifact.model import Model
    from w2v_nce.evaluation.compare import compare, load_vectors

    out = tmp_path / "r.html"
    r = run("report", lineage / "old", lineage / "new", "-o", out)
    assert r.exit_code == 0, r.output
    assert "r-drift.png" in r.output and (tmp_path / "r-drift.png").read_bytes().startswith(b"\x89PNG")
    section = _what_changed(out.read_text("utf-8"))
    assert "<th>old → new</th>" in section and '<figure id="chart-drift">' in section
    expected = compare(load_vectors(str(lineage / "old")), load_vectors(str(lineage / "new")), evaluate=False)
    assert f"<td>mean drift</td><td>{expected['drift']['mean']:.4f}</td>" in section
    assert expected["drift"]["mean"] > 0.01  # training on b moved the old words
    old, new = (set(Model.load(str(lineage / n)).words) for n in ("old", "new"))
    assert new - old == {"c1", "c2", "c3"}
    assert re.search(r"<td>words gained</td><td>3: c1 c\d c\d</td>", section)
    assert "<td>words lost</td><td>0: </td>" in section
    assert "<td>analogy accuracy</td><td>—</td>" in section  # no question answered on the tiny corpus


def test_score_changes_from_two_runs_metrics():
    def metrics(accuracy, ws):
        return {"analogy": {"accuracy": accuracy}, "similarity": {"wordsim353_combined": {"spearman": ws},
                                                                 "rw": {"spearman": 0.2}}}

    old, new = metrics(0.25, 0.41), metrics(0.3, 0.455)
    del new["similarity"]["rw"]  # a set only one run has: no row
    assert R.score_changes(old, new) == [("analogy accuracy", "25.0% → 30.0% (+5.0 pt)"),
                                         ("wordsim353_combined Spearman", "0.4100 → 0.4550 (+0.0450)")]
    assert R.score_changes(metrics(None, 0.4), metrics(0.1, None)) == [("analogy accuracy", "—"),
                                                                        ("wordsim353_combined Spearman", "—"),
                                                                        ("rw Spearman", "0.2000 → 0.2000 (+0.0000)")]


def test_a_moved_run_is_matched_by_its_model_hash_and_unrelated_runs_get_no_section(lineage, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(lineage / "old", moved)  # metrics.json's init.path no longer names it
    out = tmp_path / "r.html"
    assert run("report", moved, lineage / "new", "-o", out).exit_code == 0
    assert "<th>moved → new</th>" in _what_changed(out.read_text("utf-8"))
    for pair in ((lineage / "old", lineage / "other"), (lineage / "new", lineage / "other")):
        out = tmp_path / "u.html"
        r = run("report", *pair, "-o", out)
        assert r.exit_code == 0, r.output
        assert "What changed" not in out.read_text("utf-8") and not (tmp_path / "u-drift.png").exists()


def test_drift_by_frequency_bins_counts_on_a_log_scale():
    rows = R.drift_by_frequency(np.array([1, 2, 200, 300, 10_000]), np.array([0.5, 0.3, 0.1, 0.2, 0.01]), bins=2)
    assert [(round(x), n) for x, _, _, _, n in rows] == [(10, 2), (1000, 3)]  # edges 1, 100, 10,000
    assert rows[0][2] == pytest.approx(0.4) and rows[1][2] == pytest.approx(0.1)  # the medians
    assert rows[1][1] == pytest.approx(0.028) and rows[1][3] == pytest.approx(0.18)  # p10, p90 of 0.01, 0.1, 0.2


@pytest.mark.parametrize("name,text", [("metrics.json", "[" * 100_000 + "]" * 100_000),
                                       ("config.yaml", "a: " + "[" * 5_000 + "]" * 5_000),
                                       ("train.jsonl", "[" * 100_000 + "]" * 100_000 + "\n{}\n")])
def test_files_nested_too_deeply_are_one_line_not_a_recursion_error(tmp_path, name, text):
    run_dir = make_run(tmp_path / "deep")
    with open(run_dir / name, "a" if name == "train.jsonl" else "w") as fh:
        fh.write(text)
    result = run("report", run_dir, "-o", tmp_path / "r.html")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert name in result.output and "Traceback" not in result.output


def test_a_run_directory_named_with_undecodable_bytes_is_charted():
    """A name from argv with bytes that are not UTF-8 (surrogate escapes) is shown with U+FFFD:
    matplotlib's fonts and the page take no surrogates (it was a FT2Font traceback)."""
    assert R.chart_names(["/tmp/o\udcff", "/tmp/p"]) == ["o\ufffd", "p"]


def test_report_on_a_directory_with_undecodable_bytes_writes_its_page(tmp_path):
    run_dir = make_run(tmp_path / os.fsdecode(b"R\xff"))
    result = run("report", run_dir, "-o", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    assert "R?" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_report_will_not_write_over_a_file_it_reads(tmp_path):
    run_dir = make_run(tmp_path / "run")
    before = (run_dir / "metrics.json").read_bytes()
    result = run("report", run_dir, "-o", run_dir / "metrics.json")
    assert result.exit_code == 1 and "is also an input" in result.output
    assert (run_dir / "metrics.json").read_bytes() == before
