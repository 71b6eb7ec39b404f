"""A StrAE under MTEB (``pip install 'strae-graph[mteb]'``), in MTEB 2's encoder
protocol (``mteb.EncoderProtocol``: ``encode(DataLoader, *, task_metadata,
hf_split, hf_subset, prompt_type)`` -> an (n, E) array, and ``mteb_model_meta``)::

    import mteb; from eval.mteb_encoder import StrAEEncoder
    tasks = [t for t in mteb.get_benchmark("MTEB(eng, v2)").tasks if t.metadata.type == "STS"]
    print(mteb.evaluate(StrAEEncoder("strae-wiki10m"), tasks))

Sentences are embedded exactly as ``strae eval`` embeds them (the root up
embedding of the model's structure, :meth:`strae_graph.embed.embedder.Embedder.embed_sentences`),
so a task's ``cosine_spearman`` equals ``strae eval``'s Spearman on the same pairs.
MTEB's tasks download their data from the Hugging Face Hub; :func:`local_sts_task`
builds an STS task from local pairs (e.g. ``eval.data.load_sts``) for offline use.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np
from mteb.abstasks.sts import AbsTaskSTS
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.models.abs_encoder import AbsEncoder
from mteb.models.model_meta import ModelMeta, ScoringFunction

from eval.data import SentencePairs
from parsers.api import load_embedder
from strae_graph.embed.embedder import Embedder
from strae_graph.embed.model_dir import inference_state


def weights_revision(embedder: Embedder) -> str:
    """A revision for MTEB's result cache: the SHA-256 (12 hex digits) of the
    inference weights, so another model never reuses this one's results."""
    digest = hashlib.sha256()
    for name, tensor in sorted(inference_state(embedder.model).items()):
        digest.update(name.encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:12]


class StrAEEncoder(AbsEncoder):
    """MTEB's encoder protocol over an :class:`~strae_graph.embed.embedder.Embedder`.

    ``model_name``: a model directory, a shipped model's name, a run directory
    (as :func:`parsers.api.load_embedder` takes) or an Embedder."""

    def __init__(
        self,
        model_name: str | os.PathLike[str] | Embedder,
        revision: str | None = None,
        *,
        device: str | None = None,
        batch_size: int = 256,
        **kwargs: Any,
    ) -> None:
        if isinstance(model_name, Embedder):
            self.model, label = model_name, "embedder"
        else:
            self.model = load_embedder(model_name, device=device or "cpu")
            label = os.path.basename(os.path.normpath(str(model_name)))
        self.batch_size = batch_size
        self.mteb_model_meta = ModelMeta.create_empty(
            overwrites={
                "name": f"strae-graph/{label}",
                "revision": revision or weights_revision(self.model),
                "embed_dim": self.model.embedding_size,
                "n_parameters": sum(p.numel() for p in self.model.model.parameters()),
                "similarity_fn_name": ScoringFunction.COSINE,
                "framework": ["PyTorch"],
                "languages": ["eng-Latn"],
                "use_instructions": False,
            }
        )

    def encode(self, inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs):
        """(n, E) float32 root embeddings of every text of ``inputs`` (in order)."""
        texts = [text for batch in inputs for text in batch["text"]]
        return self.model.embed_sentences(texts, batch_size=self.batch_size, progress=False)


def local_sts_task(pairs: SentencePairs, min_score: float = 0.0, max_score: float = 5.0):
    """An MTEB STS task (English, split ``test``, main score ``cosine_spearman``)
    over local sentence pairs, needing no download."""
    from datasets import Dataset, DatasetDict

    class LocalSTS(AbsTaskSTS):
        metadata = TaskMetadata(
            name=f"Local{pairs.name}",
            dataset={"path": f"local/{pairs.name}", "revision": "local"},
            description=f"{len(pairs)} local sentence pairs ({pairs.name})",
            reference=None,
            type="STS",
            category="t2t",
            modalities=["text"],
            eval_splits=["test"],
            eval_langs=["eng-Latn"],
            main_score="cosine_spearman",
            date=None,
            domains=None,
            task_subtypes=None,
            license=None,
            annotations_creators=None,
            dialect=None,
            sample_creation=None,
            bibtex_citation=None,
        )

        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            scores = np.asarray(pairs.scores, dtype=float).tolist()
            rows = {"sentence1": pairs.sentence1, "sentence2": pairs.sentence2, "score": scores}
            self.dataset = DatasetDict({"test": Dataset.from_dict(rows)})
            self.data_loaded = True

    LocalSTS.min_score, LocalSTS.max_score = min_score, max_score
    return LocalSTS()
