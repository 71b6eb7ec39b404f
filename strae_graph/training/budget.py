"""Training time: the clock behind ``--minutes`` (a time budget) and
``--eval-every-minutes`` (a learning curve in RUN/curve.jsonl).

*Training time* is the wall time spent in the training loop (steps, dev-loss
evaluations, checkpoints), not counting data loading before it nor the
learning-curve evaluations; it is stored in every checkpoint, so a resumed
run continues the same clock (the time between the last checkpoint and a
kill is not counted).

The core never imports the ``eval`` package: the learning curve calls an
``on_eval(model, vocab, step, minutes) -> {name: score}`` callback that the
command line builds (``eval.curve``).  The callback runs in eval mode under
``torch.no_grad``; afterwards the model is back in train mode and every random
generator is as it was, so a run with and without a learning curve trains
identically.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from strae_graph.data.vocab import Vocabulary
from strae_graph.model.strae import StrAE
from strae_graph.training.rng_state import capture_rng, restore_rng
from strae_graph.util.fileio import open_no_follow

#: (model, vocabulary, step, training minutes) -> scores, e.g. {"simlex": 0.21}
OnEval = Callable[[StrAE, Vocabulary, int, float], dict[str, float]]


def validate_minutes(name: str, value: float | None) -> None:
    """ValueError unless ``value`` is None or a positive, finite number of minutes."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number of minutes, got {value}")


class TrainClock:
    """Training seconds: ``start`` (from a checkpoint) plus the wall time since
    this clock was made, minus the time spent inside :meth:`paused` blocks.
    :attr:`now` reads the wall time (a test may give a fake clock there)."""

    now: Callable[[], float] = staticmethod(time.perf_counter)

    def __init__(self, start: float = 0.0):
        self.start = float(start)
        self._t0 = self.now()
        self._paused = 0.0

    def seconds(self) -> float:
        return self.start + self.now() - self._t0 - self._paused

    def minutes(self) -> float:
        return self.seconds() / 60.0

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        t = self.now()
        try:
            yield
        finally:
            self._paused += self.now() - t


def budget_spent(clock: TrainClock, minutes: float | None) -> bool:
    """True once ``minutes`` of training time have passed (never for None)."""
    return minutes is not None and clock.minutes() >= minutes


class LearningCurve:
    """Appends ``{"minutes", "step", "tokens", <scores>}`` lines to ``path``
    every ``every`` minutes of training time, and once at the end."""

    def __init__(
        self,
        path: Path,
        every: float,
        on_eval: OnEval,
        minutes_done: float = 0.0,
        last_step: int | None = None,
    ):
        self.path = path
        self.every = every
        self.on_eval = on_eval
        self.next_at = self._after(minutes_done)
        self.last_step = last_step  # step of the last line written, if any

    def _after(self, minutes: float) -> float:
        """The first multiple of ``every`` after ``minutes``."""
        return (math.floor(minutes / self.every) + 1) * self.every

    def due(self, clock: TrainClock) -> bool:
        return clock.minutes() >= self.next_at

    def size(self) -> int:
        """Bytes written so far (kept in checkpoints, like metrics.jsonl's)."""
        return self.path.stat().st_size if self.path.exists() else 0

    def evaluate(
        self, model: StrAE, vocab: Vocabulary, clock: TrainClock, step: int, tokens: int
    ) -> dict:
        """Run ``on_eval`` now (clock paused, random state and train mode kept)
        and append its line; returns the line."""
        with clock.paused():
            minutes = clock.minutes()
            rng = capture_rng()
            was_training = model.training
            model.eval()
            try:
                with torch.no_grad():
                    scores = self.on_eval(model, vocab, step, minutes)
            finally:
                model.train(was_training)
                restore_rng(rng)
            line = {"minutes": round(minutes, 4), "step": step, "tokens": tokens, **scores}
            with open_no_follow(self.path) as f:  # never through a link to another file
                f.write(json.dumps(line) + "\n")
        self.last_step = step
        self.next_at = self._after(minutes)
        return line

    def finish(
        self, model: StrAE, vocab: Vocabulary, clock: TrainClock, step: int, tokens: int
    ) -> None:
        """The end-of-training line (unless the last line is already at ``step``)."""
        if self.last_step != step:
            self.evaluate(model, vocab, clock, step, tokens)
