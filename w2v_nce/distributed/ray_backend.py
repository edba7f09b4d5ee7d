"""The Ray Core backend: K actors, each holding a replica and running our kernels with T threads.

Only this module imports Ray. Every actor reserves T CPUs (its Hogwild threads) and is
restarted by Ray if its process dies; a restarted actor comes back empty (its constructor runs
again), so the driver refills it from a healthy peer through the object store.

The sync runs among the actors, on a mesh of TCP links they form among themselves
(``mesh.py``; formed again after a loss): the driver makes one call per actor (``sync``) and
waits. Rows [0, n) are cut into K blocks; every actor sends its touched rows of block j to
actor j, which averages the K pieces and sends the averaged block to every actor, which
applies the K averaged blocks. No row passes through the driver or an object store, and each
node's traffic is about 2 x the payload whatever K is. An actor that dies or stops in a sync
makes the driver close the others' links (``abort``) and report it lost. The vocabulary is counted by the
actors: the corpus is cut into K x T splits, actor k counts splits kT..kT+T-1 (a thread each,
``vocab.count_splits``) and the driver merges the K stretches in corpus order
(``vocab.merge_counted``), which gives the single-machine counts and ids exactly. A corpus of
one part (a single .gz) is counted by the driver while the actors start instead (``counts_remotely``
tells the driver this backend counts; the driver decides, ``driver.EarlyCount``).
"""

from __future__ import annotations

import collections
import os
import secrets
import signal
import socket
import threading
import time

import numpy as np
import ray
from ray.exceptions import (
    GetTimeoutError,
    ObjectLostError,
    OwnerDiedError,
    RayActorError,
    RayTaskError,
)

from ..artifact.model import Model
from ..config import Config, from_saved
from ..errors import ClusterError, DivergenceError, ResourceError, W2VError
from ..kernels.records import TOUCHED_IN, TOUCHED_OUT
from ..phrases.join import run_corpus
from ..run.memory import check_memory
from ..text.corpus import Corpus
from ..text.splits import make_splits
from ..train import DIVERGED_HINT, MAX_WEIGHT, Trainer, TrainState, init_model
from ..vocabulary.count import (
    CountBoundReached,
    CountResult,
    count_splits,
    merge_counted,
)
from ..vocabulary.vocab import Vocab
from .mesh import Mesh, SyncAborted, average_on_mesh
from .replica import (
    ReplicaGone,
    ReplicaLost,
    RoundPlan,
    RoundResult,
    replica_config,
    replica_trainer,
    train_span,
)
from .sync import (
    BOTH,
    SyncStats,
    row_blocks,
    stretches,
)

READY_SECONDS = 120.0  # how long actors may take to be placed and start
RESTART_SECONDS = 120.0  # how long a lost actor may take to come back
ROUND_TIMEOUT_SECONDS = 600.0  # a replica that has not answered a round by then (or 4 x its seconds) is lost
TICK_SECONDS = 0.5
ABORT_GRACE_SECONDS = 5.0  # after a sync aborted on its links, how long Ray has to report a peer dead
# Calls an actor serves at once: the driver's ``abort`` arrives while ``sync`` waits on the
# links; ``run`` and ``sync`` never overlap (the driver calls them in turn).
ACTOR_CONCURRENCY = 4


