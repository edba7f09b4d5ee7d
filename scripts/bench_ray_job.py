"""The real-Ray acceptance run: K Ray actors x T threads against one process, whole job.

    python scripts/bench_ray_job.py                        # mix8, 1 epoch, K = 2 x 1 thread vs 2 threads
    python scripts/bench_ray_job.py --rounds 3 --epochs 5
    python scripts/bench_ray_job.py --config configs/default.yaml --flags=--subwords

mix8 is one .gz, which cannot be cut: every replica would read it all (before) or one replica
would (now). So both contenders train the same ``--split N`` plain part files of it, written
once by ``w2v-nce split`` (not timed). Round r trains with seed r + 1, so the medians are over
``--rounds`` seeds.

Each round runs ``w2v-nce train CORPUS -c configs/word2vec.yaml --ray local --replicas K
--threads T`` and the same job in one process with ``--threads K*T``, alternating which goes
first; the table shows medians of the whole-job wall time (the child process, Ray's start and
shutdown included), each job's phases (metrics.json "seconds"), the sync's share of the rounds'
time and bytes per round, and the quality of each job's vectors (benchlib.score_vectors).
Target (issue 27): Ray within 1.10x of the single process's time, analogy within 1 point.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(B.SHARED, "mix8.gz"))
    ap.add_argument("--config", default=os.path.join(B.REPO, "configs", "word2vec.yaml"))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="threads per replica")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir", default=os.path.join(B.REPO, "bench-out", "ray-job"))
    ap.add_argument("--split", type=int, default=4, help="train on this many parts of the corpus (0: as given)")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--flags", default="", help="extra flags for both jobs, e.g. '--subwords'")
    args = ap.parse_args()
    if args.split:
        args.corpus = _parts(args.corpus, args.split, args.workdir)

    common = ["--epochs", str(args.epochs), *args.flags.split()]
    plans = {
        "ray": B.w2v_argv(args.corpus, os.path.join(args.workdir, "ray"), args.config,
                          common + ["--ray", "local", "--replicas", str(args.replicas), "--threads", str(args.threads)]),
        "one process": B.w2v_argv(args.corpus, os.path.join(args.workdir, "single"), args.config,
                                  common + ["--threads", str(args.replicas * args.threads)]),
    }
    runs: dict[str, list[dict]] = {name: [] for name in plans}
    for r in range(args.rounds):
        for name in (list(plans) if r % 2 == 0 else list(plans)[::-1]):
            argv = plans[name] + ["--seed", str(r + 1)]
            out = argv[argv.index("-o") + 1]
            run = B.run_child(name, argv)
            with open(os.path.join(out, "metrics.json")) as fh:
                metrics = json.load(fh)
            phases = B.job_phases(out, run.wall)
            runs[name].append({"wall": run.wall, "rss_mb": run.peak_rss_mb, "phases": phases,
                               "distributed": metrics.get("distributed"), **B.score_vectors(os.path.join(out, "vectors.txt"))})
            print(f"round {r + 1} {name}: {run.wall:.1f} s  [{B.phases_line(phases, run.wall)}]", flush=True)

    print(f"\ncorpus {args.corpus}, {args.epochs} epoch(s), Ray K = {args.replicas} x {args.threads} thread(s) against "
          f"one process with {args.replicas * args.threads} threads, median of {args.rounds} round(s)")
    print(f"{'job':<12} {'wall s':>7} {'analogy':>8} {'WS353':>6}  phases (median s)")
    med = {}
    for name, rs in runs.items():
        med[name] = B.median([x["wall"] for x in rs])
        keys = rs[0]["phases"].keys()
        phases = " ".join(f"{k} {B.median([x['phases'].get(k, 0.0) for x in rs]):.2f}" for k in keys)
        print(f"{name:<12} {med[name]:7.1f} {B.median([x['analogy'] for x in rs]):8.4f} "
              f"{B.median([x['ws353'] for x in rs]):6.3f}  {phases}")
    d = [x["distributed"] for x in runs["ray"]]
    print(f"ray / one process: {med['ray'] / med['one process']:.2f}x (target <= 1.10x); analogy means "
          f"{sum(x['analogy'] for x in runs['ray']) / len(runs['ray']):.4f} against "
          f"{sum(x['analogy'] for x in runs['one process']) / len(runs['one process']):.4f}; sync "
          f"{B.median([x['sync_fraction'] for x in d]):.1%} of the rounds' time, "
          f"{B.median([x['sync_seconds_per_round'] for x in d]):.3f} s and "
          f"{B.median([x['bytes_per_round'] for x in d]) / 1e6:.1f} MB a round, {d[0]['rounds']} rounds")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(runs, fh, indent=1)


def _parts(corpus: str, n: int, workdir: str) -> str:
    """``corpus`` as ``n`` plain part files (``w2v-nce split``), made once in ``workdir``."""
    sys.path.insert(0, B.REPO)
    from w2v_nce.text.corpus import Corpus
    from w2v_nce.text.partition import split_corpus

    out = os.path.join(workdir, f"{os.path.basename(corpus).split('.')[0]}-{n}parts")
    if not os.path.isdir(out):
        os.makedirs(workdir, exist_ok=True)
        split_corpus(Corpus([corpus]), out, n)
    return out


if __name__ == "__main__":
    main()
