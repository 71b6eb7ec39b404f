"""One training step's pieces: the model's loss on a batch, the backward pass
with its finiteness checks, what a step logs, and the dev loss.

:mod:`strae_graph.training.loop` runs them in this order for every batch.
"""

from __future__ import annotations

import resource
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from strae_graph.data.vocab import Vocabulary
from strae_graph.model.self_strae import self_forward
from strae_graph.model.strae import StrAE
from strae_graph.training.config import TrainConfig
from strae_graph.training.data import make_batch
from strae_graph.training.distributed import DistContext
from strae_graph.training.interrupt import StopRequest
from strae_graph.training.rng_state import restore_rng
from strae_graph.trees.source import SELF
from strae_graph.trees.tree import Tree


def batch_output(model: StrAE, items: Sequence, vocab: Vocabulary, cfg: TrainConfig):
    """The model's output on one batch: given trees, or trees induced now (``self``)."""
    if cfg.structure == SELF:
        ids = [vocab.encode(s) for s in items]
        return self_forward(model, ids, items, entangle=cfg.entangle).output
    return model(*make_batch(items, vocab, cfg.device, cfg.entangle))


def forward_backward(
    model: StrAE,
    optimizer: torch.optim.Optimizer,
    items: Sequence,
    batch: tuple[Any, Any],
    vocab: Vocabulary,
    cfg: TrainConfig,
    ctx: DistContext,
) -> tuple[Any, str | None]:
    """(output, problem): the loss of one batch (``batch``: its prepared graph
    and frontiers, unused for ``self``) and its gradients, summed over the
    processes and clipped to ``cfg.clip``.  ``problem`` says what is not finite
    (the loss, or the gradient norm), None when the step may be taken."""
    if cfg.structure == SELF:
        output = batch_output(model, items, vocab, cfg)
    else:
        output = ctx.forward(model, *batch)
    return output, backward_checked(output, model, optimizer, cfg.clip, ctx)


def backward_checked(
    output: Any,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    clip: float,
    ctx: DistContext | None = None,
) -> str | None:
    """The backward pass of a step with its finiteness checks (each a
    synchronisation): gradients cleared; a loss that is not finite is reported,
    else its gradients are computed, summed over the processes (``ctx``) and
    clipped to ``clip``, and a gradient norm that is not finite is reported.
    None: the optimiser step may be taken (:mod:`strae_graph.bench.cases` times the same)."""
    optimizer.zero_grad(set_to_none=True)
    if not torch.isfinite(output.loss):
        return f"loss is {output.loss.item()}"
    output.loss.backward()
    if ctx is not None:
        ctx.sync_gradients(model)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    if not torch.isfinite(norm):
        return f"gradient norm is {norm.item()}"
    return None


def save_before_bad_batch(
    checkpoint: Callable[[Path], None],
    model: torch.nn.Module,
    last_path: Path,
    stop: StopRequest,
    rng_at_batch: dict[str, Any],
) -> str:
    """Save the (still finite) model, and the random state, from before the bad
    batch, so that ``--resume --on-nan skip`` continues exactly as a run with
    ``--on-nan skip`` from the start; the sentence to append to the error message."""
    if not params_finite(model):
        return f"The model already holds NaN/inf; the last good checkpoint is {last_path}."
    restore_rng(rng_at_batch)
    with stop.deferred():
        checkpoint(last_path)
    return (
        f"Saved the model from before this batch to {last_path}; continue with --resume, "
        "adding --on-nan skip to skip the batch (or lower --lr)."
    )


def step_rng_state() -> dict[str, Any]:
    """The state of torch's generators before a step (the CPU's, and the GPUs' once
    CUDA is in use: dropout on a GPU draws from them), for :func:`save_before_bad_batch`."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def params_finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def process_peak_rss_mb() -> float:
    """Peak resident memory of this process since it started (``getrusage``), in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def step_record(
    step: int, epoch: int, batch: int, output: Any, lr: float, model: StrAE, cfg: TrainConfig
) -> dict[str, Any]:
    """A logged step's line of ``metrics.jsonl`` (deterministic)."""
    rec = {"step": step, "epoch": epoch, "batch": batch,
           "loss": output.loss.item(), **output.parts, "lr": lr}  # fmt: skip
    if cfg.learn_temperature:
        rec["scale"] = model.scale_value()
    return rec


def timing_record(step: int, seconds: float, tokens: int, cpu_seconds: float) -> dict[str, Any]:
    """A logged step's line of ``timing.jsonl`` (varies run to run)."""
    return {"step": step, "seconds": seconds, "tokens": tokens,
            "tokens_per_s": tokens / seconds,
            "cpu_seconds": cpu_seconds,
            "torch_threads": torch.get_num_threads(),
            "peak_rss_mb": process_peak_rss_mb(),
            **_peak_gpu()}  # fmt: skip


def _peak_gpu() -> dict[str, float]:
    """``{"peak_gpu_mb": ...}``: the most GPU memory torch has held, once CUDA is in use."""
    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return {}
    return {"peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20}


def evaluate_loss(
    model: StrAE, trees: Sequence[Tree], vocab: Vocabulary, cfg: TrainConfig
) -> float:
    """Mean loss over ``trees`` in eval mode (no dropout), batch by batch."""
    if not trees:
        return float("nan")
    model.eval()
    total, weight = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(trees), cfg.batch_size):
            chunk = trees[start : start + cfg.batch_size]
            out = batch_output(model, chunk, vocab, cfg)
            total += out.loss.item() * len(chunk)
            weight += len(chunk)
    model.train()
    return total / weight