class ReplicaActor:
    """One replica (a plain class: Ray actor classes cannot be subclassed; wrapped by ``ray.remote``)."""

    def __init__(self, replica: int, replicas: int, cfg: dict, threads: int):
        self.k, self.K = replica, replicas
        self.cfg = from_saved(cfg)
        self.cfg.threads = threads
        self.trainer: Trainer | None = None
        self.mesh: Mesh | None = None
        self._generation = 0  # of ``mesh``: an abort meant for an older mesh leaves a newer one alone
        self._mesh_lock = threading.Lock()  # the driver's abort is served beside mesh_listen and sync

    def where(self) -> str:
        return f"{socket.gethostname()} ({ray.util.get_node_ip_address()}, pid {os.getpid()})"

    def pid(self) -> int:
        return os.getpid()

    def check_corpus(self, fingerprint: list) -> str | None:
        """None if this node reads the corpus the driver counted; else a one-line reason."""
        try:
            corpus = run_corpus(self.cfg)
            now = corpus.fingerprint()
            corpus.close()
        except (W2VError, OSError) as exc:
            return f"node {self.where()} cannot read the corpus: {exc}"
        if now != fingerprint:
            return f"node {self.where()} sees a different corpus (sizes or mtimes differ from the driver's)"
        return None

    def count(self, splits: list, count_memory: int) -> tuple | None:
        """Count these consecutive corpus splits, a thread each, in ``count_memory`` bytes:
        (WordCounter, ReadStats), or None when the tables reached the bound."""
        corpus = run_corpus(self.cfg)
        try:
            return count_splits(corpus, splits, self.cfg.max_token_bytes, count_memory)
        except CountBoundReached:
            return None
        finally:
            corpus.close()

    def start(self, vocab: tuple, arrays: tuple | None, state: dict, rng: np.ndarray | None, replica: int,
              replicas: int, cfg: dict) -> str | None:
        """Allocate replica ``replica`` of ``replicas`` with settings ``cfg`` (given each time: an
        actor Ray restarted runs its constructor's first arguments again, which a shrink may have
        changed), memory checked first: the vocabulary (words, counts, ``Vocab.epoch_words``), a copy of ``arrays`` (w_in, w_out, bias;
        read-only views of the object store) or, for a fresh run (None), the run's initial model
        built here from the seed (``init_model``: the same bytes on every node, nothing sent), the
        position. None if fine."""
        self.k, self.K, self.cfg = replica, replicas, from_saved(cfg)
        words, counts, epoch_words = vocab
        try:
            check_memory(len(words), self.cfg, where=f"node {self.where()}: ")
        except ResourceError as exc:
            return str(exc)
        vocab_ = Vocab(list(words), np.asarray(counts), epoch_words)
        if arrays is None:
            model = init_model(self.cfg, vocab_)
        else:
            inputs, w_out, bias = (np.array(a, copy=True) for a in arrays)  # object-store arrays are read-only
            model = Model.from_arrays(list(words), np.asarray(counts), inputs, w_out, bias, self.cfg.to_dict())
        rng = None if rng is None else np.array(rng, copy=True)
        self.trainer = None
        corpus = run_corpus(self.cfg)
        self.trainer = replica_trainer(self.cfg, corpus, vocab_, model, TrainState.from_json(state, rng), self.k,
                                       self.K)
        return None

    def regroup(self, replica: int, replicas: int, cfg: dict, state: dict, rng) -> str | None:
        """Go on as replica ``replica`` of ``replicas`` (one was lost for good) with this actor's
        model and the given position; None if fine."""
        old = self.trainer
        old.close()
        self.k, self.K, self.cfg = replica, replicas, from_saved(cfg)
        rng = None if rng is None else np.array(rng, copy=True)
        self.trainer = replica_trainer(self.cfg, old.corpus, old.vocab, old.model, TrainState.from_json(state, rng),
                                       replica, replicas)
        return None

    def run(self, plan: RoundPlan, fault: str = "") -> RoundResult:
        """Train a span; ``fault`` (fault injection, tests): "die" kills this process after it,
        before answering, "hang" stops it (SIGSTOP) as a hung node would."""
        r = train_span(self.trainer, plan)
        if not self.trainer.check_finite():  # the driver cannot probe an actor's rows between rounds
            raise DivergenceError(f"training diverged on replica {self.k} (weights NaN, Inf or past {MAX_WEIGHT:g}) "
                                  f"in epoch {r.state.epoch + 1}; {DIVERGED_HINT}")
        if fault:
            _inject(fault)
        return r

    def _matrices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = self.trainer.model
        return m.input_table(), m.w_out, m.bias

    def mesh_listen(self, generation: int) -> tuple[str, int]:
        """Open this actor's end of mesh ``generation`` (closing an older one): its address."""
        mesh = Mesh(ray.util.get_node_ip_address())
        with self._mesh_lock:
            old, self.mesh, self._generation = self.mesh, mesh, generation
        if old is not None:
            old.abort()
        return mesh.address

    def mesh_connect(self, generation: int, rank: int, addresses: list, token: bytes, timeout: float) -> None:
        """Link to the peers of mesh ``generation`` (``mesh.Mesh.connect``), opened by ``mesh_listen``."""
        with self._mesh_lock:
            mesh = self.mesh if generation == self._generation else None
        if mesh is None:  # restarted by Ray since, or a newer mesh: the driver forms it again
            raise SyncAborted(f"replica {self.k} holds no mesh {generation} to link")
        try:
            mesh.connect(rank, addresses, token, timeout)
        except OSError as exc:
            raise SyncAborted(f"replica {self.k} could not link to its peers ({exc})") from None

    def abort(self, generation: int) -> None:
        """A peer was lost: close mesh ``generation``'s links, which ends a sync waiting on them."""
        with self._mesh_lock:
            mesh = self.mesh if generation == self._generation else None
        if mesh is not None:
            mesh.abort()

    def sync(self, blocks: list[tuple[int, int]], seq: int, every_row: bool = False, fault: str = "",
             bits: int = BOTH) -> tuple[int, int]:
        """Sync ``seq`` of my touched rows (``every_row``: all) on the mesh
        (``mesh.average_on_mesh``: this actor reduces block ``blocks[rank]``), then clear the
        synced rows' marks. ``bits``: the matrices synced (``sync.sync_ranges``). Returns (bytes
        of the pieces I reduced, bytes of my mean). ``fault`` (tests): "die" kills this process,
        "hang" stops it, instead of syncing."""
        if fault:
            _inject(fault)
        touched = self.trainer.touched()
        if every_row:
            touched = np.full_like(touched, BOTH)
        sent = average_on_mesh(self.mesh, self._matrices(), touched, blocks, seq, bits)
        self.trainer.clear_touched(blocks[-1][1], blocks[0][0], bits)
        return sent

    def shapes(self) -> list[tuple[int, ...]]:
        """The shapes of my (input table, w_out, bias), float32."""
        return [a.shape for a in self._matrices()]

    def rows(self, lo: int, hi: int, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows [lo, hi) of the matrices ``bits`` names (a ``sync.stretches`` stretch; the others
        empty), read between rounds: the driver pulls a model a stretch at a time."""
        inputs, w_out, bias = self._matrices()
        take_in, take_out = bool(bits & TOUCHED_IN), bool(bits & TOUCHED_OUT)
        return (inputs[lo:hi] if take_in else inputs[:0], w_out[lo:hi] if take_out else w_out[:0],
                bias[lo:hi] if take_out else bias[:0])

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._matrices()


def _inject(fault: str) -> None:
    """Fault injection (tests): "die" kills this process, "hang" stops it, before the caller
    answers. The signal goes to this thread: sent to the process (os.kill) it may be taken by
    another thread while this one returns and Ray sends its answer (CI saw a "hung" span answered)."""
    signal.pthread_kill(threading.get_ident(), signal.SIGKILL if fault == "die" else signal.SIGSTOP)
    time.sleep(3600)  # not reached: the signal is taken on the way out of the call above


def _reachable(address: str) -> None:
    """A head address (host:port) must accept a TCP connection: fail in seconds, not after Ray's timeout."""
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return  # let Ray parse what it understands
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ClusterError(f"--ray {address}: cannot reach the Ray head ({exc.strerror or exc}); start it with "
                           "'ray start --head' or check the address") from None


class RayBackend:
    name = "ray"
    counts_remotely = True

    def __init__(self, address: str, replicas: int, init_kwargs: dict | None = None,
                 fail: dict[int, tuple[int, str]] | None = None, round_timeout: float = ROUND_TIMEOUT_SECONDS):
        self.address, self.replicas, self.round_timeout = address, replicas, round_timeout
        self.init_kwargs = dict(init_kwargs or {})
        # fault injection (tests): {round: (replica, "run" | "hang" | "sync" | "sync_hang")} kills that
        # replica's process at the end of its span in that round, stops it there, or kills / stops it as
        # that round's sync starts
        self.fail = dict(fail or {})
        self.rounds = 0
        self._seq = 0  # syncs (stretches) started: each frame on the mesh carries it
        self._mesh: tuple[int, ...] | None = None  # the replicas the actors' mesh links (None: form one)
        self._generation = 0  # meshes formed
        self.actors: list = []
        self._owns_ray = False
        self._closing = threading.Lock()

    # -- before counting ------------------------------------------------------------------
    def open(self, cfg: Config, corpus: Corpus) -> None:
        fingerprint = corpus.fingerprint()
        self._connect()
        self.threads = self._threads(cfg)
        self._cfg_t = cfg_t = replica_config(cfg, self.replicas, self.threads).to_dict()
        self._actor_class = ray.remote(ReplicaActor).options(
            num_cpus=self.threads, max_restarts=-1, max_task_retries=0, max_concurrency=ACTOR_CONCURRENCY,
            **self._runtime_env())
        self.actors = [self._actor_class.remote(k, self.replicas, cfg_t, self.threads) for k in range(self.replicas)]
        self._placed()
        problems = [p for p in self._answers([a.check_corpus.remote(fingerprint) for a in self.actors],
                                             "checking the corpus") if p]
        if problems:
            raise ClusterError(problems[0])

    def _connect(self) -> None:
        if self.address not in ("auto", "local"):
            _reachable(self.address)
        if ray.is_initialized():  # a caller (a test, a notebook) connected already: use that cluster
            return
        kwargs = {"include_dashboard": False, "log_to_driver": False, **self.init_kwargs}
        try:
            ray.init(address=self.address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ClusterError(f"--ray {self.address}: cannot connect to Ray ({first}); for a cluster run "
                               "'ray start --head' first, or use --ray local") from None
        self._owns_ray = True

    def _threads(self, cfg: Config) -> int:
        """T per actor: --threads, else the cluster's CPUs shared out; K actors of T CPUs must fit."""
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cpus = [int(n.get("Resources", {}).get("CPU", 0)) for n in nodes]
        T = cfg.threads or max(1, min(max(cpus, default=1), sum(cpus) // self.replicas))
        fits = sum(c // T for c in cpus)
        if fits < self.replicas:
            raise ClusterError(f"--replicas {self.replicas} x --threads {T} cannot be placed: the cluster's "
                               f"{len(nodes)} node(s) have {sum(cpus)} CPUs ({', '.join(map(str, cpus))}), room for "
                               f"{fits} replica(s); lower --replicas or --threads, or add nodes")
        return T

    @staticmethod
    def _runtime_env() -> dict:
        cache = os.environ.get("NUMBA_CACHE_DIR")  # a shared cache, so actors do not recompile the kernels
        return {"runtime_env": {"env_vars": {"NUMBA_CACHE_DIR": cache}}} if cache else {}

    def _placed(self) -> None:
        try:
            ray.get([a.where.remote() for a in self.actors], timeout=READY_SECONDS)
        except GetTimeoutError:
            raise ClusterError(f"the {self.replicas} replica actors were not all placed within {READY_SECONDS:.0f} s "
                               "(too few free CPUs or too little memory on the nodes); lower --replicas or "
                               "--threads") from None

    # -- counting -----------------------------------------------------------------------
    def count(self, cfg: Config, corpus: Corpus) -> CountResult | None:
        """The vocabulary's counts, by the actors (see the module docstring), each actor's tables
        within ``count_memory`` (as one machine's threads share it). None when a table reached
        its bound: such a count spills to disk and merges its runs, which the driver does."""
        splits = make_splits(corpus, self.replicas * self.threads)
        per = -(-len(splits) // self.replicas)  # (a corpus of one part never comes here: the driver counts it early)
        shares = [splits[k * per:(k + 1) * per] for k in range(self.replicas)]
        try:
            stretches = ray.get([a.count.remote(s, cfg.count_memory) for a, s in zip(self.actors, shares) if s])
        except (RayActorError, RayTaskError, ObjectLostError, OwnerDiedError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ClusterError(f"counting the vocabulary on the cluster failed ({first}); nothing was trained: "
                               "run the command again") from None
        if any(s is None for s in stretches):
            return None
        first = stretches[0][0]  # the merge writes into it; object-store arrays are read-only
        for name in ("slots", "arena", "offsets", "counts", "state"):
            a = getattr(first, name)
            if a is not None and not a.flags.writeable:
                setattr(first, name, a.copy())
        return merge_counted(stretches)

    # -- training -----------------------------------------------------------------------
    def start(self, cfg: Config, vocab: Vocab, model: Model, states: list[TrainState]) -> None:
        self.job_cfg, self.vocab_size = cfg, len(vocab)
        self._vocab_ref = ray.put((list(vocab.words), np.asarray(vocab.counts), vocab.epoch_words))
        fresh = all(s.clock == 0 and s.epoch == 0 and s.rng is None for s in states)
        arrays_ref = None if fresh else ray.put((model.input_table(), model.w_out, model.bias))  # fresh: built on each actor
        problems = self._answers([a.start.remote(self._vocab_ref, arrays_ref, s.to_json(), s.rng, k, self.replicas,
                                                 self._cfg_t) for k, (a, s) in enumerate(zip(self.actors, states))],
                                 "building their models")
        problems = [p for p in problems if p]
        if problems:
            raise ClusterError(problems[0])

    def _answers(self, refs: list, what: str) -> list:
        """Every actor's answer to a call outside the rounds, within the round timeout: a node
        that hangs there is a one-line ClusterError, not a job that waits forever."""
        try:
            return ray.get(refs, timeout=self.round_timeout)
        except GetTimeoutError:
            raise ClusterError(f"the replica actors did not all answer within {self.round_timeout:.0f} s ({what}); "
                               "a node may be hung or overloaded: run the command again (--resume if a "
                               "checkpoint was written)") from None

    def train_round(self, plans: dict[int, RoundPlan], stop, tick) -> dict[int, RoundResult | ReplicaLost]:
        """Every planned actor's span; ``tick`` runs here while they train. An actor that has not
        answered within ``round_timeout`` seconds is a lost replica (killed: Ray restarts it)."""
        self.rounds += 1
        doomed, kind = self.fail.get(self.rounds, (None, ""))
        refs = {k: self.actors[k].run.remote(p, {"run": "die", "hang": "hang"}.get(kind, "") if doomed == k else "")
                for k, p in plans.items()}
        timeout = max([self.round_timeout] + [4 * p.seconds for p in plans.values() if p.seconds])
        deadline = time.monotonic() + timeout
        pending = list(refs.values())
        while pending and time.monotonic() < deadline:
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=TICK_SECONDS)
            tick()
        out: dict[int, RoundResult | ReplicaLost] = {}
        for k, ref in refs.items():
            if ref in pending:
                ray.kill(self.actors[k], no_restart=False)
                out[k] = ReplicaLost(k, f"no answer within the round timeout of {timeout:.0f} s")
            else:
                out[k] = self._get(k, ref)
        return out

    def _get(self, k: int, ref):
        try:
            return ray.get(ref)
        except RayActorError as exc:
            return ReplicaLost(k, f"its process died ({type(exc).__name__})")
        except RayTaskError as exc:
            if isinstance(exc.cause, W2VError):
                raise exc.cause from None  # e.g. DivergenceError: the job's error, not a lost replica
            raise

    def progress(self) -> None:
        return None  # the actors report at the round's end

    def check_finite(self) -> bool:
        return True  # each actor probes its own rows after its span (Actor.run) and raises DivergenceError

    def sync(self, rows: int, skip: frozenset[int] = frozenset(), every_row: bool = False) -> SyncStats:
        """Rows [0, rows) averaged among the actors not in ``skip``, a stretch of at most
        ``SYNC_STREAM_BYTES`` of rows at a time (a full sync never holds a whole model copy in
        flight); within a stretch actor j reduces block j, on the mesh the live actors form
        (again after a loss). Raises ``ReplicaLost`` naming an actor that died on the way (the
        driver redoes the sync)."""
        live = [k for k in range(self.replicas) if k not in skip]
        doomed = self.fail.pop(self.rounds, (None, ""))
        if self._mesh != tuple(live):
            self._form_mesh(live)
        sub = self.job_cfg.subword_settings()
        sent = sum(self._sync_stretch(live, lo, hi, every_row, doomed, bits)
                   for lo, hi, bits in stretches(rows, self.vocab_size, sub, self.job_cfg.dim))
        return SyncStats(rows, sent)

    def _form_mesh(self, live: list[int]) -> None:
        """Link the live actors to each other (``mesh.Mesh``): each opens a port, then links to
        the others' with a token new to this mesh."""
        self._mesh, self._generation = None, self._generation + 1
        refs = {k: self.actors[k].mesh_listen.remote(self._generation) for k in live}
        got = self._await_sync(refs)
        addresses = [got[k] for k in live]
        token = secrets.token_bytes(16)
        self._await_sync({k: self.actors[k].mesh_connect.remote(self._generation, j, addresses, token,
                                                                 self.round_timeout)
                          for j, k in enumerate(live)})
        self._mesh = tuple(live)

    def _sync_stretch(self, live: list[int], lo: int, hi: int, every_row: bool, doomed, bits: int) -> int:
        """Rows [lo, hi) averaged by the live actors among themselves (``ReplicaActor.sync``):
        one call each; returns the bytes moved (pieces up + every mean to every actor)."""
        n = len(live)
        blocks = [(lo + a, lo + b) for a, b in row_blocks(hi - lo, n)]
        self._seq += 1
        faults = {"sync": "die", "sync_hang": "hang"}
        refs = {k: self.actors[k].sync.remote(blocks, self._seq, every_row,
                                              faults.get(doomed[1], "") if doomed[0] == k else "", bits)
                for k in live}
        got = self._await_sync(refs)
        return sum(b for b, _ in got.values()) + n * sum(m for _, m in got.values())

    def _await_sync(self, refs: dict) -> dict:
        """{replica: result} of one sync's calls. An actor that died, or did not answer, is raised
        as ``ReplicaLost`` once the others have given the sync up. A peer's death reaches its
        links before Ray reports it: after an actor's ``SyncAborted`` the others have
        ``ABORT_GRACE_SECONDS`` to fail as dead, then the first that does not answer is the one."""
        by_ref = {ref: k for k, ref in refs.items()}
        out, pending, aborted = {}, list(refs.values()), None
        deadline = time.monotonic() + self.round_timeout + 30.0  # the actors' own waits time out first
        while pending and time.monotonic() < deadline:
            done, pending = ray.wait(pending, num_returns=1, timeout=TICK_SECONDS)
            for ref in done:
                try:
                    out[by_ref[ref]] = ray.get(ref)
                except RayActorError:
                    raise self._give_up(refs, by_ref[ref], "its process died") from None
                except RayTaskError as exc:
                    if not isinstance(exc.cause, SyncAborted):
                        raise
                    aborted = aborted or exc.cause
                    deadline = min(deadline, time.monotonic() + ABORT_GRACE_SECONDS)
        if not pending and aborted is None:
            return out
        dead, why = self._first_dead([by_ref[ref] for ref in pending] or list(refs))
        if dead is None:
            what = f"failed ({aborted})" if aborted else f"took longer than {self.round_timeout + 30:.0f} s"
            raise ClusterError(f"a sync {what} with every replica alive; resume the run with w2v-nce train --resume "
                               "(a slow network: raise --sync-seconds)")
        raise self._give_up(refs, dead, why)

    def _give_up(self, refs: dict, lost: int, why: str) -> ReplicaLost:
        """Close the mesh on the other actors (their waits end), wait until they have left the
        call (none is still applying rows when the sync is redone), make Ray restart ``lost``;
        the ReplicaLost to raise. The next sync forms a new mesh."""
        ray.kill(self.actors[lost], no_restart=False)
        self._mesh = None
        others = [ref for k, ref in refs.items() if k != lost]
        for k in refs:
            if k != lost:
                self.actors[k].abort.remote(self._generation)
        ray.wait(others, num_returns=len(others), timeout=60.0)
        return ReplicaLost(lost, f"lost during a sync ({why})")

    def _first_dead(self, replicas) -> tuple[int | None, str]:
        """The first of ``replicas`` whose process died or does not answer within 10 s, and which."""
        for k in replicas:
            try:
                ray.get(self.actors[k].where.remote(), timeout=10)
            except RayActorError:
                return k, "its process died"
            except GetTimeoutError:
                return k, "it stopped answering"
        return None, ""

    def restore(self, replica: int, peer: int, state: TrainState) -> None:
        """Wait for Ray to restart the actor (it comes back empty), then refill it from ``peer``:
        the peer's matrices go through the object store, not through the driver."""
        actor = self.actors[replica]
        self._mesh = None  # it comes back without links
        deadline = time.time() + RESTART_SECONDS
        while True:
            try:
                ray.get(actor.where.remote(), timeout=10)
                break
            except (RayActorError, GetTimeoutError):
                if time.time() > deadline:  # no node has room for it: the run goes on without it
                    raise ReplicaGone(f"replica {replica} did not come back within {RESTART_SECONDS:.0f} s") from None
                time.sleep(0.5)
        problem = ray.get(actor.start.remote(self._vocab_ref, self.actors[peer].arrays.remote(), state.to_json(),
                                             state.rng, replica, self.replicas, self._cfg_t))
        if problem:
            raise ClusterError(problem)

    def shrink(self, gone: list[int], states: list[TrainState]) -> None:
        """Go on with the other actors, renumbered from 0, each keeping its (synced) model and
        taking the position ``states`` gives it (the lost replicas' parts handed out)."""
        self._mesh = None
        for k in gone:
            ray.kill(self.actors[k], no_restart=True)
        self.actors = [a for k, a in enumerate(self.actors) if k not in gone]
        self.replicas -= len(gone)
        self._cfg_t = replica_config(self.job_cfg, self.replicas, self.threads).to_dict()
        problems = self._answers([a.regroup.remote(k, self.replicas, self._cfg_t, s.to_json(), s.rng)
                                  for k, (a, s) in enumerate(zip(self.actors, states))], "taking the lost parts")
        if any(problems):
            raise ClusterError(next(p for p in problems if p))

    def arrays(self, replica: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Replica ``replica``'s (input table, w_out, bias), pulled a ``sync.stretches`` stretch at
        a time with the next one in flight: an object store holds two stretches of the model at
        most (256 MB each), never all of it; the driver ends with one copy (checkpoints, outputs)."""
        actor = self.actors[replica]
        out = tuple(np.empty(shape, np.float32) for shape in self._answers([actor.shapes.remote()], "their shapes")[0])
        todo = stretches(self.vocab_size, self.vocab_size, self.job_cfg.subword_settings(), self.job_cfg.dim)
        rows_in, rows_out = (sum(hi - lo for lo, hi, bits in todo if bits & b) for b in (TOUCHED_IN, TOUCHED_OUT))
        if (rows_in, rows_out) != (len(out[0]), len(out[1])):  # np.empty rows left unfilled would be saved
            raise ClusterError(f"replica {replica} holds {len(out[0])} input and {len(out[1])} output rows where the "
                               f"run has {rows_in} and {rows_out}; resume from the last checkpoint")
        pending: collections.deque = collections.deque()
        for lo, hi, bits in todo:
            pending.append((lo, hi, bits, actor.rows.remote(lo, hi, bits)))
            if len(pending) == 2:
                self._place(out, *pending.popleft())
        while pending:
            self._place(out, *pending.popleft())
        return out

    def _place(self, out: tuple, lo: int, hi: int, bits: int, ref) -> None:
        """Copy a stretch's rows (``ReplicaActor.rows``) into the driver's matrices."""
        block = self._answers([ref], "sending their model")[0]
        inputs, w_out, bias = out
        if bits & TOUCHED_IN:
            inputs[lo:hi] = block[0]
        if bits & TOUCHED_OUT:
            w_out[lo:hi], bias[lo:hi] = block[1], block[2]

    def close(self) -> None:
        """Kill the actors and stop the Ray this backend started; idempotent, and a second
        caller (the driver closes in a background thread, then again on its way out) waits."""
        with self._closing:
            for a in self.actors:
                ray.kill(a, no_restart=True)
            self.actors = []
            if self._owns_ray:
                ray.shutdown()
                self._owns_ray = False
