"""The horizon of a decaying learning-rate schedule: the update by which the
rate has decayed to ``min_lr_ratio x lr`` (:mod:`strae_graph.training.lr_schedule`).

The schedule spans the run's budget:

* no ``--minutes``: the horizon is exact, fixed at the start: ``--max-steps N``
  when it is shorter than the epochs' length (``epochs x batches per epoch``),
  else the epochs' length (without ``--epochs``: ``N``);
* ``--minutes M``: the horizon is estimated from the rate of the run's first
  steps.  The first :data:`ESTIMATE_SKIP` updates are not timed (start-up:
  allocation, caches, thread tuning); the window then runs for
  :data:`ESTIMATE_STEPS` updates, or ends earlier once it holds at least
  :data:`ESTIMATE_MIN_STEPS` updates and spans :data:`ESTIMATE_SHARE` of the
  budget (slow steps, e.g. Self-StrAE's).  At its end, after update ``k``:
  ``horizon = k + floor(seconds left x updates per second in the window)``,
  capped by ``--max-steps`` and the epochs' length.  Training time is the
  clock of :mod:`strae_graph.training.budget` (dev losses and checkpoints
  count, learning-curve evaluations do not), so the estimate sees the same
  clock as the budget.  Until the estimate the factor is the warm-up's, then 1;
  from it the decay runs from update ``max(warm-up, k)`` to the horizon, so the
  rate is continuous.

The horizon, how it was chosen and the open window are stored in every
checkpoint (``lr_horizon``); a resumed run uses the stored horizon, never a new
estimate, so it follows exactly the learning rates of an uninterrupted run
(a window still open continues on the stored training clock).  With a decay,
``--epochs`` and ``--max-steps`` cannot change on resume
(:func:`strae_graph.training.lr_schedule.resume_problem`); ``--minutes`` may,
and only matters before the estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

#: updates not timed at the start of a --minutes run (start-up)
ESTIMATE_SKIP = 5
#: updates in the timing window
ESTIMATE_STEPS = 50
#: ... or fewer, once the window spans this share of the --minutes budget
ESTIMATE_SHARE = 0.02
#: the fewest updates a window may end with
ESTIMATE_MIN_STEPS = 2


class ScheduleSettings(Protocol):
    """The fields of a TrainConfig the schedule and its horizon depend on."""

    warmup_steps: int
    lr_decay: str
    min_lr_ratio: float
    epochs: int | None  # None: no epoch limit (the budget decides)
    max_steps: int | None
    minutes: float | None


@dataclass
class Horizon:
    """Where a decaying schedule ends: ``total`` updates (None: not known yet,
    a --minutes run before its estimate), the decay starting at update
    ``start``; ``how`` it was chosen; ``window``: (update, training seconds)
    where the open timing window of a --minutes estimate began."""

    total: int | None = None
    start: int = 0
    how: str = ""
    window: tuple[int, float] | None = None

    def state(self) -> dict[str, Any]:
        """For a checkpoint (plain values only)."""
        window = list(self.window) if self.window is not None else None
        return {"total": self.total, "start": self.start, "how": self.how, "window": window}

    def load(self, state: Mapping[str, Any]) -> None:
        """Take a checkpoint's :meth:`state`."""
        self.total, self.start, self.how = state["total"], int(state["start"]), str(state["how"])
        w = state.get("window")
        self.window = (int(w[0]), float(w[1])) if w is not None else None


def step_cap(cfg: ScheduleSettings, batches_per_epoch: int) -> tuple[int | None, str]:
    """The smaller of ``--max-steps`` and the epochs' length, and its description
    (None: neither is given)."""
    n = cfg.max_steps
    e = cfg.epochs * batches_per_epoch if cfg.epochs is not None else None
    epochs = f"{cfg.epochs} epochs x {batches_per_epoch:,} batches"
    if n is not None and (e is None or n < e):
        return n, f"--max-steps {n}" + (f", shorter than {epochs}" if e is not None else "")
    if e is not None:
        return e, epochs + (f", not longer than --max-steps {n}" if n is not None else "")
    return None, ""


