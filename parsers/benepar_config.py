"""The settings of an offline benepar training run (:mod:`parsers.benepar_train`):
:class:`BeneparTrainConfig` (data, model size, optimisation; each checked with
a one-line error naming its flag) and :func:`hparams`, the benepar
hyper-parameters a ChartParser is built with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parsers.benepar_data import CASES


@dataclass
class BeneparTrainConfig:
    """Data, model size and optimisation of an offline benepar model."""

    trees: str | None = None  # default: the PTB sample
    out: str = "benepar_char.pt"
    checkpoint: str | None = None  # training state; default OUT.ckpt
    held_out: int = 400  # last trees: test set (parse-eval's gold)
    dev: int = 200  # trees before them: model selection
    max_train: int | None = None
    max_len: int | None = None  # drop training trees longer than this (cost grows as n^2)
    epochs: int = 60
    batch_size: int = 32
    lr: float = 8e-4
    warmup_steps: int = 160
    clip: float = 0.0  # gradient-norm clip; 0 = none (benepar's default)
    patience: int = 4  # epochs without dev gain before the learning rate is halved
    stop_after: int = 12  # epochs without dev gain before training stops
    d_model: int = 256
    num_layers: int = 4
    num_heads: int = 8
    d_char_emb: int = 64
    d_ff: int = 1024
    d_label_hidden: int = 256
    dropout: float = 0.2  # attention, residual and morpho-embedding dropout
    predict_tags: bool = True  # POS tags as an auxiliary loss (gold tags of the treebank)
    case: str = "mixed"
    lower_prob: float = 0.5
    seed: int = 0
    threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.case not in CASES:
            raise ValueError(f"--case must be one of {', '.join(CASES)}, not {self.case!r}")
        for name in ("epochs", "batch_size", "d_model", "num_layers", "num_heads", "patience",
                     "stop_after"):  # fmt: skip
            if getattr(self, name) < 1:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag} must be at least 1, not {getattr(self, name)}")
        if self.d_model % (2 * self.num_heads):
            raise ValueError(f"--d-model ({self.d_model}) must be a multiple of 2 x --heads")
        if not 0.0 <= self.lower_prob <= 1.0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError("--lower-prob must be in [0, 1] and --dropout in [0, 1)")
        if not self.lr > 0:
            raise ValueError(f"--lr must be positive, not {self.lr}")

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint or f"{self.out}.ckpt")


def hparams(cfg: BeneparTrainConfig) -> dict[str, Any]:
    """benepar hyper-parameters (the keys ChartParser reads) for ``cfg``."""
    return {
        "max_len_train": cfg.max_len or 0,
        "max_len_dev": 0,
        "batch_size": cfg.batch_size,
        "learning_rate": cfg.lr,
        "learning_rate_warmup_steps": cfg.warmup_steps,
        "clip_grad_norm": cfg.clip,
        "use_chars_lstm": True,
        "d_char_emb": cfg.d_char_emb,
        "char_lstm_input_dropout": cfg.dropout,
        "use_pretrained": False,
        "pretrained_model": "",
        "use_encoder": True,
        "d_model": cfg.d_model,
        "num_layers": cfg.num_layers,
        "num_heads": cfg.num_heads,
        "d_kv": cfg.d_model // cfg.num_heads,
        "d_ff": cfg.d_ff,
        "encoder_max_len": 512,
        "morpho_emb_dropout": cfg.dropout,
        "attention_dropout": cfg.dropout,
        "relu_dropout": 0.1,
        "residual_dropout": cfg.dropout,
        "force_root_constituent": True,
        "predict_tags": cfg.predict_tags,
        "d_label_hidden": cfg.d_label_hidden,
        "d_tag_hidden": cfg.d_label_hidden,
        "tag_loss_scale": 5.0,
    }
