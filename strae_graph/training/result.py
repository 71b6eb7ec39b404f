"""What a training run reports at its end: :class:`TrainResult`, which
:func:`strae_graph.training.train.train` returns and ``strae train`` prints as
JSON, made from the run's state by :func:`train_result`."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from strae_graph.training.state import RunState
from strae_graph.training.step import process_peak_rss_mb


@dataclass
class TrainResult:
    """What :func:`strae_graph.training.train.train` returns (``strae train`` prints it as JSON)."""

    run_dir: str
    steps: int
    epochs_done: int
    best_dev_loss: float
    last_dev_loss: float
    tokens_per_s: float
    peak_rss_mb: float
    interrupted: bool
    train_sentences: int
    train_tokens: int
    vocab_size: int
    skipped: dict[str, int] = field(default_factory=dict)
    stopped_on_budget: bool = False  # --minutes / --max-steps ran out before --epochs were done
    minutes_trained: float = 0.0  # training time of the run so far (strae_graph.training.budget)
    step_seconds: float = 0.0  # this call's time in its steps (what tokens_per_s divides by)
    torch_threads: int = 0  # at the end of the run (--threads auto may change it)


def train_result(run: RunState, stopped_on_budget: bool) -> TrainResult:
    """``run``'s result as it ends (``stopped_on_budget``: the budget, time or steps,
    ran out before ``--epochs`` were done)."""
    data, clock = run.data, run.clock
    return TrainResult(
        run_dir=str(run.out),
        steps=run.step,
        epochs_done=run.epoch,
        best_dev_loss=run.best_dev,
        last_dev_loss=run.last_dev,
        tokens_per_s=run.tokens_done / run.seconds if run.seconds else 0.0,
        peak_rss_mb=process_peak_rss_mb(),
        interrupted=run.interrupted,
        train_sentences=data.n_train,
        train_tokens=run.n_train_tokens,
        vocab_size=len(data.vocab),
        stopped_on_budget=stopped_on_budget,
        minutes_trained=round(clock.minutes(), 4),
        step_seconds=round(run.seconds, 3),
        torch_threads=torch.get_num_threads(),
        skipped={
            "empty_lines": data.stats.empty,
            "too_long_lines": data.stats.too_long,
            "undecodable_lines": data.stats.undecodable,
            "unknown_tokens_train": data.unknown_tokens["train"],
            "unknown_tokens_dev": data.unknown_tokens["dev"],
            "nan_batches": run.nan_batches,
        },
    )
