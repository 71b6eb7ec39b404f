"""The settings a training run keeps: what ``--resume`` compares with the
checkpoint (:data:`COMPARED`, :data:`COMPARED_SINCE`, the data pipeline's
:data:`PIPELINE` and :func:`pipeline_problems`), and what a checkpoint is checked
against in its run directory's ``config.json``
(:mod:`strae_graph.training.run_files`)."""

from __future__ import annotations

from typing import Any

from strae_graph.training.config import TrainConfig

#: settings a resumed run must share with its checkpoint (epochs, minutes,
#: eval_every_minutes, log/checkpoint intervals, ... may change)
COMPARED = (
    "corpus", "structure", "objective", "batch_size", "max_sentences", "dev_sentences",
    "max_length", "min_count", "max_vocab", "channels", "channel_size", "tied", "activation",
    "temperature", "log_scale", "seed", "lr", "clip", "compose",
    "vocab", "bpe_size",
    "init_range", "learn_temperature", "warmup_steps", "lr_decay", "min_lr_ratio",
    "entangle",
)  # fmt: skip
#: settings added later, compared on resume too, with the value an older run had
COMPARED_SINCE = {"precision": "fp32", "ce_weight": 0.5}

#: the data pipeline's settings, compared on resume too; a checkpoint from before
#: they existed was trained in memory in the permutation order (the values here)
PIPELINE = {"stream": False, "order": "permutation", "order_buffer": TrainConfig.order_buffer,
            "order_block": TrainConfig.order_block}  # fmt: skip


def pipeline_problems(saved: dict[str, Any], cfg: TrainConfig) -> list[str]:
    """How ``cfg``'s data pipeline differs from the one a checkpoint saved with
    ``saved`` (its train config) was trained with: a resumed run must see the
    same batches.  The buffer and block matter for the bucketed order only."""
    was = {k: saved.get(k, default) for k, default in PIPELINE.items()}
    keys = ["stream", "order"]
    if was["order"] == cfg.order == "bucketed":
        keys += ["order_buffer", "order_block"]
    return [f"{k}: saved {was[k]!r}, now {getattr(cfg, k)!r}" for k in keys
            if was[k] != getattr(cfg, k)]  # fmt: skip
