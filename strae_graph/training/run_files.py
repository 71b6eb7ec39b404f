"""The files of a training run directory, and what is checked about them.

* :data:`RUN_FILES`: what ``strae train`` writes into a run directory, and
  :data:`RESULT_FILES`: what other commands write into one about its model
  (``strae compare``'s result and evaluation; ``strae eval --word2vec``'s
  baseline cache in ``baselines/``).  :func:`is_run_dir` recognises a run
  directory; :func:`clear_run_files` removes an old run's files before a fresh
  start over it (``--overwrite``), and nothing else.
* Hashes: ``config.json`` records the SHA-256 of ``vocab.json`` and of the BPE
  ``tokenizer.json`` (:func:`file_hashes`), every checkpoint the SHA-256 of
  ``config.json``.  :func:`check_run_files` checks a checkpoint against the
  run directory it is used with (``load_run``, ``strae verify``, ``--resume``):
  the vocabulary, the model and training settings, and those hashes.  Runs
  made before the hashes were recorded are checked without them (a note says so).

The hashes find edited files and checkpoints of another run; they do not
authenticate a run (whoever hands you one can make every hash fit).  What
keeps a run directory from running code is that nothing in it is unpickled
except with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from strae_graph.data.subwords import TOKENIZER_FILE
from strae_graph.model.config import StrAEConfig
from strae_graph.training.checkpoint import CheckpointError
from strae_graph.training.compared import COMPARED, PIPELINE, pipeline_problems
from strae_graph.util.fileio import file_sha256

#: the run's logs, appended to step by step and cut back to the checkpoint on resume
LOG_FILES = ("metrics.jsonl", "timing.jsonl", "curve.jsonl")
#: every file ``strae train`` writes into a run directory (and its lock, ``.lock``)
RUN_FILES = ("config.json", "vocab.json", TOKENIZER_FILE, "last.pt", "best.pt", *LOG_FILES)
#: a finished run's training config and result (strae compare's resume marker)
TRAIN_RESULT_FILE = "train_result.json"
#: strae compare's evaluation of a run, and its per-item arrays
EVAL_FILE, EVAL_ITEMS_FILE = "eval.json", "eval_items.npz"
RESULT_FILES = (TRAIN_RESULT_FILE, EVAL_FILE, EVAL_ITEMS_FILE)
#: the folder of a run's baselines (the word2vec cache of ``strae eval --word2vec``)
BASELINES = "baselines"
_BASELINE_FILE = re.compile(r"\.?word2vec-.*")
_NAMES = "|".join(re.escape(n) for n in (*RUN_FILES, *RESULT_FILES))
#: our files, and what an atomic write killed midway leaves (strae_graph.util.fileio.atomic_open)
_OURS = re.compile(rf"({_NAMES}|\.lock|{BASELINES})|\.({_NAMES})\..*\.tmp")


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` holds a run: a ``config.json`` written by ``strae train``,
    or nothing but the files a run writes (one stopped before its config)."""
    try:
        record = json.loads((path / "config.json").read_text(encoding="utf-8"))
        if isinstance(record, dict) and {"train", "model"} <= set(record):
            return True
    except (OSError, ValueError):
        pass
    return all(_OURS.fullmatch(n) for n in os.listdir(path))


def clear_run_files(out: Path) -> None:
    """Remove an earlier run's files from ``out`` (:data:`RUN_FILES`,
    :data:`RESULT_FILES`, the word2vec cache, leftovers of killed writes),
    leaving everything else: a fresh run never sits beside a stale ``best.pt``."""
    for name in os.listdir(out):
        if name != ".lock" and name != BASELINES and _OURS.fullmatch(name):
            (out / name).unlink(missing_ok=True)
    base = out / BASELINES
    if base.is_dir() and not base.is_symlink():
        for name in os.listdir(base):
            if _BASELINE_FILE.fullmatch(name) and (base / name).is_file():
                (base / name).unlink()
        with contextlib.suppress(OSError):
            base.rmdir()  # only when nothing else is in it


def file_hashes(vocab_json: bytes, tokenizer_json: bytes | None) -> dict[str, str]:
    """What ``config.json`` records under ``"files"``: name -> SHA-256."""
    import hashlib

    files = {"vocab.json": vocab_json, TOKENIZER_FILE: tokenizer_json}
    return {k: hashlib.sha256(v).hexdigest() for k, v in files.items() if v is not None}


