"""Thread scaling: training words/s, each worker's serial share, and quality, by thread count.

    python scripts/bench_threads.py                                  # 1,2,4,8,16,32 threads, 30 MB of mix8
    python scripts/bench_threads.py --threads 1,2,4,8,16 --quality   # + whole jobs scored (a many-core machine)

Throughput: ``Trainer.run`` over the whole slice (one epoch, in-process, fresh weights as the
job makes them), for ``nce`` (defaults) and ``negw`` (``configs/word2vec-window.yaml``), the
thread counts in turn, alternating their order each round; medians. On a machine with fewer
cores than threads this is the oversubscription check: a serial stage or contention shows as
words/s falling below the rate at threads = cores.

Serial share (``Trainer.worker_seconds``, instrumented): of each worker's wall time, the part
inside kernel calls (no GIL), waiting for text in the dispatcher (its part's reader: parallel,
not serial), and the GIL held: the dispatcher's CPU time (Python), the worker's own Python
between calls, and each kernel call's fixed cost (measured alone). Amdahl's law with that
serial fraction s projects the speed-up at N threads as 1 / (s + (1 - s) / N) (an upper bound:
memory bandwidth is not in it).

``--quality``: the whole job (``w2v-nce train``, the same slice, --epochs, 2 seeds) at each
thread count, scored on the bundled analogy and WS353 sets: whether Hogwild with more threads
loses quality (finalfrontier's finding).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib as B  # noqa: E402
import numpy as np  # noqa: E402
from bench_kernel import config_for  # noqa: E402

from w2v_nce import kernels as kern  # noqa: E402
from w2v_nce.text.corpus import BLOCK_BYTES, Corpus  # noqa: E402
from w2v_nce.train import Trainer, build_tables, init_model, kernel_params  # noqa: E402
from w2v_nce.vocabulary.vocab import build_vocab  # noqa: E402


def measure(loss: str, threads: int, path: str, corpus: Corpus, vocab, overhead: float) -> dict:
    """One epoch of the slice: words/s and the workers' summed seconds: wall, kernel, dispatcher,
    and GIL held (dispatcher CPU + own Python + the kernel calls' fixed cost)."""
    trainer = Trainer(config_for(loss, threads, path), corpus, vocab)
    t = time.perf_counter()
    span = trainer.run()
    wall = time.perf_counter() - t
    secs = trainer.worker_seconds().sum(axis=0)
    trainer.close()
    calls = os.path.getsize(path) / BLOCK_BYTES + threads  # a chunk per block read, about
    own_python = max(secs[0] - secs[1] - secs[2], 0.0)
    return {"wps": span.tallies.words / wall, "wall": secs[0], "kernel": secs[1], "dispatch": secs[2] - secs[3],
            "gil": secs[3] + own_python + calls * overhead}


def call_overhead(path: str, vocab, calls: int = 5000) -> float:
    """Seconds of one kernel call that trains nothing, made as ``Trainer.train_chunk`` makes it:
    the records' construction and Numba's argument checks, under the GIL (inside a worker's
    kernel time)."""
    cfg = config_for("nce", 1, path)
    tables = build_tables(vocab.counts, cfg)
    m = init_model(cfg, vocab, tables)
    params = kernel_params(cfg, vocab.total)
    scratch = kern.make_scratch(len(vocab), cfg.dim, params, cfg.max_sentence_len, np.array([1], np.uint64),
                                np.zeros(kern.ROW_PAD))
    ids = np.zeros(0, np.int32)
    kern.train_chunk(ids, 0.0, kern.Weights(m.w_in, m.w_out, m.bias), tables, params, scratch)
    t = time.perf_counter()
    for _ in range(calls):
        kern.train_chunk(ids, 0.0, kern.Weights(m.w_in, m.w_out, m.bias), tables, params, scratch)
    return (time.perf_counter() - t) / calls


def amdahl(serial: float, n: int) -> float:
    return 1.0 / (serial + (1.0 - serial) / n)


def throughput(args, path: str) -> None:
    corpus = Corpus([path])
    vocab, _ = build_vocab(corpus, 5)
    counts = [int(x) for x in args.threads.split(",")]
    overhead = call_overhead(path, vocab)
    print(f"one kernel call's fixed cost (GIL held): {overhead * 1e6:.1f} us")
    for loss in args.losses.split(","):
        measure(loss, 1, path, corpus, vocab, overhead)  # load the kernels
        runs: dict[int, list[dict]] = {n: [] for n in counts}
        for r in range(args.rounds):
            for n in counts if r % 2 == 0 else counts[::-1]:
                runs[n].append(measure(loss, n, path, corpus, vocab, overhead))
        base = statistics.median(m["wps"] for m in runs[args.base])
        print(f"\n{loss}: {len(vocab):,} words, medians of {args.rounds} rounds")
        print(f"| threads | words/s | vs {args.base} threads | kernel % | waiting for text % | GIL held % |")
        print("|---|---|---|---|---|---|")
        for n in counts:
            med = {k: statistics.median(m[k] / m["wall"] for m in runs[n]) for k in ("kernel", "dispatch", "gil")}
            wps = statistics.median(m["wps"] for m in runs[n])
            print(f"| {n} | {wps:,.0f} | {wps / base:.2f}x | {med['kernel']:.2%} | {med['dispatch']:.2%} | "
                  f"{med['gil']:.3%} |")
        gil = statistics.median(m["gil"] / m["wall"] for m in runs[args.base])
        proj = ", ".join(f"{n}: {amdahl(gil, n):.1f}x" for n in (16, 32, 64))
        print(f"GIL held at {args.base} threads: {gil:.3%} of a worker's wall time; Amdahl bound {proj}")


def quality(args, path: str) -> None:
    print("\n| loss | threads | seed | wall s | analogy | WS353 |\n|---|---|---|---|---|---|")
    work = tempfile.mkdtemp(prefix="w2v-bench-threads-")
    for loss in args.losses.split(","):
        preset = "word2vec.yaml" if loss == "negw" else "default.yaml"
        extra = ["--negatives", "window"] if loss == "negw" else []
        for n in [int(x) for x in args.threads.split(",")]:
            for seed in ("1", "2"):
                out = os.path.join(work, f"{loss}-{n}-{seed}")
                run = B.run_child(loss, [sys.executable, "-m", "w2v_nce.cli", "train", path, "-c",
                                         os.path.join(B.REPO, "configs", preset), "-o", out, "--force", "--quiet",
                                         "--threads", str(n), "--seed", seed, "--epochs", str(args.epochs)] + extra)
                s = B.score_vectors(os.path.join(out, "vectors.txt"))
                print(f"| {loss} | {n} | {seed} | {run.wall:.1f} | {s['analogy']:.3f} | {s['ws353']:.3f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(B.SHARED, "mix8.gz"))
    ap.add_argument("--max-mb", type=int, default=30, help="slice of the corpus (MB of text)")
    ap.add_argument("--threads", default="1,2,4,8,16,32")
    ap.add_argument("--base", type=int, default=2, help="the thread count ratios are against (the cores)")
    ap.add_argument("--losses", default="nce,negw")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quality", action="store_true")
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=B.REPO)
    print(f"# bench_threads {time.strftime('%Y-%m-%d')}, commit {commit.stdout.strip()}, nproc {os.cpu_count()}")
    path = B.corpus_slice(args.corpus, os.path.join(tempfile.gettempdir(), f"w2v-threads-{args.max_mb}mb.txt"),
                          args.max_mb << 20)
    throughput(args, path)
    if args.quality:
        quality(args, path)


if __name__ == "__main__":
    main()
