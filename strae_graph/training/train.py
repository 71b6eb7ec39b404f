"""Training: corpus -> trees -> batched graphs -> StrAE, with resumable,
atomic checkpoints and a JSON-lines metrics file.

A run directory holds:
  config.json    the full configuration, versions and data hashes
  vocab.json     the vocabulary (list of words, id order; BPE pieces for --vocab bpe)
  tokenizer.json the BPE model of a --vocab bpe run (strae_graph.data.subwords)
  last.pt        the latest checkpoint (model, optimiser, position, RNG)
  best.pt        the checkpoint with the lowest dev loss so far
  metrics.jsonl  one JSON object per logged step and per epoch (deterministic
                 for a given command and seed)
  timing.jsonl   throughput and memory per logged step (varies run to run)
  curve.jsonl    with --eval-every-minutes: scores over training time

This module is the entry point, :func:`train`; the work is in:

* :mod:`strae_graph.training.config`: :class:`TrainConfig` and its checks;
* :mod:`strae_graph.training.data`: corpus -> trees -> batches;
* :mod:`strae_graph.training.batches`: an epoch's batches, from memory or streamed
  (``TrainConfig.stream``, :mod:`strae_graph.data.stream`), in the epoch order;
* :mod:`strae_graph.training.run_dir`: the run directory (config.json, resume checks, clean-up);
* :mod:`strae_graph.training.state`: the model, optimiser and position, and checkpoints;
* :mod:`strae_graph.training.loop`: the epochs and steps;
* :mod:`strae_graph.training.result`: what a run reports at its end (:class:`TrainResult`);
* :mod:`strae_graph.training.step`: one step (loss, gradients, NaN checks), the dev loss.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from strae_graph.training.budget import OnEval
from strae_graph.training.checkpoint import CheckpointError, run_lock
from strae_graph.training.config import TrainConfig
from strae_graph.training.data import check_parse
from strae_graph.training.distributed import DistContext, under_torchrun
from strae_graph.training.interrupt import RunProgress
from strae_graph.training.loop import run_training
from strae_graph.training.result import TrainResult
from strae_graph.training.run_dir import interrupted_note, remove_if_unused
from strae_graph.training.run_files import is_run_dir
from strae_graph.trees.source import SELF, Parse
from strae_graph.util.fileio import check_output_dir


def train(
    cfg: TrainConfig,
    resume: bool = False,
    log: Callable[[str], None] = print,
    on_eval: OnEval | None = None,
    parse: Parse | None = None,
) -> TrainResult:
    """Train a StrAE as ``cfg`` says; with ``resume``, continue from RUN_DIR/last.pt.

    ``parse``: builds the trees of ``cfg.structure`` (:mod:`strae_graph.trees.source`);
    not needed for ``self`` or a ``strae parse`` dataset as the corpus.
    :func:`parsers.api.train` passes the registry's.

    One process at a time may train into a run directory (a lock file).
    ``cfg.out`` may be new, empty or a run directory (a fresh start removes the
    old run's files, and only those: :func:`strae_graph.training.run_files.clear_run_files`);
    a folder holding anything else is refused.
    Under torchrun: data-parallel over the processes (strae_graph.training.distributed).
    ``on_eval``: the learning-curve evaluator (strae_graph.training.budget), needed by
    ``cfg.eval_every_minutes``.
    """
    check_parse(cfg, parse)
    if cfg.entangle and under_torchrun():
        raise ValueError(
            "--entangle does not run under torchrun (each process would entangle only its "
            "own shard of the batch): add --no-entangle (--preset recipe turns it on), or "
            "train in one process"
        )
    if cfg.eval_every_minutes is not None and on_eval is None:
        raise ValueError("eval_every_minutes needs an on_eval callback (strae train builds one)")
    ctx = DistContext.setup(cfg.device)
    if ctx.enabled and cfg.structure == SELF:
        raise ValueError(
            "--structure self does not run under torchrun yet; train it in one process"
        )
    if not ctx.is_main:
        log = lambda *_: None  # noqa: E731
    out = Path(cfg.out)
    check_output_dir(out, is_run_dir, "a strae run directory")  # a fresh run clears a run only
    if resume and not out.is_dir():
        raise CheckpointError(f"--resume: no run directory {out}")
    created = [d for d in (out, *out.parents) if not d.exists()]  # removed again on failure
    out.mkdir(parents=True, exist_ok=True)
    progress = RunProgress()
    try:
        with run_lock(out) if ctx.is_main else contextlib.nullcontext():
            return run_training(cfg, resume, log, ctx, on_eval, progress, parse)
    except KeyboardInterrupt:
        if ctx.is_main:
            remove_if_unused(created)
        raise KeyboardInterrupt(interrupted_note(out / "last.pt", progress)) from None
    except BaseException:
        if ctx.is_main:
            remove_if_unused(created)
        raise
    finally:
        if ctx.is_main:
            remove_if_unused(created, only_if_empty=True)
