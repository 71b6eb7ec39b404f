"""The settings of ``strae bench`` (:class:`BenchConfig`, checked before any
work) and what the command line hands it: the plain-PyTorch yardstick
(:data:`PlainModel`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from strae_graph.bench.timing import CLOCKS
from strae_graph.data.corpus import DEFAULT_CORPUS, check_output_file
from strae_graph.model.objectives import OBJECTIVES
from strae_graph.trees.tree import Tree

#: builds the plain-PyTorch yardstick of a batch from its trees and token ids
#: (``benchmarks.plain_model.PlainFrontierModel``): ``up(model)``, ``down(model,
#: up)`` and ``forward_loss(model)`` compute what the library computes
PlainModel = Callable[[Sequence[Tree], list[list[int]]], Any]


#: where ``strae bench`` writes its JSON record by default (``runs/`` is created)
BENCH_JSON = "runs/bench.json"


@dataclass
class BenchConfig:
    corpus: str = str(DEFAULT_CORPUS)
    structures: Sequence[str] = ("balanced",)  # strae bench: every heuristic (parsers)
    objectives: Sequence[str] = OBJECTIVES
    batch_size: int = 128
    steps: int = 3  # timed steps (distinct batches) per case
    warmup: int = 1
    vocab_sentences: int = 20_000  # the vocabulary is built from this many sentences
    max_vocab: int = 25_000
    max_length: int = 200
    channels: int = 10
    channel_size: int = 10
    #: training presets to time (strae_graph.training.presets): each sets compose, entangle and lr
    settings: Sequence[str] = ("default",)
    compose: str | None = None  # override the setting's compose function
    threads: int | None = None
    clock: str = "wall"  # or "cpu": process CPU time, robust to a busy machine with 1 thread
    plain: bool = True
    seed: int = 0
    json: str | None = BENCH_JSON  # its folder must exist, except the default's runs/
    progress: bool = True
    precision: str = "fp32"  # of the losses' big products (strae_graph.model.precision)
    device: str = "cpu"
    #: head: the first sentences of the corpus; shuffled: drawn at random from the
    #: vocab_sentences read, as training draws its batches (consecutive sentences of
    #: one article repeat words, so head batches entangle more than training's)
    sample: str = "head"

    def __post_init__(self) -> None:
        validate_bench_config(self)


SAMPLES: tuple[str, ...] = ("head", "shuffled")


def validate_bench_config(cfg: BenchConfig) -> None:
    """ValueError naming the first setting that cannot work (before any work)."""
    at_least = {"batch_size": 1, "steps": 1, "warmup": 0, "vocab_sentences": 1, "max_vocab": 2,
                "max_length": 1, "channels": 1, "channel_size": 1, "seed": 0}  # fmt: skip
    for name, low in at_least.items():
        if getattr(cfg, name) < low:
            raise ValueError(f"{name} must be at least {low}, got {getattr(cfg, name)}")
    if cfg.threads is not None and cfg.threads < 1:
        raise ValueError(f"threads must be at least 1 (None: torch's default), got {cfg.threads}")
    if cfg.clock not in CLOCKS:
        raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {cfg.clock!r}")
    if cfg.json and cfg.json != BENCH_JSON:
        check_output_file(cfg.json)  # never creates a folder a user named
