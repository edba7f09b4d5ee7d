"""Issue 27, item 4: the sync's transport, measured both ways on the same actors and rows.

    pip install torch==2.13.0        # the CPU build: a benchmark-only peer, never a dependency
    python scripts/bench_collective.py --replicas 2,3 --rows 100000,400000 --dim 100 --repeats 5

Two ways to average every row of w_in, w_out and the bias among K Ray actors:
  mesh  the product's ``ReplicaActor.sync`` driven by its ``RayBackend.sync`` (every_row): in
        stretches of ``SYNC_STREAM_BYTES``, actor j reduces block j of each stretch, pieces and
        means move on TCP links among the actors (``distributed/mesh.py``; one driver call per
        actor and stretch). Before commit 'mesh' they moved as object refs (the "refs" rows of
        docs/distributed.md);
  gloo  ``torch.distributed`` all_reduce (gloo's ring, SUM, then / K) on the same matrices as
        torch views, the process group created in the actors (actor 0's address, a free port).
Each actor holds rows × dim float32 twice plus a bias, filled from its own seed; after the first
sync of each way every actor's matrices are checked against the NumPy float64 mean of the
starting ones (the two ways must agree, or the script stops). Reported: the median wall time of
``--repeats`` syncs seen by the driver, the payload (the model's bytes), and the payload / time.

Every actor is on this machine unless ``--address`` names a cluster (``bench_netns.py
--collective`` runs this script on its 3 namespaced nodes, one actor a node, links shaped), so by
default this measures the transports' CPU and copy costs, not a network. Without ``--address`` the
script starts its own local Ray (``ray.init``) and shuts it down; it stops no other Ray processes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ray  # noqa: E402

from w2v_nce.config import Config  # noqa: E402
from w2v_nce.distributed.ray_backend import RayBackend, ReplicaActor  # noqa: E402
from w2v_nce.distributed.sync import BOTH  # noqa: E402


class _Model:
    def __init__(self, rows: int, dim: int, seed: int):
        rng = np.random.default_rng(seed)
        self.w_in = rng.standard_normal((rows, dim), dtype=np.float32)
        self.w_out = rng.standard_normal((rows, dim), dtype=np.float32)
        self.bias = rng.standard_normal(rows, dtype=np.float32)

    def input_table(self) -> np.ndarray:
        return self.w_in


class _Rows:
    """What ``ReplicaActor.sync`` asks of its trainer: the model and the touched-row marks."""

    def __init__(self, rows: int, dim: int, seed: int):
        self.model = _Model(rows, dim, seed)
        self._touched = np.full(rows, BOTH, np.uint8)

    def touched(self) -> np.ndarray:
        return self._touched

    def clear_touched(self, hi: int, lo: int, bits: int) -> None:
        pass  # every row stays marked: each repeat syncs them all again


class BenchPeer(ReplicaActor):
    """A replica actor whose trainer is only rows: the production sync, plus a gloo group."""

    def load(self, rows: int, dim: int, seed: int) -> str:
        """Fill this actor's rows from ``seed``; its node's address."""
        self.trainer = _Rows(rows, dim, seed)
        return ray.util.get_node_ip_address()

    def gloo_init(self, rank: int, world: int, address: str, port: int) -> None:
        import torch.distributed as dist

        # gloo binds the interface holding this node's address (a namespaced node has no other route)
        ip = ray.util.get_node_ip_address()
        found = [a["ifname"] for a in json.loads(subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True,
                                                                text=True).stdout)
                 if any(i.get("local") == ip for i in a.get("addr_info", []))]
        if found:
            os.environ["GLOO_SOCKET_IFNAME"] = found[0]
        dist.init_process_group("gloo", init_method=f"tcp://{address}:{port}", rank=rank, world_size=world)

    def gloo_sync(self) -> None:
        import torch
        import torch.distributed as dist

        world = dist.get_world_size()
        for a in self._matrices():
            t = torch.from_numpy(a)  # a view: the sum lands in the actor's own matrix
            dist.all_reduce(t)
            t.div_(world)

    def gloo_close(self) -> None:
        import torch.distributed as dist

        dist.destroy_process_group()

    def state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(np.array(a) for a in self._matrices())


def _expected(rows: int, dim: int, k: int) -> list[np.ndarray]:
    models = [_Model(rows, dim, seed) for seed in range(k)]
    return [np.mean([getattr(m, name).astype(np.float64) for m in models], axis=0)
            for name in ("w_in", "w_out", "bias")]


def _check(actors, expected: list[np.ndarray], way: str) -> float:
    """The largest difference of any actor's matrices from the float64 mean (stops if > 1e-5)."""
    worst = 0.0
    for state in ray.get([a.state.remote() for a in actors]):
        worst = max(worst, *(float(np.abs(s - e).max()) for s, e in zip(state, expected)))
    if worst > 1e-5:
        raise SystemExit(f"{way}: the actors' rows are not the mean after a sync (max difference {worst:g})")
    return worst


