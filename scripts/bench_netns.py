"""A 3-node Ray cluster on this machine, in network namespaces, and what a run moves over its links.

    sudo python scripts/bench_netns.py --rates 50,200,1000            # the whole measurement (root)
    sudo python scripts/bench_netns.py --rates 1000 --kill-node 2     # a node killed mid-run
    sudo python scripts/bench_netns.py --down                         # tear down what it created
    sudo python scripts/bench_netns.py --rates 200,1000 --collective 100000   # the sync's two transports

Each node is a namespace ``w2vt-nI`` (10.231.0.I+1/24) on a bridge in ``w2vt-sw``; no default
route, so no traffic leaves the machine. Every veth end is shaped with ``tbf`` at the rate under
test (the node's egress and the switch port's egress). Node 0 runs the Ray head and the driver;
every node a raylet with ``--num-cpus 2`` (room for a replica and a restarted one) and its own
temp dir. For each rate the script trains ``--replicas 3 --threads 1`` with fixed rounds
(``--round-words``) and reads:
- bytes per node per sync: two runs a rate, with rounds of ``--round-words`` and 8 x that; the
  difference of each node's veth tx+rx counters over the difference of their syncs, against
  2 x 2 (K - 1) / K x a replica's payload (each way 2 (K - 1) / K, as a ring allreduce; metrics.json: the sync bytes are K pieces up and K
  averaged copies down, so a replica's payload is bytes / (2 K)); the difference cancels what
  a run moves once (the counts to the driver, the vocabulary out, the final model in);
- sync seconds per round at each rate, fitted as a + bytes / rate (least squares): ``a`` is the
  fixed cost of a sync (Ray's calls and the links' round trips), the input ``scale_model.py`` needs;
- bytes each actor read from the corpus (metrics.json ``bytes_read``) against corpus / K.
``--kill-node I`` SIGKILLs every process of node I once the run has trained a while: the job must
finish (the lost replica restarts on another node with room, or the others take its parts).
``--throttle-node I`` runs once more with node I's links at a tenth of the rate (how long the
others wait for it), ``--down-link I`` once more with node I's link taken down mid-run (a fault
found by Ray's health checks or the round timeout, not a hang).
``--collective ROWS`` instead runs ``bench_collective.py`` on the cluster at each rate (one actor
a node, ROWS x ``--dim`` rows each): the product's sync (on the mesh of links) against torch.distributed gloo
(needs ``pip install torch==2.13.0``, the CPU build).
Teardown kills only the PIDs inside the namespaces it created (``ip netns pids``), never by name.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

NODES = 3
SWITCH = "w2vt-sw"
TMP = "/tmp/w2vt"
PY = sys.executable
RAY = os.path.join(os.path.dirname(PY), "ray")


def sh(*cmd: str, check: bool = True) -> str:
    return subprocess.run(cmd, check=check, capture_output=True, text=True).stdout


def ns(i: int) -> str:
    return f"w2vt-n{i}"


def ip_of(i: int) -> str:
    return f"10.231.0.{i + 1}"


def up(rate: str) -> None:
    down()
    sh("ip", "netns", "add", SWITCH)
    sh("ip", "-n", SWITCH, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", SWITCH, "link", "set", "br0", "up")
    for i in range(NODES):
        sh("ip", "netns", "add", ns(i))
        sh("ip", "link", "add", f"w2vt-h{i}", "type", "veth", "peer", "name", f"w2vt-s{i}")
        sh("ip", "link", "set", f"w2vt-h{i}", "netns", ns(i))
        sh("ip", "link", "set", f"w2vt-s{i}", "netns", SWITCH)
        sh("ip", "-n", SWITCH, "link", "set", f"w2vt-s{i}", "master", "br0", "up")
        sh("ip", "-n", ns(i), "addr", "add", f"{ip_of(i)}/24", "dev", f"w2vt-h{i}")
        sh("ip", "-n", ns(i), "link", "set", f"w2vt-h{i}", "up")
        sh("ip", "-n", ns(i), "link", "set", "lo", "up")
    shape(rate)


def shape(rate: str) -> None:
    """tbf on both ends of every link (a burst below 64 KB stalls veth GSO)."""
    for i in range(NODES):
        for space, dev in ((ns(i), f"w2vt-h{i}"), (SWITCH, f"w2vt-s{i}")):
            sh("ip", "netns", "exec", space, "tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate,
               "burst", "512kb", "latency", "20ms")


def shape_node(i: int, rate: str) -> None:
    """Node i's two link ends at ``rate`` (a throttled node)."""
    for space, dev in ((ns(i), f"w2vt-h{i}"), (SWITCH, f"w2vt-s{i}")):
        sh("ip", "netns", "exec", space, "tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate,
           "burst", "512kb", "latency", "20ms")


def down() -> None:
    """Kill the processes inside our namespaces (by PID), then delete the namespaces."""
    for space in [ns(i) for i in range(NODES)] + [SWITCH]:
        if space not in sh("ip", "netns", "list", check=False):
            continue
        for _ in range(3):
            pids = [int(p) for p in sh("ip", "netns", "pids", space, check=False).split()]
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
        sh("ip", "netns", "del", space, check=False)
    shutil.rmtree(TMP, ignore_errors=True)


