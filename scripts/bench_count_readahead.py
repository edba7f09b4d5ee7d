"""Vocabulary counting time of one checkout with 2 threads, for A/B runs across commits.

    python scripts/bench_count_readahead.py TREE CORPUS...     # e.g. TREE = . or a git worktree

Imports w2v_nce from TREE, counts each corpus once to warm the caches, then three more times,
and prints the median. The README's read-ahead figure alternated this commit's tree with its
parent's (``git worktree add /tmp/pre <parent>``), twice each, on mix8.gz and en-mix.txt.gz:
a single .gz is one part, which since the read-ahead is decompressed on a second thread.
"""

from __future__ import annotations

import statistics
import sys
import time


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    tree = sys.argv[1]
    sys.path.insert(0, tree)
    from w2v_nce.text.corpus import Corpus
    from w2v_nce.vocabulary.count import count_words

    for path in sys.argv[2:]:
        corpus = Corpus([path])
        count_words(corpus, threads=2)  # warm: Numba's cache, the page cache
        times = []
        for _ in range(3):
            t = time.perf_counter()
            count_words(corpus, threads=2)
            times.append(time.perf_counter() - t)
        print(f"{tree} {path}: counted with 2 threads, median {statistics.median(times):.2f} s "
              f"({', '.join(f'{x:.2f}' for x in times)})", flush=True)


if __name__ == "__main__":
    main()
