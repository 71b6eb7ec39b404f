"""The settings of a training run: :class:`TrainConfig` (recorded in
``config.json`` and in every checkpoint), its validation, and
:func:`preset_config` (a config from a preset of :mod:`strae_graph.training.presets`).
The model's options are checked where the model's configuration is
(:func:`strae_graph.model.config.model_config`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import torch

from strae_graph.data.corpus import DEFAULT_CORPUS, ON_ERROR
from strae_graph.data.parsed import is_parsed_corpus, read_meta
from strae_graph.data.subwords import VOCAB_KINDS
from strae_graph.model.config import model_config
from strae_graph.training.budget import validate_minutes
from strae_graph.training.lr_schedule import validate_schedule
from strae_graph.training.presets import DEFAULT, PRESET_KEYS, PRESETS, learning_rate, resolve
from strae_graph.training.threads import parse_threads


@dataclass
class TrainConfig:
    """Everything a training run depends on (recorded in config.json).

    The defaults of the preset options are ``strae_graph.training.presets.DEFAULT``;
    :func:`preset_config` builds a config from another preset.
    """

    corpus: str = str(DEFAULT_CORPUS)
    out: str = "runs/default"
    structure: str = "balanced"  # a name of parsers.structures (checked there, not here)
    # the parser options the trees are made with, recorded in config.json; filled in by the
    # layer that parses (parsers.api.train: every option whose default changed made
    # explicit, e.g. benepar's binarize) or, for a `strae parse` dataset, the options it
    # recorded; the core only records them.  None: not recorded (a run made before they
    # were, or trained without parsers.api), read back as the defaults a run was made
    # under then (parsers.structures.recorded_options)
    structure_options: dict[str, Any] | None = None
    objective: str = DEFAULT["objective"]
    epochs: int | None = DEFAULT["epochs"]  # None: until the budget (minutes, max_steps) is spent
    batch_size: int = DEFAULT["batch_size"]
    lr: float | None = DEFAULT["lr"]  # None: 1e-4 for contrastive, 1e-3 for ce / both
    clip: float = DEFAULT["clip"]
    max_sentences: int | None = 100_000
    dev_sentences: int = 1000
    max_length: int = 200
    min_count: int = 5
    max_vocab: int | None = 25_000
    vocab: str = DEFAULT["vocab"]  # leaves: "word", or "bpe" pieces (strae_graph.data.subwords)
    bpe_size: int = DEFAULT["bpe_size"]  # --vocab bpe: pieces in the BPE vocabulary
    channels: int = DEFAULT["channels"]
    channel_size: int = DEFAULT["channel_size"]
    tied: bool = DEFAULT["tied"]
    activation: str = DEFAULT["activation"]
    temperature: float | None = DEFAULT["temperature"]
    log_scale: float | None = DEFAULT["log_scale"]
    dropout: float = DEFAULT["dropout"]  # on compose / decompose outputs
    input_dropout: float = DEFAULT["input_dropout"]  # on leaf embeddings
    compose: str = DEFAULT["compose"]  # compose / decompose: linear or diagonal (Banyan)
    entangle: bool = DEFAULT["entangle"]  # identical spans of a batch are one node (DAG)
    seed: int = 0
    device: str = "cpu"
    log_every: int = 10
    checkpoint_every: int = 0  # steps; 0 = only at the end of each epoch (and on interrupt)
    on_error: str | None = None  # None: skip, but stop when most lines are not UTF-8 text
    on_nan: str = "stop"  # a non-finite loss or gradient: stop, or skip the batch
    progress: bool = True
    # --- levers (strae_graph.training.presets holds the defaults of the preset options) ---
    init_range: float = DEFAULT["init_range"]  # embeddings ~ Uniform(-r, r)
    learn_temperature: bool = DEFAULT["learn_temperature"]  # logit scale as a parameter
    ce_weight: float = DEFAULT["ce_weight"]  # objective both: CE's share of the loss
    warmup_steps: int = DEFAULT["warmup_steps"]  # strae_graph.training.lr_schedule
    lr_decay: str = DEFAULT["lr_decay"]
    min_lr_ratio: float = DEFAULT["min_lr_ratio"]
    minutes: float | None = None  # time budget (strae_graph.training.budget); may change on resume
    max_steps: int | None = None  # step budget (optimiser steps in all); may change on resume
    eval_every_minutes: float | None = None  # learning curve; may change on resume
    curve_tasks: tuple[str, ...] = ()  # for the CLI's curve evaluator (eval.curve)
    preset: str = "default"  # the preset's name, recorded (preset_config applies it)
    # --- the data pipeline (strae_graph.training.batches); older runs lack it: these defaults ---
    stream: bool = False  # read the corpus a window at a time (strae_graph.data.stream)
    order: str | None = None  # ORDERS; None: "bucketed" with stream, else "permutation"
    order_buffer: int = 64  # bucketed: the shuffle buffer, in global batches (OrderSpec)
    order_block: int = 128  # bucketed: consecutive sentences the block shuffle moves together
    # --- speed: precision is compared on resume (absent from older runs: fp32); the others
    # change only how fast a run goes (strae_graph.training.threads: the numbers do not depend
    # on them)
    precision: str = "fp32"  # of the losses' big products (strae_graph.model.precision)
    threads: str | int | None = None  # torch threads: None torch's default, N, or "auto"
    prefetch: int | None = None  # batches built ahead by a thread; None: 0 on CPU, 2 on CUDA

    @property
    def prefetch_depth(self) -> int:
        """Batches built ahead by a background thread (strae_graph.training.prefetch)."""
        if self.prefetch is not None:
            return self.prefetch
        return 2 if torch.device(self.device).type == "cuda" else 0

    def __post_init__(self) -> None:
        if is_parsed_corpus(self.corpus):  # a `strae parse` dataset: its trees decide
            meta = read_meta(self.corpus)
            self.structure = meta["structure"]
            if self.structure_options is None:
                self.structure_options = dict(meta.get("options") or {})
        if self.order is None:
            self.order = "bucketed" if self.stream else "permutation"
        validate_train_config(self)

    @property
    def learning_rate(self) -> float:
        return learning_rate(self.lr, self.objective)


ON_NAN: tuple[str, ...] = ("stop", "skip")

#: the largest learning rate a run accepts: Adam moves every parameter by up to about
#: ``lr`` a step, so a rate past this wrecks the model at its first step (and one past
#: float32's range overflows inside Adam)
MAX_LR = 10.0


def check_lr(name: str, value: float | None) -> None:
    """ValueError unless ``value`` (a learning rate; None: the objective's default)
    is a finite number in (0, :data:`MAX_LR`]."""
    if value is not None and not (math.isfinite(value) and 0 < value <= MAX_LR):
        raise ValueError(
            f"{name} must be a positive number of at most {MAX_LR:g} (Adam moves each "
            f"parameter by up to about lr a step), got {value:g}"
        )


#: the epoch orders: the legacy plain permutation of the training sentences (the
#: default), or strae_graph.data.order's block-shuffled, length-bucketed windows
#: (what a streamed run uses; an in-memory run may choose it to compare)
ORDERS: tuple[str, ...] = ("permutation", "bucketed")


def validate_train_config(cfg: TrainConfig) -> None:
    """Raise ValueError naming the first setting that cannot work."""
    model_config(cfg, vocab_size=1)  # the model's options: checked by the model's config
    # the structure name is the registry's to check (parsers.structures.check_training_structure)
    if cfg.on_error is not None and cfg.on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, got {cfg.on_error!r}")
    if cfg.vocab not in VOCAB_KINDS:
        raise ValueError(f"vocab must be one of {', '.join(VOCAB_KINDS)}, got {cfg.vocab!r}")
    if cfg.bpe_size < 2:
        raise ValueError(f"bpe_size must be at least 2, got {cfg.bpe_size}")
    if cfg.on_nan not in ON_NAN:
        raise ValueError(f"on_nan must be one of {', '.join(ON_NAN)}, got {cfg.on_nan!r}")
    validate_stream(cfg)
    if cfg.epochs is None and cfg.minutes is None and cfg.max_steps is None:
        raise ValueError("epochs may be None (train until the budget is spent) only with "
                         "minutes or max_steps")  # fmt: skip
    cfg.threads = parse_threads(cfg.threads)
    if cfg.prefetch is not None and cfg.prefetch < 0:
        raise ValueError(f"prefetch must be at least 0 (batches built ahead), got {cfg.prefetch}")
    at_least = {"epochs": 1, "batch_size": 1, "max_length": 1, "min_count": 1, "log_every": 1,
                "dev_sentences": 0,
                "checkpoint_every": 0, "seed": 0, "order_buffer": 1,
                "order_block": 1}  # fmt: skip
    for name, low in at_least.items():
        if getattr(cfg, name) is not None and getattr(cfg, name) < low:
            raise ValueError(f"{name} must be at least {low}, got {getattr(cfg, name)}")
    for name in ("max_sentences", "max_vocab"):
        v = getattr(cfg, name)
        if v is not None and v < (1 if name == "max_sentences" else 2):
            cli = ", 0 on the command line," if name == "max_sentences" else ""
            raise ValueError(f"{name} must be positive (or None{cli} for no limit), got {v}")
    check_lr("lr", cfg.lr)
    if not (math.isfinite(cfg.clip) and cfg.clip > 0):
        raise ValueError(f"clip must be a positive number, got {cfg.clip}")
    if cfg.preset not in PRESETS:
        raise ValueError(f"unknown preset {cfg.preset!r}; choose one of {', '.join(PRESETS)}")
    validate_schedule(cfg)
    validate_minutes("minutes", cfg.minutes)
    if cfg.max_steps is not None and not (isinstance(cfg.max_steps, int) and cfg.max_steps > 0):
        raise ValueError(f"max_steps must be a positive number of steps, got {cfg.max_steps}")
    validate_minutes("eval_every_minutes", cfg.eval_every_minutes)
    check_device(cfg.device)


def check_device(name: str | torch.device) -> torch.device:
    """The torch device ``name`` names (``cpu``, ``cuda:1``, ...); ValueError for
    an unknown name or a CUDA device on a machine or torch build without one."""
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"unknown device {str(name)!r} ({e})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(name)!r}: this torch build or machine has no CUDA GPU")
    return device


def validate_stream(cfg: TrainConfig) -> None:
    """The order and streaming settings (ValueError naming the setting)."""
    if cfg.order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {cfg.order!r}")
    if cfg.stream and cfg.order != "bucketed":
        raise ValueError(
            f"order {cfg.order!r} cannot stream: a streamed run (stream) reads a window of "
            "the bucketed order at a time; use order 'bucketed'"
        )


def train_config_fields() -> list[str]:
    """The names of :class:`TrainConfig`'s settings, in declaration order."""
    return [f.name for f in fields(TrainConfig)]


def preset_config(preset: str = "default", **options: Any) -> TrainConfig:
    """A :class:`TrainConfig` from preset ``preset``, with ``options`` (any
    TrainConfig fields) overriding it; records the preset's name."""
    given = {k: v for k, v in options.items() if k in PRESET_KEYS}
    return TrainConfig(**{**options, **resolve(preset, given), "preset": preset})