def start_ray(store_mb: int = 200) -> None:
    env = ["env", "RAY_USAGE_STATS_ENABLED=0", "RAY_AUTH_MODE=disabled", f"PYTHONPATH={B.REPO}"]  # no token: the namespaces have no route out
    for i in range(NODES):
        os.makedirs(f"{TMP}/n{i}", exist_ok=True)
        role = (["--head", "--port=6379", "--include-dashboard=false"] if i == 0
                else [f"--address={ip_of(0)}:6379"])
        sh("ip", "netns", "exec", ns(i), *env, RAY, "start", *role, f"--node-ip-address={ip_of(i)}", "--num-cpus=2",
           f"--object-store-memory={store_mb * 10**6}", f"--temp-dir={TMP}/n{i}", "--disable-usage-stats")


def counters(i: int) -> int:
    """tx + rx bytes of node i's veth."""
    info = json.loads(sh("ip", "-n", ns(i), "-s", "-j", "link", "show", f"w2vt-h{i}"))[0]["stats64"]
    return int(info["tx"]["bytes"]) + int(info["rx"]["bytes"])


def train(args, corpus: str, out: str, kill_node: int | None, words: int | None = None,
          down_link: int | None = None) -> tuple[dict, list[int], float]:
    before = [counters(i) for i in range(NODES)]
    cmd = ["ip", "netns", "exec", ns(0), "env", "RAY_USAGE_STATS_ENABLED=0", "RAY_AUTH_MODE=disabled", f"PYTHONPATH={B.REPO}", PY, "-m",
           "w2v_nce.cli", "train", corpus, "-c", os.path.join(B.REPO, "configs", "word2vec.yaml"), "-o", out,
           "--force", "--ray", f"{ip_of(0)}:6379", "--replicas", str(NODES), "--threads", "1", "--epochs", "1",
           "--dim", str(args.dim), "--round-words", str(words or args.round_words), "--checkpoint-every", "0"]
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if kill_node is not None:
        threading.Timer(args.kill_after, _kill_node, args=(kill_node,)).start()
    if down_link is not None:  # the node's link down for good: its processes live on, unreachable
        threading.Timer(args.kill_after, sh, args=("ip", "-n", ns(down_link), "link", "set", f"w2vt-h{down_link}",
                                                   "down")).start()
    output = proc.communicate()[0]
    wall = time.time() - t0
    if proc.returncode:
        raise SystemExit(f"training failed ({proc.returncode}):\n{output[-20000:]}")
    moved = [counters(i) - b for i, b in zip(range(NODES), before)]
    return json.load(open(os.path.join(out, "metrics.json"))), moved, wall


def _kill_node(i: int) -> None:
    pids = [int(p) for p in sh("ip", "netns", "pids", ns(i), check=False).split()]
    print(f"killing node {i}: {len(pids)} processes", flush=True)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def collective(args, rates: list[int]) -> None:
    """``bench_collective.py`` on the 3 nodes at each rate (its table printed as it comes)."""
    for rate in rates:
        up(f"{rate}mbit")
        try:
            start_ray(args.object_store_mb)
            run = subprocess.run(["ip", "netns", "exec", ns(0), "env", "RAY_USAGE_STATS_ENABLED=0",
                                  "RAY_AUTH_MODE=disabled", f"PYTHONPATH={B.REPO}", PY,
                                  os.path.join(B.REPO, "scripts", "bench_collective.py"), "--address", f"{ip_of(0)}:6379",
                                  "--replicas", str(NODES), "--rows", str(args.collective), "--dim", str(args.dim),
                                  "--repeats", "3"], capture_output=True, text=True)
            if run.returncode:
                raise SystemExit(f"bench_collective.py failed ({run.returncode}):\n{run.stderr[-3000:]}")
            print(f"links at {rate} Mbit/s:\n{run.stdout}", flush=True)
        finally:
            down()


