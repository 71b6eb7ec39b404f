"""Tiny trained runs for the embedding and evaluation tests (seconds each), and
the bit-for-bit comparison of two runs' checkpoints and a stop after a given step
(resume and equivalence tests)."""

from __future__ import annotations

import signal
from pathlib import Path

import torch

from parsers.api import train
from strae_graph.training.config import TrainConfig
from strae_graph.training.loop import Trainer
from tests.conftest import CORPUS


def assert_same_model_and_optimizer(sa: dict, sb: dict) -> None:
    """Two checkpoints (``load_checkpoint``) hold the same model and optimiser
    state, bit for bit."""
    for k in sa["model"]:
        assert torch.equal(sa["model"][k], sb["model"][k]), k
    for (ka, va), (kb, vb) in zip(sa["optimizer"]["state"].items(),
                                  sb["optimizer"]["state"].items()):  # fmt: skip
        assert ka == kb
        for name in va:
            assert torch.equal(va[name], vb[name]), (ka, name)


def stop_after(monkeypatch, step: int) -> None:
    """The run stops (as on SIGTERM: checkpoint, then return) after ``step`` steps."""
    real = Trainer._stop_after_step

    def stop(self: Trainer) -> bool:
        if self.step == step:
            self.stop.signal = signal.SIGTERM
        return real(self)

    monkeypatch.setattr(Trainer, "_stop_after_step", stop)


#: a benepar model that trains in seconds (its F1 means nothing)
TINY_BENEPAR = dict(
    held_out=10,
    dev=5,
    max_train=48,
    max_len=15,
    epochs=1,
    batch_size=16,
    d_model=32,
    num_layers=1,
    d_ff=64,
    d_label_hidden=32,
    progress=False,
)


def tiny_benepar_config(out: Path | str, **kw):
    """A :class:`BeneparTrainConfig` of :data:`TINY_BENEPAR`, ``kw`` overriding it."""
    from parsers.benepar_config import BeneparTrainConfig

    return BeneparTrainConfig(out=str(out), **{**TINY_BENEPAR, **kw})


def tiny_config(out: Path, **kw) -> TrainConfig:
    base = dict(corpus=str(CORPUS), out=str(out), max_sentences=300, dev_sentences=40,
                batch_size=64, epochs=1, min_count=1, log_every=1, progress=False,
                lr=1e-3)  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def tiny_run(out: Path, **kw) -> Path:
    """Train a tiny model into ``out`` and return it."""
    train(tiny_config(out, **kw), log=lambda s: None)
    return out
