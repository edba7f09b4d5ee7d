"""No serial stage: parallel counting, per-worker reading, and `train --vocab`, as ratios in one run.

    python scripts/bench_parallel.py                       # 1 vs 2 threads (this machine's 2 cores)
    python scripts/bench_parallel.py --threads 1,2,4,8,16  # the curve on a bigger machine
    python scripts/bench_parallel.py --quality             # + analogy at equal epochs vs the single-reader order
    python scripts/bench_parallel.py --only quality --old-tree TREE   # that, on mix8 and en-mix only
    python scripts/bench_parallel.py --only count          # section 1 alone

1. Counting: ``vocab.count_words`` with 1 and T threads on en-mix.txt.gz and mix8.gz, each
   decompressed to a plain temp file (compressed files cannot be cut), alternating the order
   each round, medians; the vocabularies (every word, count and id) must be identical.
2. Reading against training: the reader's capacity with T readers (each thread encodes its
   own part, ``pairs.id_chunks(split=...)``, in-vocab words/s over all of them) beside the
   trainer's consumption with T workers (``Trainer.run(budget_words=...)``, word2vec.yaml).
3. ``train --vocab`` on mix8 (word2vec.yaml, 1 epoch, --threads 1, a seed): the whole job
   (child process) counting vs reading ``w2v-nce vocab``'s file; the vectors must be the same bytes.
4. ``--quality``: 1 epoch of mix8 with word2vec.yaml and 2 threads, each worker reading its own
   part (this tree) vs one reader feeding both workers (``--old-tree``, e.g. a checkout of
   7aac7ff): analogy accuracy, which should agree within 0.5 point.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import benchlib as B  # noqa: E402

from w2v_nce.config import Config, load_yaml, merge  # noqa: E402
from w2v_nce.stream import id_chunks  # noqa: E402
from w2v_nce.text.corpus import Corpus  # noqa: E402
from w2v_nce.text.splits import make_splits  # noqa: E402
from w2v_nce.train import Trainer  # noqa: E402
from w2v_nce.vocabulary.count import count_words
from w2v_nce.vocabulary.vocab import Vocab, build_vocab

W2V_YAML = os.path.join(B.REPO, "configs", "word2vec.yaml")


def plain_copy(src: str, tmp: str) -> str:
    dst = os.path.join(tmp, os.path.basename(src).removesuffix(".gz").removesuffix(".txt") + ".txt")
    if not os.path.exists(dst):
        with gzip.open(src, "rb") as fin, open(dst + ".tmp", "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 22)
        os.replace(dst + ".tmp", dst)
    return dst


def _table(res) -> tuple[list[bytes], list[int]]:
    c = res.counter
    return [c.word(i) for i in range(c.distinct)], c.counts[:c.distinct].tolist()


def gil_free_share(path: str) -> float:
    """Share of one counting thread's CPU time spent in the nogil Numba counter (the reading and
    the per-block Python around it count as holding the GIL, though file reads release it): the
    part that T threads can run at once, whatever else the machine is doing."""
    import w2v_nce.vocabulary.counter as V

    kernel = V.count_tokens
    inside = [0.0]

    def timed(*a):
        t = time.thread_time()
        try:
            return kernel(*a)
        finally:
            inside[0] += time.thread_time() - t

    V.count_tokens = timed
    try:
        t = time.thread_time()
        count_words(Corpus([path]))
        return inside[0] / (time.thread_time() - t)
    finally:
        V.count_tokens = kernel


def bench_counting(path: str, threads: list[int], rounds: int) -> None:
    corpus = Corpus([path])
    count_words(corpus, threads=max(threads))  # compiled code and page cache warm
    times: dict[int, list[float]] = {n: [] for n in threads}
    tables = {}
    for r in range(rounds):
        for n in (threads if r % 2 == 0 else threads[::-1]):
            t = time.perf_counter()
            res = count_words(corpus, threads=n)
            times[n].append(time.perf_counter() - t)
            tables[n] = res
    ref = tables[threads[0]]
    base = statistics.median(times[threads[0]])
    print(f"\ncounting {os.path.basename(path)} ({os.path.getsize(path) / 1e6:.0f} MB, {ref.tokens:,} tokens, "
          f"{ref.distinct:,} distinct), median of {rounds}")
    share = gil_free_share(path)
    print(f"  GIL-free share of a counting thread's CPU time: {100 * share:.1f}% (Amdahl bound for 2 threads: "
          f"{1 / (1 - share + share / 2):.2f}x)")
    for n in threads:
        same = _table(tables[n]) == _table(ref) and tables[n].tokens == ref.tokens
        v, w = Vocab.build(tables[n].counter, 5), Vocab.build(ref.counter, 5)
        same = same and v.words == w.words and v.counts.tolist() == w.counts.tolist()
        med = statistics.median(times[n])
        print(f"  {n:2d} thread(s): {med:6.2f} s  {ref.tokens / med / 1e6:6.2f}M tokens/s  {base / med:5.2f}x  "
              f"vocabulary identical: {same}")


def reader_rate(corpus: Corpus, vocab: Vocab, n: int, budget: int) -> float:
    """In-vocab words/s of n readers, each encoding its own part (budget / n words each)."""
    splits = make_splits(corpus, n)
    words = [0] * n

    def read(t: int) -> None:
        for chunk in id_chunks(corpus, vocab, Config().max_sentence_len, split=splits[t]):
            words[t] += chunk.words
            if words[t] >= budget // n:
                return

    workers = [threading.Thread(target=read, args=(t,)) for t in range(n)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(words) / (time.perf_counter() - t0)


def trainer_rate(cfg: Config, corpus: Corpus, vocab: Vocab, budget: int) -> float:
    trainer = Trainer(cfg, corpus, vocab)
    t0 = time.perf_counter()
    span = trainer.run(budget_words=budget)
    return span.tallies.words / (time.perf_counter() - t0)


def bench_reading(path: str, threads: list[int], budget: int, rounds: int) -> None:
    corpus = Corpus([path])
    vocab, _ = build_vocab(corpus, 5)
    base = merge(Config(), load_yaml(W2V_YAML), W2V_YAML)
    trainer_rate(merge(base, {"threads": 1, "epochs": 1}, "bench"), corpus, vocab, 200_000)  # compile
    reader_rate(corpus, vocab, 1, budget)
    rr: dict[int, list[float]] = {n: [] for n in threads}
    tr: dict[int, list[float]] = {n: [] for n in threads}
    for r in range(rounds):
        for n in (threads if r % 2 == 0 else threads[::-1]):
            rr[n].append(reader_rate(corpus, vocab, n, budget))
            tr[n].append(trainer_rate(merge(base, {"threads": n, "epochs": 1}, "bench"), corpus, vocab, budget))
    print(f"\nreading vs training on {os.path.basename(path)} ({budget:,} words a run, word2vec.yaml, median of {rounds})")
    for n in threads:
        a, b = statistics.median(rr[n]), statistics.median(tr[n])
        print(f"  {n:2d} reader(s): {a / 1e6:6.2f}M words/s   {n:2d} worker(s) train: {b / 1e3:7.0f}k words/s   "
              f"readers / trainer: {a / b:5.1f}x")


def bench_train_vocab(path: str, tmp: str) -> None:
    env = {"PYTHONPATH": B.REPO}
    common = ["-c", W2V_YAML, "--epochs", "1", "--threads", "1", "--seed", "1"]
    vfile = os.path.join(tmp, "mix8-vocab.tsv")
    made = B.run_child("vocab", [sys.executable, "-m", "w2v_nce.cli", "vocab", path, "-o", vfile, "--force",
                                 "--min-count", "1", "--threads", "2"], env)
    counted = B.run_child("counted", B.w2v_argv(path, os.path.join(tmp, "counted"), None, common), env)
    given = B.run_child("given", B.w2v_argv(path, os.path.join(tmp, "given"), None, common + ["--vocab", vfile]), env)
    same = all(open(os.path.join(tmp, d, "vectors.txt"), "rb").read() ==
               open(os.path.join(tmp, "counted", "vectors.txt"), "rb").read() for d in ("given",))
    print(f"\ntrain --vocab on {os.path.basename(path)} (word2vec.yaml, 1 epoch, --threads 1, seed 1), whole job:")
    print(f"  w2v-nce vocab (--threads 2, --min-count 1): {made.wall:6.1f} s")
    print(f"  train, counting:                            {counted.wall:6.1f} s")
    print(f"  train --vocab:                              {given.wall:6.1f} s  ({counted.wall - given.wall:+.1f} s)")
    print(f"  vectors.txt identical: {same}")


def bench_quality(path: str, tmp: str, old_tree: str | None) -> None:
    common = ["-c", W2V_YAML, "--epochs", "1", "--threads", "2", "--seed", "1"]
    rows = [("each worker its own part", B.REPO)] + ([("one reader for both workers", old_tree)] if old_tree else [])
    print(f"\nquality at equal epochs on {os.path.basename(path)} (word2vec.yaml, 1 epoch, 2 threads):")
    for name, tree in rows:
        out = os.path.join(tmp, "q-" + name.split()[0] + "-" + os.path.basename(path))
        argv = B.w2v_argv(path, out, None, common)
        argv.insert(1, "-P")  # no cwd on sys.path: PYTHONPATH picks the tree
        run = B.run_child(name, argv, {"PYTHONPATH": tree})
        s = B.score_vectors(os.path.join(out, "vectors.txt"))
        print(f"  {name:28}: analogy {100 * s['analogy']:5.2f}%  ws353 {s['ws353']:.3f}  simlex {s['simlex']:.3f}  "
              f"({run.wall:.0f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--words", type=int, default=4_000_000, help="in-vocab words per reading/training run")
    ap.add_argument("--tmp", help="where the plain copies go (default: a temp dir, removed at the end)")
    ap.add_argument("--only", choices=["count", "quality"],
                    help="run only this section (count: 1. counting; quality: 4. on mix8 and en-mix)")
    ap.add_argument("--quality", action="store_true")
    ap.add_argument("--old-tree", help="a checkout whose trainer has one reader (for --quality)")
    args = ap.parse_args()
    threads = [int(x) for x in args.threads.split(",")]
    tmp = args.tmp or tempfile.mkdtemp(prefix="bench-parallel-")
    os.makedirs(tmp, exist_ok=True)
    try:
        print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start")
        mix8 = plain_copy(os.path.join(B.SHARED, "mix8.gz"), tmp)
        if args.only == "quality":
            for src in ("mix8.gz", "en-mix.txt.gz"):
                bench_quality(plain_copy(os.path.join(B.SHARED, src), tmp), tmp, args.old_tree)
            return
        for src in ("en-mix.txt.gz", "mix8.gz"):
            bench_counting(plain_copy(os.path.join(B.SHARED, src), tmp), threads, args.rounds)
        if args.only != "count":
            bench_reading(mix8, threads, args.words, args.rounds)
            bench_train_vocab(mix8, tmp)
        if args.quality and not args.only:
            bench_quality(mix8, tmp, args.old_tree)
        print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    finally:
        if not args.tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
