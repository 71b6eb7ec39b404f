"""The core's entry points with structure names resolved by the registry.

The core (:mod:`strae_graph`) never imports ``parsers``: training, embedding
and benchmarking are handed a parse (:mod:`strae_graph.tree_source`).  These
functions hand them the registry's, :func:`parsers.tree_cache.parse_cached`,
and check a structure name before any work (:mod:`parsers.structures`)::

    from parsers.api import load_embedder, train, train_config

    result = train(train_config(corpus="c.txt", out="runs/a", structure="spacy"))
    emb = load_embedder("runs/a")
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from parsers.structures import check_streamable, check_training_structure
from parsers.tree_cache import parse_cached

if TYPE_CHECKING:
    import torch

    from strae_graph.embed import Embedder
    from strae_graph.train import TrainConfig, TrainResult


def train_config(**values: Any) -> TrainConfig:
    """``TrainConfig(**values)`` with its structure checked against the registry
    (an unknown name, ``gold`` without a dataset of gold trees, or a parser's
    structure to stream from a text corpus, is a ValueError)."""
    from strae_graph.train import TrainConfig

    cfg = TrainConfig(**values)
    check_structure(cfg)
    return cfg


def check_structure(cfg: TrainConfig) -> None:
    """ValueError unless a run of ``cfg`` can get the trees of its structure
    (:func:`parsers.structures.check_training_structure`, and with
    ``cfg.stream`` :func:`parsers.structures.check_streamable`)."""
    check_training_structure(cfg.structure, cfg.corpus)
    if cfg.stream:
        check_streamable(cfg.structure, cfg.corpus)


def train(cfg: TrainConfig, **kwargs: Any) -> TrainResult:
    """:func:`strae_graph.train.train` (``resume``, ``log``, ``on_eval`` as there)
    with the registry's trees for ``cfg.structure``."""
    from strae_graph.train import train as core_train

    check_structure(cfg)
    return core_train(cfg, parse=parse_cached, **kwargs)


def load_embedder(
    run_dir: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    checkpoint: str = "best",
) -> Embedder:
    """:meth:`strae_graph.embed.Embedder.from_run` that parses sentences with
    the registry's structures (the run's own by default)."""
    from strae_graph.embed import Embedder

    return Embedder.from_run(run_dir, device=device, checkpoint=checkpoint, parse=parse_cached)
