"""A StrAE as a sentence-transformers model (``pip install 'strae-graph[st]'``).

:class:`StrAEModule` is a sentence-transformers input module (its
``InputModule`` protocol: ``preprocess`` turns texts into trees, ``forward``
composes them to their root embeddings, ``save`` / ``load`` write and read a
model directory of :mod:`strae_graph.embed.model_dir`), so every
``SentenceTransformer`` feature applies: ``encode`` (``batch_size``,
``normalize_embeddings``, ``convert_to_tensor``, progress bar), evaluators,
semantic search, clustering, ``save`` / ``push_to_hub``::

    from parsers.st_module import sentence_transformer
    model = sentence_transformer("strae-wiki10m")   # a model directory, a shipped name or a run
    model.encode(["A dog barks."], normalize_embeddings=True)
    model.save("st-model")  # SentenceTransformer("st-model", trust_remote_code=True) loads it

A directory written by ``strae export --format model`` loads directly as
``SentenceTransformer(DIR, trust_remote_code=True)`` (sentence-transformers
asks for ``trust_remote_code`` before it imports any module class outside its
own package; this one is imported from the installed strae-graph, nothing is
downloaded).  Sentences are parsed with the model's structure through the
registry (:func:`parsers.api.load_embedder`); a sentence with no tokens is a
NaN row, as everywhere in strae-graph.  ``random`` trees are seeded by a
sentence's position in each batch, so they depend on batching.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import InputModule

from parsers.api import load_embedder
from strae_graph.embed.embedder import Embedder


class StrAEModule(InputModule):
    """A trained StrAE as sentence-transformers' first (and only) module: text ->
    ``{"trees": ...}`` -> ``{"sentence_embedding": (n, E)}`` (root up embeddings)."""

    save_in_root = True

    def __init__(self, model_name_or_path: str | os.PathLike[str] | Embedder, **kwargs: Any):
        super().__init__()
        if isinstance(model_name_or_path, Embedder):
            self.embedder = model_name_or_path
        else:
            self.embedder = load_embedder(model_name_or_path)
        self.strae = self.embedder.model  # a submodule: SentenceTransformer.to(device) moves it

    def get_embedding_dimension(self) -> int:
        return self.embedder.embedding_size

    def preprocess(
        self, inputs: Sequence[str], prompt: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        texts = [str(t) for t in inputs]
        if prompt:
            texts = self._prepend_prompt(texts, prompt)
        return {"trees": self.embedder.parse(texts)}

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        trees = features["trees"]
        weight = self.strae.embedding.weight
        self.embedder.device = weight.device
        out = weight.new_full((len(trees), self.get_embedding_dimension()), float("nan"))
        done = [i for i, t in enumerate(trees) if t is not None]
        if done:
            rows = torch.tensor(done, device=weight.device)
            out = out.index_copy(0, rows, self.embedder.root_embeddings([trees[i] for i in done]))
        features["sentence_embedding"] = out
        return features

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any):
        self.embedder.save_pretrained(output_path)

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        **kwargs: Any,
    ) -> StrAEModule:
        path = cls.load_dir_path(model_name_or_path, subfolder=subfolder, token=token,
                                 cache_folder=cache_folder, revision=revision,
                                 local_files_only=local_files_only)  # fmt: skip
        return cls(path)

    def __repr__(self) -> str:
        e = self.embedder
        return (f"StrAEModule(structure={e.structure!r}, embedding_size={e.embedding_size}, "
                f"vocabulary={len(e.vocab)})")  # fmt: skip


def sentence_transformer(
    source: str | os.PathLike[str] | Embedder, device: str | None = None
) -> SentenceTransformer:
    """A ``SentenceTransformer`` of a model directory, a shipped model's name, a
    run directory or an :class:`~strae_graph.embed.embedder.Embedder` (cosine similarity)."""
    return SentenceTransformer(modules=[StrAEModule(source)], device=device or "cpu",
                               similarity_fn_name="cosine")  # fmt: skip
