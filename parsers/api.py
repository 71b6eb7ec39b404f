"""The core's entry points with structure names resolved by the registry.

The core (:mod:`strae_graph`) never imports ``parsers``: training, embedding
and benchmarking are handed a parse (:mod:`strae_graph.trees.source`).  These
functions hand them the registry's, :func:`parsers.tree_cache.parse_cached`,
and check a structure name before any work (:mod:`parsers.structures`)::

    from parsers.api import load_embedder, train, train_config

    result = train(train_config(corpus="c.txt", out="runs/a", structure="spacy"))
    emb = load_embedder("runs/a")          # a run directory
    emb = load_embedder("strae-wiki10m")   # a model directory, or a shipped model's name
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from parsers.structures import (
    check_streamable,
    check_training_structure,
    options_to_record,
    parse_sentences,
    recorded_options,
)
from parsers.tree_cache import cacheable, parse_cached

if TYPE_CHECKING:
    import torch

    from strae_graph.embed.embedder import Embedder
    from strae_graph.training.config import TrainConfig
    from strae_graph.training.result import TrainResult
    from strae_graph.trees.source import Parse


def train_config(**values: Any) -> TrainConfig:
    """``TrainConfig(**values)`` with its structure checked against the registry
    (an unknown name, ``gold`` without a dataset of gold trees, or a parser's
    structure to stream from a text corpus, is a ValueError)."""
    from strae_graph.training.config import TrainConfig

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
    """:func:`strae_graph.training.train.train` (``resume``, ``log``, ``on_eval`` as there)
    with the registry's trees for ``cfg.structure``, made with
    :func:`run_structure_options` (recorded in the run's config.json)."""
    from strae_graph.training.train import train as core_train

    check_structure(cfg)
    cfg.structure_options = run_structure_options(cfg, resume=bool(kwargs.get("resume")))
    return core_train(cfg, parse=parse_with_options(cfg.structure, cfg.structure_options),
                      **kwargs)  # fmt: skip


def run_structure_options(cfg: TrainConfig, resume: bool = False) -> dict[str, Any]:
    """The parser options a run of ``cfg`` makes its trees with (and records): a
    `strae parse` dataset's recorded options; a resumed run's own, as its
    config.json recorded them (:func:`parsers.structures.recorded_options`: a run
    made before they were recorded keeps the defaults of then, e.g. benepar's
    right-binarised trees); else ``cfg.structure_options`` with every option
    whose default changed made explicit (:func:`parsers.structures.options_to_record`).
    ValueError when a resumed run is given other options than it recorded."""
    from strae_graph.data.parsed import is_parsed_corpus

    if is_parsed_corpus(cfg.corpus):
        return recorded_options(cfg.structure, cfg.structure_options)
    saved = _saved_train_record(cfg.out) if resume else None
    if saved is None:
        return options_to_record(cfg.structure, cfg.structure_options)
    was = recorded_options(cfg.structure, saved.get("structure_options"))
    given = cfg.structure_options
    if given is not None and options_to_record(cfg.structure, given) != was:
        raise ValueError(
            f"--resume {cfg.out}: the run made its {cfg.structure} trees with options {was}, "
            f"not {given}; resume it with its own"
        )
    return was


def _saved_train_record(out: str) -> dict[str, Any] | None:
    """The ``train`` settings of OUT/config.json (None when there is no readable one)."""
    import json
    from pathlib import Path

    try:
        record = json.loads((Path(out) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    train = record.get("train") if isinstance(record, dict) else None
    return train if isinstance(train, dict) else None


def load_embedder(
    source: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    checkpoint: str = "best",
) -> Embedder:
    """The embedder of a run directory (:meth:`strae_graph.embed.embedder.Embedder.from_run`,
    ``checkpoint`` as there), or of a model directory or shipped model's name
    (:meth:`~strae_graph.embed.embedder.Embedder.from_pretrained`), parsing sentences with
    the registry's structures: the model's own by default, with the parser options
    the run or model directory records, read back by
    :func:`parsers.structures.recorded_options` (one made before an option was
    recorded keeps the default of then: benepar's ``binarize`` is ``right`` there)."""
    from strae_graph.embed.embedder import Embedder
    from strae_graph.embed.model_dir import is_model_dir

    if is_model_dir(source):
        emb = Embedder.from_pretrained(source, device=device)
    else:
        emb = Embedder.from_run(source, device=device, checkpoint=checkpoint)
    emb.options = recorded_options(emb.structure, emb.options)
    emb.parse_fn = parse_with_options(emb.structure, emb.options)
    return emb


def parse_with_options(structure: str, options: dict[str, Any]) -> Parse:
    """:func:`parsers.tree_cache.parse_cached`, except that ``structure`` is parsed
    with the parser ``options`` (e.g. ``attach``) when there are any: through the
    tree cache when its key covers them (e.g. benepar's model and binarisation),
    else parsed each time."""
    if not options:
        return parse_cached
    cached = cacheable(structure, options)

    def parse(sentences, name: str, seed: int, *, first_index: int = 0) -> list:
        if name != structure:
            return parse_cached(sentences, name, seed, first_index=first_index)
        if cached:
            return parse_cached(sentences, name, seed, first_index=first_index, options=options)
        return parse_sentences(sentences, name, seed=seed, first_index=first_index, **options)

    return parse


#: the sentence-transformers module class of a StrAE (parsers.st_module, strae-graph[st])
ST_MODULE = "parsers.st_module.StrAEModule"


def sentence_transformers_files() -> dict[str, str]:
    """The two files that make a model directory a sentence-transformers model too
    (``SentenceTransformer(DIR, trust_remote_code=True)``): ``modules.json`` (one
    module, :data:`ST_MODULE`, saved in the directory's root) and
    ``config_sentence_transformers.json`` (cosine similarity, no prompts)."""
    import json

    modules = [{"idx": 0, "name": "0", "path": "", "type": ST_MODULE}]
    config = {"model_type": "SentenceTransformer", "prompts": {}, "default_prompt_name": None,
              "similarity_fn_name": "cosine"}  # fmt: skip
    return {"modules.json": json.dumps(modules, indent=2) + "\n",
            "config_sentence_transformers.json": json.dumps(config, indent=2) + "\n"}  # fmt: skip
