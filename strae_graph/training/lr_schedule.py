"""The learning-rate schedule of a training run: linear warm-up, then constant,
linear or cosine decay, as a ``torch.optim.lr_scheduler.LambdaLR``.

The schedule counts optimiser updates (a skipped NaN batch is not one).  A
decay spans the run's budget: its horizon ``T`` (the update by which the rate
is down to ``min_lr_ratio x lr``) is ``--max-steps`` when that is shorter than
the epochs (``epochs x batches per epoch``), else the epochs; with
``--minutes`` it is estimated from the rate of the first steps and capped by
those (:mod:`strae_graph.training.lr_horizon`, which also says how the estimate
is made).  The horizon is fixed once chosen and stored in checkpoints, so a run
interrupted and resumed follows exactly the same learning rates.

Update ``k`` (counted from 0) uses ``lr * factor(k)``:

* warm-up (``warmup_steps = W > 0``): ``factor(k) = (k + 1) / W`` for ``k < W``
  (the ramp starts from 0 and reaches ``lr`` at update ``W - 1``);
* then, with the decay starting at update ``S`` (``S = W``, or for a
  ``--minutes`` estimate made after update ``K > W``, ``S = K``; before the
  estimate the factor is 1) and ``p = (k + 1 - S) / (T - S)`` going from just
  above 0 to 1 at the last update: ``none``: 1; ``linear``: ``1 - (1 - r) p``;
  ``cosine``: ``r + (1 - r) (1 + cos(pi p)) / 2``, where ``r = min_lr_ratio``
  (the final learning rate is ``r x lr``; past ``T`` it stays there).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from strae_graph.training.lr_horizon import Horizon, ScheduleSettings, plan_horizon

LR_DECAYS: tuple[str, ...] = ("none", "linear", "cosine")


def validate_schedule(cfg: ScheduleSettings) -> None:
    """Raise ValueError naming the first schedule setting that cannot work."""
    if cfg.lr_decay not in LR_DECAYS:
        raise ValueError(f"lr_decay must be one of {', '.join(LR_DECAYS)}, got {cfg.lr_decay!r}")
    if cfg.warmup_steps < 0:
        raise ValueError(f"warmup_steps must be at least 0, got {cfg.warmup_steps}")
    r = cfg.min_lr_ratio
    if not (math.isfinite(r) and 0.0 <= r <= 1.0):
        raise ValueError(f"min_lr_ratio must lie in [0, 1], got {r}")


def lr_factor(
    warmup_steps: int, lr_decay: str, min_lr_ratio: float, horizon: int | Horizon
) -> Callable[[int], float]:
    """``factor(k)``: the multiplier of the base learning rate at update ``k``;
    ``horizon``: the update count ``T`` the decay spans (from the warm-up's end),
    or a :class:`Horizon`, read at every call (a --minutes estimate fixes it
    during the run)."""
    w, r = warmup_steps, min_lr_ratio
    h = horizon if isinstance(horizon, Horizon) else Horizon(total=horizon, start=w)

    def factor(k: int) -> float:
        if k < w:
            return (k + 1) / w
        if lr_decay == "none" or h.total is None:
            return 1.0
        p = min(1.0, max(0.0, (k + 1 - h.start) / max(1, h.total - h.start)))
        if lr_decay == "linear":
            return 1.0 - (1.0 - r) * p
        return r + (1.0 - r) * 0.5 * (1.0 + math.cos(math.pi * p))

    return factor


def make_scheduler(
    optimizer: torch.optim.Optimizer,
    cfg: ScheduleSettings,
    batches_per_epoch: int,
    horizon: Horizon | None = None,
) -> LambdaLR:
    """The run's scheduler; call its ``step()`` after every ``optimizer.step()``.
    ``horizon``: the run's (updated in place by a --minutes estimate or a
    resume); None: :func:`~strae_graph.training.lr_horizon.plan_horizon`'s."""
    h = horizon if horizon is not None else plan_horizon(cfg, batches_per_epoch)
    return LambdaLR(optimizer, lr_factor(cfg.warmup_steps, cfg.lr_decay, cfg.min_lr_ratio, h))


def restore_scheduler(scheduler: LambdaLR, state: Mapping[str, Any] | None, step: int) -> None:
    """Load a checkpoint's scheduler state (a checkpoint written before schedules
    existed, ``state`` None, is fast-forwarded to update ``step``), then set the
    rate of the next update from the schedule's factor: the stored rate, unless
    the horizon was fixed on resume (a --minutes run resumed without --minutes
    before its estimate)."""
    if state is not None:
        scheduler.load_state_dict(dict(state))
    else:
        scheduler.last_epoch = step
    k = scheduler.last_epoch
    lrs = [base * lam(k) for base, lam in zip(scheduler.base_lrs, scheduler.lr_lambdas)]
    for group, lr in zip(scheduler.optimizer.param_groups, lrs):
        group["lr"] = lr
    scheduler._last_lr = lrs  # what get_last_lr() reports


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate the next ``optimizer.step()`` uses."""
    return float(optimizer.param_groups[0]["lr"])


def resume_problem(saved: Mapping[str, Any], cfg: ScheduleSettings) -> str | None:
    """Why a run saved with ``saved`` (its train config) cannot resume as ``cfg``
    for the schedule's sake, or None: a decay's horizon is fixed by ``--epochs``
    and ``--max-steps`` (:mod:`strae_graph.training.lr_horizon`), so neither may
    change (``--minutes`` may: its estimate, once made, is kept)."""
    if cfg.lr_decay == "none" or "epochs" not in saved:
        return None
    for name in ("epochs", "max_steps"):
        if saved.get(name) != getattr(cfg, name):
            option = "--" + name.replace("_", "-")
            return (
                f"{name}: saved {saved.get(name)!r}, now {getattr(cfg, name)!r}; with --lr-decay "
                f"{cfg.lr_decay} the schedule's length is fixed by --epochs and --max-steps, so "
                f"{option} cannot change on resume"
            )
    return None
