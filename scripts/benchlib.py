"""Shared pieces of the benchmarks: running a contender as a child process (wall time and peak
RSS from wait4), preparing peer-friendly corpus files, and scoring any vectors file with our
evaluator (the same code for every contender, so the comparison is fair).

Peers (gensim==4.4.0, fasttext-wheel) are benchmark-only dependencies: pip install them into
the environment that runs these scripts.
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")
EVAL = os.path.join(REPO, "data", "eval")


@dataclass
class Run:
    name: str
    wall: float
    peak_rss_mb: float
    returncode: int
    output: str


def _hwm_kib(pid: int) -> int:
    """VmHWM of a live process (KiB; 0 once it is gone): the peak RSS of its own memory map."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith("VmHWM:")), 0)
    except (OSError, ValueError):
        return 0


def run_child(name: str, argv: list[str], env: dict | None = None) -> Run:
    """Run argv; wall time and the child's own peak RSS (KiB -> MB).

    The peak is the child's VmHWM, read every 20 ms while it runs (the last reading before it
    exits), not wait4's ru_maxrss alone: Linux carries a forked child's maxrss over from the
    parent's memory at the fork, so after the parent has held a large model (say, scoring one),
    every later child reported the parent's size (seen: 1,707 MB for both contenders). wait4's
    figure is used only when /proc gave nothing."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
    reader.start()
    peak = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _hwm_kib(proc.pid))
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    reader.join()
    out = "".join(chunks)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        print(out[-3000:], file=sys.stderr)
        raise SystemExit(f"{name} failed with exit status {proc.returncode}")
    return Run(name, wall, (peak or usage.ru_maxrss) / 1024.0, proc.returncode, out)


def job_phases(out: str, wall: float) -> dict[str, float] | None:
    """A w2v-nce job's wall time by phase, from its metrics.json "seconds": "start" is what the
    job did not time itself (interpreter, imports, argument parsing: wall - the phases' sum).
    None for a peer's output directory."""
    path = os.path.join(out, "metrics.json")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        seconds = json.load(fh).get("seconds")
    if not seconds:
        return None
    return {"start": max(wall - sum(seconds.values()), 0.0), **seconds}


def phases_line(phases: dict[str, float], wall: float) -> str:
    """'train 82% | start 3% vocabulary 9% ...': each phase as a share of the whole job."""
    fixed = " ".join(f"{k} {v / wall:.0%}" for k, v in phases.items() if k != "train")
    return f"train {phases.get('train', 0.0) / wall:.0%} | fixed: {fixed}"


def lines_path(workdir: str, src: str, per_line: int = 1000) -> str:
    """Where ``lines_of_tokens`` of ``src`` is kept in ``workdir``: named by the source's name
    and size, so that a file made from one corpus is never reused for another."""
    return os.path.join(workdir, f"{os.path.basename(src)}.{os.path.getsize(src)}.{per_line}.txt")


def lines_of_tokens(src: str, dst: str, per_line: int = 1000, copies: int = 1) -> str:
    """Write ``src`` (text, .gz ok) as lines of ``per_line`` tokens (what gensim's readers need:
    its corpus_file mode silently drops most of a very long line). ``copies`` repeats the corpus."""
    if os.path.exists(dst):
        return dst
    opener = gzip.open if src.endswith(".gz") else open
    tmp = dst + ".tmp"
    words: list[str] = []
    with open(tmp, "w") as out:
        for _ in range(copies):
            with opener(src, "rt") as fh:
                partial = ""
                for block in iter(lambda: fh.read(1 << 22), ""):
                    new = (partial + block).split()
                    partial = new.pop() if new and not block[-1].isspace() else ""
                    words.extend(new)
                    full = len(words) - len(words) % per_line
                    for i in range(0, full, per_line):
                        out.write(" ".join(words[i:i + per_line]) + "\n")
                    words = words[full:]
                if partial:
                    words.append(partial)
        for i in range(0, len(words), per_line):
            out.write(" ".join(words[i:i + per_line]) + "\n")
    os.replace(tmp, dst)
    return dst


def concat_gz(src: str, dst: str, copies: int) -> str:
    """``copies`` of a gzip file's text, joined with a newline, gzip-compressed (level 1)."""
    if os.path.exists(dst):
        return dst
    with gzip.open(dst + ".tmp", "wb", compresslevel=1) as out:
        for i in range(copies):
            with gzip.open(src, "rb") as fh:
                while True:
                    b = fh.read(1 << 22)
                    if not b:
                        break
                    out.write(b)
            out.write(b"\n")
    os.replace(dst + ".tmp", dst)
    return dst


def score_vectors(path: str, restrict_vocab: int = 30000) -> dict:
    """Analogy accuracy (questions-words, 30k most frequent, case-insensitive, 3CosAdd),
    WordSim-353 and SimLex-999 Spearman, with our evaluator."""
    sys.path.insert(0, REPO)
    from w2v_nce.artifact.word2vec import load_word2vec
    from w2v_nce.evaluation.analogies import evaluate_analogies
    from w2v_nce.evaluation.similarity import evaluate_similarity

    words, vectors = load_word2vec(path)
    ana = evaluate_analogies(words, vectors, os.path.join(EVAL, "questions-words.txt"), restrict_vocab=restrict_vocab)
    ws = evaluate_similarity(words, vectors, os.path.join(EVAL, "wordsim353_combined.csv"))
    sl = evaluate_similarity(words, vectors, os.path.join(EVAL, "SimLex-999.txt"))
    return {"analogy": ana["accuracy"], "ws353": ws["spearman"], "simlex": sl["spearman"]}


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def w2v_argv(corpus: str, out: str, config: str | None, extra: list[str]) -> list[str]:
    argv = [sys.executable, "-m", "w2v_nce.cli", "train", corpus, "-o", out, "--force", "--quiet"]
    if config:
        argv += ["-c", config]
    return argv + extra


def gensim_argv(corpus_lines: str, out: str, epochs: int, threads: int, mode: str = "iterable",
                arch: str = "sg", seed: int = 1) -> list[str]:
    """gensim 4.4 as a whole job. ``mode`` corpus_file with threads > 1 decays lr at 1/threads of
    the intended speed within each epoch (see README, gensim's modes): compare quality against
    ``iterable`` or ``corpus_file`` with one thread."""
    return [sys.executable, os.path.join(HERE, "peer_gensim.py"), corpus_lines, out, str(epochs), str(threads), mode,
            arch, str(seed)]


def corpus_slice(src: str, dst: str, max_bytes: int) -> str:
    """The first ``max_bytes`` of ``src``'s text (.gz ok), cut back to a whitespace, as a file."""
    if os.path.exists(dst):
        return dst
    opener = gzip.open if src.endswith(".gz") else open
    with opener(src, "rb") as fh:
        data = fh.read(max_bytes)
    cut = max(data.rfind(b" "), data.rfind(b"\n"))
    with open(dst + ".tmp", "wb") as out:
        out.write(data[:cut if cut > 0 else len(data)] + b"\n")
    os.replace(dst + ".tmp", dst)
    return dst


def word2vec_c_argv(binary: str, corpus_lines: str, out: str, epochs: int, threads: int) -> list[str]:
    """word2vec.c's skip-gram run with the settings of configs/word2vec.yaml (its own defaults
    except -cbow 0 -hs 0), text output. word2vec.c is not on the package index: build it from
    its upstream repository (github.com/tmikolov/word2vec, ``make``; its makefile uses
    ``-Ofast -march=native -funroll-loops -pthread``) and pass the binary."""
    return [binary, "-train", corpus_lines, "-output", out, "-cbow", "0", "-size", "100", "-window", "5",
            "-negative", "5", "-hs", "0", "-sample", "1e-3", "-min-count", "5", "-alpha", "0.025",
            "-threads", str(threads), "-iter", str(epochs), "-binary", "0"]


def fasttext_argv(corpus_lines: str, out: str, epochs: int, threads: int) -> list[str]:
    return [sys.executable, os.path.join(HERE, "peer_fasttext.py"), corpus_lines, out, str(epochs), str(threads)]
