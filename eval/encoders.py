"""What gets evaluated: anything with ``embed_words`` and ``embed_sentences``.

* :class:`StrAERoot`: a trained StrAE; words are leaf embeddings (BPE runs: the
  composition of the word's pieces, so every word is covered), sentences the
  root up embedding of their tree (the run's structure unless overridden).
* :class:`MeanOfLeaves`: the unstructured baseline: the mean of the same
  model's leaf embeddings over a sentence's known words (BPE runs: over its
  pieces; no composition).
* :class:`Word2VecEncoder`: gensim word vectors, sentence = mean of known
  word vectors (the SPEC's reference setting); :func:`train_word2vec` trains
  one on the same corpus slice as a run.

Unknown words are NaN rows (see :mod:`strae_graph.embed.embedder`); a sentence with no
known word is a NaN row for the mean encoders.  All three use
:func:`strae_graph.data.corpus.tokenize`.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from parsers import parse_sentences
from strae_graph.data.corpus import DataError, read_limit, read_sentences, split_dev, tokenize
from strae_graph.embed.embedder import Embedder
from strae_graph.util.fileio import atomic_open


class Encoder(Protocol):
    name: str

    def embed_words(self, words: Sequence[str]) -> np.ndarray: ...

    def embed_sentences(self, sentences: Sequence[str]) -> np.ndarray: ...


class StrAERoot:
    """Root up embeddings of a trained StrAE (one code path: :class:`Embedder`).

    ``options``: parser options for ``structure`` (e.g. ``{"model": PATH}`` for a
    benepar model of one's own); the trees are then built by
    :func:`parsers.parse_sentences` (kept in memory for the process) instead of
    the embedder's default-model parse."""

    def __init__(
        self,
        embedder: Embedder,
        structure: str | None = None,
        batch_size: int = 256,
        name: str = "strae",
        progress: bool | None = None,
        options: dict | None = None,
    ):
        self.embedder = embedder
        self.structure = structure
        self.batch_size = batch_size
        self.name = name
        self.progress = progress
        self.options = dict(options or {})

    def embed_words(self, words: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_words(words)

    def _trees(self, sentences: Sequence[str]) -> list:
        tokens = [tokenize(s) for s in sentences]
        nonempty = [i for i, t in enumerate(tokens) if t]
        trees = _parse_with_options(
            tuple(tuple(tokens[i]) for i in nonempty), self.structure, self.options
        )
        if self.embedder.subwords is not None:
            trees = [self.embedder.subwords.expand(t) for t in trees]
        out: list = [None] * len(tokens)
        for i, t in zip(nonempty, trees):
            out[i] = t
        return out

    def embed_sentences(self, sentences: Sequence[str]) -> np.ndarray:
        if self.options:
            return self.embedder.embed_trees(self._trees(sentences), self.batch_size, self.progress)
        return self.embedder.embed_sentences(
            sentences,
            structure=self.structure,
            batch_size=self.batch_size,
            progress=self.progress,
        )

    def unknown_token_rate(self, sentences: Sequence[str]) -> float:
        toks = [t for s in sentences for t in tokenize(s)]
        return float(np.mean(~self.embedder.known(toks))) if toks else float("nan")


_PARSED: dict[tuple, list] = {}


def _parse_with_options(tokens: tuple, structure: str | None, options: dict) -> list:
    """``parse_sentences(tokens, structure, **options)``, remembered per process
    (a study evaluates the same test sentences once per seed and objective)."""
    key = (structure, json.dumps(options, sort_keys=True, default=str), tokens)
    if key not in _PARSED:
        if len(_PARSED) > 16:
            _PARSED.clear()
        _PARSED[key] = parse_sentences([list(t) for t in tokens], structure, **options)
    return _PARSED[key]


def _mean_of_words(
    sentences: Sequence[str], embed_words, dim: int, tokens_of=tokenize
) -> np.ndarray:
    """(n, dim): the mean of each sentence's known word vectors; NaN when none."""
    tokens = [tokens_of(s) for s in sentences]
    flat = [t for ts in tokens for t in ts]
    vecs = embed_words(flat) if flat else np.zeros((0, dim), dtype=np.float32)
    out = np.full((len(sentences), dim), np.nan, dtype=np.float32)
    start = 0
    for i, ts in enumerate(tokens):
        v = vecs[start : start + len(ts)]
        start += len(ts)
        v = v[~np.isnan(v).any(axis=1)]
        if len(v):
            out[i] = v.mean(axis=0)
    return out


class MeanOfLeaves:
    """Sentence = mean of the model's own leaf embeddings of its known words."""

    def __init__(self, embedder: Embedder, name: str = "mean-leaves"):
        self.embedder = embedder
        self.name = name

    def embed_words(self, words: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_words(words)

    def embed_sentences(self, sentences: Sequence[str]) -> np.ndarray:
        emb = self.embedder
        if emb.subwords is not None:  # the leaves are pieces
            return _mean_of_words(sentences, emb.embed_leaves, emb.embedding_size,
                                  tokens_of=lambda s: emb.leaves(tokenize(s)))  # fmt: skip
        return _mean_of_words(sentences, emb.embed_words, emb.embedding_size)

    def unknown_token_rate(self, sentences: Sequence[str]) -> float:
        toks = [t for s in sentences for t in tokenize(s)]
        return float(np.mean(~self.embedder.known(toks))) if toks else float("nan")


class Word2VecEncoder:
    """Word vectors (:class:`WordVectors`); words are lower-cased; sentence = mean
    of known words."""

    def __init__(self, keyed_vectors, name: str = "word2vec"):
        self.kv = keyed_vectors
        self.name = name

    @property
    def dim(self) -> int:
        return int(self.kv.vector_size)

    def known(self, words: Sequence[str]) -> np.ndarray:
        return np.array([w.lower() in self.kv.key_to_index for w in words], dtype=bool)

    def embed_words(self, words: Sequence[str]) -> np.ndarray:
        out = np.full((len(words), self.dim), np.nan, dtype=np.float32)
        for i, w in enumerate(words):
            j = self.kv.key_to_index.get(w.lower())
            if j is not None:
                out[i] = self.kv.vectors[j]
        return out

    def embed_sentences(self, sentences: Sequence[str]) -> np.ndarray:
        return _mean_of_words(sentences, self.embed_words, self.dim)

    def unknown_token_rate(self, sentences: Sequence[str]) -> float:
        toks = [t for s in sentences for t in tokenize(s)]
        return float(np.mean(~self.known(toks))) if toks else float("nan")


def gensim_available() -> bool:
    try:
        import gensim  # noqa: F401
    except ImportError:
        return False
    return True


def training_sentences(train_config: dict) -> list[list[str]]:
    """The token lists a run was trained on (its corpus slice without the dev
    tail), read as :func:`strae_graph.training.data.load_training_data` reads them."""
    corpus = Path(train_config["corpus"])
    if corpus.is_dir():
        raise DataError(
            f"{corpus}: the word2vec baseline reads plain-text corpora only, not a directory"
        )
    n_dev = train_config.get("dev_sentences", 1000)
    limit = read_limit(train_config.get("max_sentences"), n_dev)
    sentences = [
        toks
        for _, toks in read_sentences(
            corpus, limit, train_config.get("max_length"), on_error="skip"
        )
    ]
    return split_dev(sentences, n_dev, limit)[0]


class WordVectors:
    """Word vectors as plain arrays, what the word2vec baseline keeps: ``words``
    and ``vectors`` (n, d) float32.  Saved as one ``.npz`` (the vectors, and the
    words as UTF-8 JSON bytes) and read with ``allow_pickle=False``: a cache in a
    run directory from someone else cannot run code (gensim's own ``.kv`` files
    are pickles, and are never loaded)."""

    def __init__(self, words: Sequence[str], vectors: np.ndarray):
        self.index_to_key = list(words)
        self.key_to_index = {w: i for i, w in enumerate(self.index_to_key)}
        self.vectors = np.asarray(vectors, dtype=np.float32)

    @property
    def vector_size(self) -> int:
        return int(self.vectors.shape[1])

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically (:func:`strae_graph.util.fileio.atomic_open`)."""
        words = json.dumps(self.index_to_key, ensure_ascii=False).encode()
        with atomic_open(path, "wb") as f:
            np.savez(f, vectors=self.vectors, words=np.frombuffer(words, dtype=np.uint8))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> WordVectors:
        """What :meth:`save` wrote; ValueError for anything else (never unpickled)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                vectors, raw = z["vectors"], z["words"]
            words = json.loads(raw.tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: not a word-vector file ({e})") from None
        ok = (isinstance(words, list) and all(isinstance(w, str) for w in words)
              and len(set(words)) == len(words) and vectors.ndim == 2
              and vectors.dtype == np.float32 and len(vectors) == len(words))  # fmt: skip
        if not ok:
            raise ValueError(f"{path}: not a word-vector file (inconsistent words and vectors)")
        return cls(words, vectors)


def train_word2vec(
    sentences: Sequence[Sequence[str]],
    dim: int = 100,
    seed: int = 0,
    window: int = 5,
    min_count: int = 5,
    epochs: int = 5,
) -> WordVectors:
    """gensim Word2Vec (skip-gram off: CBOW, gensim's default) with one worker so a
    seed reproduces it; the SPEC's reference setting."""
    if not gensim_available():
        raise ImportError("the word2vec baseline needs gensim: pip install 'strae-graph[word2vec]'")
    from gensim.models import Word2Vec

    model = Word2Vec(
        sentences=[list(s) for s in sentences],
        vector_size=dim,
        window=window,
        min_count=min_count,
        epochs=epochs,
        seed=seed,
        workers=1,
    )
    return WordVectors(model.wv.index_to_key, model.wv.vectors)


def cached_word2vec(
    cache: Path,
    sentences: Callable[[], Sequence[Sequence[str]]],
    log: Callable[[str], None],
    **settings: int,
) -> WordVectors:
    """:func:`train_word2vec` on ``sentences()`` with ``settings``, kept in ``cache``
    (an ``.npz`` of :class:`WordVectors`): read from it when it is whole, trained
    again and rewritten when it is not.  A gensim ``.kv`` pickle beside it (the
    old format) is never loaded."""
    legacy = cache.with_suffix(".kv")
    if legacy.exists():
        log(f"note: {legacy}: an old pickled cache, never loaded (a pickle can run code); "
            f"ignored, {cache.name} is used instead")  # fmt: skip
    if cache.exists():
        try:
            return WordVectors.load(cache)
        except ValueError as e:
            log(f"note: {e}; training word2vec again")
    log(f"training word2vec on the corpus slice -> {cache}")
    kv = train_word2vec(sentences(), **settings)
    cache.parent.mkdir(parents=True, exist_ok=True)
    kv.save(cache)
    return kv
