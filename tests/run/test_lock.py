"""The output-directory lock: one writer per directory, a one-line refusal naming the other run,
stale locks taken over (and said so), the lock removed at exit and on error."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from w2v_nce.errors import OutputError
from w2v_nce.run.lock import LOCK_FILE, OutputLock

HOLD = """
import sys, time
from w2v_nce.run.lock import OutputLock
with OutputLock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""

RACE = """
import sys, time
from w2v_nce.errors import OutputError
from w2v_nce.run.lock import OutputLock
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
try:
    with OutputLock(sys.argv[1]):
        print("won", flush=True)
        time.sleep(1.5)
except OutputError:
    print("refused", flush=True)
"""


def _python(code: str, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], text=True, **kw)


def _dead_pid() -> int:
    p = _python("pass")
    p.wait()
    return p.pid


def _write_lock(directory, **record) -> str:
    path = os.path.join(directory, LOCK_FILE)
    with open(path, "w") as fh:
        json.dump(record, fh)
    return path


def test_a_second_writer_in_another_process_is_refused(tmp_path):
    holder = _python(HOLD, str(tmp_path), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputError) as err:
            OutputLock(str(tmp_path)).acquire()
        msg = str(err.value)
        assert f"{tmp_path} is being written by pid {holder.pid} on {socket.gethostname()} since " in msg
        assert "wait for it or choose another -o" in msg and "\n" not in msg
    finally:
        holder.communicate("")  # the holder leaves its with-block
    assert not os.path.exists(tmp_path / LOCK_FILE)
    with OutputLock(str(tmp_path)) as lock:  # free again
        assert lock.took_over is None and lock.note is None


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = _dead_pid()
    _write_lock(tmp_path, pid=dead, host=socket.gethostname(), started="2024-01-01T00:00:00", argv=["w2v-nce"])
    with OutputLock(str(tmp_path), argv=["me"]) as lock:
        assert lock.took_over["pid"] == dead
        assert f"pid {dead}" in lock.note and "no longer running" in lock.note
        record = json.load(open(tmp_path / LOCK_FILE))
        assert record["pid"] == os.getpid() and record["argv"] == ["me"]
        assert {"host", "started"} <= set(record)
    assert not os.path.exists(tmp_path / LOCK_FILE)


def test_an_unreadable_lock_is_taken_over(tmp_path):
    path = tmp_path / LOCK_FILE
    path.write_bytes(b"\x00not json")
    os.utime(path, (time.time() - 60, time.time() - 60))
    with OutputLock(str(tmp_path)) as lock:
        assert lock.took_over == {} and "unreadable" in lock.note


def test_a_reused_pid_does_not_keep_a_stale_lock(tmp_path):
    young = _python("import sys; sys.stdin.read()", stdin=subprocess.PIPE)  # alive, but younger than the lock
    try:
        time.sleep(0.2)
        _write_lock(tmp_path, pid=young.pid, host=socket.gethostname(), started="long ago",
                    started_unix=time.time() - 3600, argv=[])
        with OutputLock(str(tmp_path)) as lock:
            assert lock.took_over["pid"] == young.pid
    finally:
        young.communicate("")


def test_a_lock_from_another_host_is_assumed_live(tmp_path):
    _write_lock(tmp_path, pid=1, host="elsewhere.example", started="2024-05-01T10:00:00+0000", argv=[])
    with pytest.raises(OutputError, match="being written by pid 1 on elsewhere.example since 2024-05-01T10:00:00"):
        OutputLock(str(tmp_path)).acquire()


def test_the_lock_is_removed_at_exit_and_on_exception(tmp_path):
    with OutputLock(str(tmp_path)):
        assert os.path.exists(tmp_path / LOCK_FILE)
    assert not os.path.exists(tmp_path / LOCK_FILE)
    with pytest.raises(RuntimeError):
        with OutputLock(str(tmp_path)):
            raise RuntimeError("training failed")
    assert os.listdir(tmp_path) == []  # no lock, no temp or break files


def test_release_leaves_a_lock_that_is_no_longer_ours(tmp_path):
    with OutputLock(str(tmp_path)):
        _write_lock(tmp_path, pid=1, host="elsewhere.example", started="now", argv=[], token="theirs")
    assert json.load(open(tmp_path / LOCK_FILE))["token"] == "theirs"


@pytest.mark.parametrize("stale", [False, True])
def test_of_runs_started_together_exactly_one_writes(tmp_path, stale):
    if stale:  # all of them find a dead run's lock and try to take it over
        _write_lock(tmp_path, pid=_dead_pid(), host=socket.gethostname(), started="before", argv=[])
    start = str(time.time() + 1.0)
    racers = [_python(RACE, str(tmp_path), start, stdout=subprocess.PIPE) for _ in range(4)]
    outcomes = sorted(p.communicate()[0].strip() for p in racers)
    assert outcomes == ["refused", "refused", "refused", "won"]


def test_the_lock_file_is_readable_by_other_users(tmp_path):
    with OutputLock(str(tmp_path)):
        assert os.stat(tmp_path / LOCK_FILE).st_mode & 0o044 == 0o044


def test_a_lock_naming_a_pid_no_process_can_have_is_taken_over(tmp_path):
    """pid 2^70 (a damaged or forged file) is an unreadable lock: taken over, not an OverflowError."""
    lock = tmp_path / LOCK_FILE
    lock.write_text(json.dumps({"pid": 2**70, "host": socket.gethostname(), "started": "x"}))
    old = time.time() - 3600
    os.utime(lock, (old, old))
    with OutputLock(str(tmp_path)) as held:
        assert held.took_over == {} and "unreadable" in held.note
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_a_lock_path_that_is_a_directory_is_one_line_and_left_alone(tmp_path):
    (tmp_path / LOCK_FILE).mkdir()
    (tmp_path / LOCK_FILE / "keep").write_text("x")
    with pytest.raises(OutputError, match="is a directory, not a w2v-nce lock file"):
        OutputLock(str(tmp_path)).acquire()
    assert (tmp_path / LOCK_FILE / "keep").read_text() == "x"


def test_a_break_file_that_is_a_directory_is_one_line_not_try_again_forever(tmp_path):
    """A stale lock is taken over through a ``.break`` file; a directory there (no run makes one)
    used to make every try say "other runs keep taking it; try again"."""
    lock = tmp_path / LOCK_FILE
    lock.write_text(json.dumps({"pid": 2**70, "host": socket.gethostname(), "started": "x"}))
    old = time.time() - 3600
    os.utime(lock, (old, old))
    (tmp_path / (LOCK_FILE + ".break")).mkdir()
    with pytest.raises(OutputError, match=r"\.break is a directory.*remove it"):
        OutputLock(str(tmp_path)).acquire()
    assert lock.exists() and (tmp_path / (LOCK_FILE + ".break")).is_dir()  # nothing removed


def test_a_lock_nested_too_deeply_for_json_is_unreadable_not_a_traceback(tmp_path):
    lock = tmp_path / LOCK_FILE
    lock.write_text("[" * 100_000 + "]" * 100_000)
    old = time.time() - 3600
    os.utime(lock, (old, old))
    with OutputLock(str(tmp_path)) as held:
        assert held.took_over == {}