def _timed(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(k: int, rows: int, dim: int, repeats: int, port: int) -> dict:
    """Both ways for K actors holding ``rows`` rows: seconds per sync (median) and the checks; the
    gloo group meets at actor 0's node on ``port``. Actor j is placed on node j mod the nodes."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = sorted((n["NodeManagerAddress"], n["NodeID"]) for n in ray.nodes() if n.get("Alive"))
    cfg = Config(dim=dim).to_dict()
    actors = [ray.remote(BenchPeer).options(num_cpus=0, max_concurrency=4, scheduling_strategy=
                                            NodeAffinitySchedulingStrategy(nodes[j % len(nodes)][1], soft=False))
              .remote(j, k, cfg, 1) for j in range(k)]
    where = ray.get([a.load.remote(rows, dim, j) for j, a in enumerate(actors)])
    address = where[0]
    backend = RayBackend("auto", k)  # the production driver side of the sync, on these actors
    backend.actors, backend.vocab_size, backend.job_cfg = actors, rows, Config(dim=dim)
    expected = _expected(rows, dim, k)
    backend.sync(rows, every_row=True)
    mesh_error = _check(actors, expected, "mesh")
    mesh = _timed(lambda: backend.sync(rows, every_row=True), repeats)
    ray.get([a.load.remote(rows, dim, j) for j, a in enumerate(actors)])  # the starting rows again
    ray.get([a.gloo_init.remote(j, k, address, port) for j, a in enumerate(actors)])
    ray.get([a.gloo_sync.remote() for a in actors])
    gloo_error = _check(actors, expected, "gloo")
    gloo = _timed(lambda: ray.get([a.gloo_sync.remote() for a in actors]), repeats)
    ray.get([a.gloo_close.remote() for a in actors])
    for a in actors:
        ray.kill(a)
    payload = rows * (2 * dim + 1) * 4
    return {"K": k, "rows": rows, "nodes": len(set(where)), "payload_mb": payload / 1e6, "mesh_s": mesh, "gloo_s": gloo,
            "mesh_error": mesh_error, "gloo_error": gloo_error}


def stamp() -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return f"{datetime.date.today()}, commit {commit}, {os.cpu_count()} cores ({cpu})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replicas", default="2,3")
    ap.add_argument("--rows", default="100000,400000")
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--address", default=None, help="a running Ray cluster's address [a local Ray of this script]")
    ap.add_argument("--port", type=int, default=29511, help="the gloo group's rendezvous port on actor 0's node")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        raise SystemExit("needs torch's CPU build: pip install torch==2.13.0 (a benchmark-only peer)") from None
    ray.init(address=args.address, include_dashboard=False, log_to_driver=False)
    try:
        rows_list = [int(x) for x in args.rows.split(",")]
        results = [measure(k, rows, args.dim, args.repeats, args.port + n) for n, (k, rows) in enumerate(
            (k, rows) for k in map(int, args.replicas.split(",")) for rows in rows_list)]
    finally:
        ray.shutdown()
    print(f"{stamp()}; torch {torch.__version__}, ray {ray.__version__}; "
          f"`python scripts/bench_collective.py {' '.join(sys.argv[1:])}`\n")
    print("| K | nodes | rows × dim | payload MB | mesh s/sync | gloo s/sync | mesh / gloo | mesh MB/s | gloo MB/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['K']} | {r['nodes']} | {r['rows']:,} × {args.dim} | {r['payload_mb']:.0f} | {r['mesh_s']:.3f} | "
              f"{r['gloo_s']:.3f} | {r['mesh_s'] / r['gloo_s']:.2f} | {r['payload_mb'] / r['mesh_s']:.0f} | "
              f"{r['payload_mb'] / r['gloo_s']:.0f} |")


if __name__ == "__main__":
    main()
