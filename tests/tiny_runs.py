"""Tiny trained runs for the embedding and evaluation tests (seconds each)."""

from __future__ import annotations

from pathlib import Path

from parsers.api import train
from strae_graph.train import TrainConfig
from tests.conftest import CORPUS


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
