"""The word2vec text format of ``strae export --format word2vec``
(:meth:`strae_graph.embed.embedder.Embedder.export_word2vec`), which gensim's
``KeyedVectors.load_word2vec_format`` reads: a ``V E`` header line, then
``word v1 ... vE`` per line."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np


def write_word2vec(path: str | os.PathLike[str], words: Sequence[str], vectors: np.ndarray) -> int:
    """Write ``words`` and their rows of ``vectors`` to ``path``; returns the word
    count.  A word with whitespace (or an empty one) is a ValueError before
    anything is written."""
    for w in words:
        if not w or any(c.isspace() for c in w):
            raise ValueError(f"word {w!r} contains whitespace; word2vec text cannot hold it")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {vectors.shape[1]}\n")
        for w, v in zip(words, vectors):
            f.write(w + " " + " ".join(f"{x:.9g}" for x in v) + "\n")
    return len(words)
