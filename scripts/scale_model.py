"""The cost model of a K-node run, from measured inputs: epoch time, syncs, bytes per node.

    python scripts/scale_model.py                                   # the defaults below
    python scripts/scale_model.py --tokens 5e9 --dim 300 --vocab 2e6 --rate 0.35e6 --cores 32 --gbit 10 --a 0.02

What it models (``loop.Run`` as built): every node trains ``cores`` threads at ``rate`` tokens/s
each (the single-machine kernels; each thread reads its own part, so reading is not a separate
cap unless ``--reader-rate`` per thread is lower), for ``sync_seconds``, then the nodes average
the rows they touched. Sync n moves the top ``min(V, base * 2^tz(n))`` rows (tier schedule) of
w_in and w_out (+ bias) as float32; an epoch's end moves all V rows (a full sync; ``--full-sync end``
models one per run instead, which is not built). Each node
sends and receives ``2 (K - 1) / K x payload`` (a ring or a reduce sharded by row blocks), which
takes ``a + bytes / bandwidth`` seconds; training waits for it (no overlap today). One node
(K = 1) never syncs. Fixed costs (start, counting, writing) are left out: they are the
single-machine job's and do not shrink with K.

Inputs to measure, and where:
- ``--rate``: training tokens/s per thread at the run's d and V: ``metrics.json`` epochs[].words_per_sec
  / threads (``scripts/bench_threads.py`` where it exists; 0.9e6 at d = 100 measured on mix8, 2 threads).
- ``--a``: the fixed cost of one sync, from ``scripts/bench_netns.py`` (its fit of sync time against
  bandwidth).
- ``--gbit``: the nodes' link.
"""

from __future__ import annotations

import argparse


def trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


def tier_rows_mean(syncs: int, base: int, V: int) -> float:
    """Mean rows a sync moves over ``syncs`` syncs of the tier schedule."""
    if syncs <= 0:
        return 0.0
    total = sum(min(V, base << trailing_zeros(n)) for n in range(1, syncs + 1))
    return total / syncs


def model(args, K: int) -> dict:
    row_bytes = (2 * args.dim + 1) * 4  # a w_in row, a w_out row and a bias, float32
    per_node = args.cores * min(args.rate, args.reader_rate or args.rate)  # tokens/s a node trains
    train_s = args.tokens / (K * per_node)  # an epoch's training, without syncs
    if K == 1:
        return {"K": 1, "epoch_s": train_s, "train_s": train_s, "sync_s": 0.0, "syncs": 0, "MB_per_sync": 0.0,
                "full_MB": 0.0, "sync_pct": 0.0}
    bw = args.gbit * 1e9 / 8
    wire = 2 * (K - 1) / K
    rounds = max(1, int(train_s / args.sync_seconds))
    rows = tier_rows_mean(rounds, args.base, int(args.vocab))
    mb = wire * rows * row_bytes
    full = wire * args.vocab * row_bytes  # the epoch end's full sync
    full_share = 1.0 if args.full_sync == "epoch" else 1.0 / args.epochs  # "end": one full sync per run
    sync_s = rounds * (args.a + mb / bw) + full_share * (args.a + full / bw)
    epoch = train_s + sync_s
    return {"K": K, "epoch_s": epoch, "train_s": train_s, "sync_s": sync_s, "syncs": rounds,
            "MB_per_sync": mb / 1e6, "full_MB": full / 1e6, "sync_pct": 100 * sync_s / epoch}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=float, default=5e9, help="corpus tokens per epoch")
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--vocab", type=float, default=2e6)
    ap.add_argument("--rate", type=float, default=0.35e6, help="training tokens/s per thread (measured)")
    ap.add_argument("--reader-rate", type=float, default=0, help="tokens/s one reader thread decodes (0: no cap)")
    ap.add_argument("--cores", type=int, default=32, help="training threads per node")
    ap.add_argument("--gbit", type=float, default=10.0, help="link bandwidth, Gbit/s")
    ap.add_argument("--a", type=float, default=0.02, help="fixed seconds per sync (measured: bench_netns.py)")
    ap.add_argument("--sync-seconds", type=float, default=1.0)
    ap.add_argument("--base", type=int, default=1024, help="sync_base: rows of the first tier")
    ap.add_argument("--nodes", default="1,4,16,64")
    ap.add_argument("--full-sync", choices=("epoch", "end"), default="epoch",
                    help="epoch: every row averaged at each epoch's end (as built); end: only before checkpoints "
                         "and the outputs (not built), its cost shared by --epochs")
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()
    print("inputs: " + ", ".join(f"{k}={v}" for k, v in vars(args).items()))
    rows = [model(args, int(k)) for k in args.nodes.split(",")]
    one = rows[0]["epoch_s"] if rows[0]["K"] == 1 else model(args, 1)["epoch_s"]
    print(f"{'K':>4} {'epoch s':>9} {'speed-up':>8} {'train s':>9} {'sync s':>8} {'sync %':>7} {'syncs':>6} "
          f"{'syncs/s':>7} {'MB/node/sync':>12} {'full MB':>9}")
    for r in rows:
        print(f"{r['K']:>4} {r['epoch_s']:>9.1f} {one / r['epoch_s']:>8.2f} {r['train_s']:>9.1f} {r['sync_s']:>8.2f} "
              f"{r['sync_pct']:>7.1f} {r['syncs']:>6} {r['syncs'] / r['epoch_s']:>7.2f} {r['MB_per_sync']:>12.1f} "
              f"{r['full_MB']:>9.0f}")


if __name__ == "__main__":
    main()
