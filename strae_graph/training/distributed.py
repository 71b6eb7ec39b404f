"""Data-parallel training under ``torchrun`` (torch.distributed: gloo on CPU,
NCCL on GPUs).

Every process reads the corpus and builds the same vocabulary, then at each
step takes its own contiguous shard of the global batch (the same global
batches, in the same order, as single-process training).  The objective is
the global one:

* contrastive: the down embeddings of all processes are gathered *with
  gradients* (:class:`_GatherRows`), so every node's negatives are all nodes
  of the global batch; each process computes its rows of the N x N similarity
  matrix (the column sums are summed over processes), so the N^2 work is split,
  not repeated (:func:`strae_graph.model.losses.contrastive_loss_shard`);
* cross-entropy: each process's token terms are divided by the global number
  of target tokens.

Each process's loss is its share of the global loss; the parameter gradients
are summed over processes (:meth:`DistContext.sync_gradients`), which makes
them equal to single-process gradients of the global batch, and every process
then takes the same clipped Adam step.  Only rank 0 writes files.

Dropout draws from each process's own random generator, so with dropout > 0 a
run is not bitwise the single-process run (the masks differ); with dropout 0
(``--dropout 0 --input-dropout 0``) N steps equal single-process training up
to floating-point tolerance (tests/test_distributed.py).  Each rank seeds its
generator with ``seed + rank`` after the (identical) initialisation, so the
masks of different ranks are independent.

Exit: every collective goes through :func:`_run`, which keeps the last few
``Work`` handles alive in this module.  Without that, a gloo worker thread can
drop the last reference to a finished work (and so to its tensors, which need
the GIL to free) while the interpreter is finalizing, which aborts the process
("terminate called without an active exception", pytorch/pytorch#190489).
At exit :func:`_leave` lets the worker threads finish (the GIL released for a
moment) and destroys the process group.
"""

from __future__ import annotations

import atexit
import collections
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from strae_graph.model.losses import contrastive_loss_shard
from strae_graph.model.objectives import objective_loss
from strae_graph.model.strae import StrAE, StrAEOutput

#: the handles of the latest collectives (see the module docstring, "Exit")
_KEPT: collections.deque = collections.deque(maxlen=16)


def _run(collective, *args, **kwargs) -> None:
    """``collective(*args, **kwargs)`` (a torch.distributed call), waited for,
    its work handle kept so that a gloo thread never frees its tensors."""
    work = collective(*args, **kwargs, async_op=True)
    work.wait()
    _KEPT.append(work)


