"""Mutation fuzz of every file w2v-nce reads: random bytes and mutations of valid files.

    python scripts/fuzz_inputs.py                     # 1000 cases per reader, all readers
    python scripts/fuzz_inputs.py --cases 200 --readers vocab,vectors --seed 3

Builds small valid inputs once (a trained model directory of the bundled sample with a
checkpoint, its vocab.tsv, word2vec text and binary files, a config, a report's run directory,
the lock file of a run that was killed),
then for each reader feeds ``--cases`` mutants: bit flips, byte overwrites with edge values,
truncations, insertions, repeated chunks, random bytes; for text files also numbers replaced by
extreme ones (1e300, -1, nan, 10^30, ...); for .npz files also structure-aware mutants (arrays
with other shapes, dtypes, extreme values; npy headers that claim 10^11 rows).

A reader passes a case when it returns or raises one of our errors (``W2VError``: the CLI's one
line and exit code). Anything else is a traceback the user would see; a case running longer
than ``--timeout`` seconds is a hang; a dead worker is a crash. Each reader runs in its own
process, so a crash names its case. Prints a table and the first failures of each reader,
with a file that reproduces each (``--keep DIR``); exit status 1 if any case failed.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

EDGE_BYTES = [0x00, 0xFF, 0x7F, 0x80, 0x0A, 0x20, 0x2D, 0x39, 0xC3, 0xEF]
EDGE_NUMBERS = [b"1e300", b"-1", b"nan", b"inf", b"-inf", b"1000000000000000000000000000000", b"0", b"-0",
                b"99999999999", b"1e-320", b"0x10", b"", b"1.5", b"9" * 400]


# --------------------------------------------------------------------------------------------
# mutations
# --------------------------------------------------------------------------------------------
def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.05 and b"\n" in data[:64]:  # a binary file's text header: edge numbers
        return mutate_text(data, rng) if rng.random() < 0.5 else rng.choice(EDGE_NUMBERS) + b" 8" + data[data.index(b"\n"):]
    b = bytearray(data)
    kind = rng.randrange(7)
    if kind == 0 and b:  # bit flips
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 1 and b:  # edge values
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.choice(EDGE_BYTES)
    elif kind == 2:  # truncation
        b = b[: rng.randrange(len(b) + 1)]
    elif kind == 3:  # insertion
        i = rng.randrange(len(b) + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif kind == 4 and b:  # a chunk repeated
        i = rng.randrange(len(b))
        j = min(len(b), i + rng.randint(1, 64))
        b[j:j] = b[i:j] * rng.randint(1, 4)
    elif kind == 5:  # random bytes
        b = bytearray(rng.randrange(256) for _ in range(rng.randint(0, 256)))
    else:  # a chunk removed
        if b:
            i = rng.randrange(len(b))
            del b[i:i + rng.randint(1, 64)]
    return bytes(b)


def mutate_text(data: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.1:  # the first line (a header: counts, sizes) gets edge numbers
        head, _, rest = data.partition(b"\n")
        fields = [rng.choice(EDGE_NUMBERS) if re.fullmatch(rb"-?\d+", f) else f for f in head.split(b" ")]
        return b" ".join(fields) + b"\n" + rest
    numbers = list(re.finditer(rb"-?\d+(\.\d+)?(e-?\d+)?", data))
    if numbers and rng.random() < 0.5:
        out = data
        for m in sorted(rng.sample(numbers, min(len(numbers), rng.randint(1, 3))), key=lambda m: -m.start()):
            out = out[:m.start()] + rng.choice(EDGE_NUMBERS) + out[m.end():]
        return out
    return mutate_bytes(data, rng)


def npy_bytes(array) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def lying_npy(shape: tuple, dtype: str = "<f4") -> bytes:
    """An .npy whose header claims ``shape`` but holds a few bytes of data."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\x00" * 64


