"""Phrases against gensim 4.4's ``Phrases``: the same table, its speed, joining's cost, quality.

    python scripts/bench_phrases.py agree --corpora mix8,en-mix      # tables, speed, peak RSS vs gensim
    python scripts/bench_phrases.py join --rounds 5                  # joining on the fly vs a training epoch
    python scripts/bench_phrases.py quality --seeds 1,2,3 --epochs 3 # mix8 with and without phrases

``agree``: each corpus as one plain-text file of lines (mix8: lines of 10,000 tokens, what
gensim's ``Text8Corpus`` and ``LineSentence`` give it; en-mix: its own lines), read by both
tools. gensim (benchmark-only: pip install gensim==4.4.0) runs in a child process:
``Phrases(LineSentence(f), min_count, threshold, connector_words, max_vocab_size)`` and
``export_phrases()``; we run ``w2v-nce phrases --scoring gensim`` with the same settings and
``--threads 2`` (whole command, Numba's cached code included), then again under
``--count-memory`` to show a spilled count gives the same table. Compared: the phrase sets
(joined by ``_``), the largest relative score difference, wall time and peak RSS of each
process. Where gensim pruned its vocabulary (``min_reduce`` > 1) the phrases it lost are counted.

``join``: mix8's phrase table (word2vec scoring, threshold 100, word2phrase's defaults);
seconds to read mix8 plain and with the table joined (one thread, in this process), against
the train phase of a one-epoch run with 2 threads (metrics.json), with and without ``--phrases``.

``quality``: mix8, the default settings, 2 threads, with and without that table; analogy
(30k most frequent, case-insensitive), WS353 and SimLex-999 over seeds; then the neighbours
of a few phrases in the first seed's model.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

W2V = [sys.executable, "-m", "w2v_nce.cli"]
CORPORA = {"mix8": "mix8.gz", "en-mix": "en-mix.txt.gz", "sotu": "sotu.txt.gz"}
PHRASE_WORDS = ["new_york", "united_states", "prime_minister", "world_war", "los_angeles", "soviet_union"]


def plain_lines(name: str, workdir: str) -> str:
    """The corpus as one plain file: mix8 cut into lines of 10,000 tokens, en-mix as it is."""
    src = os.path.join(B.SHARED, CORPORA[name])
    if name == "mix8":
        return B.lines_of_tokens(src, B.lines_path(workdir, src, 10_000), per_line=10_000)
    dst = os.path.join(workdir, f"{name}.{os.path.getsize(src)}.txt")
    if not os.path.exists(dst):
        subprocess.run(f"gzip -dc {src} > {dst}.tmp && mv {dst}.tmp {dst}", shell=True, check=True)
    return dst


def gensim_child(path: str, out: str, min_count: int, threshold: float, connectors: str, max_vocab: int) -> None:
    """In the child: build gensim's Phrases, write its phrases and facts to ``out`` (JSON)."""
    from gensim.models.phrases import ENGLISH_CONNECTOR_WORDS, Phrases
    from gensim.models.word2vec import LineSentence

    conn = ENGLISH_CONNECTOR_WORDS if connectors == "english" else frozenset()
    t = time.perf_counter()
    model = Phrases(LineSentence(path, max_sentence_length=1 << 30), min_count=min_count, threshold=threshold,
                    connector_words=conn, max_vocab_size=max_vocab)
    found = model.export_phrases()
    seconds = time.perf_counter() - t
    with open(out, "w") as fh:
        json.dump({"phrases": found, "seconds": seconds, "min_reduce": model.min_reduce, "entries": len(model.vocab),
                   "words": model.corpus_word_count}, fh)


