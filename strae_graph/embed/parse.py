"""Self-StrAE trees of sentences from a trained model (:func:`parse_with_model`):
the structure source ``self`` of a trained run (the merge loop itself is
:mod:`strae_graph.model.self_strae`)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from strae_graph.data.vocab import Vocabulary
from strae_graph.embed.load import load_run
from strae_graph.model.self_strae import induce_trees
from strae_graph.model.strae import StrAE
from strae_graph.training.checkpoint import CheckpointError
from strae_graph.trees.source import SELF
from strae_graph.trees.tree import Tree
from strae_graph.util.progress import progress as show

__all__ = ["check_self_run", "load_model", "parse_with_model"]


def check_self_run(run_dir: str | os.PathLike[str]) -> None:
    """CheckpointError unless ``run_dir`` is a Self-StrAE run (its ``config.json``
    records ``--structure self``): only such a run learned to induce trees."""
    path = Path(run_dir) / "config.json"
    try:
        structure = json.loads(path.read_text(encoding="utf-8"))["train"]["structure"]
    except FileNotFoundError:
        raise CheckpointError(f"{run_dir}: no config.json (not a training run?)") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: unreadable run configuration ({e})") from None
    if structure != SELF:
        raise CheckpointError(
            f"{run_dir}: not a Self-StrAE run (trained with --structure {structure}), so it "
            f"induces no trees of its own; its trees come from --structure {structure}"
        )


def load_model(run_dir: str | os.PathLike[str], device: str = "cpu") -> tuple[StrAE, Vocabulary]:
    """The model and vocabulary of a training run (best.pt, else last.pt), in eval
    mode, loaded and checked by :func:`strae_graph.embed.load.load_run`."""
    run = Path(run_dir)
    if not run.is_dir():
        raise CheckpointError(f"{run}: not a run directory")
    loaded = load_run(run, "best", device=device)
    if loaded.train_config.get("vocab") == "bpe":
        raise CheckpointError(
            f"{run}: a --vocab bpe run induces trees over BPE pieces, not over the given "
            "words; use strae_graph.embed.embedder.Embedder.from_run(RUN).parse(sentences)"
        )
    return loaded.model, loaded.vocab


def parse_with_model(
    model: StrAE | str | os.PathLike[str],
    sentences: Sequence[Sequence[str]],
    vocab: Vocabulary | None = None,
    batch_size: int = 512,
    progress: bool = False,
    device: str = "cpu",
) -> list[Tree]:
    """Self-StrAE trees of tokenised ``sentences`` (leaves = the given tokens).

    ``model``: a Self-StrAE run directory (its vocabulary is used; another run
    is a CheckpointError, :func:`check_self_run`) or a :class:`StrAE` together
    with ``vocab``.  Sentences are batched longest-first for speed;
    the trees come back in input order and do not depend on the batching.
    """
    if isinstance(model, StrAE):
        if vocab is None:
            raise ValueError("parse_with_model: a model object needs its vocabulary (vocab=...)")
    else:
        check_self_run(model)
        model, run_vocab = load_model(model, device)
        vocab = vocab or run_vocab
    for i, s in enumerate(sentences):
        if len(s) == 0:
            raise ValueError(f"sentence {i} is empty; every sentence needs at least one token")
    order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))
    trees: list[Tree | None] = [None] * len(sentences)
    with show(
        total=len(sentences), desc="self-strae parse", unit="sent", disable=not progress
    ) as bar:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            chunk = [list(sentences[i]) for i in idx]
            for i, t in zip(idx, induce_trees(model, [vocab.encode(s) for s in chunk], chunk)):
                trees[i] = t
            bar.update(len(idx))
    return trees  # type: ignore[return-value]
