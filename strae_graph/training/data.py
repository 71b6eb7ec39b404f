"""Training data: corpus -> sentences -> (vocabulary, trees) -> batches.

:func:`load_training_data` reads a run's corpus (text, or a ``strae parse``
dataset that brings its trees), holds out the dev tail
(:func:`strae_graph.data.corpus.split_dev`) and builds the vocabulary and the trees;
:func:`epoch_order` and :func:`prepare_batch` turn them into the batches of an
epoch (the legacy permutation order).  :mod:`strae_graph.training.batches`
chooses between these, the bucketed order and streamed data
(:mod:`strae_graph.data.stream`, whose :class:`~strae_graph.data.stream.StreamedCorpus`
a run uses in place of :class:`TrainingData`: :data:`RunData`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np

from strae_graph.data.corpus import (
    ReadStats,
    read_limit,
    read_sentences,
    require_sentences,
    split_dev,
)
from strae_graph.data.parsed import is_parsed_corpus, iter_parsed_trees
from strae_graph.data.stream import StreamedCorpus
from strae_graph.data.subwords import Subwords
from strae_graph.data.subwords_train import train_bpe
from strae_graph.data.vocab import Vocabulary
from strae_graph.graph.batch import Frontiers, batch_trees
from strae_graph.training.checkpoint import CheckpointError
from strae_graph.training.config import TrainConfig
from strae_graph.training.distributed import DistContext
from strae_graph.trees.source import SELF, Parse, no_parse
from strae_graph.trees.tree import Tree


@dataclass
class TrainingData:
    """train / dev: trees, or token tuples when the structure is ``self`` (the
    trees are then induced by the current model at every step)."""

    train: list[Tree] | list[tuple[str, ...]]
    dev: list[Tree] | list[tuple[str, ...]]
    vocab: Vocabulary
    stats: ReadStats = field(default_factory=ReadStats)
    unknown_tokens: dict[str, int] = field(default_factory=dict)
    subwords: Subwords | None = None  # --vocab bpe: the BPE model (leaves are its pieces)

    @property
    def n_train(self) -> int:
        """The number of training items (as ``StreamedCorpus.n_train``)."""
        return len(self.train)


#: what a run trains on: data held in memory, or streamed (``TrainConfig.stream``)
RunData: TypeAlias = "TrainingData | StreamedCorpus"


def load_training_data(
    cfg: TrainConfig,
    vocab: Vocabulary | None = None,
    subwords: Subwords | None = None,
    parse: Parse | None = None,
) -> TrainingData:
    """Read the corpus, hold out the last ``dev_sentences``, build the vocabulary
    (from the training part) and the trees: ``parse(sentences, cfg.structure,
    seed)`` (:mod:`strae_graph.trees.source`; dev sentences with ``seed + 1``).
    A ``strae parse`` dataset directory as the corpus brings its own trees
    (never re-parsed), and ``self`` trees are induced while training: neither
    needs ``parse``.

    ``--vocab bpe``: a BPE model is learned from the training part's words (or
    ``subwords`` is used), the trees are still decided over words and then
    expanded to pieces (:func:`strae_graph.data.subwords.expand_tree`); for ``self``
    the items are the sentences' pieces (merges run over pieces)."""
    stats = ReadStats()
    limit = read_limit(cfg.max_sentences, cfg.dev_sentences)
    check_parse(cfg, parse)
    parsed = is_parsed_corpus(cfg.corpus)
    read = iter_parsed_trees if parsed else read_sentences
    items = [
        x for _, x in read(cfg.corpus, limit, cfg.max_length, on_error=cfg.on_error, stats=stats)
    ]
    sentences = [list(t.tokens) for t in items] if parsed else items
    require_sentences(cfg.corpus, len(sentences), stats, cfg.max_length)
    train_s, dev_s = split_dev(sentences, cfg.dev_sentences, limit)
    if cfg.vocab == "bpe":
        subwords = subwords or train_bpe(train_s, cfg.bpe_size)
        pieces = subwords.vocabulary()
        if vocab is not None and vocab.itos != pieces.itos:
            raise CheckpointError("the BPE model's pieces differ from the checkpoint's vocabulary")
        vocab = pieces
    else:
        subwords = None
    if vocab is None:
        vocab = Vocabulary.build(train_s, cfg.min_count, cfg.max_vocab)
    if parsed:
        train, dev = items[: len(train_s)], items[len(train_s) :]
    elif cfg.structure == SELF:
        train, dev = [tuple(s) for s in train_s], [tuple(s) for s in dev_s]
    else:
        train = parse(train_s, cfg.structure, cfg.seed)
        dev = parse(dev_s, cfg.structure, cfg.seed + 1)
    if subwords is not None:  # word trees -> piece trees; token tuples -> piece tuples
        if cfg.structure == SELF and not parsed:
            train = [tuple(subwords.sentence_pieces(s)) for s in train]
            dev = [tuple(subwords.sentence_pieces(s)) for s in dev]
        else:
            train, dev = [subwords.expand(t) for t in train], [subwords.expand(t) for t in dev]
        train_s, dev_s = [leaves(t) for t in train], [leaves(t) for t in dev]
    unk_train, _ = vocab.count_unknown(train_s)
    unk_dev, _ = vocab.count_unknown(dev_s)
    unknown = {"train": unk_train, "dev": unk_dev}
    return TrainingData(train=train, dev=dev, vocab=vocab, stats=stats, unknown_tokens=unknown,
                        subwords=subwords)  # fmt: skip