def plan_horizon(cfg: ScheduleSettings, batches_per_epoch: int) -> Horizon:
    """The horizon at the start of a run: exact, or (``--minutes``) to be estimated."""
    h = Horizon(start=cfg.warmup_steps)
    if cfg.lr_decay != "none" and cfg.minutes is None:
        h.total, h.how = step_cap(cfg, batches_per_epoch)
    return h


def observe(
    h: Horizon, cfg: ScheduleSettings, batches_per_epoch: int, step: int, now: Callable[[], float]
) -> bool:
    """After update number ``step`` (from 1), with training seconds ``now()``
    (read only while the window is open): open or close the timing window of a
    --minutes estimate; True when the horizon was fixed now."""
    if h.total is not None or cfg.lr_decay == "none" or cfg.minutes is None:
        return False
    if h.window is None:
        if step >= ESTIMATE_SKIP:
            h.window = (step, now())
        return False
    seconds = now()
    s0, t0 = h.window
    n, dt, budget = step - s0, seconds - t0, cfg.minutes * 60.0
    if dt <= 0 or n < ESTIMATE_MIN_STEPS or (n < ESTIMATE_STEPS and dt < ESTIMATE_SHARE * budget):
        return False
    rate, left = n / dt, max(0.0, budget - seconds)
    estimate = step + int(left * rate)
    cap, cap_how = step_cap(cfg, batches_per_epoch)
    h.total = estimate if cap is None else min(estimate, cap)
    h.start, h.window = max(cfg.warmup_steps, step), None
    h.how = (
        f"estimated after step {step:,}: {n} steps in {dt:.1f} s of training "
        f"({rate:.3g} steps/s) x {left / 60:.2f} of --minutes {cfg.minutes:g} left = "
        f"{estimate:,} steps in all"
        + (f", capped by {cap_how}" if cap is not None and cap < estimate else "")
    )
    return True


def resume_horizon(
    h: Horizon, state: Mapping[str, Any] | None, cfg: ScheduleSettings, batches_per_epoch: int
) -> None:
    """Set ``h`` from a checkpoint's ``lr_horizon`` (None: a checkpoint from
    before budget-aware schedules, whose decay spanned the epochs, else
    ``--max-steps``).  A --minutes run stopped before its estimate and resumed
    without ``--minutes`` gets its exact horizon now."""
    if state is None:
        total = cfg.epochs * batches_per_epoch if cfg.epochs is not None else cfg.max_steps
        h.total, h.start, h.window = total, cfg.warmup_steps, None
        h.how = "the epochs' length, else --max-steps (a run from before budget-aware schedules)"
        return
    h.load(state)
    if h.total is None and cfg.minutes is None and cfg.lr_decay != "none":
        h.total, h.how = step_cap(cfg, batches_per_epoch)
        h.start, h.window = cfg.warmup_steps, None


def describe(h: Horizon, cfg: ScheduleSettings) -> str | None:
    """The status line of a decaying schedule (None for a constant rate)."""
    if cfg.lr_decay == "none":
        return None
    decay = f"{cfg.lr_decay} decay to {cfg.min_lr_ratio:g} x lr"
    warm = f"warm-up {cfg.warmup_steps} steps, then " if cfg.warmup_steps else ""
    if h.total is not None:
        return f"lr schedule: {warm}{decay} over steps {h.start + 1:,}-{h.total:,} ({h.how})"
    cap = cfg.max_steps is not None or cfg.epochs is not None
    return (
        f"lr schedule: {warm}{decay} by the end of --minutes {cfg.minutes:g}: the number of "
        f"steps is estimated from the training time of steps {ESTIMATE_SKIP + 1}-"
        f"{ESTIMATE_SKIP + ESTIMATE_STEPS} (fewer if they take over {ESTIMATE_SHARE:.0%} "
        f"of the budget){', capped by --max-steps / --epochs' if cap else ''}; "
        "constant lr until then"
    )