def agree(args, workdir: str) -> None:
    print("| corpus | connectors | ours phrases | gensim phrases | only ours | only gensim | max rel. score diff "
          "| ours s | gensim s | gensim / ours | ours RSS MB | gensim RSS MB | gensim pruned |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.corpora.split(","):
        path = plain_lines(name, workdir)
        for conn in args.connectors.split(","):
            table = os.path.join(workdir, f"{name}.{conn}.tsv")
            settings = ["--min-count", str(args.min_count), "--threshold", str(args.threshold), "--scoring", "gensim",
                        "--connectors", conn]
            ours = B.run_child("ours", W2V + ["phrases", path, "-o", table, "--threads", "2", "--force"] + settings)
            res = os.path.join(workdir, f"{name}.{conn}.gensim.json")
            peer = B.run_child("gensim", [sys.executable, __file__, "gensim-child", path, res, str(args.min_count),
                                          str(args.threshold), conn, str(args.max_vocab)])
            print(_agree_row(name, conn, table, res, ours, peer), flush=True)
            if args.spill_memory:
                _spill_check(path, table, settings, args.spill_memory, workdir)


def _agree_row(name: str, conn: str, table: str, res: str, ours: B.Run, peer: B.Run) -> str:
    sys.path.insert(0, B.REPO)
    from w2v_nce.phrases.table import PhraseTable

    t = PhraseTable.read(table)
    mine = {"_".join(p.tokens): p.score for p in t.phrases}
    with open(res) as fh:
        g = json.load(fh)
    theirs = g["phrases"]
    common = set(mine) & set(theirs)
    diff = max((abs(mine[k] - theirs[k]) / abs(theirs[k]) for k in common), default=0.0)
    # gensim 4.4 leaves min_reduce at 1 when it pruned its only vocabulary: its final size tells
    entries = t.passes[0]["entries"]
    pruned = (f"yes: {g['entries']:,} entries kept of {entries:,}" if g["entries"] < 0.999 * entries else "no")
    return (f"| {name} | {conn} | {len(mine):,} | {len(theirs):,} | {len(set(mine) - set(theirs)):,} | "
            f"{len(set(theirs) - set(mine)):,} | {diff:.1e} | {ours.wall:.1f} | {peer.wall:.1f} | "
            f"{peer.wall / ours.wall:.1f}x | {ours.peak_rss_mb:,.0f} | {peer.peak_rss_mb:,.0f} | {pruned} |")


def _spill_check(path: str, table: str, settings: list[str], memory: int, workdir: str) -> None:
    spilled = os.path.join(workdir, "spilled.tsv")
    run = B.run_child("ours-spill", W2V + ["phrases", path, "-o", spilled, "--threads", "2", "--force",
                                           "--count-memory", str(memory)] + settings)
    with open(table, "rb") as a, open(spilled, "rb") as b:
        same = a.read() == b.read()
    print(f"|   | --count-memory {memory >> 20} MiB: same table: {same}, {run.wall:.1f} s, peak RSS "
          f"{run.peak_rss_mb:,.0f} MB | | | | | | | | | | | |", flush=True)


def mix8_table(workdir: str, threshold: float = 100.0) -> str:
    """mix8's table with word2phrase's settings (word2vec scoring, min_count 5, ``threshold``)."""
    table = os.path.join(workdir, "mix8.word2phrase.tsv" if threshold == 100.0 else f"mix8.word2phrase.{threshold:g}.tsv")
    if not os.path.exists(table):
        B.run_child("table", W2V + ["phrases", os.path.join(B.SHARED, "mix8.gz"), "-o", table, "--threads", "2",
                                    "--threshold", str(threshold)])
    return table


def join(args, workdir: str) -> None:
    sys.path.insert(0, B.REPO)
    from w2v_nce.phrases.join import PhraseJoiner
    from w2v_nce.phrases.table import PhraseTable
    from w2v_nce.text.corpus import Corpus

    path = plain_lines("mix8", workdir)
    table = mix8_table(workdir)
    joiner = PhraseJoiner(PhraseTable.read(table))
    joiner(b"warm up the kernels\n")
    seconds: dict[str, list[float]] = {"plain": [], "joined": []}
    train: dict[str, list[float]] = {"plain": [], "phrases": []}
    for r in range(args.rounds):
        for label, transform in (("plain", None), ("joined", joiner))[:: 1 if r % 2 == 0 else -1]:
            t = time.perf_counter()
            for _ in Corpus([path], transform=transform).blocks():
                pass
            seconds[label].append(time.perf_counter() - t)
        for label, extra in (("plain", []), ("phrases", ["--phrases", table]))[:: 1 if r % 2 == 0 else -1]:
            out = os.path.join(workdir, f"join-{label}")
            run = B.run_child(label, W2V + ["train", path, "-o", out, "--force", "--epochs", "1", "--threads", "2",
                                            "--quiet"] + extra)
            train[label].append(B.job_phases(out, run.wall)["train"])
    read = {k: statistics.median(v) for k, v in seconds.items()}
    epoch = {k: statistics.median(v) for k, v in train.items()}
    cost = read["joined"] - read["plain"]
    print(f"medians of {args.rounds} rounds. Reading mix8: plain {read['plain']:.2f} s, joined {read['joined']:.2f} s "
          f"(one thread): joining costs {cost:.2f} s")
    print(f"one training epoch (train phase, 2 threads): plain {epoch['plain']:.1f} s, with --phrases "
          f"{epoch['phrases']:.1f} s ({epoch['phrases'] / epoch['plain'] - 1:+.1%}; rounds: "
          + ", ".join(f"{a / b - 1:+.0%}" for a, b in zip(train["phrases"], train["plain"])) + ")")
    print(f"joining / epoch: {cost / epoch['plain']:.1%} (all of joining counted, on one thread)")


def quality(args, workdir: str) -> None:
    corpus = os.path.join(B.SHARED, "mix8.gz")
    table = mix8_table(workdir, args.table_threshold)
    rows: dict[str, list[dict]] = {"plain": [], "phrases": []}
    contenders = (("plain", []), ("phrases", ["--phrases", table]))[1 if args.phrases_only else 0:]
    for seed in args.seeds.split(","):
        for label, extra in contenders:
            out = os.path.join(workdir, f"q-{label}-{seed}" + (f"-t{args.table_threshold:g}" if label == "phrases" else ""))
            B.run_child(label, W2V + ["train", corpus, "-o", out, "--force", "--epochs", str(args.epochs),
                                      "--threads", "2", "--seed", seed, "--quiet"] + extra)
            rows[label].append(B.score_vectors(os.path.join(out, "vectors.txt")))
            print(label, seed, rows[label][-1], flush=True)
    print("| model | analogy | WS353 | SimLex-999 |\n|---|---|---|---|")
    print(f"table: {table}")
    for label, scores in ((k, v) for k, v in rows.items() if v):
        cells = [f"{statistics.mean(s[k] for s in scores):.3f}" for k in ("analogy", "ws353", "simlex")]
        print(f"| {label} | " + " | ".join(cells) + " |")
    first = os.path.join(workdir, f"q-phrases-{args.seeds.split(',')[0]}-t{args.table_threshold:g}")
    for word in PHRASE_WORDS:
        r = subprocess.run(W2V + ["similar", first, word, "--topn", "5"], capture_output=True, text=True)
        print(f"{word}: " + (" ".join(r.stdout.split()) if r.returncode == 0 else r.stdout.strip() + r.stderr.strip()))


def stamp() -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=B.REPO)
    with open("/proc/cpuinfo") as fh:
        model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "?")
    return f"{time.strftime('%Y-%m-%d')}, commit {commit.stdout.strip()}, {model}, nproc {os.cpu_count()}"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "gensim-child":
        a = sys.argv[2:]
        gensim_child(a[0], a[1], int(a[2]), float(a[3]), a[4], int(a[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["agree", "join", "quality"])
    ap.add_argument("--corpora", default="mix8,en-mix")
    ap.add_argument("--connectors", default="none,english")
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--threshold", type=float, default=10.0, help="gensim scoring's threshold (its default)")
    ap.add_argument("--max-vocab", type=int, default=40_000_000, help="gensim's max_vocab_size (its default)")
    ap.add_argument("--spill-memory", type=int, default=256 << 20, help="--count-memory of the spill check (0: none)")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3, help="join: alternating rounds (medians)")
    ap.add_argument("--table-threshold", type=float, default=100.0, help="quality: the mix8 table's threshold")
    ap.add_argument("--phrases-only", action="store_true", help="quality: only the runs with phrases")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "w2v-bench-phrases"))
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    print(f"# bench_phrases {args.what}: {stamp()}")
    {"agree": agree, "join": join, "quality": quality}[args.what](args, args.workdir)


if __name__ == "__main__":
    main()