def check_parse(cfg: TrainConfig, parse: Parse | None) -> None:
    """A run needs ``parse`` unless its trees are induced (``self``) or read
    (a ``strae parse`` dataset as the corpus)."""
    if parse is None and cfg.structure != SELF and not is_parsed_corpus(cfg.corpus):
        raise no_parse(cfg.structure)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of the training trees in ``epoch`` (a pure function of
    seed and epoch, so a resumed run sees the same order)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def make_batch(
    trees: Sequence[Tree], vocab: Vocabulary, device: str, entangle: bool = False
) -> tuple[Any, Frontiers]:
    """The batched graph of ``trees`` (:func:`strae_graph.graph.batch.batch_trees`) and its
    frontiers."""
    g = batch_trees(trees, [vocab.encode(t.tokens) for t in trees], device, entangle)
    return g, Frontiers.of(g)


def prepare_batch(
    data: TrainingData, order: np.ndarray, b: int, cfg: TrainConfig, ctx: DistContext
) -> tuple[list, tuple[Any, Frontiers] | tuple[None, None]]:
    """(this process's items of global batch ``b``, (graph, frontiers)); (None, None)
    for an empty shard, and for ``self`` (its trees are induced during the step)."""
    items = [data.train[i] for i in ctx.shard(permutation_batch(order, b, cfg.batch_size))]
    return prepare_items(items, data.vocab, cfg)


def permutation_batch(order: np.ndarray, b: int, batch_size: int) -> np.ndarray:
    """The indices of global batch ``b`` of the epoch order ``order`` (:func:`epoch_order`)."""
    return order[b * batch_size : (b + 1) * batch_size]


def prepare_items(
    items: list, vocab: Vocabulary, cfg: TrainConfig
) -> tuple[list, tuple[Any, Frontiers] | tuple[None, None]]:
    """(``items``, their (graph, frontiers)), as :func:`prepare_batch` returns them."""
    if not items or cfg.structure == SELF:
        return items, (None, None)
    return items, make_batch(items, vocab, cfg.device, cfg.entangle)


def leaves(item: Tree | Sequence[str]) -> Sequence[str]:
    """The tokens of a training item (a tree, or a token tuple for ``self``)."""
    return item.tokens if isinstance(item, Tree) else item
