"""A short run of scripts/fuzz_inputs.py: mutants of every file we read end in our one-line
errors or a clean load, never a traceback, a hang or a crash (the script runs 1,000 a reader)."""

import subprocess
import sys

from tests.conftest import REPO


def test_mutated_inputs_never_escape_as_tracebacks():
    script = f"{REPO}/scripts/fuzz_inputs.py"
    r = subprocess.run([sys.executable, script, "--cases", "25", "--seed", "7", "--timeout", "20"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    rows = [line.split() for line in r.stdout.splitlines()[1:]]
    readers = {"model", "checkpoint", "resume", "vocab", "vectors", "binary", "config", "report_jsonl",
               "report_metrics", "lock"}
    assert {row[0] for row in rows} == readers, r.stdout  # every reader ran: a dropped one fails here
    assert all(row[1] == "25" and row[4:] == ["0", "0", "0"] for row in rows), r.stdout