def mutate_npz(data: bytes, rng: random.Random) -> bytes:
    """Half the time raw bytes; else one array of the archive replaced by a mutant."""

    if rng.random() < 0.3:
        return mutate_bytes(data, rng)
    src = zipfile.ZipFile(io.BytesIO(data))
    names = src.namelist()
    target = rng.choice(names)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in names:
            raw = src.read(name)
            if name == target:
                raw = _mutant_array(raw, rng)
            if rng.random() < 0.03:
                continue  # an array missing
            dst.writestr(name, raw)
    return out.getvalue()


JSON_EDGES = [-1, 0, 2**31, 2**63, 10**30, -(10**18), 1e300, float("nan"), 0.5, "", "x" * 1000, None, [], {},
              [1, 2, 3], True]


def mutate_json(text: str, rng: random.Random) -> str:
    """The JSON document with one to three leaves (numbers, strings, lists' items) replaced by
    edge values: what reaches the code past the parser (positions, ids, counts, epochs)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    for _ in range(rng.randint(1, 3)):
        leaves: list = []

        def walk(node, parent, key):
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(v, node, k)
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, node, i)
            if parent is not None:
                leaves.append((parent, key))

        walk(doc, None, None)
        if not leaves:
            break
        parent, key = rng.choice(leaves)
        parent[key] = copy.deepcopy(rng.choice(JSON_EDGES))
    return json.dumps(doc)


def _mutant_array(raw: bytes, rng: random.Random) -> bytes:
    import numpy as np

    a = np.load(io.BytesIO(raw), allow_pickle=False)
    if a.ndim == 0 and a.dtype.kind == "U" and rng.random() < 0.6:  # a JSON record (config, state)
        return npy_bytes(np.array(mutate_json(str(a), rng)))
    if a.ndim == 0:  # its bytes are mutated
        return mutate_bytes(raw, rng)
    kind = rng.randrange(8)
    if kind == 0:
        return lying_npy((10**11,) + tuple(a.shape[1:]), a.dtype.str if a.dtype.kind != "U" else "<f4")
    if kind == 1:
        return npy_bytes(a.reshape(-1)[: max(0, a.size - rng.randint(1, 5))])
    if kind == 2 and a.dtype.kind in "iuf":
        b = a.copy().reshape(-1)
        if b.size:
            for _ in range(rng.randint(1, 3)):
                value = rng.choice([-1, 2**31 - 1, 10**6, 0] if a.dtype.kind in "iu"
                                   else [float("nan"), float("inf"), 1e30, -1.0])
                b[rng.randrange(b.size)] = np.array(value).astype(a.dtype)  # wraps in unsigned types
        return npy_bytes(b.reshape(a.shape))
    if kind == 3:
        with np.errstate(over="ignore"):
            return npy_bytes(a.astype(rng.choice(["<f8", "<i8", "<u1", "<f2"])) if a.dtype.kind in "iuf" else a)
    if kind == 4:
        return npy_bytes(np.zeros((0,) + a.shape[1:], dtype=a.dtype))
    if kind == 5:
        return npy_bytes(np.array("not an array"))
    if kind == 6:
        return mutate_bytes(raw, rng)
    return npy_bytes(a.T.copy() if a.ndim == 2 else a[::-1].copy())


# --------------------------------------------------------------------------------------------
# readers: (name, file name inside the case directory, mutate, read(case_dir))
# --------------------------------------------------------------------------------------------
def read_model(d):
    from w2v_nce.artifact.model import Model

    m = Model.load(d)
    m.nearest(m.words[0], 3) if len(m.words) else None


def read_checkpoint(d):
    from w2v_nce.run.checkpoint import load_checkpoint

    load_checkpoint(d)


def read_resume(d):
    """Resume training from the mutated checkpoint (the kernels see what it carries), in a copy
    of the run directory: the resumed run writes its outputs there."""
    from w2v_nce.run.job import resume_training

    work = tempfile.mkdtemp(prefix="fuzz-resume-")
    try:
        for f in os.listdir(d):
            shutil.copy(os.path.join(d, f), work)
        resume_training(work, quiet=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def read_vocab(d):
    from w2v_nce.vocabulary.vocab import Vocab

    Vocab.load_tsv(os.path.join(d, "vocab.tsv"))


def read_vectors_text(d):
    from w2v_nce.artifact.word2vec import load_word2vec

    load_word2vec(os.path.join(d, "vectors.txt"))


def read_vectors_binary(d):
    from w2v_nce.artifact.word2vec import load_word2vec

    load_word2vec(os.path.join(d, "vectors.bin"))


def read_config(d):
    from w2v_nce.config import Config, load_yaml, merge, validate

    path = os.path.join(d, "config.yaml")
    validate(merge(Config(), load_yaml(path), path), path)


def read_report(d):
    """Read the run directory and build the page and its charts (not written)."""
    from w2v_nce.report import load_run, make_charts, render_page

    runs = [load_run(d)]
    runs[0].name = "run"
    charts = make_charts(runs)
    render_page(runs, charts, {name: name + ".png" for name in charts})


def read_lock(d):
    """Take the output directory's lock over a mutated lock file, left (as by a run that died) a
    minute ago; a damaged one is taken over, a live holder refused."""
    import time

    from w2v_nce.run.lock import LOCK_FILE, OutputLock

    then = time.time() - 60
    os.utime(os.path.join(d, LOCK_FILE), (then, then))
    with OutputLock(d, ["w2v-nce", "train"]):
        pass


READERS = {
    "model": ("model.npz", mutate_npz, read_model),
    "checkpoint": ("checkpoint.npz", mutate_npz, read_checkpoint),
    "resume": ("checkpoint.npz", mutate_npz, read_resume),
    "vocab": ("vocab.tsv", mutate_text, read_vocab),
    "vectors": ("vectors.txt", mutate_text, read_vectors_text),
    "binary": ("vectors.bin", mutate_bytes, read_vectors_binary),
    "config": ("config.yaml", mutate_text, read_config),
    "report_jsonl": ("train.jsonl", mutate_text, read_report),
    "report_metrics": ("metrics.json", mutate_text, read_report),
    "lock": (".w2v-nce.lock", mutate_text, read_lock),
}


def build_originals(work: str) -> str:
    """A finished run of the bundled sample (+ vectors.bin) and a checkpoint of an unfinished one."""
    from w2v_nce.config import Config
    from w2v_nce.run.checkpoint import CHECKPOINT_FILE
    from w2v_nce.run.job import run_training

    run = os.path.join(work, "run")
    cfg = Config(corpus=[os.path.join(REPO, "data", "sample.txt")], output=run, dim=8, min_count=20, epochs=1,
                 threads=1, seed=1, quiet=True, binary=True, checkpoint_every=0)
    run_training(cfg)
    keep = os.path.join(work, "ck")
    _checkpointed_run(cfg, keep)
    shutil.copy(os.path.join(keep, CHECKPOINT_FILE), os.path.join(run, CHECKPOINT_FILE))
    _stale_lock(run)
    return run


def _stale_lock(directory: str) -> None:
    """The lock file a run leaves when it is SIGKILLed: its record, its process gone."""
    from w2v_nce.run.lock import LOCK_FILE, OutputLock

    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock = OutputLock(directory, ["w2v-nce", "train", "corpus.txt"])
    lock.acquire()  # written by this process; the record then names the child that has exited
    path = os.path.join(directory, LOCK_FILE)
    record = json.loads(open(path, encoding="utf-8").read())
    record["pid"] = int(child.stdout)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(record, fh)


def _checkpointed_run(cfg, out: str) -> None:
    """Interrupt a run after its first span so that it leaves checkpoint.npz."""
    import dataclasses
    import threading

    from w2v_nce.errors import Interrupted
    from w2v_nce.run.job import run_training
    from w2v_nce.train import Trainer

    halt = threading.Event()
    real = Trainer.train_chunk

    def stop_after_one(self, *a):
        real(self, *a)
        halt.set()

    Trainer.train_chunk = stop_after_one
    try:
        run_training(dataclasses.replace(cfg, output=out), halt=halt)
    except Interrupted:
        pass
    finally:
        Trainer.train_chunk = real


# --------------------------------------------------------------------------------------------
# one reader's cases, in a worker process
# --------------------------------------------------------------------------------------------
class Hang(Exception):
    pass


def worker(reader: str, original_dir: str, cases: int, seed: int, timeout: float, progress: str) -> None:
    from w2v_nce.errors import W2VError

    name, mutate, read = READERS[reader]
    rng = random.Random(f"{reader}-{seed}")
    data = open(os.path.join(original_dir, name), "rb").read()
    case_dir = tempfile.mkdtemp(prefix=f"fuzz-{reader}-")
    for f in os.listdir(original_dir):  # the other files of the run, unchanged
        if os.path.isfile(os.path.join(original_dir, f)):
            shutil.copy(os.path.join(original_dir, f), case_dir)

    def on_alarm(signum, frame):
        raise Hang()

    signal.signal(signal.SIGALRM, on_alarm)
    results = {"ok": 0, "error": 0, "traceback": [], "hang": []}
    for case in range(cases):
        mutant = mutate(data, rng)
        with open(os.path.join(case_dir, name), "wb") as fh:
            fh.write(mutant)
        with open(progress, "w") as fh:
            fh.write(str(case))
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            read(case_dir)
            results["ok"] += 1
        except W2VError:
            results["error"] += 1
        except Hang:
            results["hang"].append((case, "hang"))
        except BaseException as exc:  # what the user would see as a traceback
            results["traceback"].append((case, f"{type(exc).__name__}: {str(exc)[:160]}"))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    shutil.rmtree(case_dir, ignore_errors=True)
    print(json.dumps(results))


def mutant_of(reader: str, original_dir: str, seed: int, case: int) -> bytes:
    """Case ``case``'s bytes again (the mutations are seeded), to keep a reproducer."""
    name, mutate, _ = READERS[reader]
    rng = random.Random(f"{reader}-{seed}")
    data = open(os.path.join(original_dir, name), "rb").read()
    for _ in range(case):
        mutate(data, rng)
    return mutate(data, rng)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--readers", default=",".join(READERS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--keep", default=None, help="write each failing case's file here")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        reader, original = args.worker
        worker(reader, original, args.cases, args.seed, args.timeout, os.path.join(original, f".progress-{reader}"))
        return
    work = tempfile.mkdtemp(prefix="w2v-fuzz-")
    try:
        original = build_originals(work)
        failed = False
        print(f"{'reader':15} {'cases':>6} {'ok':>6} {'error':>6} {'traceback':>9} {'hang':>5} {'crash':>5}")
        for reader in args.readers.split(","):
            proc = subprocess.run([sys.executable, __file__, "--worker", reader, original, "--cases", str(args.cases),
                                   "--seed", str(args.seed), "--timeout", str(args.timeout)],
                                  capture_output=True, text=True)
            if proc.returncode != 0 or not proc.stdout.strip():
                case = open(os.path.join(original, f".progress-{reader}")).read()
                print(f"{reader:15} CRASH at case {case} (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
                failed = True
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{reader:15} {args.cases:6d} {r['ok']:6d} {r['error']:6d} {len(r['traceback']):9d} "
                  f"{len(r['hang']):5d} {0:5d}")
            for case, what in (r["traceback"] + r["hang"])[:5]:
                print(f"    case {case}: {what}")
                if args.keep:
                    os.makedirs(args.keep, exist_ok=True)
                    with open(os.path.join(args.keep, f"{reader}-{case}-{READERS[reader][0]}"), "wb") as fh:
                        fh.write(mutant_of(reader, original, args.seed, case))
            failed = failed or bool(r["traceback"] or r["hang"])
        sys.exit(1 if failed else 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
