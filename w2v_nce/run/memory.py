"""How much memory a run needs, checked against what the machine has before allocating.

One owner for the estimate: the single machine, every in-process replica and every Ray actor
check with ``check_memory`` (``copies`` replicas in one process multiply it).
"""

from __future__ import annotations

from .. import kernels as kern
from ..artifact.model import model_save_bytes
from ..config import Config
from ..errors import ResourceError

# glibc's mallopt parameter: how many malloc arenas threads may use
_M_ARENA_MAX = -8


def one_malloc_arena() -> None:
    """Ask glibc for one malloc arena, before the job starts its threads. By default each new
    thread (the counting, reading and training threads, again every epoch) may get an arena of
    its own whose freed memory is kept: peak RSS of a 5-epoch mix8 subword run 1,094 MB, 1,056
    with one arena, at the same speed (the kernels do not allocate; readers allocate a chunk at
    a time). A no-op where the C library has no mallopt."""
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 1)
    except (OSError, AttributeError):
        pass


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is none)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def estimate_memory(V: int, cfg: Config, word_bytes: int = 0) -> int:
    """Bytes the training allocates: w_in, w_out [V, D] float32, bias, noise tables, per-worker
    scratch, one more V x D float32 copy for writing outputs, and what saving the model or a
    checkpoint adds (``model_save_bytes``: the words' ``word_bytes`` of UTF-8, not their longest).
    With subwords: the n-gram rows (buckets x D float32, and their piece of the npz writer), no
    word rows in the compact layout (``hash_count`` >= 1), and each word's rows (at most
    (maxn - minn + 1) per character of <word>, + 1, each ``hash_count`` times; int32)."""
    matrices = 3 * V * cfg.dim * 4 + V * 4
    if cfg.subwords:
        per_entry = max(cfg.hash_count, 1)
        rows = V + per_entry * (max(cfg.maxn - cfg.minn + 1, 0) * (word_bytes + 2 * V) + V)
        matrices += cfg.buckets * cfg.dim * 4 + rows * (8 + 4) + 8 * (V + 1)
        if cfg.hash_count:
            matrices -= V * cfg.dim * 4
    tables = kern.tables_bytes(V)
    scratch = cfg.resolved_threads() * kern.scratch_bytes(V, cfg.dim, cfg.num_sampled, cfg.resolved_batch_size(),
                                                         cfg.window, cfg.max_sentence_len)
    return matrices + tables + scratch + model_save_bytes(V, cfg.dim, word_bytes)


def check_memory(V: int, cfg: Config, word_bytes: int = 0, copies: int = 1, where: str = "") -> None:
    """``ResourceError`` when ``copies`` runs of ``estimate_memory`` exceed 90% of what is available."""
    need = copies * estimate_memory(V, cfg, word_bytes)
    avail = available_memory()
    if avail is not None and need > 0.9 * avail:
        who = f"{copies} replicas" if copies > 1 else "training"
        raise ResourceError(
            f"{where}{who} need{'s' if copies == 1 else ''} about {need / 2**30:.1f} GiB for {V} words x {cfg.dim} "
            f"dims{f' and {cfg.buckets:,} n-gram buckets' if cfg.subwords else ''} but only {avail / 2**30:.1f} GiB "
            f"is available; lower --dim,{' --buckets,' if cfg.subwords else ''} --max-vocab or --replicas, "
            "or raise --min-count"
        )
