"""Training throughput of the library (no process start, vocabulary or output), by loss and
thread count, and the capacity of the serial stages that feed the kernels.

    python scripts/bench_kernel.py                          # mix8, first 5M words, neg+nce, 1 and 2 threads
    python scripts/bench_kernel.py --threads 1,2,4,8,16     # the scaling curve on a bigger machine
    python scripts/bench_kernel.py --words 0                # the whole corpus
    python scripts/bench_kernel.py --losses neg --threads 1 --prefetch 0,2   # SGNS row prefetch off vs on
    python scripts/bench_kernel.py --losses neg,negw        # SGNS per pair against --negatives window

Each measurement is ``Trainer.run(budget_words=N)`` from the start of the corpus on fresh
weights (``train.init_model``, as the job initialises them; the library's budget API),
in-process, one at a time, alternating the order of the contenders each round; the table shows medians. Words are in-vocabulary tokens read (the
lr clock), so words/s compares with word2vec.c's and gensim's figures.

Serial stages (one thread each, measured alone over the same words): the vocabulary count and
the reader (decompress + encode to ids, ``pairs.id_chunks``), which runs on one read-ahead
thread while training. ``reader / kernel-per-thread`` is how many training threads the
reader can keep busy: past that, more threads cannot help.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib as B  # noqa: E402

from w2v_nce.config import Config, load_yaml, merge  # noqa: E402
from w2v_nce.kernels import PREFETCH_PAIRS  # noqa: E402
from w2v_nce.stream import id_chunks  # noqa: E402
from w2v_nce.text.corpus import Corpus  # noqa: E402
from w2v_nce.train import Trainer  # noqa: E402
from w2v_nce.vocabulary.vocab import build_vocab

CONFIGS = {  # loss -> (preset, overrides): neg is word2vec.c's run, nce/ssm the README's NCE settings
    "neg": ("word2vec.yaml", {}),
    "negw": ("word2vec.yaml", {"negatives": "window"}),  # SGNS with one draw per window
    "nce": ("default.yaml", {}),
    "ssm": ("default.yaml", {"loss": "sampled_softmax"}),
}


def config_for(loss: str, threads: int, corpus: str) -> Config:
    preset, extra = CONFIGS[loss]
    cfg = merge(Config(), load_yaml(os.path.join(B.REPO, "configs", preset)), preset)
    return merge(cfg, {**extra, "epochs": 1, "threads": threads, "corpus": [corpus]}, "bench_kernel")


def train_once(cfg: Config, corpus: Corpus, vocab, budget: int | None, prefetch: int) -> tuple[float, float]:
    """(seconds, in-vocab words trained) for one budgeted span from the corpus start."""
    trainer = Trainer(cfg, corpus, vocab, prefetch_pairs=prefetch)  # init_model: the job's initialisation
    t = time.perf_counter()
    span = trainer.run(budget_words=budget)
    return time.perf_counter() - t, span.tallies.words


def reader_rate(corpus: Corpus, vocab, max_sentence_len: int, budget: int | None) -> float:
    """In-vocab words/s of the reader alone (decompress + encode), one thread."""
    t = time.perf_counter()
    words = 0
    for chunk in id_chunks(corpus, vocab, max_sentence_len):
        words += chunk.words
        if budget and words >= budget:
            break
    return words / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(B.SHARED, "mix8.gz"))
    ap.add_argument("--words", type=int, default=5_000_000, help="budget per measurement (0: whole corpus)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--losses", default="neg,nce")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prefetch", default=str(PREFETCH_PAIRS),
                    help="comma list of SGNS prefetch distances in pairs (0: none); results do not depend on it")
    args = ap.parse_args()
    budget = args.words or None
    threads = [int(x) for x in args.threads.split(",")]
    losses = args.losses.split(",")

    corpus = Corpus([args.corpus])
    t = time.perf_counter()
    vocab, counted = build_vocab(corpus, 5)
    count_s = time.perf_counter() - t
    print(f"vocabulary count: {counted.tokens / count_s / 1e6:.2f}M tokens/s, one thread ({count_s:.1f} s, "
          f"{counted.tokens:,} tokens, V = {len(vocab):,})", flush=True)
    max_len = Config().max_sentence_len
    reader_rate(corpus, vocab, max_len, budget)  # warm the encoder's compiled code and the page cache

    prefetches = [int(x) for x in args.prefetch.split(",")]
    plans = [(loss, n, pf) for loss in losses for n in threads for pf in (prefetches if loss in ("neg", "negw") else [0])]
    for loss in losses:  # compile (or load the cached kernels) outside the timed runs
        train_once(config_for(loss, 1, args.corpus), corpus, vocab, 200_000, prefetches[0])
    rates: dict[tuple[str, int, int], list[float]] = {p: [] for p in plans}
    reader: list[float] = []
    for r in range(args.rounds):
        order = plans if r % 2 == 0 else plans[::-1]
        for loss, n, pf in order:
            sec, words = train_once(config_for(loss, n, args.corpus), corpus, vocab, budget, pf)
            rates[(loss, n, pf)].append(words / sec)
            print(f"round {r + 1} {loss} {n} thread(s) prefetch {pf}: {words / sec / 1e3:.0f}k words/s", flush=True)
        reader.append(reader_rate(corpus, vocab, max_len, budget))

    read = statistics.median(reader)
    print(f"\n{args.corpus}, {budget or 'all'} words per run, median of {args.rounds} round(s)")
    print(f"reader (decompress + encode, 1 thread): {read / 1e6:.2f}M words/s")
    print(f"{'loss':6} {'prefetch':>8} {'threads':>7} {'words/s':>9} {f'vs {threads[0]} thread(s)':>14} "
          f"{'per thread':>10} {'reader feeds':>12}")
    for loss, first, pf in plans:
        if first != threads[0]:  # one block of rows per (loss, prefetch)
            continue
        base = statistics.median(rates[(loss, threads[0], pf)])
        for n in threads:
            med = statistics.median(rates[(loss, n, pf)])
            print(f"{loss:6} {pf if loss in ('neg', 'negw') else '-':>8} {n:7d} {med / 1e3:8.0f}k {med / base:13.2f}x "
                  f"{med / n / 1e3:9.0f}k {read / (med / n):9.1f} thr")


if __name__ == "__main__":
    main()