def under_torchrun() -> bool:
    """True when started by torchrun (or another launcher setting WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@dataclass
class DistContext:
    """This process's place in a data-parallel run (world 1: a plain run)."""

    rank: int = 0
    world: int = 1

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def setup(cls, device: str = "cpu") -> DistContext:
        """Join the process group torchrun describes (no-op outside torchrun)."""
        if not under_torchrun():
            return cls()
        if not dist.is_initialized():
            if str(device) == "cuda" and torch.cuda.is_available():
                # one GPU per process on a machine: torchrun's LOCAL_RANK picks it,
                # and "cuda" (the model, the batches, NCCL) then means that GPU
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            backend = "nccl" if str(device).startswith("cuda") else "gloo"
            dist.init_process_group(backend=backend)
            atexit.register(_leave)
        return cls(rank=dist.get_rank(), world=dist.get_world_size())

    # -- data ------------------------------------------------------------------
    def shard(self, batch: np.ndarray) -> np.ndarray:
        """This process's contiguous part of a global batch of indices (sizes
        differ by at most one; a part may be empty for a tiny last batch)."""
        if not self.enabled:
            return batch
        return np.array_split(batch, self.world)[self.rank]

    @property
    def first_on_node(self) -> bool:
        """The first process of this machine (torchrun's ``LOCAL_RANK`` 0): the one
        that prepares what the machine's processes share on its disk."""
        return int(os.environ.get("LOCAL_RANK", self.rank)) == 0

    def output_path(self, path: Path) -> Path:
        """Where this process writes ``path``: itself on rank 0, nowhere elsewhere."""
        return path if self.is_main else Path(os.devnull)

    # -- collectives ------------------------------------------------------------
    def reduce_(self, t: torch.Tensor, op: str = "sum") -> None:
        """In place: sum (or max) of ``t`` over processes."""
        if self.enabled:
            _run(dist.all_reduce, t, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)

    def total(self, value: float | int) -> float:
        t = torch.tensor([float(value)], dtype=torch.float64)
        self.reduce_(t)
        return float(t.item())

    def barrier(self) -> None:
        """Wait until every process has come here (a no-op for a plain run)."""
        if self.enabled:
            _run(dist.barrier)

    def from_main(self, value: float) -> float:
        """Rank 0's ``value`` on every process (e.g. the dev loss only it computes)."""
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        _run(dist.broadcast, t, src=0)
        return float(t.item())

    def agree_signal(self, signum: int | None) -> int | None:
        """A stop signal seen by any process, so that all stop at the same step."""
        if not self.enabled:
            return signum
        t = torch.tensor([signum or 0])
        self.reduce_(t, "max")
        return int(t.item()) or None

    def seed_dropout(self, seed: int, step: int) -> None:
        """Independent dropout masks per process (a no-op for a plain run)."""
        if self.enabled:
            torch.manual_seed(seed * 1_000_003 + self.rank * 7_919 + step)

    def broadcast_parameters(self, model: torch.nn.Module) -> None:
        """Start every process from rank 0's parameters."""
        if self.enabled:
            for p in model.parameters():
                _run(dist.broadcast, p.data, src=0)

    def sync_gradients(self, model: torch.nn.Module) -> None:
        """Sum the parameter gradients over processes (one flat all-reduce)."""
        if not self.enabled:
            return
        params = list(model.parameters())
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        _run(dist.all_reduce, flat)
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n

    def gather_rows(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(all processes' rows of ``x`` in rank order, this process's first row);
        gradients flow back to every process's own rows."""
        if not self.enabled:
            return x, 0
        sizes = torch.zeros(self.world, dtype=torch.int64)
        sizes[self.rank] = len(x)
        self.reduce_(sizes)
        sizes_l = sizes.tolist()
        return _GatherRows.apply(x, sizes_l, self.rank), int(sum(sizes_l[: self.rank]))

    # -- the objective ------------------------------------------------------------
    def forward(self, model: StrAE, g, frontiers) -> StrAEOutput:
        """``model(g, frontiers)`` with the loss of the *global* batch.

        ``loss`` has the global loss as its value and this process's share as
        its gradient (``share + (global - share).detach()``); ``parts`` hold
        global values.  ``g`` is None for a process whose shard is empty.
        """
        if not self.enabled:
            return model(g, frontiers)
        e = model.config.embedding_size
        if g is None:  # empty shard: still take part in every collective
            up = down = model.embedding.weight[:0].reshape(0, e)
            is_leaf = torch.zeros(0, dtype=torch.bool)
            tokens = torch.zeros(0, dtype=torch.int64)
        else:
            u = model.up(g, frontiers)
            down = model.down(g, u, frontiers).reshape(g.num_nodes(), e)
            up = u.reshape(g.num_nodes(), e)
            is_leaf, tokens = g.ndata["is_leaf"], g.ndata["token"]

        def contrastive(u: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
            u_rows = F.normalize(u, dim=-1)
            d_all, offset = self.gather_rows(F.normalize(d, dim=-1))
            c = model.config
            return contrastive_loss_shard(u_rows, d_all, offset, model.scale, self.reduce_,
                                          c.block_size, precision=c.precision)  # fmt: skip

        def ce() -> torch.Tensor:  # this process's share: its sum over the global count
            known = is_leaf & (tokens != 0)
            n_known = self.total(int(known.sum()))
            if n_known == 0:
                return down.sum() * 0.0
            return model.token_cross_entropy(down[known], tokens[known], reduction="sum") / n_known

        c = model.config
        share, shares = objective_loss(c.objective, up, down, is_leaf, contrastive, ce, c.ce_weight)
        values = torch.stack([share.detach(), *(v.detach() for v in shares.values())])
        values = values.to(torch.float64)
        self.reduce_(values)
        loss = share + (values[0].to(share.dtype) - share).detach()
        parts = {k: float(v) for k, v in zip(shares, values[1:].tolist())}
        return StrAEOutput(up=up, down=down, loss=loss, parts=parts)


def _leave() -> None:
    """At exit: gloo's worker threads get the GIL for a moment to finish what
    they hold, then the process group goes.  (No barrier: a peer that failed
    would make it wait for the whole collective timeout.)"""
    if dist.is_initialized():
        time.sleep(0.05)
        dist.destroy_process_group()


class _GatherRows(torch.autograd.Function):
    """all_gather of variable-length row blocks; backward sums every process's
    gradient for this process's rows (works on gloo, which has no reduce-scatter)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, sizes: list[int], rank: int):  # type: ignore[override]
        longest = max(sizes)
        padded = x.new_zeros((longest, *x.shape[1:]))
        padded[: len(x)] = x
        out = [torch.empty_like(padded) for _ in sizes]
        _run(dist.all_gather, out, padded.contiguous())
        ctx.sizes, ctx.rank, ctx.longest = sizes, rank, longest
        return torch.cat([o[:s] for o, s in zip(out, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        grad = grad.contiguous().clone()
        _run(dist.all_reduce, grad)
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start : start + ctx.sizes[ctx.rank]], None, None
