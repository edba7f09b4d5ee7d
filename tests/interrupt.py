"""A training job stopped mid-run, for the resume tests."""

from __future__ import annotations

import threading

import pytest

from w2v_nce.errors import Interrupted
from w2v_nce.run.job import run_training
from w2v_nce.train import Trainer


def run_interrupted(cfg, monkeypatch, after_calls: int = 1) -> None:
    """Run the job of ``cfg`` and halt it after the kernel's ``after_calls``-th chunk, as SIGINT
    would: it must raise Interrupted, leaving a checkpoint in ``cfg.output``. The kernel is
    restored afterwards."""
    halt, calls, original = threading.Event(), [0], Trainer.train_chunk

    def stop(self, *args):
        original(self, *args)
        calls[0] += 1
        if calls[0] >= after_calls:
            halt.set()

    with monkeypatch.context() as m:
        m.setattr(Trainer, "train_chunk", stop)
        with pytest.raises(Interrupted):
            run_training(cfg, halt=halt)
