"""ThreadGroup: the first error stops the others and is raised on the caller's thread."""

import threading

import pytest

from w2v_nce.threads import ThreadGroup


def test_an_error_wakes_the_others_and_is_raised_here():
    halt, built = threading.Event(), threading.Event()
    seen_by_on_error = []
    finished = []

    def work(t):
        if t == 2:
            assert built.wait(10)  # on_error reads the group: fail once it exists
            raise ValueError("thread 2 failed")
        assert halt.wait(10)  # the others run until the error wakes them
        finished.append(t)

    def on_error():
        seen_by_on_error.append(group.errors[2])  # the error is kept before on_error runs
        halt.set()

    group = ThreadGroup(4, work, on_error=on_error)
    built.set()
    group.join()
    assert sorted(finished) == [0, 1, 3]
    assert isinstance(seen_by_on_error[0], ValueError)
    with pytest.raises(ValueError, match="thread 2 failed"):
        group.raise_error()


def test_the_lowest_thread_index_wins_and_base_exceptions_are_kept():
    def work(t):
        raise KeyboardInterrupt() if t == 1 else RuntimeError(f"t{t}")

    group = ThreadGroup(3, work)
    group.join()
    assert [type(e) for e in group.errors] == [RuntimeError, KeyboardInterrupt, RuntimeError]
    with pytest.raises(RuntimeError, match="t0"):
        group.raise_error()


def test_wait_says_when_every_thread_has_ended():
    gate = threading.Event()
    group = ThreadGroup(2, lambda t: gate.wait(10))
    assert group.wait(0.01) is False and group.alive()
    gate.set()
    while not group.wait(0.05):
        pass
    assert not group.alive()
    group.raise_error()  # no error: nothing raised
