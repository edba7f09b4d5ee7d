"""Training words/s of this checkout against another one (e.g. the previous commit), in one run.

    git worktree add /tmp/w2v-old HEAD~1
    python scripts/bench_compare.py --other /tmp/w2v-old --rounds 3

Each round runs ``scripts/bench_kernel.py --rounds 1`` of each checkout in its own process,
alternating which goes first, and parses its per-measurement words/s; the table shows the
medians and the ratio this/other per (loss, threads). Both processes see the same noise from
the machine's neighbours, which is why only the ratio is worth quoting.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINE = re.compile(r"round \d+ (\w+) (\d+) thread\(s\) prefetch (\d+): (\d+)k words/s")


def one_round(tree: str, args: argparse.Namespace) -> dict[tuple[str, int], float]:
    cmd = [sys.executable, os.path.join(tree, "scripts", "bench_kernel.py"), "--rounds", "1", "--words",
           str(args.words), "--threads", args.threads, "--losses", args.losses]
    if args.corpus:
        cmd += ["--corpus", args.corpus]
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=tree).stdout
    rates = {}
    for m in LINE.finditer(out):
        rates[(m.group(1), int(m.group(2)))] = float(m.group(4)) * 1e3
    if not rates:
        raise SystemExit(f"{tree}: bench_kernel printed no measurement:\n{out}")
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--other", required=True, help="path of the other checkout")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--words", type=int, default=3_000_000)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--losses", default="neg,nce")
    ap.add_argument("--corpus", default=None)
    args = ap.parse_args()
    trees = {"this": HERE, "other": os.path.abspath(args.other)}
    rates: dict[str, dict[tuple[str, int], list[float]]] = {"this": {}, "other": {}}
    for r in range(args.rounds):
        order = ["this", "other"] if r % 2 == 0 else ["other", "this"]
        for name in order:
            for key, v in one_round(trees[name], args).items():
                rates[name].setdefault(key, []).append(v)
                print(f"round {r + 1} {name:5} {key[0]} {key[1]} thread(s): {v / 1e3:.0f}k words/s", flush=True)
    print(f"\nmedians of {args.rounds} round(s), {args.words:,} words per measurement")
    print(f"{'loss':5} {'threads':>7} {'this':>9} {'other':>9} {'this/other':>10}")
    for key in sorted(rates["this"]):
        a, b = statistics.median(rates["this"][key]), statistics.median(rates["other"].get(key, [float("nan")]))
        print(f"{key[0]:5} {key[1]:7d} {a / 1e3:8.0f}k {b / 1e3:8.0f}k {a / b:10.3f}")


if __name__ == "__main__":
    main()
