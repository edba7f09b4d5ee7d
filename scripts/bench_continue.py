"""Issue 30's acceptance: continued training (``--init``) on en-mix cut into halves A and B.

    python scripts/bench_continue.py --max-lines 20000 --seeds 1,2       # a quick check of the script
    python scripts/bench_continue.py --seeds 1,2,3 > /tmp/bench_continue.out

en-mix is cut in corpus order into two halves of (about) equal bytes, A and B; the last
``--heldout-fraction`` of each half's lines is held out (heldout_A, heldout_B: never trained on).
The files go to a temporary directory (``--workdir``), never into the checkout. For every seed,
whole ``w2v-nce train`` jobs (default settings, ``--epochs``, ``--threads``):
  A        A alone
  B        B alone
  A>B      B continued from A's run (``--init runA``), at ``--alpha`` times each of ``--alphas``
  A+B      A then B from scratch (one run over both files)
With ``--replay R1,R2,...`` each continued run is also made with ``w2v-nce train --replay R`` (named
"A>B a=F r=R"): it reads B and a share R of A's lines every epoch (rehearsal, what a continued
run costs to keep more of A); R = 0 is the run without it.
Each is scored on the bundled sets (its metrics.json: analogy accuracy on questions-words.txt,
30k most frequent, and WordSim-353 Spearman), by the full sigmoid loss on heldout_A (what is kept
of A) and heldout_B (what is learned of B) with the run's own vocabulary (the first
``--max-pairs`` pairs), and by the job's wall time. ``w2v-nce compare`` of: A with A of the next
seed (same text, other seed), A with A>B (each alpha), A with B alone: mean drift and overlap@10.
The tables give means over the seeds.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

DIVERGED_LOSS = 50.0  # a run's mean training loss above this (NCE's is ~4) is a divergence, even if finite


def table_line(line: bytes) -> bool:
    """A line of at least 1,000 tokens, more than half of them one token: en-mix's box-drawing
    tables (4 lines of a Gutenberg book, thousands of '│' each), on which nce diverges at the
    lr of a run's first half (issue 30's report)."""
    if line.count(b" ") < 1000:
        return False
    tokens = line.split()
    return 2 * collections.Counter(tokens).most_common(1)[0][1] > len(tokens)


def cut_halves(src: str, work: str, max_lines: int, heldout_fraction: float, drop_tables: bool) -> dict[str, str]:
    """A, heldout_A, B, heldout_B as files in ``work``: ``src``'s first ``max_lines`` lines (0: all)
    cut in corpus order where half of their bytes is reached; each half's last lines held out;
    with ``drop_tables``, ``table_line``s left out (their line numbers: the "dropped" file)."""
    tag = f"{os.path.basename(src)}.{os.path.getsize(src)}.{max_lines}.{heldout_fraction:g}.{int(drop_tables)}"
    files = {k: os.path.join(work, f"{tag}.{k}.txt") for k in ("A", "heldout_A", "B", "heldout_B", "dropped")}
    if all(os.path.exists(f) for f in files.values()):
        return files
    opener = gzip.open if src.endswith(".gz") else open
    with opener(src, "rb") as fh:
        lines = [(len(line), drop_tables and table_line(line)) for _, line in zip(range(max_lines or sys.maxsize), fh)]
    dropped = {i for i, (_, bad) in enumerate(lines) if bad}
    with open(files["dropped"], "w") as fh:
        fh.write("".join(f"{i + 1}\n" for i in sorted(dropped)))
    sizes = [0 if bad else n for n, bad in lines]
    total, acc, half = sum(sizes), 0, len(sizes)
    for i, n in enumerate(sizes):
        acc += n
        if acc * 2 >= total:
            half = i + 1
            break
    bounds = {}
    for name, lo, hi in (("A", 0, half), ("B", half, len(sizes))):
        held = max(1, round((hi - lo) * heldout_fraction))
        bounds[name], bounds[f"heldout_{name}"] = (lo, hi - held), (hi - held, hi)
    outs = {k: open(files[k] + ".tmp", "wb") for k in bounds}
    order = sorted(bounds, key=lambda k: bounds[k][0])
    with opener(src, "rb") as fh:
        for key in order:
            lo, hi = bounds[key]
            for i in range(lo, hi):
                line = fh.readline()
                if i not in dropped:
                    outs[key].write(line)
    for k, out in outs.items():
        out.close()
        os.replace(files[k] + ".tmp", files[k])
    return files


def continued(alphas: list[float], replays: list[float]) -> list[tuple[str, float, float]]:
    """The continued runs: (name, alpha factor, replay share) for every pair."""
    return [(f"A>B a={f:g}" + (f" r={r:g}" if r else ""), f, r) for f in alphas for r in replays]


def train(name: str, corpora: list[str], out: str, seed: int, args, extra: list[str]) -> dict | None:
    """One whole training job: its wall time, training loss and bundled scores (metrics.json);
    None when it diverged (a non-finite loss stops a run with exit status 1)."""
    argv = B.w2v_argv(corpora[0], out, None, corpora[1:] + ["--epochs", str(args.epochs), "--threads",
                                                           str(args.threads), "--seed", str(seed)] + extra)
    try:
        run = B.run_child(name, argv)
    except SystemExit as exc:
        print(f"seed {seed} {name}: {exc}", flush=True)
        return None
    with open(os.path.join(out, "metrics.json")) as fh:
        m = json.load(fh)
    return {"wall": run.wall, "train_loss": m["train_loss"], "analogy": m["analogy"]["accuracy"],
            "ws353": m["similarity"]["wordsim353_combined"]["spearman"]}


def heldout_losses(out: str, files: dict[str, str], max_pairs: int, threads: int) -> dict:
    """Full sigmoid loss of the run's model on heldout_A and heldout_B (``eval --heldout``'s code)."""
    from w2v_nce.artifact.model import Model
    from w2v_nce.evaluation.command import heldout_report

    model = Model.load(out)
    res = {"vocab": len(model.words)}
    for key in ("heldout_A", "heldout_B"):
        r = heldout_report(model, [files[key]], max_pairs, None, threads)
        res[key] = r["full_sigmoid"]["mean"]
    return res


def compare(a: str, b: str, work: str) -> dict:
    """``w2v-nce compare A B --no-eval --json``: mean drift, overlap@10."""
    path = os.path.join(work, "compare.json")
    B.run_child("compare", [sys.executable, "-m", "w2v_nce.cli", "compare", a, b, "--no-eval", "--json", path])
    with open(path) as fh:
        r = json.load(fh)
    return {"drift": r["drift"]["mean"], "median": r["drift"]["median"], "overlap": r["overlap"]["mean"],
            "shared": r["shared"]}


def stamp(args, corpus_note: str) -> str:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=B.REPO, capture_output=True, text=True).stdout.strip()

    dirty = " (w2v_nce/ differs from it)" if git("status", "--porcelain", "--", "w2v_nce") else ""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return (f"{datetime.date.today().isoformat()}, commit {git('rev-parse', '--short', 'HEAD')}{dirty}, "
            f"{os.cpu_count()} cores ({cpu}); {corpus_note}; {args.epochs} epoch(s), {args.threads} threads, "
            f"seeds {args.seeds}, held-out pairs {args.max_pairs:,}")


def mean(rows: list[dict], key: str) -> float:
    return statistics.mean(r[key] for r in rows)


def spread(rows: list[dict], key: str, fmt: str) -> str:
    xs = [r[key] for r in rows]
    return format(statistics.mean(xs), fmt) + (f" ({min(xs):{fmt}}–{max(xs):{fmt}})" if len(xs) > 1 else "")


def run_dir(args, name: str, seed: int) -> str:
    return os.path.join(args.workdir, f"run_{name.replace(' ', '_').replace('>', 'to')}_{seed}")


def diverged(r: dict | None) -> bool:
    return r is None or not r["train_loss"] < DIVERGED_LOSS


def train_all(args, files: dict[str, str], seeds: list[int], runs_b: list, alpha0: float) -> dict:
    """Every training job: {model: [per-seed result]}; a diverged run is {"diverged": True} (a
    seed whose A diverged has no continued runs)."""
    runs: dict[str, list[dict]] = {}
    for i, seed in enumerate(seeds):
        jobs = [("A", [files["A"]], []), ("B", [files["B"]], [])]
        # --init-lr-scale 1: the lr is exactly alpha0 x f (the default scale, 0.5, was chosen from these runs)
        jobs += [(name, [files["B"]], ["--init", run_dir(args, "A", seed), "--alpha", repr(alpha0 * f),
                                       "--init-lr-scale", "1"] + (["--replay", repr(r)] if r else []))
                 for name, f, r in runs_b]
        jobs += [("A+B", [files["A"], files["B"]], [])]
        if i % 2:  # alternate the order of the independent jobs (A first: the continued runs need it)
            jobs = jobs[:1] + jobs[1:][::-1]
        for name, corpora, extra in jobs:
            if "--init" in extra and runs["A"][-1].get("diverged"):
                continue
            out = run_dir(args, name, seed)
            r = train(name, corpora, out, seed, args, extra)
            if diverged(r):
                runs.setdefault(name, []).append({"diverged": True, "seed": seed})
                print(f"seed {seed} {name:12} DIVERGED (training loss {r and r['train_loss']})", flush=True)
                continue
            r.update(heldout_losses(out, files, args.max_pairs, args.threads), seed=seed)
            runs.setdefault(name, []).append(r)
            print(f"seed {seed} {name:12} {r['wall']:6.1f} s  analogy {r['analogy']:.4f}  WS353 {r['ws353']:.3f}  "
                  f"heldout_A {r['heldout_A']:.4f}  heldout_B {r['heldout_B']:.4f}  V {r['vocab']:,}", flush=True)
    return runs


def compare_all(args, seeds: list[int], runs_b: list, runs: dict) -> dict:
    """``compare`` of A with the next seed's A, with A>B (each alpha), with B alone: {pair: [per seed]}
    (pairs with a diverged run left out)."""
    ok = {(name, r["seed"]) for name, rows in runs.items() for r in rows if not r.get("diverged")}
    pairs: dict[str, list[dict]] = {}
    for i, seed in enumerate(seeds):
        todo = [("A vs A (next seed)", "A", seeds[i + 1])] if i + 1 < len(seeds) else []
        todo += [(f"A vs {name}", name, seed) for name, _, _ in runs_b] + [("A vs B alone", "B", seed)]
        for name, other, other_seed in todo:
            if ("A", seed) not in ok or (other, other_seed) not in ok:
                continue
            c = compare(run_dir(args, "A", seed), run_dir(args, other, other_seed), args.workdir)
            pairs.setdefault(name, []).append(c)
            print(f"seed {seed} compare {name:22} drift {c['drift']:.4f}  overlap@10 {c['overlap']:.3f}", flush=True)
    return pairs


def print_tables(runs: dict, pairs: dict) -> None:
    """Means over the seeds (runs that diverged left out of them, and counted)."""
    print("| model | wall s | analogy | WS353 | held-out loss A | held-out loss B | vocabulary | diverged |")
    print("|---|---|---|---|---|---|---|---|")
    for name, all_rows in runs.items():
        rows = [r for r in all_rows if not r.get("diverged")]
        n = f"{len(all_rows) - len(rows)} of {len(all_rows)}"
        if not rows:
            print(f"| {name} | — | — | — | — | — | — | {n} |")
            continue
        print(f"| {name} | {mean(rows, 'wall'):.1f} | {spread(rows, 'analogy', '.4f')} | {mean(rows, 'ws353'):.3f} | "
              f"{mean(rows, 'heldout_A'):.4f} | {mean(rows, 'heldout_B'):.4f} | {mean(rows, 'vocab'):,.0f} | {n} |")
    print("\n| compare | mean drift | median drift | overlap@10 | shared words | pairs |")
    print("|---|---|---|---|---|---|")
    for name, rows in pairs.items():
        print(f"| {name} | {spread(rows, 'drift', '.4f')} | {mean(rows, 'median'):.4f} | "
              f"{spread(rows, 'overlap', '.3f')} | {mean(rows, 'shared'):,.0f} | {len(rows)} |")


def warm_up(args, files: dict[str, str]) -> None:
    """One small job first (Numba's compile and cache), so that no measured job pays for it."""
    out = os.path.join(args.workdir, "warmup")
    B.run_child("warm-up", B.w2v_argv(files["heldout_A"], out, None, ["--epochs", "1", "--threads",
                                                                      str(args.threads), "--min-count", "1"]))
    B.run_child("warm-up", B.w2v_argv(files["heldout_B"], out + "2", None, ["--epochs", "1", "--threads",
                                                                            str(args.threads), "--min-count", "1",
                                                                            "--init", out, "--replay", "0.5"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(B.SHARED, "en-mix.txt.gz"))
    ap.add_argument("--max-lines", type=int, default=0, help="use the corpus's first N lines only (0: all)")
    ap.add_argument("--heldout-fraction", type=float, default=0.01, help="each half's last lines held out")
    ap.add_argument("--keep-tables", action="store_true", help="do not drop box-drawing table lines (table_line)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--alphas", default="1,0.5,0.25", help="continued runs' --alpha as multiples of the default")
    ap.add_argument("--replay", default="0",
                    help="continued runs with train --replay R for each R of this list (0: without)")
    ap.add_argument("--max-pairs", type=int, default=8192, help="held-out pairs scored per file")
    ap.add_argument("--workdir", default=None, help="where the halves and runs go [a new temporary directory]")
    args = ap.parse_args()
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="bench_continue_")
    if os.path.abspath(args.workdir).startswith(B.REPO + os.sep):
        raise SystemExit("--workdir must be outside the checkout")
    os.makedirs(args.workdir, exist_ok=True)
    sys.path.insert(0, B.REPO)
    from w2v_nce.config import Config

    alpha0 = Config().alpha
    seeds, alphas = [int(s) for s in args.seeds.split(",")], [float(x) for x in args.alphas.split(",")]
    runs_b = continued(alphas, [float(x) for x in args.replay.split(",")])
    files = cut_halves(args.corpus, args.workdir, args.max_lines, args.heldout_fraction, not args.keep_tables)
    with open(files.pop("dropped")) as fh:
        dropped = fh.read().split()
    sizes = {k: os.path.getsize(f) for k, f in files.items()}
    note = (f"{os.path.basename(args.corpus)}" + (f", first {args.max_lines:,} lines" if args.max_lines else ", all of it")
            + (f" less {len(dropped)} box-drawing table lines ({', '.join(dropped)})" if dropped else "")
            + ", halves A/B by bytes in corpus order: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sizes.items()))
    print(f"workdir {args.workdir}\n{note}", flush=True)
    warm_up(args, files)
    runs = train_all(args, files, seeds, runs_b, alpha0)
    pairs = compare_all(args, seeds, runs_b, runs)
    print(f"\n{stamp(args, note)}")
    print(f"`python scripts/bench_continue.py {' '.join(sys.argv[1:])}`; default alpha {alpha0:g}\n")
    print_tables(runs, pairs)
    with open(os.path.join(args.workdir, "bench_continue.json"), "w") as fh:
        json.dump({"runs": runs, "pairs": pairs, "stamp": stamp(args, note)}, fh, indent=2)


if __name__ == "__main__":
    main()