# --- a checkpoint against its run directory ------------------------------------------
def check_run_files(run: Path, path: Path, state: Mapping[str, Any]) -> list[str]:
    """Check the checkpoint ``state`` (read from ``path``) against the files of
    the run directory ``run`` that are present: ``vocab.json`` holds its
    vocabulary, ``config.json`` its model and training settings and, when the
    checkpoint recorded one, has the same SHA-256; the files ``config.json``
    recorded hashes of are unchanged.  A :class:`CheckpointError` names the
    file; returns notes (a run made before hashes were recorded)."""
    vocab_json, config_json = run / "vocab.json", run / "config.json"
    if vocab_json.exists():
        _check_vocab(vocab_json, path, list(state.get("vocab", [])))
    if not config_json.exists():
        return []
    record = _read_json(config_json, "run configuration")
    if not isinstance(record, dict) or not isinstance(record.get("model"), dict):
        raise CheckpointError(f"{config_json}: not a run configuration (no model settings)")
    _check_settings(config_json, path, record, state)
    notes = []
    recorded = (state.get("files") or {}).get("config.json")
    if recorded is None:
        notes.append(f"{path}: written before checkpoints recorded the SHA-256 of config.json")
    elif recorded != file_sha256(config_json):
        raise CheckpointError(
            f"{path}: does not belong with {config_json} (its SHA-256 is not the one the "
            "checkpoint recorded): the file was edited, or the checkpoint comes from another run"
        )
    hashes = record.get("files")
    if not isinstance(hashes, dict):
        notes.append(f"{run}: made before strae recorded file hashes; its vocab.json and "
                     "tokenizer.json are checked against the checkpoint only")  # fmt: skip
        return notes
    for name, sha in hashes.items():
        f = run / name
        if name not in ("vocab.json", TOKENIZER_FILE):
            continue
        if not f.is_file():
            raise CheckpointError(f"{f}: missing ({config_json} records its SHA-256)")
        if file_sha256(f) != sha:
            raise CheckpointError(
                f"{f}: changed since the run was trained (its SHA-256 differs from the one "
                f"{config_json} recorded); it cannot be used"
            )
    return notes


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable {what} ({e})") from None


def _check_vocab(vocab_json: Path, path: Path, itos: list[str]) -> None:
    beside = _read_json(vocab_json, "vocabulary")
    if beside == itos:
        return
    if isinstance(beside, list) and len(beside) == len(itos):
        i = next(i for i, (a, b) in enumerate(zip(beside, itos)) if a != b)
        why = f"entry {i} is {beside[i]!r} there, {itos[i]!r} in the checkpoint"
    else:
        n = len(beside) if isinstance(beside, list) else "?"
        why = f"{len(itos)} vs {n} entries"
    raise CheckpointError(
        f"{path}: its vocabulary differs from {vocab_json} ({why}): the file was edited, "
        "or the checkpoint comes from another run"
    )


def _check_settings(
    config_json: Path, path: Path, record: Mapping[str, Any], state: Mapping[str, Any]
) -> None:
    """The model settings, and the training settings ``--resume`` compares."""
    model = dict(state.get("model_config", {}))
    if with_defaults(record["model"]) != with_defaults(model):
        raise CheckpointError(
            f"{path}: model configuration differs from {config_json} "
            f"({dict_diff(model, record['model'])}): the checkpoint comes from another run"
        )
    saved, now = record.get("train") or {}, state.get("train_config") or {}
    keys = [k for k in COMPARED if k != "corpus" and k in saved and k in now]
    diff = [f"{k}: {now[k]!r} vs {saved[k]!r}" for k in keys if now[k] != saved[k]]
    pipeline = SimpleNamespace(**{k: now.get(k, v) for k, v in PIPELINE.items()})
    diff += pipeline_problems(saved, pipeline)  # type: ignore[arg-type]
    if diff:
        raise CheckpointError(
            f"{path}: training settings differ from {config_json} ({', '.join(diff)}): "
            "the checkpoint comes from another run"
        )


def with_defaults(model_config: Any) -> Any:
    """A saved model configuration with the fields added since it was written
    (e.g. ``learn_temperature``) at their defaults; as saved when unusable."""
    try:
        return StrAEConfig(**model_config).to_dict()
    except (TypeError, ValueError):
        return model_config


def dict_diff(saved: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """``key: a vs b`` for every key whose values differ."""
    keys = sorted(set(saved) | set(now))
    diff = [f"{k}: {saved.get(k)!r} vs {now.get(k)!r}" for k in keys if saved.get(k) != now.get(k)]
    return ", ".join(diff)
