"""A trained model as a directory anyone can load: no pickle, no optimiser.

``strae export RUN --format model --out DIR`` (:func:`export_run`) and
:meth:`strae_graph.embed.embedder.Embedder.save_pretrained` write, and
:meth:`~strae_graph.embed.embedder.Embedder.from_pretrained` (:func:`read_model_dir`) reads:

* ``config.json``: what rebuilds the model for inference (:data:`FORMAT`, the
  model configuration, the vocabulary kind and size, the structure the model
  was trained with and its options, the strae-graph version) and a record of
  its training (corpus, steps, minutes);
* ``model.safetensors``: the inference weights only (leaf embeddings, compose,
  decompose; no untied Lambda, learned logit scale or optimiser state);
* ``vocab.json`` (the leaves, id order) and, for a ``--vocab bpe`` model,
  ``tokenizer.json`` (HF ``tokenizers``);
* ``README.md``: a model card (:mod:`strae_graph.embed.model_card`).

Reading uses JSON, safetensors and ``tokenizers`` only; every damaged or
mismatched file is a :class:`ModelDirError` naming the file and the problem.
A name that is not a directory is looked up among the models shipped inside
the package (:data:`MODELS_DIR`, e.g. ``strae-wiki10m``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from strae_graph.data.subwords import TOKENIZER_FILE, Subwords, load_run_subwords
from strae_graph.data.subwords_file import SubwordError
from strae_graph.data.vocab import Vocabulary
from strae_graph.embed.load import TrainedRun
from strae_graph.embed.model_card import model_card, structure_record, training_record
from strae_graph.model.config import StrAEConfig
from strae_graph.model.strae import StrAE
from strae_graph.training.checkpoint import CheckpointError, describe_state_mismatch
from strae_graph.util.fileio import atomic_path, atomic_write_bytes, atomic_write_text
from strae_graph.util.version import __version__

if TYPE_CHECKING:
    from strae_graph.embed.embedder import Embedder

#: config.json's "format" of a model directory, and the layout version this code reads
FORMAT = "strae-graph-model"
FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE, CARD_FILE = (
    "config.json", "model.safetensors", "vocab.json", "README.md")  # fmt: skip
#: the parameters an embedding needs (state-dict prefixes)
INFERENCE_PREFIXES = ("embedding.", "compose.", "decompose.")
#: models shipped inside the package: MODELS_DIR/NAME is a model directory
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


class ModelDirError(CheckpointError):
    """A model directory that is missing, damaged or does not fit together."""


@dataclass
class ModelDir:
    """What :func:`read_model_dir` returns: the inference model (eval mode), its
    leaves and how sentences get their trees (``structure`` with ``options``)."""

    path: Path
    model: StrAE
    vocab: Vocabulary
    structure: str
    seed: int
    options: dict[str, Any]
    config: dict[str, Any]
    subwords: Subwords | None = None


def inference_config(config: StrAEConfig) -> StrAEConfig:
    """The trained configuration without what only training needs (an untied
    Lambda, a learned logit scale): its state dict holds the inference weights."""
    return replace(config, tied=True, learn_temperature=False)


def inference_state(model: StrAE) -> dict[str, torch.Tensor]:
    """The inference weights of ``model`` (contiguous CPU copies)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()
            if k.startswith(INFERENCE_PREFIXES)}  # fmt: skip


def inference_model(model: StrAE) -> StrAE:
    """A CPU copy of ``model`` with only its inference weights, in eval mode."""
    out = StrAE(inference_config(model.config))
    out.load_state_dict(inference_state(model))
    return out.eval()


# --- names -------------------------------------------------------------------------
def shipped_models() -> list[str]:
    """The names of the models shipped inside the package."""
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p.name for p in MODELS_DIR.iterdir() if (p / CONFIG_FILE).is_file())


def resolve_model(name_or_path: str | os.PathLike[str]) -> Path:
    """The model directory ``name_or_path`` means: an existing path, else the
    shipped model of that name; a :class:`ModelDirError` otherwise."""
    path = Path(name_or_path)
    if path.exists():
        return path
    name = str(name_or_path)
    if "/" not in name and (MODELS_DIR / name / CONFIG_FILE).is_file():
        return MODELS_DIR / name
    shipped = ", ".join(shipped_models()) or "none in this installation"
    raise ModelDirError(
        f"{name}: no such model directory, and not a model shipped with strae-graph "
        f"(shipped: {shipped}); a model from the Hugging Face Hub: "
        "Embedder.from_pretrained(huggingface_hub.snapshot_download(REPO_ID))"
    )


