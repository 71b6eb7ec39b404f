"""Presets: named sets of defaults for the training options (``strae train
--preset NAME``); an option given explicitly overrides its preset value.

:data:`DEFAULT` is the one source of the defaults: :class:`strae_graph.training.config.TrainConfig`
takes its field defaults from it, so editing this dictionary changes both
``TrainConfig()`` and ``strae train`` without ``--preset``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from strae_graph.training.config import TrainConfig

#: the paper's reference setting (SPEC.md): contrastive, scale exp(0.2), Adam
#: lr 1e-4 (1e-3 for ce / both), batch 512, 15 epochs, constant learning rate,
#: Uniform(-0.1, 0.1) embeddings, dropout 0.1 / input dropout 0.2, K = U = 10,
#: linear compose and decompose, tied Lambda, plain (un-entangled) trees
PAPER: dict[str, Any] = {
    "objective": "contrastive",
    "epochs": 15,
    "batch_size": 512,
    "lr": None,  # None: 1e-4 for contrastive, 1e-3 for ce / both
    "clip": 1.0,
    "warmup_steps": 0,
    "lr_decay": "none",
    "min_lr_ratio": 0.0,
    "channels": 10,
    "channel_size": 10,
    "tied": True,
    "activation": "none",
    "temperature": None,
    "log_scale": 0.2,  # the reference code's exp(0.2)
    "learn_temperature": False,
    "dropout": 0.1,
    "input_dropout": 0.2,
    "init_range": 0.1,
    "compose": "linear",
    "entangle": False,
    "vocab": "word",
    "bpe_size": 25_000,
}

#: the defaults of ``strae train``, ``strae compare`` and ``TrainConfig``: the
#: measured recipe (README.md, "Training recipe"; the lever table there gives each
#: choice's measured effect): the paper's model with entangled trees, diagonal
#: compose/decompose, objective both, temperature 0.1, Adam lr 3e-3, batch 128, one epoch
DEFAULT: dict[str, Any] = {
    **PAPER,
    "objective": "both",  # contrastive on inner nodes + cross-entropy on the leaves
    "epochs": 1,
    "batch_size": 128,
    "lr": 3e-3,
    "temperature": 0.1,
    "log_scale": None,
    "compose": "diagonal",
    "entangle": True,
}
#: the same values under the name the README's lever table uses
RECIPE = DEFAULT

PRESETS: dict[str, dict[str, Any]] = {"default": DEFAULT, "recipe": RECIPE, "paper": PAPER}
#: the options a preset sets
PRESET_KEYS: tuple[str, ...] = tuple(DEFAULT)
#: two conventions of one option: giving either replaces the preset's pair
SCALE_KEYS = ("temperature", "log_scale")


def resolve(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every preset option: preset ``name``'s values, overridden by ``given``
    (the options set explicitly).  Giving ``temperature`` or ``log_scale``
    replaces both of the preset's (they are one option)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    unknown = sorted(set(given) - set(PRESET_KEYS))
    if unknown:
        raise ValueError(f"not preset options: {', '.join(unknown)}")
    values = dict(PRESETS[name])
    if any(given.get(k) is not None for k in SCALE_KEYS):
        for k in SCALE_KEYS:
            values[k] = None
    values.update(given)
    return values


def preset_config(preset: str = "default", **options: Any) -> TrainConfig:
    """A :class:`TrainConfig` from preset ``preset``, with ``options`` (any
    TrainConfig fields) overriding it; records the preset's name."""
    from strae_graph.training.config import TrainConfig

    given = {k: v for k, v in options.items() if k in PRESET_KEYS}
    return TrainConfig(**{**options, **resolve(preset, given), "preset": preset})
