"""A trained run loaded back, checked: :func:`load_run` is the one validated way
to get a trained model from ``best.pt`` / ``last.pt`` / a run directory:
configuration, vocabulary and weights are checked against each other and
against the files of its run directory (:mod:`strae_graph.training.run_files`;
the checkpoint file itself is :mod:`strae_graph.training.checkpoint`'s)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strae_graph.data.subwords import Subwords, load_run_subwords
from strae_graph.data.subwords_file import SubwordError
from strae_graph.data.vocab import Vocabulary
from strae_graph.model.config import StrAEConfig
from strae_graph.model.strae import StrAE
from strae_graph.training.checkpoint import (
    CheckpointError,
    describe_state_mismatch,
    load_checkpoint,
)
from strae_graph.training.run_files import check_run_files


@dataclass
class TrainedRun:
    """A validated trained model: ``model`` (eval mode), its vocabulary and
    configurations; ``subwords``: the BPE model of a ``--vocab bpe`` run."""

    model: StrAE
    vocab: Vocabulary
    model_config: StrAEConfig
    train_config: dict[str, Any]
    path: Path
    state: dict[str, Any] = field(repr=False)
    subwords: Subwords | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)  # e.g. a run made before file hashes


def resolve_checkpoint(source: str | os.PathLike[str], which: str = "best") -> Path:
    """The checkpoint file meant by ``source``: a ``.pt`` file, or a run directory
    (``which`` = ``"best"`` falls back to ``last.pt`` when there is no best yet)."""
    p = Path(source)
    if not p.exists():
        raise CheckpointError(f"{p}: no such run directory or checkpoint file")
    if p.is_file():
        return p
    if which not in ("best", "last"):
        raise CheckpointError(f"which must be 'best' or 'last', got {which!r}")
    best, last = p / "best.pt", p / "last.pt"
    if which == "best" and best.exists():
        return best
    if last.exists():
        return last
    raise CheckpointError(f"{p}: not a run directory (no best.pt or last.pt)")


def load_run(
    source: str | os.PathLike[str],
    which: str = "best",
    device: str = "cpu",
    expect_vocab: Vocabulary | None = None,
    run_dir: str | os.PathLike[str] | None = None,
) -> TrainedRun:
    """Load and validate a trained StrAE from a run directory or a ``.pt`` file.

    Checks (each failure is a :class:`CheckpointError` naming the file): the
    file's integrity, that its model configuration builds a model whose
    parameter names and shapes are those stored, that the vocabulary has the
    configured size, that the files of its run directory (``run_dir``, default
    the checkpoint's folder; when present) agree with it
    (:func:`strae_graph.training.run_files.check_run_files`: ``vocab.json``,
    ``config.json``, the hashes they recorded), and ``expect_vocab`` (when
    given).  A ``--vocab bpe`` run also needs ``tokenizer.json`` in the run
    directory, with exactly the checkpoint's pieces.
    """
    path = resolve_checkpoint(source, which)
    state = load_checkpoint(path, map_location="cpu")
    model_cfg, vocab = _saved_model(path, state)
    run = path.parent if run_dir is None else Path(run_dir)
    notes = check_run_files(run, path, state)
    if expect_vocab is not None and expect_vocab.itos != vocab.itos:
        raise CheckpointError(
            f"{path}: trained with another vocabulary ({len(vocab)} entries, "
            f"expected {len(expect_vocab)})"
        )
    subwords = _run_subwords(path, run, state, vocab)
    model = StrAE(model_cfg)
    problem = describe_state_mismatch(model.state_dict(), state["model"])
    if problem:
        raise CheckpointError(f"{path}: weights do not fit the model configuration: {problem}")
    model.load_state_dict(state["model"])
    model.to(device).eval()
    return TrainedRun(
        model=model,
        vocab=vocab,
        model_config=model_cfg,
        train_config=dict(state.get("train_config", {})),
        path=path,
        state=state,
        subwords=subwords,
        notes=notes,
    )


def _saved_model(path: Path, state: dict[str, Any]) -> tuple[StrAEConfig, Vocabulary]:
    """The checkpoint's model configuration and vocabulary, each usable, and of
    one size."""
    for key in ("model_config", "vocab"):
        if key not in state:
            raise CheckpointError(f"{path}: not a training checkpoint (no {key!r})")
    try:
        model_cfg = StrAEConfig(**state["model_config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: unusable model configuration: {e}") from None
    try:
        vocab = Vocabulary(list(state["vocab"]))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: unusable vocabulary: {e}") from None
    if len(vocab) != model_cfg.vocab_size:
        raise CheckpointError(
            f"{path}: vocabulary has {len(vocab)} entries but the model expects "
            f"{model_cfg.vocab_size}"
        )
    return model_cfg, vocab


def _run_subwords(
    path: Path, run: Path, state: dict[str, Any], vocab: Vocabulary
) -> Subwords | None:
    """A ``--vocab bpe`` run's BPE model (``tokenizer.json`` in the run directory
    ``run``, with exactly the checkpoint's pieces); None for a word vocabulary."""
    if state.get("train_config", {}).get("vocab") != "bpe":
        return None
    try:
        return load_run_subwords(run, vocab)
    except SubwordError as e:
        raise CheckpointError(f"{path}: a --vocab bpe checkpoint: {e}") from None
