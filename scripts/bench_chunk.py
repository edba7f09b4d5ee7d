"""One chunk through ``kernels.train_chunk`` of a given checkout, timed by CPU clock.

    python scripts/bench_chunk.py TREE {neg|nce} S [ARCH [PREFETCH]]   # e.g. TREE = this checkout or an older one

ARCH: sg (default) or cbow (records-era checkouts only); PREFETCH: params.prefetch_pairs (default 2).

A synthetic Zipfian chunk of 600k ids (V = 70k, D = 100, window 5, batch 32, S negatives),
word2vec.c's subsampling, the unigram^0.75 sampler; best of 5 runs by process CPU time, in
words per CPU-second. It calls ``train_chunk`` with either checkout's signature (the records of
``kernels.records`` or the older 39 positional arguments), so two checkouts can be compared
kernel to kernel, free of the reader, the threads and most of the machine's noise. Alternate
the checkouts a few times and compare medians.
"""
import sys
import time

import numpy as np

tree = sys.argv[1]; sys.path.insert(0, tree)
from w2v_nce import kernels as kern
from w2v_nce.sampling import (
    build_alias_table,
    fixed_unigram_probability,
    keep_probabilities,
    unigram_weights,
)

V, D, S, B, W = 70000, 100, int(sys.argv[3]), 32, 5
rng = np.random.default_rng(0)
counts = (1e6 / np.arange(1, V + 1)).astype(np.int64) + 5
p = counts / counts.sum()
ids = rng.choice(V, size=600_000, p=p).astype(np.int32)
ids[999::1000] = -1; ids[-1] = -1
keep = keep_probabilities(counts, 1e-3).astype(np.float32)
neg_p, neg_a = build_alias_table(unigram_weights(counts, 0.75))
prob = fixed_unigram_probability(np.arange(V), counts, 0.75).astype(np.float32)
loss = {"nce": kern.LOSS_NCE, "neg": kern.LOSS_NEG}[sys.argv[2]]
arch = {"sg": 0, "cbow": 1}[sys.argv[4] if len(sys.argv) > 4 else "sg"]
prefetch = int(sys.argv[5]) if len(sys.argv) > 5 else 2
w_in = ((rng.random((V, D), dtype=np.float32) - 0.5) / D); w_out = np.zeros((V, D), np.float32); bias = np.zeros(V, np.float32)
def run_new():
    vals = dict(loss_kind=loss, arch=arch, cbow_mean=True, cbow_exact=False, window=W, num_sampled=S, batch_size=B, remove_hits=False,
                unique=True, sampler_kind=kern.SAMPLER_UNIGRAM, alpha=0.025, min_alpha=0.0001, total_words=1e8, prefetch_pairs=prefetch)
    params = kern.Params(**{k: vals[k] for k in kern.Params._fields})
    tables = kern.make_tables(keep, prob, neg_p, neg_a, neg_p, neg_a, S)
    s = kern.make_scratch(V, D, params, 10000, np.array([1], np.uint64), np.zeros(16))
    kern.train_chunk(ids, 0.0, kern.Weights(w_in, w_out, bias), tables, params, s)
def run_old():
    rngs = np.array([1], np.uint64); t = np.zeros(16)
    kern.train_chunk(ids, w_in, w_out, bias, keep, loss, W, S, B, False, True, kern.SAMPLER_UNIGRAM, prob, neg_p, neg_a, neg_p, neg_a,
        0.025, 0.0001, 0.0, 1e8, 2, rngs, np.empty(10000, np.int32), np.empty(B, np.int32), np.empty(B, np.int32), np.zeros(B+1, np.int32),
        np.empty(S, np.int64), np.zeros(V, np.int64), np.zeros(V, np.int32), np.empty((B,S),np.float32), np.empty((B,S),np.float32),
        np.empty(B,np.float32), np.empty((B,D),np.float32), np.empty(S,np.float32), np.empty(B,np.float32), np.empty(D,np.float32), np.zeros(1,np.int64), t)
f = run_new if hasattr(kern, "Params") else run_old
f()
best = 1e9
for _ in range(5):
    t0 = time.process_time(); f(); best = min(best, time.process_time() - t0)
print(tree, *sys.argv[2:], f"{600000/best/1e3:.0f}k words per CPU-s")
