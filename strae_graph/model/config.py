"""The model's configuration: :class:`StrAEConfig`, its defaults (the paper's
model) and its checks, the one place for both: training (``TrainConfig``), the
presets and ``strae bench`` build their model through :func:`model_config`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from strae_graph.model.functions import ACTIVATIONS, COMPOSE_FUNCTIONS
from strae_graph.model.losses import logit_scale
from strae_graph.model.objectives import OBJECTIVES
from strae_graph.model.precision import validate_precision

#: a learned logit scale stays in this range (CLIP clamps at 100)
SCALE_RANGE = (1.0, 100.0)


def initial_learned_scale(temperature: float | None, log_scale: float | None) -> float:
    """The starting value of a learned logit scale; ValueError outside SCALE_RANGE."""
    s = logit_scale(temperature, log_scale)
    lo, hi = SCALE_RANGE
    if not lo <= s <= hi:
        raise ValueError(
            f"a learned logit scale starts from 1 / temperature or exp(log_scale), here "
            f"{s:.4g}, which must lie in [{lo:g}, {hi:g}] (temperature in [0.01, 1])"
        )
    return s


@dataclass
class StrAEConfig:
    """Model configuration; defaults are the paper's (E = 100 as 10 x 10)."""

    vocab_size: int
    channels: int = 10  # K
    channel_size: int = 10  # U
    objective: str = "contrastive"
    tied: bool = True  # Lambda = transposed embedding table
    activation: str = "none"
    dropout: float = 0.1  # on compose / decompose outputs
    input_dropout: float = 0.2  # on leaf embeddings
    init_range: float = 0.1
    temperature: float | None = None  # paper convention: S / tau
    log_scale: float | None = None  # reference convention: S * exp(log_scale); default 0.2
    learn_temperature: bool = False  # the logit scale is a parameter (see StrAE.scale)
    block_size: int = 2048  # rows of the similarity matrix held at once
    compose: str = "linear"  # compose / decompose functions: linear, or Banyan's diagonal
    precision: str = "fp32"  # of the losses' big products (strae_graph.model.precision)
    ce_weight: float = 0.5  # objective both: (1 - w) contrastive + w ce (0.5: their mean)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"unknown objective {self.objective!r}; choose one of {', '.join(OBJECTIVES)}"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}"
            )
        if self.compose not in COMPOSE_FUNCTIONS:
            raise ValueError(
                f"unknown compose function {self.compose!r}; "
                f"choose one of {', '.join(COMPOSE_FUNCTIONS)}"
            )
        for name in ("vocab_size", "channels", "channel_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("dropout", "input_dropout"):  # a probability; NaN fails too
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)}")
        logit_scale(self.temperature, self.log_scale)  # validates
        validate_precision(self.precision)
        if self.learn_temperature:
            initial_learned_scale(self.temperature, self.log_scale)
        if not 0 <= self.ce_weight <= 1:  # NaN fails too
            raise ValueError(f"ce_weight must lie in [0, 1], got {self.ce_weight}")
        if self.ce_weight != 0.5 and self.objective != "both":
            raise ValueError(
                f"ce_weight weighs the two terms of objective both; objective "
                f"{self.objective!r} has one term (leave ce_weight at 0.5)"
            )
        if not (math.isfinite(self.init_range) and self.init_range > 0):
            raise ValueError(f"init_range must be a positive number, got {self.init_range}")

    @property
    def embedding_size(self) -> int:
        return self.channels * self.channel_size

    def to_dict(self) -> dict:
        return asdict(self)


#: the model options a training run sets: every field of StrAEConfig but the
#: vocabulary size (the data's) and the block size (an implementation detail)
MODEL_OPTIONS: tuple[str, ...] = tuple(
    f.name for f in fields(StrAEConfig) if f.name not in ("vocab_size", "block_size")
)


def model_defaults() -> dict[str, Any]:
    """The default of every model option (the paper's model)."""
    defaults = StrAEConfig(vocab_size=1)
    return {k: getattr(defaults, k) for k in MODEL_OPTIONS}


def model_config(options: Any, vocab_size: int) -> StrAEConfig:
    """The model over ``vocab_size`` leaves that ``options`` (a mapping, or an
    object with the options as attributes, e.g. a ``TrainConfig``) describes;
    ValueError naming the first option that cannot work."""
    get = options.get if isinstance(options, Mapping) else lambda k: getattr(options, k)
    return StrAEConfig(vocab_size=vocab_size, **{k: get(k) for k in MODEL_OPTIONS})
