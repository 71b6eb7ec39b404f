"""The learning-rate schedule of a training run: linear warm-up, then constant,
linear or cosine decay, as a ``torch.optim.lr_scheduler.LambdaLR``.

The schedule counts optimiser updates (a skipped NaN batch is not one), and
its horizon is the run's nominal length, ``epochs x batches per epoch``, or,
for a run without an epoch limit (``strae train --max-steps N`` without
``--epochs``: the budget decides), ``max_steps``; a decaying schedule needs one
of them (a run limited by ``--minutes`` alone has no known length).  It is
step-based, so a run stopped on a time budget (``--minutes``) or interrupted
and resumed follows exactly the same learning rates.

Update ``k`` (counted from 0) uses ``lr * factor(k)``:

* warm-up (``warmup_steps = W > 0``): ``factor(k) = (k + 1) / W`` for ``k < W``
  (the ramp starts from 0 and reaches ``lr`` at update ``W - 1``);
* then, with ``T`` total updates and ``p = (k + 1 - W) / (T - W)`` going from
  just above 0 to 1 at the last update: ``none``: 1; ``linear``:
  ``1 - (1 - r) p``; ``cosine``: ``r + (1 - r) (1 + cos(pi p)) / 2``, where
  ``r = min_lr_ratio`` (the final learning rate is ``r x lr``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import torch
from torch.optim.lr_scheduler import LambdaLR

LR_DECAYS: tuple[str, ...] = ("none", "linear", "cosine")


class ScheduleSettings(Protocol):
    """The fields of a TrainConfig this module reads."""

    warmup_steps: int
    lr_decay: str
    min_lr_ratio: float
    epochs: int | None  # None: no epoch limit (the budget decides)
    max_steps: int | None


def validate_schedule(cfg: ScheduleSettings) -> None:
    """Raise ValueError naming the first schedule setting that cannot work."""
    if cfg.lr_decay not in LR_DECAYS:
        raise ValueError(f"lr_decay must be one of {', '.join(LR_DECAYS)}, got {cfg.lr_decay!r}")
    if cfg.lr_decay != "none" and cfg.epochs is None and cfg.max_steps is None:
        raise ValueError(
            f"lr_decay {cfg.lr_decay} spans a known number of steps: give --epochs or "
            "--max-steps (a run limited by --minutes alone has no known length)"
        )
    if cfg.warmup_steps < 0:
        raise ValueError(f"warmup_steps must be at least 0, got {cfg.warmup_steps}")
    r = cfg.min_lr_ratio
    if not (math.isfinite(r) and 0.0 <= r <= 1.0):
        raise ValueError(f"min_lr_ratio must lie in [0, 1], got {r}")


def lr_factor(
    warmup_steps: int, lr_decay: str, min_lr_ratio: float, total_steps: int
) -> Callable[[int], float]:
    """``factor(k)``: the multiplier of the base learning rate at update ``k``."""
    w, r = warmup_steps, min_lr_ratio
    span = max(1, total_steps - w)

    def factor(k: int) -> float:
        if k < w:
            return (k + 1) / w
        if lr_decay == "none":
            return 1.0
        p = min(1.0, (k + 1 - w) / span)
        if lr_decay == "linear":
            return 1.0 - (1.0 - r) * p
        return r + (1.0 - r) * 0.5 * (1.0 + math.cos(math.pi * p))

    return factor


def make_scheduler(
    optimizer: torch.optim.Optimizer, cfg: ScheduleSettings, batches_per_epoch: int
) -> LambdaLR:
    """The run's scheduler; call its ``step()`` after every ``optimizer.step()``."""
    total = schedule_steps(cfg, batches_per_epoch)
    return LambdaLR(optimizer, lr_factor(cfg.warmup_steps, cfg.lr_decay, cfg.min_lr_ratio, total))


def schedule_steps(cfg: ScheduleSettings, batches_per_epoch: int) -> int:
    """The schedule's horizon: ``epochs x batches``, else ``max_steps`` (0: none,
    only for a constant rate after the warm-up)."""
    if cfg.epochs is not None:
        return cfg.epochs * batches_per_epoch
    return cfg.max_steps or 0


def restore_scheduler(scheduler: LambdaLR, state: Mapping[str, Any] | None, step: int) -> None:
    """Load a checkpoint's scheduler state; a checkpoint written before schedules
    existed (``state`` None) is fast-forwarded to update ``step``."""
    if state is not None:
        scheduler.load_state_dict(dict(state))
        return
    scheduler.last_epoch = step
    lrs = [base * lam(step) for base, lam in zip(scheduler.base_lrs, scheduler.lr_lambdas)]
    for group, lr in zip(scheduler.optimizer.param_groups, lrs):
        group["lr"] = lr
    scheduler._last_lr = lrs  # what get_last_lr() reports


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate the next ``optimizer.step()`` uses."""
    return float(optimizer.param_groups[0]["lr"])


def resume_problem(saved: Mapping[str, Any], cfg: ScheduleSettings) -> str | None:
    """Why a run saved with ``saved`` (its train config) cannot resume as ``cfg``
    for the schedule's sake, or None: a decay spans ``epochs x batches``, so a
    changed ``--epochs`` would change the learning rates of steps already taken."""
    if cfg.lr_decay == "none" or "epochs" not in saved:
        return None
    if saved["epochs"] != cfg.epochs:
        return (
            f"epochs: saved {saved['epochs']!r}, now {cfg.epochs!r}; with --lr-decay "
            f"{cfg.lr_decay} the schedule spans all epochs, so the number of epochs cannot "
            "change on resume"
        )
    if cfg.epochs is None and saved.get("max_steps") != cfg.max_steps:
        return (
            f"max_steps: saved {saved.get('max_steps')!r}, now {cfg.max_steps!r}; without "
            f"--epochs, --lr-decay {cfg.lr_decay} spans --max-steps, so it cannot change on resume"
        )
    return None
