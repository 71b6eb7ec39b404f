"""A training run's state: the model, optimiser and learning-rate schedule it
trains and where it stands, built for a fresh run (:meth:`RunState.__init__`),
restored from a checkpoint (:meth:`RunState.restore`) and saved to one
(:meth:`RunState.checkpoint`).  :class:`strae_graph.training.loop.Trainer` runs
the loop on it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

import torch

from strae_graph.model.config import model_config
from strae_graph.model.memory import check_model_memory
from strae_graph.model.strae import StrAE
from strae_graph.training.budget import LearningCurve, TrainClock, budget_spent
from strae_graph.training.checkpoint import (
    CheckpointError,
    describe_state_mismatch,
    save_checkpoint,
)
from strae_graph.training.config import TrainConfig
from strae_graph.training.data import RunData
from strae_graph.training.distributed import DistContext
from strae_graph.training.interrupt import RunProgress, StopRequest
from strae_graph.training.lr_horizon import describe, observe, plan_horizon, resume_horizon
from strae_graph.training.lr_schedule import make_scheduler, restore_scheduler
from strae_graph.training.rng_state import capture_rng, restore_rng
from strae_graph.training.run_dir import truncate
from strae_graph.training.threads import ThreadGovernor
from strae_graph.util.fileio import file_sha256

#: the version of the checkpoint layout :meth:`RunState.checkpoint` writes
CHECKPOINT_FORMAT = 1


class RunState:
    """One run while it trains: the model, the optimiser, the schedule and
    where the run stands (epoch, batch, step, dev losses, counters), as saved in
    its checkpoints."""

    def __init__(
        self,
        cfg: TrainConfig,
        ctx: DistContext,
        log: Callable[[str], None],
        data: RunData,
        n_train_tokens: int,
        progress: RunProgress,
    ):
        self.cfg, self.ctx, self.log, self.data = cfg, ctx, log, data
        self.progress = progress  # what a Ctrl-C that stops the run at once reports
        self.out = Path(cfg.out)
        self.last_path, self.best_path = self.out / "last.pt", self.out / "best.pt"
        self.n_train_tokens = n_train_tokens
        self.corpus_sha = file_sha256(cfg.corpus) if Path(cfg.corpus).is_file() else None
        torch.manual_seed(cfg.seed)
        self.model_cfg = model_config(cfg, len(data.vocab))
        check_model_memory(self.model_cfg, training=True)  # before building it
        self.model = StrAE(self.model_cfg).to(cfg.device)
        ctx.broadcast_parameters(self.model)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.learning_rate)
        self.n_batches = math.ceil(data.n_train / cfg.batch_size)
        # the decay's horizon: exact, or estimated during a --minutes run (lr_horizon)
        self.horizon = plan_horizon(cfg, self.n_batches)
        self.scheduler = make_scheduler(self.optimizer, cfg, self.n_batches, self.horizon)
        # where the run stands (restored from a checkpoint by restore())
        self.epoch, self.next_batch, self.step = 0, 0, 0
        self.best_dev, self.last_dev = math.inf, math.nan
        self.nan_batches, self.tokens_seen = 0, 0
        self.train_seconds: float = 0.0
        self.curve_step: int | None = None
        self.resumed = False  # restored from a checkpoint (restore())
        # --entangle: distinct / plain nodes per batch (this epoch's, restored on resume)
        self.node_ratios: list[float] = []
        self.resumed_ratios: list[float] = []
        # this call's throughput and how it ended
        self.tokens_done, self.seconds = 0, 0.0
        self.interrupted = self.out_of_budget = False
        self.clock = TrainClock(0.0)
        self.curve: LearningCurve | None = None
        # the SHA-256 of config.json, recorded in every checkpoint (strae_graph.training.run_files)
        self.config_sha: str | None = None
        # while the loop runs (Trainer.run): its stop request and its log files
        self.stop = StopRequest()  # replaced by the loop's, whose handlers are installed
        self.mfile: IO[str] | None = None  # metrics.jsonl
        self.tfile: IO[str] | None = None  # timing.jsonl
        self.governor: ThreadGovernor | None = None  # --threads (strae_graph.training.threads)

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from the checkpoint ``state`` (checked by
        :func:`strae_graph.training.run_dir.resume_state`); cut the logs back to it."""
        problem = describe_state_mismatch(self.model.state_dict(), state["model"])
        if problem:
            raise CheckpointError(f"{self.last_path}: does not fit this model: {problem}")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            resume_horizon(self.horizon, state.get("lr_horizon"), self.cfg, self.n_batches)
            restore_scheduler(self.scheduler, state.get("scheduler"), state["step"])
            restore_rng(state["rng"])
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            raise CheckpointError(f"{self.last_path}: does not fit this model: {e}") from None
        self.epoch, self.next_batch, self.step = state["epoch"], state["next_batch"], state["step"]
        self.resumed = True
        self.progress.checkpoint_step = self.step
        self.best_dev, self.last_dev = state["best_dev"], state["last_dev"]
        self.nan_batches = int(state.get("nan_batches", 0))
        self.train_seconds = state.get("train_seconds", 0.0)
        self.tokens_seen = state.get("tokens_seen", 0)
        self.curve_step = state.get("curve_step")
        self.resumed_ratios = [float(r) for r in state.get("node_ratios", [])]
        out, ctx = self.out, self.ctx
        config = out / "config.json"  # checked against the checkpoint (run_dir.resume_state)
        self.config_sha = (state.get("files") or {}).get("config.json") or (
            file_sha256(config) if config.is_file() else None
        )
        truncate(ctx.output_path(out / "curve.jsonl"), state.get("curve_bytes", 0))
        if not truncate(ctx.output_path(out / "metrics.jsonl"), state["metrics_bytes"]):
            self.log(f"warning: {out / 'metrics.jsonl'} is shorter than when {self.last_path} "
                     "was written; earlier metric lines are missing")  # fmt: skip
        self.log(f"resumed from {self.last_path}: epoch {self.epoch + 1}, "
                 f"batch {self.next_batch}, step {self.step}")  # fmt: skip
        line = describe(self.horizon, self.cfg)
        if line:
            self.log(f"{line}; kept from {self.last_path.name}")

    def horizon_record(self) -> dict[str, Any] | None:
        """Log the schedule's status line (a decay only); the ``metrics.jsonl`` line
        of its horizon once fixed (None before a --minutes estimate, or without decay)."""
        h, line = self.horizon, describe(self.horizon, self.cfg)
        if line:
            self.log(line)
        if line is None or h.total is None:
            return None
        return {"step": self.step, "lr_horizon": h.total, "lr_decay_start": h.start,
                "lr_horizon_how": h.how}  # fmt: skip

    def observe_horizon(self) -> dict[str, Any] | None:
        """After an update: a --minutes run times its first steps
        (:func:`strae_graph.training.lr_horizon.observe`; rank 0's clock decides);
        when that fixes the horizon, :meth:`horizon_record`."""
        now = lambda: self.ctx.from_main(self.clock.seconds())  # noqa: E731
        if observe(self.horizon, self.cfg, self.n_batches, self.step, now):
            return self.horizon_record()
        return None

    def checkpoint(self, path: Path) -> None:
        """Save the run's state to ``path`` (on the main process)."""
        if not self.ctx.is_main:
            return
        metrics = self.out / "metrics.jsonl"
        curve = self.curve
        save_checkpoint(
            {
                "format": CHECKPOINT_FORMAT,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "model_config": self.model_cfg.to_dict(),
                "train_config": asdict(self.cfg),
                "vocab": self.data.vocab.itos,
                "epoch": self.epoch,
                "next_batch": self.next_batch,
                "step": self.step,
                "best_dev": self.best_dev,
                "last_dev": self.last_dev,
                "rng": capture_rng(),
                "metrics_bytes": metrics.stat().st_size if metrics.exists() else 0,
                "nan_batches": self.nan_batches,
                "data": {"corpus_sha256": self.corpus_sha},
                "files": {"config.json": self.config_sha},
                "scheduler": self.scheduler.state_dict(),
                "lr_horizon": self.horizon.state(),
                "train_seconds": self.clock.seconds(),
                "tokens_seen": self.tokens_seen,
                "curve_bytes": curve.size() if curve else 0,
                "curve_step": curve.last_step if curve else None,
                # --entangle: this epoch's node ratios so far (the epoch's mean survives resume)
                "node_ratios": list(self.node_ratios) if self.next_batch else [],
            },
            path,
        )
        if path == self.last_path:
            self.progress.checkpoint_step = self.step

    def epochs_left(self) -> bool:
        """Whether ``--epochs`` allow another epoch (always, without an epoch limit)."""
        return self.cfg.epochs is None or self.epoch < self.cfg.epochs

    def steps_spent(self) -> bool:
        """Whether ``--max-steps`` steps are taken (every process has taken the same)."""
        return self.cfg.max_steps is not None and self.step >= self.cfg.max_steps

    def budget_spent(self) -> bool:
        """Whether ``--max-steps`` steps are taken or ``--minutes`` are spent (rank 0
        decides the time, so every process stops together)."""
        if self.steps_spent():
            return True
        minutes = self.cfg.minutes
        return minutes is not None and bool(self.ctx.from_main(budget_spent(self.clock, minutes)))