def is_model_dir(name_or_path: str | os.PathLike[str]) -> bool:
    """Whether ``name_or_path`` means a model directory (one holding
    ``model.safetensors`` or a model ``config.json``, or a shipped model's name)
    rather than a run directory or checkpoint."""
    path = Path(name_or_path)
    if not path.exists():
        return "/" not in str(name_or_path) and (MODELS_DIR / str(name_or_path)).is_dir()
    if not path.is_dir() or (path / WEIGHTS_FILE).is_file():
        return path.is_dir()
    try:
        record = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(record, dict) and record.get("format") == FORMAT


# --- writing -------------------------------------------------------------------------
def model_config_record(
    model: StrAE, vocab: Vocabulary, structure: dict[str, Any], training: dict[str, Any],
    subwords: Subwords | None,
) -> dict[str, Any]:  # fmt: skip
    """The content of a model directory's ``config.json``."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "strae_graph_version": __version__,
        "model": model.config.to_dict(),
        "embedding_size": model.config.embedding_size,
        "vocab": {"kind": "word" if subwords is None else "bpe", "size": len(vocab),
                  "file": VOCAB_FILE,
                  **({"tokenizer": TOKENIZER_FILE} if subwords is not None else {})},
        "tokenize": "strae_graph.data.corpus.tokenize: lower-cased words, punctuation split off",
        "structure": structure,
        "weights": {"file": WEIGHTS_FILE, "dtype": "float32",
                    "keys": sorted(inference_state(model))},
        "training": training,
    }  # fmt: skip


def write_model_files(
    out: str | os.PathLike[str],
    model: StrAE,
    vocab: Vocabulary,
    structure: dict[str, Any],
    training: dict[str, Any],
    subwords: Subwords | None = None,
    card: str | None = None,
) -> Path:
    """Write a model directory's files into the existing directory ``out``, each
    atomically (``card``: the README.md text; None writes the standard card)."""
    from safetensors.torch import save

    out = Path(out)
    record = model_config_record(model, vocab, structure, training, subwords)
    metadata = {"format": "pt", "strae_graph": FORMAT}
    atomic_write_bytes(out / WEIGHTS_FILE, save(inference_state(model), metadata=metadata))
    atomic_write_text(out / VOCAB_FILE, vocab.to_json())
    if subwords is not None:
        subwords.save(out / TOKENIZER_FILE)
    else:
        (out / TOKENIZER_FILE).unlink(missing_ok=True)
    atomic_write_text(out / CARD_FILE, card if card is not None else model_card(record, out.name))
    atomic_write_text(out / CONFIG_FILE, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return out


def save_embedder(emb: Embedder, out: str | os.PathLike[str], card: str | None = None) -> Path:
    """:meth:`strae_graph.embed.embedder.Embedder.save_pretrained`: its inference weights,
    leaves, structure and (from a model directory) training record into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = inference_model(emb.model)
    structure = {"name": emb.structure, "seed": emb.seed, "options": emb.options}
    training = (emb.record or {}).get("training", {})
    return write_model_files(out, model, emb.vocab, structure, training, emb.subwords, card)


