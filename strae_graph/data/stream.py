"""Streamed training data: a corpus larger than memory, read a window at a time.

:func:`open_stream` (or :func:`stream_from_config` for a ``TrainConfig``)
reads the same sentences, dev split, vocabulary and statistics as
``strae_graph.training.data.load_training_data``, but never holds the training part:

* the corpus (plain text, or a ``strae parse`` dataset) is converted once
  into an Arrow cache (:mod:`strae_graph.data.stream_cache`) and read by rows;
* the vocabulary comes from one pass of token counts over the training rows
  (Arrow ``value_counts`` a few thousand rows at a time); with ``--vocab bpe``
  the BPE model is learned from passes over the training rows, a table at a
  time (:func:`strae_graph.data.subwords_train.train_bpe`: the same content-hash cache
  and model as in memory), the items' words are split into pieces as a window
  is read, and the order buckets sentences by their number of pieces, as the
  bucketed order in memory does;
* an epoch (:class:`EpochStream`) follows :class:`strae_graph.data.order.EpochOrder`,
  the one ordering shared with data held in memory: it reads one window of
  the order (the shuffle buffer, ``OrderSpec.window`` sentences) at a time,
  and of that window only this process's share of each global batch, so
  memory is bounded by the buffer, not the corpus, and rank ``r`` of ``w``
  builds only its own items;
* the position in an epoch is ``(epoch, batch index)``: any batch can be
  asked first, which is a mid-epoch resume.

Trees of a text corpus are built when a window is read, by the ``parse``
callable the layer above hands in (:mod:`strae_graph.trees.source`; the CLI
gives the registry's heuristic structures, ``random`` seeded per sentence
index as ``parse_cached`` does, see ``parsers.structures.check_streamable``);
parser trees come from a ``strae parse`` dataset.  The dev sentences (at most
``dev_sentences``) are held in memory, as the training loop evaluates them whole.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

from strae_graph.data.corpus import DataError, ReadStats, dev_count, read_limit, require_sentences
from strae_graph.data.order import EpochOrder, OrderSpec
from strae_graph.data.parsed import is_parsed_corpus, read_meta
from strae_graph.data.stream_cache import CorpusCache, corpus_cache
from strae_graph.data.subwords import Subwords
from strae_graph.data.subwords_train import train_bpe
from strae_graph.data.vocab import Vocabulary
from strae_graph.trees.errors import TreeError
from strae_graph.trees.source import SELF, Parse, no_parse
from strae_graph.trees.tree import Tree

#: a training item: a tree, or the token tuple of a sentence for structure ``self``
Item = Tree | tuple[str, ...]


@dataclass
class StreamedCorpus:
    """What ``load_training_data`` returns, less the training items themselves:
    ``n_train`` rows (``0..n_train-1`` of ``cache``) read by :meth:`items`."""

    source: str
    cache: CorpusCache
    structure: str
    seed: int
    n_train: int
    train_tokens: int
    dev: list[Item]
    vocab: Vocabulary
    stats: ReadStats
    unknown_tokens: dict[str, int]
    parse: Parse | None = None
    subwords: Subwords | None = None  # --vocab bpe: the BPE model (leaves are its pieces)

    def lengths(self, rows: np.ndarray) -> np.ndarray:
        """Leaf counts of training rows: tokens, or with BPE pieces."""
        if self.subwords is None:
            return self.cache.lengths(rows)
        split = self.subwords.split
        tokens = self.cache.take(np.asarray(rows, dtype=np.int64)).column("tokens").to_pylist()
        return np.fromiter((sum(map(len, split(t))) for t in tokens), np.int64, len(tokens))

    def items(self, rows: np.ndarray) -> list[Item]:
        """The training items of ``rows`` (indices into the training part)."""
        return _items(self, np.asarray(rows, dtype=np.int64), self.seed, 0)

    def order(self, spec: OrderSpec, epoch: int) -> EpochOrder:
        """The epoch's global batches (lengths read a window at a time)."""
        return EpochOrder(self.n_train, self.lengths, spec, self.seed, epoch)

    def epoch(
        self, epoch: int, spec: OrderSpec, shard: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> EpochStream:
        """This process's batches of ``epoch``; ``shard``: its part of a global
        batch (``DistContext.shard``; None: the whole batch)."""
        return EpochStream(self, self.order(spec, epoch), shard)


class EpochStream:
    """This process's share of every global batch of one epoch, read one window
    of the order at a time (see the module docstring).  ``batch(b)`` for any
    ``b``; thread-safe (a prefetch thread may read ahead)."""

    def __init__(
        self,
        data: StreamedCorpus,
        order: EpochOrder,
        shard: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        self.data, self.order = data, order
        self._shard = shard or (lambda batch: batch)
        self._window: tuple[int, list[list[Item]]] | None = None
        self._lock = threading.Lock()
        #: the most items this stream held at once, and the windows it read (for tests)
        self.max_held = 0
        self.windows_read = 0

    def __len__(self) -> int:
        return len(self.order)

    def rows(self, b: int) -> np.ndarray:
        """This process's training rows of global batch ``b``."""
        return self._shard(self.order.batch(b))

    def batch(self, b: int) -> list[Item]:
        """This process's items of global batch ``b`` (may be empty)."""
        if not 0 <= b < len(self):
            raise IndexError(f"batch {b} of an epoch with {len(self)} batches")
        w = self.order.window_of(b)
        with self._lock:
            if self._window is None or self._window[0] != w:
                self._window = None  # the old window goes before the next is read
                shares = [self._shard(batch) for batch in self.order.window(w)]
                rows = np.concatenate(shares) if shares else np.zeros(0, np.int64)
                items = self.data.items(rows)
                cuts = np.cumsum([len(s) for s in shares])[:-1]
                bounds = zip(np.r_[0, cuts], np.r_[cuts, len(items)])
                self._window = (w, [items[a:z] for a, z in bounds])
                self.max_held = max(self.max_held, len(items))
                self.windows_read += 1
            return self._window[1][b % self.order.spec.buffer_batches]

    def batches(self, start: int = 0) -> Iterator[list[Item]]:
        """Batches ``start, start + 1, ...`` to the end of the epoch (``start``:
        the ``next_batch`` of a mid-epoch checkpoint)."""
        for b in range(start, len(self)):
            yield self.batch(b)

    def close(self) -> None:
        with self._lock:
            self._window = None


def open_stream(
    corpus: str | os.PathLike[str],
    *,
    structure: str,
    seed: int,
    max_sentences: int | None,
    dev_sentences: int,
    max_length: int | None,
    min_count: int,
    max_vocab: int | None,
    on_error: str | None,
    vocab: Vocabulary | None = None,
    cache_root: Path | None = None,
    parse: Parse | None = None,
    vocab_kind: str = "word",
    bpe_size: int = 25_000,
    subwords: Subwords | None = None,
) -> StreamedCorpus:
    """The training data of a run over ``corpus``, streamed (see the module
    docstring); the arguments are ``TrainConfig``'s (``vocab_kind``: its
    ``vocab``).  ``vocab``, ``subwords``: the checkpoint's on resume (else
    built from the training rows).  ``parse`` builds the trees of a text
    corpus window by window; ``self`` and a ``strae parse`` dataset need none."""
    source = str(corpus)
    if is_parsed_corpus(source):  # its trees decide
        structure = read_meta(source)["structure"]
    elif structure != SELF and parse is None:
        raise no_parse(structure)
    cache = corpus_cache(source, max_length, cache_root)
    limit = read_limit(max_sentences, dev_sentences)
    whole = limit is None or cache.rows < limit
    n_read = cache.rows if whole else int(limit)  # type: ignore[arg-type]
    stats = cache.stats_at(n_read, whole)
    cache.check_read(source, limit, max_length, on_error, stats, whole)
    require_sentences(source, n_read, stats, max_length or 0)
    n_train = n_read - dev_count(n_read, dev_sentences, limit)
    counts, total = count_tokens(cache, n_train)
    if vocab_kind == "bpe":
        if subwords is None:
            passes = lambda: train_sentences(cache, n_train)  # noqa: E731
            subwords = train_bpe(passes, bpe_size, word_counts=counts)
        if vocab is not None and vocab.itos != subwords.vocabulary().itos:
            raise DataError("the BPE model's pieces differ from the checkpoint's vocabulary")
        vocab = subwords.vocabulary()
        total, unk_train = piece_counts(subwords, vocab, counts)
    else:
        subwords = None
        vocab = vocab if vocab is not None else Vocabulary.from_counts(counts, min_count, max_vocab)
        unk_train = total - sum(counts.get(w, 0) for w in vocab.itos[1:])
    data = StreamedCorpus(source, cache, structure, seed, n_train, total, [], vocab, stats, {},
                          parse, subwords)  # fmt: skip
    data.dev = _items(data, np.arange(n_train, n_read, dtype=np.int64), seed + 1, n_train)
    unk_dev, _ = vocab.count_unknown(_leaves(x) for x in data.dev)
    data.unknown_tokens = {"train": unk_train, "dev": unk_dev}
    return data


def stream_from_config(
    cfg: Any,
    vocab: Vocabulary | None = None,
    cache_root: Path | None = None,
    parse: Parse | None = None,
    subwords: Subwords | None = None,
) -> StreamedCorpus:
    """:func:`open_stream` with the settings of a ``TrainConfig``."""
    return open_stream(
        cfg.corpus, structure=cfg.structure, seed=cfg.seed, max_sentences=cfg.max_sentences,
        dev_sentences=cfg.dev_sentences, max_length=cfg.max_length, min_count=cfg.min_count,
        max_vocab=cfg.max_vocab, on_error=cfg.on_error, vocab=vocab, cache_root=cache_root,
        parse=parse, vocab_kind=getattr(cfg, "vocab", "word"),
        bpe_size=getattr(cfg, "bpe_size", 25_000), subwords=subwords,
    )  # fmt: skip


def memory_order(items: Sequence[Item], spec: OrderSpec, seed: int, epoch: int) -> EpochOrder:
    """The same order for training items held in memory (``TrainingData.train``):
    its ``batch(b)`` replaces ``order[b * batch_size : (b + 1) * batch_size]``."""
    lengths = np.fromiter((len(_leaves(x)) for x in items), dtype=np.int64, count=len(items))
    return EpochOrder(len(items), lengths, spec, seed, epoch)


def count_tokens(cache: CorpusCache, n: int) -> tuple[Counter[str], int]:
    """(token counts, token total) of rows ``0..n-1``: one pass, a table at a time."""
    counts: Counter[str] = Counter()
    total = 0
    if n <= 0:
        return counts, total
    for t in cache.tables(0, n):
        flat = pc.list_flatten(t.column("tokens"))
        total += len(flat)
        vc = pc.value_counts(flat)
        counts.update(dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist())))
    return counts, total


