"""Learning curves: score against training minutes, from the ``curve.jsonl``
that ``strae train --eval-every-minutes`` writes (``strae curve``)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CURVE_FILE = "curve.jsonl"
#: the keys of a curve line that are not scores
NOT_SCORES = frozenset({"minutes", "step", "tokens"})


@dataclass
class Curve:
    """One run's learning curve: minutes and, per task, the scores at those minutes."""

    label: str
    minutes: list[float]
    scores: dict[str, list[float]] = field(default_factory=dict)


def read_curve(run_dir: str | Path, label: str | None = None) -> Curve:
    """The learning curve of a run directory (or of a ``curve.jsonl`` file).

    ValueError naming the file (and line) when it is missing, empty or not JSON lines.
    """
    path = Path(run_dir)
    if path.is_dir():
        path = path / CURVE_FILE
    if not path.is_file():
        raise ValueError(f"{path}: no learning curve (train the run with --eval-every-minutes X)")
    curve = Curve(label or path.parent.name, [])
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            minutes = float(rec["minutes"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}, line {number}: not a curve line ({e})") from None
        curve.minutes.append(minutes)
        for task, value in rec.items():
            if task not in NOT_SCORES:
                score = math.nan if value is None else float(value)
                curve.scores.setdefault(task, [math.nan] * (len(curve.minutes) - 1))
                curve.scores[task].append(score)
        for scores in curve.scores.values():  # a task missing from this line
            if len(scores) < len(curve.minutes):
                scores.append(math.nan)
    if not curve.minutes:
        raise ValueError(f"{path}: the learning curve is empty")
    return curve


def parse_reference(text: str) -> tuple[str, dict[str, float]]:
    """``"LABEL=TASK:VALUE,TASK:VALUE"`` -> (label, {task: value})."""
    label, sep, rest = text.partition("=")
    values: dict[str, float] = {}
    try:
        for item in rest.split(","):
            task, _, value = item.partition(":")
            values[task.strip()] = float(value)
    except ValueError:
        values = {}
    if not sep or not label.strip() or not values:
        raise ValueError(f"--reference {text!r}: expected LABEL=TASK:VALUE[,TASK:VALUE...]")
    return label.strip(), values


def plot_curves(
    curves: Sequence[Curve],
    out: str | Path,
    tasks: Sequence[str] | None = None,
    references: Mapping[str, Mapping[str, float]] | None = None,
) -> Path:
    """One panel per task: each curve's score against training minutes, and each
    reference as a dashed horizontal line.  Writes ``out`` (PNG) and returns it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not curves:
        raise ValueError("no curves to plot")
    if tasks is None:
        tasks = list(dict.fromkeys(t for c in curves for t in c.scores))
    missing = [t for t in tasks if not any(t in c.scores for c in curves)]
    if missing:
        raise ValueError(f"no curve has the task(s) {', '.join(missing)}")
    references = references or {}
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks), 3.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for c in curves:
            if task in c.scores:
                ax.plot(c.minutes, c.scores[task], marker="o", markersize=3, label=c.label)
        for i, (label, values) in enumerate(references.items()):
            if task in values:
                ax.axhline(values[task], linestyle="--", color=f"C{len(curves) + i}",
                           linewidth=1, label=label)  # fmt: skip
        ax.set_title(task)
        ax.set_xlabel("training minutes")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("Spearman")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
