"""The README.md model card of a model directory (:mod:`strae_graph.embed.model_dir`):
what the model is, how to load it, how it was trained, and (when the exporter
passes one) its ``strae eval`` table; and what a run's model directory records
about its training and structure."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from strae_graph.data.parsed import is_parsed_corpus, read_meta
from strae_graph.embed.load import TrainedRun


def _training_rows(training: dict[str, Any]) -> list[str]:
    labels = [
        ("corpus", "corpus"), ("corpus_sha256", "corpus SHA-256"),
        ("train_sentences", "training sentences"), ("steps", "optimiser steps"),
        ("epochs_done", "complete epochs"), ("minutes", "training minutes"),
        ("tokens_seen", "tokens seen"), ("preset", "preset"), ("objective", "objective"),
        ("batch_size", "batch size"), ("lr", "learning rate"), ("seed", "seed"),
        ("checkpoint", "checkpoint"), ("dev_loss", "dev loss"),
    ]  # fmt: skip
    return [f"| {label} | {training[k]} |" for k, label in labels if training.get(k) is not None]


def model_card(record: dict[str, Any], name: str, extra: str = "") -> str:
    """The model card of a model directory's ``config.json`` ``record``."""
    m, v, s = record["model"], record["vocab"], record["structure"]
    options = ", ".join(f"{k}={val}" for k, val in sorted(s.get("options", {}).items()))
    lines = [
        "---",
        "library_name: strae-graph",
        "tags: [sentence-embeddings, strae, structured-autoencoder, sentence-transformers]",
        "---",
        f"# {name}",
        "",
        "A StrAE (Structured AutoEncoder; Opper, Prokhorov & Siddharth, EMNLP 2023) trained "
        "with [strae-graph](https://pypi.org/project/strae-graph/): a sentence's embedding is "
        "the root of its binary tree, composed bottom-up from its words.",
        "",
        f"- embedding size {record['embedding_size']} ({m['channels']} channels x "
        f"{m['channel_size']}), {m['compose']} compose/decompose, trained with the "
        f"{m['objective']} objective",
        f"- vocabulary: {v['size']:,} {'BPE pieces' if v['kind'] == 'bpe' else 'words'}"
        " (`<unk>` included); text is split by `strae_graph.data.corpus.tokenize`",
        f"- sentence trees: `{s['name']}`" + (f" ({options})" if options else ""),
        f"- strae-graph {record['strae_graph_version']}, model format "
        f"{record['format']} {record['format_version']}",
        "",
        "## Use",
        "",
        "```python",
        "from strae_graph import Embedder",
        f'emb = Embedder.from_pretrained("{name}")  # this directory',
        'vectors = emb.embed_sentences(["A dog barks.", "The cat sleeps."])  # (2, E)',
        "```",
        "",
        f"`strae embed --model {name} --input sentences.txt --out vectors.npy`; as a "
        "sentence-transformers model: `parsers.st_module.sentence_transformer(DIR)` "
        "(strae-graph[st]).",
        "",
        "## Training",
        "",
        "| | |",
        "|---|---|",
        *_training_rows(record.get("training", {})),
    ]
    if extra.strip():
        lines += ["", "## Evaluation (`strae eval`)", "", extra.strip()]
    return "\n".join(lines) + "\n"


def training_record(run: TrainedRun) -> dict[str, Any]:
    """What a model card says about a run's training (its checkpoint and config.json)."""
    st, tc = run.state, run.train_config
    beside = run.path.parent / "config.json"
    data = {}
    if beside.is_file():
        data = json.loads(beside.read_text(encoding="utf-8")).get("data", {})
    return {
        "corpus": Path(str(tc.get("corpus", "?"))).name,
        "corpus_sha256": st.get("data", {}).get("corpus_sha256"),
        "train_sentences": data.get("train_sentences"),
        "steps": st.get("step"),
        "epochs_done": st.get("epoch"),
        "minutes": round(float(st.get("train_seconds") or 0.0) / 60, 2),
        "tokens_seen": st.get("tokens_seen"),
        "checkpoint": run.path.name,
        "dev_loss": _rounded(st.get("best_dev" if run.path.name == "best.pt" else "last_dev")),
        **{k: tc.get(k) for k in ("preset", "objective", "seed", "max_sentences", "batch_size",
                                  "lr", "epochs")},
        "budget": {"minutes": tc.get("minutes"), "max_steps": tc.get("max_steps")},
    }  # fmt: skip


def _rounded(value: Any) -> Any:
    """A finite float to 4 decimals; None for NaN / inf (strict JSON)."""
    if not isinstance(value, float):
        return value
    return round(value, 4) if math.isfinite(value) else None


def structure_options_of(train_config: dict[str, Any]) -> dict[str, Any]:
    """The parser options a run's trees were made with, as its training config
    recorded them (``structure_options``); a run made before they were recorded:
    for a ``strae parse`` dataset as corpus (still there) the options the dataset
    recorded, else none.  What is not recorded is the layer above's to read
    (``parsers.structures.recorded_options``: an option missing from an old
    record takes the default it was made under)."""
    recorded = train_config.get("structure_options")
    if isinstance(recorded, dict):
        return dict(recorded)
    corpus = str(train_config.get("corpus", ""))
    if corpus and is_parsed_corpus(corpus):
        return dict(read_meta(corpus).get("options") or {})
    return {}


def structure_record(run: TrainedRun) -> dict[str, Any]:
    """The structure a run trained with: its name, seed and parser options
    (:func:`structure_options_of`)."""
    tc = run.train_config
    return {"name": tc.get("structure", "balanced"), "seed": int(tc.get("seed", 0)),
            "options": structure_options_of(tc)}  # fmt: skip
