"""Presets: named sets of defaults for the training options (``strae train
--preset NAME``); an option given explicitly overrides its preset value.

:data:`DEFAULT` is the one source of the defaults:
:class:`strae_graph.training.config.TrainConfig` takes its field defaults from it,
so editing this dictionary changes both ``TrainConfig()`` and ``strae train``
without ``--preset``; :func:`strae_graph.training.config.preset_config` builds a
config from a preset.  The model options of :data:`PAPER` are the model's own
defaults (:func:`strae_graph.model.config.model_defaults`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from strae_graph.model.config import model_defaults

#: the paper's reference setting (SPEC.md): contrastive, scale exp(0.2), Adam
#: lr 1e-4 (1e-3 for ce / both), batch 512, 15 epochs, constant learning rate,
#: Uniform(-0.1, 0.1) embeddings, dropout 0.1 / input dropout 0.2, K = U = 10,
#: linear compose and decompose, tied Lambda, plain (un-entangled) trees
PAPER: dict[str, Any] = {
    # the paper's model (strae_graph.model.config); precision is no preset option
    # (--precision: how the losses' products are computed, fp32 by default)
    **{k: v for k, v in model_defaults().items() if k != "precision"},
    "log_scale": 0.2,  # the reference code's exp(0.2), written out
    "epochs": 15,
    "batch_size": 512,
    "lr": None,  # None: 1e-4 for contrastive, 1e-3 for ce / both (learning_rate)
    "clip": 1.0,
    "warmup_steps": 0,
    "lr_decay": "none",
    "min_lr_ratio": 0.0,
    "vocab": "word",
    "bpe_size": 25_000,
    "entangle": False,
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


def learning_rate(lr: float | None, objective: str) -> float:
    """The learning rate of a run: ``lr``, or when it is None the paper's
    (1e-4 for contrastive, 1e-3 for ce and both)."""
    if lr is not None:
        return lr
    return 1e-4 if objective == "contrastive" else 1e-3
