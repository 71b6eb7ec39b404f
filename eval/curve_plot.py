"""Learning curves: score against training minutes, from the ``curve.jsonl``
that ``strae train --eval-every-minutes`` writes (``strae curve``)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from strae_graph.data.corpus import DataError, iter_lines

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

    :class:`~strae_graph.data.corpus.DataError` (a ValueError) naming the file (and
    line) when it is missing, empty, not JSON lines, or a line is not an object
    with a number ``minutes`` and scores that are numbers (or null).
    """
    path = Path(run_dir)
    if path.is_dir():
        path = path / CURVE_FILE
    if not path.is_file():
        raise DataError(f"{path}: no learning curve (train the run with --eval-every-minutes X)")
    curve = Curve(label or path.parent.name, [])
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            minutes, scores = _curve_line(line)
        except ValueError as e:
            raise DataError(f"{path}, line {number}: not a curve line ({e})") from None
        curve.minutes.append(minutes)
        for task, score in scores.items():
            curve.scores.setdefault(task, [math.nan] * (len(curve.minutes) - 1))
            curve.scores[task].append(score)
        for values in curve.scores.values():  # a task missing from this line
            if len(values) < len(curve.minutes):
                values.append(math.nan)
    if not curve.minutes:
        raise DataError(f"{path}: the learning curve is empty")
    if not curve.scores:
        raise DataError(f"{path}: the learning curve holds no scores, only minutes")
    return curve


def _curve_line(line: str) -> tuple[float, dict[str, float]]:
    """(minutes, {task: score}) of one curve line; ValueError saying what is wrong."""
    rec = json.loads(line)  # json.JSONDecodeError is a ValueError
    if not isinstance(rec, dict):
        raise ValueError(f"expected a JSON object, got {type(rec).__name__}")
    if "minutes" not in rec:
        raise ValueError("no 'minutes'")
    minutes = _number("minutes", rec["minutes"])
    if not (math.isfinite(minutes) and minutes >= 0):
        raise ValueError(f"'minutes' is {minutes}, not a number of minutes")
    scores = {}
    for task, value in rec.items():
        if task not in NOT_SCORES:
            score = math.nan if value is None else _number(f"the score of {task!r}", value)
            if math.isinf(score):
                raise ValueError(f"the score of {task!r} is {score}, not a finite number")
            scores[task] = score
    return minutes, scores


def _number(what: str, value: object) -> float:
    """``value`` when it is a JSON number (not a string or a boolean); else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} is {json.dumps(value)[:40]}, not a number")
    return float(value)


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
    if not sep or not label.strip() or not values or not all(map(math.isfinite, values.values())):
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