def fit(points: list[tuple[float, float, float]]) -> tuple[float, float]:
    """Least squares of seconds = a + b * (bytes / rate_bytes_per_s): (a, b); b ~ 1 if the link is the cost."""
    xs = [nbytes / rate for nbytes, rate, _ in points]
    ys = [s for _, _, s in points]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0
    return my - b * mx, b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="50,200,1000", help="Mbit/s, comma list")
    ap.add_argument("--corpus-mb", type=int, default=12, help="the first N MB of mix8 as plain text")
    ap.add_argument("--dim", type=int, default=50)
    ap.add_argument("--round-words", type=int, default=25_000, help="the many-syncs run; the few-syncs run has 8 x")
    ap.add_argument("--kill-node", type=int, help="SIGKILL this node's processes during the last rate's run")
    ap.add_argument("--kill-after", type=float, default=8.0, help="seconds into the run (a kill or a downed link)")
    ap.add_argument("--throttle-node", type=int, help="last rate: run once more with this node's links at rate / 10")
    ap.add_argument("--down-link", type=int, help="last rate: run once more and take this node's link down mid-run")
    ap.add_argument("--down", action="store_true", help="only tear down")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--collective", type=int, help="rows per actor: measure the sync's transports instead")
    ap.add_argument("--object-store-mb", type=int, default=200, help="with --collective: each node's object store")
    args = ap.parse_args()
    if args.down:
        down()
        return
    if args.collective:
        return collective(args, [int(r) for r in args.rates.split(",")])
    work = os.path.join(B.REPO, "bench-out", "netns")
    os.makedirs(work, exist_ok=True)
    from bench_distributed import corpus_prefix

    corpus = corpus_prefix(os.path.join(B.SHARED, "mix8.gz"), args.corpus_mb, os.path.join(work, f"mix8-{args.corpus_mb}mb.txt"))
    size = os.path.getsize(corpus)
    rows, points = [], []
    rates = [int(r) for r in args.rates.split(",")]
    try:
        for n, rate in enumerate(rates):
            up(f"{rate}mbit")
            start_ray()
            # two runs a rate, few and many syncs: their difference cancels the one-time traffic
            # (the counts to the driver, the vocabulary out, the final model in)
            runs = []
            for words in (args.round_words * 8, args.round_words):
                metrics, moved, wall = train(args, corpus, os.path.join(work, f"r{rate}-w{words}"), None, words)
                runs.append((metrics["distributed"], moved, wall))
            (d1, m1, _), (d2, m2, wall) = runs
            syncs = d2["syncs"] - d1["syncs"]
            # a node sends 2 (K - 1) / K x a replica's payload and receives as much (tx + rx: twice that)
            wire = 2 * 2 * (NODES - 1) / NODES * (d2["bytes"] - d1["bytes"]) / (2 * NODES)
            per_node = [(b2 - b1) for b1, b2 in zip(m1, m2)]
            row = {"rate_mbit": rate, "wall_s": round(wall, 1), "extra_syncs": syncs,
                   "expected_MB_per_node_sync": wire / syncs / 1e6,
                   "measured_MB_per_node_sync": [x / syncs / 1e6 for x in per_node],
                   "ratio": [x / wire for x in per_node], "sync_s_per_round": d2["sync_seconds_per_round"],
                   "bytes_read": d2["bytes_read"], "read_vs_share": [b / (size / NODES) for b in d2["bytes_read"]]}
            rows.append(row)
            points.append((2 * (NODES - 1) / NODES * d2["bytes"] / (2 * NODES) / d2["syncs"], rate * 1e6 / 8,
                           d2["sync_seconds_per_round"]))  # a node's bytes each way a sync
            print(json.dumps(row), flush=True)
            if n == len(rates) - 1 and args.throttle_node is not None:  # one slow link: how much the others wait
                shape_node(args.throttle_node, f"{max(1, rate // 10)}mbit")
                metrics, _, wall_slow = train(args, corpus, os.path.join(work, f"r{rate}-slow"), None, args.round_words)
                d = metrics["distributed"]
                row = {"rate_mbit": rate, "throttled_node": args.throttle_node, "its_rate_mbit": max(1, rate // 10),
                       "wall_s": round(wall_slow, 1), "wall_unthrottled_s": round(wall, 1),
                       "sync_s_per_round": d["sync_seconds_per_round"]}
                rows.append(row)
                print(json.dumps(row), flush=True)
                shape_node(args.throttle_node, f"{rate}mbit")
            if n == len(rates) - 1 and args.down_link is not None:
                metrics, _, wall_down = train(args, corpus, os.path.join(work, f"r{rate}-down"), None, args.round_words,
                                              down_link=args.down_link)
                d = metrics["distributed"]
                row = {"rate_mbit": rate, "downed_link_of_node": args.down_link, "wall_s": round(wall_down, 1),
                       "replicas_lost": d["replicas_lost"], "replicas_at_end": d["replicas"], "words": metrics["words"]}
                rows.append(row)
                print(json.dumps(row), flush=True)
            if n == len(rates) - 1 and args.kill_node is not None:
                metrics, _, wall = train(args, corpus, os.path.join(work, f"r{rate}-kill"), args.kill_node)
                d = metrics["distributed"]
                row = {"rate_mbit": rate, "killed_node": args.kill_node, "wall_s": round(wall, 1),
                       "replicas_lost": d["replicas_lost"], "replicas_at_end": d["replicas"],
                       "epochs": len(metrics["epochs"]), "words": metrics["words"]}
                rows.append(row)
                print(json.dumps(row), flush=True)
            down()
    finally:
        down()
    if len(points) >= 2:
        a, b = fit(points)
        print(f"sync seconds = {a:.4f} + {b:.3f} x bytes/rate  (a = the fixed cost of a sync, over rates {args.rates} Mbit/s)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows, "fit": fit(points) if len(points) >= 2 else None}, fh, indent=2)


if __name__ == "__main__":
    main()
