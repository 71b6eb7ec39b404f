"""A training run's directory, apart from its checkpoints' contents: what a
fresh run writes first (``config.json``, ``vocab.json``, the tokenizer), the
checks before ``--resume`` (same settings, same corpus, a resumable
checkpoint), the logs cut back to the checkpoint, and the clean-up of a run
directory that a failed run created but never used."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from strae_graph.data.parsed import is_parsed_corpus, read_meta
from strae_graph.data.subwords import TOKENIZER_FILE, Subwords, load_run_subwords
from strae_graph.data.subwords_file import SubwordError
from strae_graph.data.subwords_train import tokenizers_version
from strae_graph.data.vocab import Vocabulary
from strae_graph.model.config import StrAEConfig
from strae_graph.training.checkpoint import CheckpointError, load_checkpoint
from strae_graph.training.compared import COMPARED, COMPARED_SINCE, pipeline_problems
from strae_graph.training.config import TrainConfig
from strae_graph.training.data import RunData
from strae_graph.training.interrupt import RunProgress
from strae_graph.training.lr_schedule import resume_problem
from strae_graph.training.run_files import check_run_files, clear_run_files, file_hashes
from strae_graph.util.dgl import dgl
from strae_graph.util.fileio import atomic_write_bytes, file_sha256, open_no_follow
from strae_graph.util.version import __version__

#: what a checkpoint needs to be resumed from
RESUME_KEYS = ("model", "optimizer", "vocab", "epoch", "next_batch", "step", "best_dev",
               "last_dev", "rng", "metrics_bytes")  # fmt: skip


# --- a fresh run ------------------------------------------------------------------
def environment() -> dict[str, str]:
    """The versions a run was trained with (recorded in ``config.json``)."""
    return {
        "strae_graph": __version__,
        "torch": torch.__version__,
        "dgl": dgl.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def config_record(
    cfg: TrainConfig,
    model_cfg: StrAEConfig,
    data: RunData,
    corpus_sha256: str | None,
    files: dict[str, str] | None = None,
) -> dict:
    """The content of ``config.json``: settings, versions, data hashes and counts;
    ``corpus_sha256``: the corpus file's hash, as the run computed it (None for a
    dataset directory); ``files``: the SHA-256 of the run's vocab.json and
    tokenizer.json (:func:`strae_graph.training.run_files.file_hashes`)."""
    corpus = Path(cfg.corpus)
    return {
        "train": asdict(cfg),
        "model": model_cfg.to_dict(),
        "environment": environment(),
        "data": {
            "corpus": str(corpus.resolve()),
            "corpus_sha256": corpus_sha256,
            "train_sentences": data.n_train,
            "dev_sentences": len(data.dev),
            "vocab_size": len(data.vocab),
            "vocab_kind": cfg.vocab,
            **({"tokenizers": tokenizers_version()} if data.subwords is not None else {}),
            "read": asdict(data.stats),
            "unknown_tokens": data.unknown_tokens,
        },
        "command": sys.argv,
        **({"files": files} if files is not None else {}),
    }


def start_run_files(
    out: Path, cfg: TrainConfig, model_cfg: StrAEConfig, data: RunData, corpus_sha256: str | None
) -> str:
    """What a run that starts from the beginning writes first: none of an earlier
    run's files (:func:`strae_graph.training.run_files.clear_run_files`), then
    ``vocab.json``, the BPE tokenizer (or none) and ``config.json`` with their
    hashes; returns the SHA-256 of ``config.json`` (recorded in every checkpoint)."""
    clear_run_files(out)
    vocab_json = data.vocab.to_json().encode()
    tokenizer_json = data.subwords.to_str().encode() if data.subwords is not None else None
    atomic_write_bytes(out / "vocab.json", vocab_json)
    if tokenizer_json is not None:
        atomic_write_bytes(out / TOKENIZER_FILE, tokenizer_json)
    files = file_hashes(vocab_json, tokenizer_json)
    record = json.dumps(config_record(cfg, model_cfg, data, corpus_sha256, files), indent=2)
    atomic_write_bytes(out / "config.json", record.encode())
    return hashlib.sha256(record.encode()).hexdigest()


# --- resuming ---------------------------------------------------------------------
def resume_state(cfg: TrainConfig, out: Path, log: Callable[[str], None]) -> dict | None:
    """The checkpoint to resume from, checked against ``cfg``; None when the run
    was stopped before its first checkpoint (it then starts from the beginning)."""
    last_path = out / "last.pt"
    if not last_path.exists():
        if (out / "config.json").exists():
            log(f"--resume: {out} has no checkpoint yet (stopped before the first one); "
                "starting from the beginning")  # fmt: skip
            return None
        raise CheckpointError(f"--resume: no checkpoint at {last_path} (not a run directory?)")
    state = load_checkpoint(last_path)
    missing = [k for k in RESUME_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{last_path}: not a resumable checkpoint (no {', '.join(missing)})")
    saved = state.get("train_config", {})
    diff = [k for k in COMPARED if k != "corpus" and k in saved and saved[k] != getattr(cfg, k)]
    pairs = [f"{k}: saved {saved[k]!r}, now {getattr(cfg, k)!r}" for k in diff]
    was = {k: saved.get(k, old) for k, old in COMPARED_SINCE.items()}
    pairs += [f"{k}: saved {v!r}, now {getattr(cfg, k)!r}" for k, v in was.items()
              if v != getattr(cfg, k)]  # fmt: skip
    pairs += pipeline_problems(saved, cfg)
    pairs += [p for p in [resume_problem(saved, cfg)] if p]
    if pairs:
        raise CheckpointError(
            f"{last_path}: cannot resume with a different configuration ({', '.join(pairs)})"
        )
    check_same_corpus(cfg, saved.get("corpus"), state.get("data", {}).get("corpus_sha256"),
                      last_path, log)  # fmt: skip
    for note in check_run_files(out, last_path, state):  # config.json, vocab.json, tokenizer
        log(f"note: {note}")
    if isinstance(state["epoch"], int) and cfg.epochs is not None and state["epoch"] > cfg.epochs:
        raise CheckpointError(
            f"{last_path}: already trained {state['epoch']} epochs, more than --epochs {cfg.epochs}"
        )
    return state


def resumed_vocabulary(
    state: dict[str, Any], cfg: TrainConfig, out: Path
) -> tuple[Vocabulary, Subwords | None]:
    """The vocabulary of the checkpoint ``state`` and, for ``--vocab bpe``, the
    run's BPE model (checked against it)."""
    try:
        vocab = Vocabulary(list(state["vocab"]))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{out / 'last.pt'}: unusable vocabulary: {e}") from None
    if cfg.vocab != "bpe":
        return vocab, None
    try:
        return vocab, load_run_subwords(out, vocab)
    except SubwordError as e:
        raise CheckpointError(f"--resume: {e}") from None