def export_run(
    run: TrainedRun,
    out: str | os.PathLike[str],
    card_extra: str = "",
    overwrite: bool = False,
    extra_files: dict[str, str] | None = None,
    structure: dict[str, Any] | None = None,
) -> Path:
    """Write ``run``'s model directory at ``out`` (a new directory, renamed into
    place whole; an existing non-empty one only with ``overwrite``).
    ``card_extra``: markdown added to the model card (e.g. its evaluation table);
    ``extra_files``: more files (name -> text), e.g. sentence-transformers' own;
    ``structure``: the structure record to write (default :func:`structure_record`;
    ``strae export`` passes it with the parser options read back by the registry)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ModelDirError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ModelDirError(f"{out}: exists and is not empty (another --out, or --overwrite)")
    if not out.parent.is_dir():
        raise ModelDirError(f"{out}: directory {out.parent} does not exist (create it first)")
    model = inference_model(run.model)
    structure, training = structure or structure_record(run), training_record(run)
    record = model_config_record(model, run.vocab, structure, training, run.subwords)
    card = model_card(record, out.name, card_extra)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        write_model_files(tmp, model, run.vocab, structure, training, run.subwords, card)
        for name, text in (extra_files or {}).items():
            atomic_write_text(tmp / name, text)
    return out


# --- reading -------------------------------------------------------------------------
def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ModelDirError(f"{path}: missing ({what})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ModelDirError(f"{path}: unreadable {what} ({type(e).__name__}: {e})") from None


def _read_config(path: Path) -> dict[str, Any]:
    record = _read_json(path / CONFIG_FILE, "the model configuration")
    where = path / CONFIG_FILE
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ModelDirError(
            f'{where}: not a strae-graph model configuration (no "format": "{FORMAT}"); '
            "a run directory loads with Embedder.from_run"
        )
    version = record.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelDirError(f"{where}: format_version {version!r} is newer than this strae-graph "
                            f"reads ({FORMAT_VERSION}); upgrade strae-graph")  # fmt: skip
    for key, kind in (("model", dict), ("vocab", dict), ("structure", dict)):
        if not isinstance(record.get(key), kind):
            raise ModelDirError(f"{where}: no {key!r} object")
    return record


def _read_vocab(path: Path, record: dict[str, Any]) -> tuple[Vocabulary, Subwords | None]:
    itos = _read_json(path / VOCAB_FILE, "the vocabulary")
    try:
        vocab = Vocabulary(list(itos))
    except (TypeError, ValueError) as e:
        raise ModelDirError(f"{path / VOCAB_FILE}: unusable vocabulary ({e})") from None
    kind = record["vocab"].get("kind")
    if kind not in ("word", "bpe"):
        raise ModelDirError(f"{path / CONFIG_FILE}: vocab kind {kind!r} is not word or bpe")
    if kind == "word":
        return vocab, None
    try:
        return vocab, load_run_subwords(path, vocab)
    except SubwordError as e:
        raise ModelDirError(f"{path}: a BPE model: {e}") from None


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    file = path / WEIGHTS_FILE
    if not file.is_file():
        raise ModelDirError(f"{file}: missing (the model's weights)")
    try:
        return load(file.read_bytes())
    except (SafetensorError, OSError, ValueError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelDirError(
            f"{file}: unreadable weights (truncated, or not a safetensors file): {why}"
        ) from None


def read_model_dir(name_or_path: str | os.PathLike[str], device: str = "cpu") -> ModelDir:
    """Load and check a model directory (or a shipped model's name): its
    configuration builds a model whose inference weights are exactly those in
    ``model.safetensors``, with as many embedding rows as the vocabulary."""
    path = resolve_model(name_or_path)
    if not path.is_dir():
        raise ModelDirError(f"{path}: not a directory (a model directory holds {CONFIG_FILE}, "
                            f"{WEIGHTS_FILE}, {VOCAB_FILE})")  # fmt: skip
    record = _read_config(path)
    try:
        config = inference_config(StrAEConfig(**record["model"]))
    except (TypeError, ValueError) as e:
        raise ModelDirError(f"{path / CONFIG_FILE}: unusable model configuration: {e}") from None
    vocab, subwords = _read_vocab(path, record)
    if len(vocab) != config.vocab_size:
        raise ModelDirError(f"{path}: {VOCAB_FILE} has {len(vocab)} entries but {CONFIG_FILE} "
                            f"says vocab_size {config.vocab_size}")  # fmt: skip
    weights = _read_weights(path)
    model = StrAE(config)
    problem = describe_state_mismatch(model.state_dict(), weights)
    if problem:
        raise ModelDirError(f"{path / WEIGHTS_FILE}: weights do not fit {CONFIG_FILE}: {problem}")
    model.load_state_dict(weights)
    structure = record["structure"]
    return ModelDir(path=path, model=model.to(device).eval(), vocab=vocab,
                    structure=str(structure.get("name", "balanced")),
                    seed=int(structure.get("seed", 0)),
                    options=dict(structure.get("options") or {}), config=record,
                    subwords=subwords)  # fmt: skip
