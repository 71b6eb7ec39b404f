"""Where a run's batches come from: the training items held in memory
(:func:`strae_graph.training.data.load_training_data`) or streamed from disk
(:mod:`strae_graph.data.stream`, ``TrainConfig.stream``), in the epoch order
``TrainConfig.order`` says.

* ``permutation`` (the default, and every run's order before streaming
  existed): a plain permutation of the training items per epoch
  (:func:`strae_graph.training.data.epoch_order`);
* ``bucketed``: :class:`strae_graph.data.order.EpochOrder` (block shuffle, windows
  of ``order_buffer`` global batches, length buckets), the one order shared by
  data in memory and streamed data, so that the two give the same batches.

A streamed run holds one window of the order at a time (and of each global
batch only this process's share), never the training items.  Under torchrun
the first process of each machine converts the corpus into its Arrow cache
(:mod:`strae_graph.data.stream_cache`) while the others wait at a barrier, then
every process opens that cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from strae_graph.data.order import OrderSpec
from strae_graph.data.stream import StreamedCorpus, memory_order, stream_from_config
from strae_graph.data.subwords import Subwords
from strae_graph.data.vocab import Vocabulary
from strae_graph.graph.batch import Frontiers
from strae_graph.training.config import TrainConfig
from strae_graph.training.data import (
    RunData,
    epoch_order,
    leaves,
    load_training_data,
    permutation_batch,
    prepare_items,
)
from strae_graph.training.distributed import DistContext
from strae_graph.trees.source import Parse

#: (this process's items of a global batch, their (graph, frontiers) or (None, None))
Prepared = tuple[list, tuple[Any, Frontiers] | tuple[None, None]]


def order_spec(cfg: TrainConfig) -> OrderSpec:
    """The bucketed order's settings of a run."""
    return OrderSpec(batch_size=cfg.batch_size, buffer_batches=cfg.order_buffer,
                     block=cfg.order_block)  # fmt: skip


def load_run_data(
    cfg: TrainConfig,
    vocab: Vocabulary | None,
    subwords: Subwords | None,
    parse: Parse | None,
    ctx: DistContext,
    log: Callable[[str], None],
) -> tuple[RunData, int]:
    """The run's data (in memory, or streamed) and its number of training tokens;
    its summary line in the log.  ``vocab``, ``subwords``: a resumed run's."""
    t0 = time.perf_counter()
    data: RunData
    if cfg.stream:
        data = streamed = _open_stream(cfg, vocab, subwords, parse, ctx)
        n_train_tokens, how = streamed.train_tokens, f", streamed from {streamed.cache.path} "
    else:
        data = load_training_data(cfg, vocab, subwords, parse)
        n_train_tokens, how = sum(len(leaves(t)) for t in data.train), " "
    log(
        f"data: {data.n_train:,} training / {len(data.dev):,} dev sentences, "
        f"{n_train_tokens:,} tokens, vocabulary {len(data.vocab):,} "
        f"{'BPE pieces ' if data.subwords is not None else ''}"
        f"(skipped lines: {data.stats.empty} empty, {data.stats.too_long} too long, "
        f"{data.stats.undecodable} undecodable; unknown tokens: "
        f"{data.unknown_tokens['train']:,} training, {data.unknown_tokens['dev']:,} dev)"
        f"{how}in {time.perf_counter() - t0:.1f}s"
    )
    return data, n_train_tokens


def _open_stream(
    cfg: TrainConfig,
    vocab: Vocabulary | None,
    subwords: Subwords | None,
    parse: Parse | None,
    ctx: DistContext,
) -> StreamedCorpus:
    """:func:`strae_graph.data.stream.stream_from_config`; under torchrun the first
    process of each machine opens it first, building the corpus's Arrow cache
    (and with ``--vocab bpe`` the BPE model's cache) before the others open it
    (a failure there is raised by every process: each then tries the
    conversion itself and meets the same error)."""
    data = None
    if ctx.enabled:
        try:
            if ctx.first_on_node:
                data = stream_from_config(cfg, vocab, parse=parse, subwords=subwords)
        finally:
            ctx.barrier()
    if data is not None:
        return data
    return stream_from_config(cfg, vocab, parse=parse, subwords=subwords)


def epoch_items(
    data: RunData, cfg: TrainConfig, ctx: DistContext, epoch: int
) -> Callable[[int], list]:
    """``items(b)``: this process's training items of global batch ``b`` of
    ``epoch`` (any ``b``, in any order: a resumed run starts mid-epoch)."""
    if cfg.stream:
        return data.epoch(epoch, order_spec(cfg), ctx.shard).batch  # type: ignore[union-attr]
    train = data.train  # type: ignore[union-attr]
    if cfg.order == "bucketed":
        order = memory_order(train, order_spec(cfg), cfg.seed, epoch)
        return lambda b: [train[i] for i in ctx.shard(order.batch(b))]
    perm = epoch_order(len(train), cfg.seed, epoch)
    return lambda b: [train[i] for i in ctx.shard(permutation_batch(perm, b, cfg.batch_size))]


def epoch_batches(
    data: RunData, cfg: TrainConfig, ctx: DistContext, epoch: int
) -> Callable[[int], Prepared]:
    """``prepare(b)``: global batch ``b`` of ``epoch`` ready for the step (this
    process's items and their batched graph), for the prefetch thread."""
    items = epoch_items(data, cfg, ctx, epoch)
    return lambda b: prepare_items(items(b), data.vocab, cfg)
