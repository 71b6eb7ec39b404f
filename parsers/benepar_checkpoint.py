"""The files of an offline benepar training run (:mod:`parsers.benepar_train`):
the best model in benepar's single-file format (:func:`save_parser`, which
``benepar.Parser(path)`` loads) and the training state written atomically
after every epoch (:func:`save_state`: model, optimiser, learning-rate state,
random generator, history), from which ``--resume`` continues
(:func:`load_state`, refusing other settings than the run's)."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from parsers.benepar_config import BeneparTrainConfig
from strae_graph.data.corpus import DataError
from strae_graph.util.fileio import atomic_open

#: options that may differ between a run and its --resume
RESUMABLE_CHANGES = ("epochs", "stop_after", "progress", "threads")


def save_parser(parser: Any, path: str | Path) -> None:
    """Save in benepar's single-file format (loadable by ``benepar.Parser(path)``)."""
    import torch

    with atomic_open(path, "wb") as f:
        torch.save({"config": parser.config, "state_dict": parser.state_dict()}, f)


@dataclass
class TrainState:
    """Everything an epoch boundary needs to continue exactly."""

    epoch: int = 0
    step: int = 0
    lr_scale: float = 1.0
    best_dev: float = -1.0
    bad_epochs: int = 0
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def save_state(cfg: BeneparTrainConfig, parser: Any, optimizer: Any, st: TrainState) -> None:
    """Write the whole training state to ``cfg.checkpoint_path`` (atomically)."""
    import torch

    record = {
        "cfg": asdict(cfg),
        "parser_config": parser.config,
        "model": parser.state_dict(),
        "optimizer": optimizer.state_dict(),
        "state": asdict(st),
        "torch_rng": torch.get_rng_state(),
    }
    with atomic_open(cfg.checkpoint_path, "wb") as f:
        torch.save(record, f)


def load_state(cfg: BeneparTrainConfig, parser: Any, optimizer: Any) -> TrainState:
    """Restore ``cfg.checkpoint_path`` into ``parser`` and ``optimizer``."""
    import torch

    path = cfg.checkpoint_path
    if not path.is_file():
        raise DataError(f"{path}: no training state to resume (train without --resume first)")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
        saved_cfg = record["cfg"]
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise DataError(f"{path}: not a benepar-train state file ({e})") from None
    mine = asdict(cfg)
    changed = [k for k in mine if k not in RESUMABLE_CHANGES and saved_cfg.get(k) != mine[k]]
    if changed:
        diffs = ", ".join(f"{k}: {saved_cfg.get(k)!r} -> {mine[k]!r}" for k in changed)
        raise DataError(f"{path}: --resume with other settings than the run ({diffs})")
    parser.load_state_dict(record["model"])
    optimizer.load_state_dict(record["optimizer"])
    torch.set_rng_state(record["torch_rng"])
    return TrainState(**record["state"])