def check_same_corpus(
    cfg: TrainConfig,
    saved_path: str | None,
    saved_sha: str | None,
    last_path: Path,
    log: Callable[[str], None],
) -> None:
    """A resumed run must read the corpus its checkpoint was trained on: the
    same content (SHA-256) for a file, wherever it now lies (a moved corpus is
    reported, not refused); the same dataset directory for a `strae parse`
    dataset (or a copy with the same fingerprint)."""
    now = Path(cfg.corpus)
    moved = saved_path is not None and Path(saved_path).resolve() != now.resolve()
    if saved_sha and now.is_file():
        if file_sha256(now) != saved_sha:
            what = (f"is not the corpus {saved_path} it was trained on" if moved
                    else "has changed since this checkpoint was written")  # fmt: skip
            raise CheckpointError(
                f"{last_path}: the corpus {cfg.corpus} {what} (SHA-256 differs); resuming "
                "would train on other data"
            )
    elif moved:
        same = (
            is_parsed_corpus(now)
            and is_parsed_corpus(saved_path)
            and read_meta(now).get("fingerprint") == read_meta(saved_path).get("fingerprint")
        )
        if not same:
            raise CheckpointError(
                f"{last_path}: cannot resume with a different corpus (saved {saved_path!r}, "
                f"now {cfg.corpus!r})"
            )
    if moved:
        log(f"note: the corpus moved: {last_path} was trained on {saved_path}, now read from "
            f"{cfg.corpus} (same content)")  # fmt: skip


def truncate(path: Path, size: int) -> bool:
    """Cut ``path`` back to ``size`` bytes (lines written after the checkpoint);
    False when the file is shorter than that."""
    if not path.exists() and not path.is_symlink():
        return size == 0
    with open_no_follow(path, "r+b") as f:  # never through a link to another file
        have = os.fstat(f.fileno()).st_size
        if have > size:
            f.truncate(size)
    return have >= size


# --- a run that stops -------------------------------------------------------------
def remove_if_unused(created: list[Path], only_if_empty: bool = False) -> None:
    """Remove the run directory (and parents) that this call created when
    nothing but the lock file was written into it: a run that failed before
    writing anything leaves nothing behind."""
    for d in created:  # innermost first
        with contextlib.suppress(OSError):
            if not only_if_empty and d == created[0]:
                (d / ".lock").unlink(missing_ok=True)
            d.rmdir()  # fails (and stops) on a directory holding anything


def interrupted_note(last_path: Path, progress: RunProgress) -> str:
    """What a run stopped at once by a (second) Ctrl-C leaves: the sentence
    the command line prints, naming the checkpoint that stands."""
    step, at, stop = progress.step, progress.checkpoint_step, progress.stop
    how = "by a second Ctrl-C" if stop is not None and stop.requested else "by Ctrl-C"
    if at is not None and at == step:
        return f"stopped {how} after saving {last_path} (step {at}); continue with --resume"
    if last_path.exists():
        which = f" (step {at})" if at is not None else ""
        return (f"stopped at once {how}; no checkpoint was written now: the previous "
                f"checkpoint {last_path}{which} stands (the steps after it are lost); "
                "continue with --resume")  # fmt: skip
    return f"stopped at once {how}; no checkpoint was written (this run had none yet)"
