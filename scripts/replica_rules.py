"""Replica rules tried against the default (issue 27, "an lr rule that survives large K"), kept
out of the product: this runs ``w2v-nce train`` in process with one variant patched into the
in-process backend, so the sweep in docs/distributed.md can be reproduced.

    python scripts/replica_rules.py VARIANT train CORPUS --replicas 16 --round-words 250000 ...
    python scripts/bench_distributed.py --variant touch ...      # the same, from the quality bench
    python scripts/bench_distributed.py --variant cap:8,touch ... # variants combine, in order

Variants (word-only runs, the in-process backend; ``--replica-rule`` picks the lr factor f):
- ``touch`` (per-row factor by touchers): a row that m replicas touched since its last sync becomes
  S + sum over touchers of (x_k - S) / max(m, f), where S is its value at that sync: a rare row
  moves as one machine would move it (the default moves it f/m times that), a frequent one is
  averaged as by default. Run with ``--replica-rule scale`` (f = min(K, 4)).
- ``bmuf[:ETA]``: blockwise model-update filtering (Chen and Huo, 2016) per row: G = sum of the
  touchers' (x_k - S) / K; v = ETA v + G; g = g + v; every replica restarts from g + ETA v
  (Nesterov). ETA defaults to 1 - 1/K. Run with ``--replica-rule mean`` (f = 1).
- ``cap:N``: the scale rule with the factor capped at N instead of ``config.REPLICA_LR_MAX``.
- ``warmup:W``: the lr factor ramps from 1 to f over the first W of the run's tokens (a round's
  factor is set from the global clock at its start).
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from w2v_nce import cli, config
from w2v_nce.distributed import inprocess, sync
from w2v_nce.kernels.records import TOUCHED_IN, TOUCHED_OUT


class RowRule:
    """``touch`` or ``bmuf`` over the replicas' (w_in, w_out, bias): S (each row at its last
    sync) and, for bmuf, g and v, one copy each of the model, made when the replicas start."""

    def __init__(self, kind: str, f: float, eta: float | None):
        self.kind, self.f, self.eta = kind, f, eta
        self.S = self.g = self.v = None

    def start(self, mats) -> None:
        self.S = [a.copy() for a in mats]
        self.g = [a.copy() for a in mats]
        self.v = [np.zeros_like(a) for a in mats]

    def average(self, replicas, touched, rows, parts=1, first=0, bits=sync.BOTH) -> sync.SyncStats:
        K, sent = len(replicas), 0
        for i, bit in ((0, TOUCHED_IN), (1, TOUCHED_OUT), (2, TOUCHED_OUT)):
            if not bits & bit:
                continue
            marks = [(t[first:rows] & bit) != 0 for t in touched]
            m = np.sum(marks, axis=0)
            ids = np.flatnonzero(m) + first
            if not len(ids):
                continue
            S = self.S[i]
            delta = np.zeros((len(ids),) + S.shape[1:], np.float64)
            for mats, mark in zip(replicas, marks):
                mine = ids[mark[ids - first]]
                delta[mark[ids - first]] += mats[i][mine].astype(np.float64) - S[mine]
                sent += len(mine) * S[:1].nbytes
            if self.kind == "touch":
                mm = m[ids - first].astype(np.float64).reshape((-1,) + (1,) * (S.ndim - 1))
                new = S[ids] + delta / np.maximum(mm, self.f)
            else:
                eta = 1 - 1 / K if self.eta is None else self.eta
                v = eta * self.v[i][ids] + delta / K
                self.v[i][ids] = v
                self.g[i][ids] += v
                new = self.g[i][ids] + eta * v
            S[ids] = new.astype(np.float32)
            for mats in replicas:
                mats[i][ids] = S[ids]
            sent += K * len(ids) * S[:1].nbytes
        for t in touched:
            t[first:rows] &= np.uint8(~bits & 0xFF)
        return sync.SyncStats(rows, sent)


def patch_rows(rule: RowRule) -> None:
    start = inprocess.LocalBackend.start

    def started(self, cfg, vocab, model, states):
        start(self, cfg, vocab, model, states)
        if self.replicas > 1:
            rule.start(self.arrays(0))
            if rule.kind == "touch":
                rule.f = config.resolve(cfg, self.replicas).lr_factor

    inprocess.LocalBackend.start = started
    inprocess.average_touched = rule.average


def patch_warmup(share: float) -> None:
    span = inprocess.train_span

    def warm_span(trainer, plan, *args, **kwargs):
        full = trainer.__dict__.setdefault("_full_cfg", trainer.cfg)
        f = config.resolve(full, trainer.replica[1]).lr_factor
        g = 1 + (f - 1) * min(1.0, plan.clock / (share * trainer.total_clock))
        trainer.cfg = dataclasses.replace(full, alpha=full.alpha * g / f, min_alpha=full.min_alpha * g / f)
        return span(trainer, plan, *args, **kwargs)

    inprocess.train_span = warm_span


def apply(variants: str) -> None:
    """Comma-separated variants, applied in order (e.g. ``cap:8,touch``)."""
    for variant in variants.split(","):
        _apply(variant)


def _apply(variant: str) -> None:
    name, _, arg = variant.partition(":")
    if name == "touch":
        patch_rows(RowRule("touch", 0.0, None))  # f: the run's lr factor, set when the replicas start
    elif name == "bmuf":
        patch_rows(RowRule("bmuf", 1.0, float(arg) if arg else None))
    elif name == "cap":
        config.REPLICA_LR_MAX = int(arg)
    elif name == "warmup":
        patch_warmup(float(arg))
    else:
        sys.exit(f"unknown variant {variant!r}: touch, bmuf[:ETA], cap:N, warmup:W")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    apply(sys.argv[1])
    sys.argv = ["w2v-nce"] + sys.argv[2:]
    cli.main()