def train_sentences(cache: CorpusCache, n: int) -> Iterator[list[str]]:
    """The token lists of rows ``0..n-1``, in order, read a table at a time."""
    if n <= 0:
        return
    for t in cache.tables(0, n):
        yield from t.column("tokens").to_pylist()


def piece_counts(
    subwords: Subwords, vocab: Vocabulary, counts: Counter[str], chunk: int = 8192
) -> tuple[int, int]:
    """(pieces, unknown pieces) of the words counted in ``counts``: what the
    training part holds once split (the distinct words are split a chunk at a
    time and not remembered)."""
    words = list(counts)
    total = unknown = 0
    for a in range(0, len(words), chunk):
        part = words[a : a + chunk]
        for w, ps in zip(part, subwords.split(part, remember=False)):
            unk, n = vocab.count_unknown([ps])
            total += counts[w] * n
            unknown += counts[w] * unk
    return total, unknown


# --- items -------------------------------------------------------------------------
def _leaves(item: Item) -> Sequence[str]:
    return item.tokens if isinstance(item, Tree) else item


def _items(data: StreamedCorpus, rows: np.ndarray, seed: int, base: int) -> list[Item]:
    """Items of cache rows ``rows`` (with BPE: of pieces, as
    ``load_training_data`` expands them)."""
    items = _word_items(data, rows, seed, base)
    sub = data.subwords
    if sub is None:
        return items
    if data.structure == SELF and not data.cache.parsed:
        return [tuple(sub.sentence_pieces(s)) for s in items]  # type: ignore[arg-type]
    return [sub.expand(t) for t in items]  # type: ignore[arg-type]


def _word_items(data: StreamedCorpus, rows: np.ndarray, seed: int, base: int) -> list[Item]:
    """Items of cache rows ``rows``; a ``random`` tree is seeded by ``seed`` and
    its index ``row - base`` in its part (training or dev), as ``parse_cached``."""
    if not len(rows):
        return []
    table = data.cache.take(rows)
    tokens = table.column("tokens").to_pylist()
    if data.cache.parsed:
        out: list[Item] = []
        lines = table.column("line").to_pylist()
        for line, toks, kids in zip(lines, tokens, table.column("children").to_pylist()):
            try:
                out.append(Tree(tuple(toks), tuple((a, b) for a, b in kids)))
            except TreeError as e:
                raise DataError(f"{data.source}, row for line {line}: bad tree ({e})") from None
        return out
    if data.structure == SELF:
        return [tuple(t) for t in tokens]
    parse = data.parse
    if parse is None:
        raise no_parse(data.structure)
    if data.structure != "random":
        return list(parse(tokens, data.structure, seed))
    return [parse([t], "random", seed, first_index=int(r) - base)[0] for t, r in zip(tokens, rows)]
