"""The tables of a ``strae compare`` study: one row per run x system x task
(``results.csv``), the mean and std over seeds (``summary.csv``), and the
Markdown of the summary and of the contrasts (``results.md``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from eval.compare_contrasts import CONTRAST_SYSTEM
from eval.metrics import mean_std
from eval.runs import RunEvaluation
from eval.study import StudyConfig
from strae_graph.training.run_files import TRAIN_RESULT_FILE
from strae_graph.util.fileio import atomic_open


def result_rows(runs: list[RunEvaluation], labels: dict[str, str] | None = None) -> list[dict]:
    """One row per run x system x task; ``labels``: run_dir -> the study's
    structure label (default: the structure the run trained on)."""
    labels = labels or {}
    rows = []
    for run in runs:
        for system, results in run.systems.items():
            for r in results:
                rows.append(
                    {
                        "system": system,
                        "structure": labels.get(run.run_dir, run.trained_structure),
                        "objective": run.objective,
                        "seed": run.seed,
                        "task": r.task,
                        "metric": r.metric,
                        "score": r.score,
                        "coverage": r.coverage,
                        "n": r.n,
                        "run_dir": run.run_dir,
                    }
                )
    return rows


def summarize(rows: list[dict], f1: dict | None = None) -> list[dict]:
    """Mean and std (ddof 1) over seeds per system x structure x objective x task;
    ``f1``: (structure, objective) -> parse F1 summary (eval.parse_quality), added
    as ``parse_f1`` / ``parse_f1_std`` (NaN when unknown)."""
    f1 = f1 or {}
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["system"], r["structure"], r["objective"], r["task"]), []).append(r)
    out = []
    for (system, structure, objective, task), rs in groups.items():
        scores = [r["score"] for r in rs if r["score"] == r["score"]]
        mean, std = mean_std(scores)
        pf = f1.get((structure, objective), {})
        out.append(
            {
                "system": system,
                "structure": structure,
                "objective": objective,
                "task": task,
                "metric": rs[0]["metric"],
                "mean": mean,
                "std": std,
                "seeds": len(scores),
                "coverage": sum(r["coverage"] for r in rs) / len(rs),
                "n": rs[0]["n"],
                "parse_f1": pf.get("f1", float("nan")),
                "parse_f1_std": pf.get("f1_std", float("nan")),
            }
        )
    return out


def training_rows(runs: list[RunEvaluation], labels: dict[str, str] | None = None) -> list[dict]:
    """One row per trained run (those with ``RUN/train_result.json``): how much it
    trained.  Under a ``--minutes`` budget a structure with slower steps sees fewer
    sentences, so the scores compare equal time, not equal data (``--max-steps``: equal data)."""
    labels = labels or {}
    rows = []
    for run in runs:
        path = Path(run.run_dir) / TRAIN_RESULT_FILE
        if not path.is_file():
            continue
        saved = json.loads(path.read_text())
        res, cfg = saved["result"], saved["train_config"]
        rows.append(
            {
                "structure": labels.get(run.run_dir, run.trained_structure),
                "objective": run.objective,
                "seed": run.seed,
                "steps": res["steps"],
                "sentences": res["steps"] * cfg["batch_size"],
                "tokens_per_s": res["tokens_per_s"],
                "minutes": res.get("minutes_trained", float("nan")),
            }
        )
    return rows


def training_markdown(rows: list[dict]) -> str:
    """Rows: structure / objective; cells: mean ± std over seeds of the steps,
    the sentences they held (steps x batch size), tokens/s and training minutes."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["structure"], r["objective"]), []).append(r)
    cols = [("steps", "{:,.0f}"), ("sentences", "{:,.0f}"), ("tokens_per_s", "{:,.0f}"),
            ("minutes", "{:.1f}")]  # fmt: skip
    lines = ["| structure / objective | seeds | steps | sentences seen | tokens/s | minutes |",
             "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for (structure, objective), rs in groups.items():
        cells = []
        for name, fmt in cols:
            mean, std = mean_std([float(r[name]) for r in rs])
            cells.append(fmt.format(mean) + (" ± " + fmt.format(std) if len(rs) > 1 else ""))
        lines.append(f"| {structure} / {objective} | {len(rs)} | " + " | ".join(cells) + " |")
    if len({r["steps"] for r in rows}) == 1:  # a step budget (or whole epochs)
        note = ("Every run took the same steps, so under each seed every structure saw the "
                "same sentences: the scores above compare equal data.")  # fmt: skip
    else:
        note = ("Under a time budget (`--minutes`) a structure with slower steps sees "
                "fewer sentences: the scores above compare equal training time, not equal "
                "data.")  # fmt: skip
    lines += ["", f"Training of each run (mean ± std over seeds). {note}"]
    return "\n".join(lines)


def _label(system: str, structure: str, objective: str) -> str:
    return system if structure == "-" else f"{system} {structure} / {objective}"


def _f1_cell(r: dict) -> str:
    f = r.get("parse_f1", float("nan"))
    return "-" if f != f else f"{100 * f:.1f}"


def summary_markdown(summary: list[dict], cfg: StudyConfig | None = None,
                     contrasts: list[dict] | None = None) -> str:  # fmt: skip
    """Rows: system x structure x objective; columns: parse F1, then tasks; cells
    mean ± std; then the contrasts table (task x contrast)."""
    tasks: list[str] = []
    keys: list[tuple[str, str, str]] = []
    cell: dict[tuple, dict] = {}
    order = {"strae": 0, "mean-leaves": 1, "word2vec": 2}
    for r in summary:
        if r["task"] not in tasks:
            tasks.append(r["task"])
        key = (r["system"], r["structure"], r["objective"])
        if key not in keys:
            keys.append(key)
        cell[(*key, r["task"])] = r
    keys.sort(key=lambda k: order.get(k[0], 9))
    lines = [
        "| system | parse F1 | " + " | ".join(tasks) + " |",
        "|---|---:|" + "---|" * len(tasks),
    ]
    for k in keys:
        cells = []
        for t in tasks:
            r = cell.get((*k, t))
            if r is None or r["mean"] != r["mean"]:
                cells.append("-")
            else:
                c = f"{r['mean']:.3f} ± {r['std']:.3f}"
                if r["coverage"] < 0.9995:
                    c += f" ({100 * r['coverage']:.0f}%)"
                cells.append(c)
        f1 = next((_f1_cell(cell[(*k, t)]) for t in tasks if (*k, t) in cell), "-")
        lines.append(f"| {_label(*k)} | {f1} | " + " | ".join(cells) + " |")
    seeds = max((r["seeds"] for r in summary), default=0)
    lines.append("")
    lines.append(
        f"Mean ± std over {seeds} seed(s); Spearman for word/sentence similarity, dev "
        "accuracy for probes; (x%) = coverage where below 100%. parse F1: unlabelled bracket "
        "F1 (x100) on the held-out PTB sample (strae parse-eval; self: the trained runs' "
        "induced trees, mean over seeds; gold: 100 by definition)."
    )
    if contrasts:
        lines += ["", contrast_markdown(contrasts)]
    return "\n".join(lines)


def contrast_markdown(contrasts: list[dict]) -> str:
    """Rows: contrast (A - B) x objective; columns: tasks; cells: mean difference
    [95% interval] of the paired item bootstrap (the seed bootstrap where no
    per-item results exist)."""
    tasks = list(dict.fromkeys(c["task"] for c in contrasts))
    keys = list(dict.fromkeys((c["a"], c["b"], c["objective"]) for c in contrasts))
    by = {(c["a"], c["b"], c["objective"], c["task"]): c for c in contrasts}
    lines = ["| contrast (A − B) | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for a, b, obj in keys:
        cells = []
        for t in tasks:
            c = by.get((a, b, obj, t))
            if c is None:
                cells.append("-")
                continue
            if c["mean"] != c["mean"]:
                cells.append("n/a")  # a score of A or B is n/a on every seed
                continue
            lo, hi = (c["lo"], c["hi"]) if c["method"] == "items" else (c["seed_lo"], c["seed_hi"])
            mark = "" if c["method"] == "items" else " (seeds)"
            cells.append(f"{c['mean']:+.3f} [{lo:+.3f}, {hi:+.3f}]{mark}")
        lines.append(f"| {a} − {b} / {obj} | " + " | ".join(cells) + " |")
    n = max((c["n_seeds"] for c in contrasts), default=0)
    lines += ["", f"{CONTRAST_SYSTEM} scores; mean over {n} paired seed(s) (same seed, same "
              "data order) of the difference A − B, with the 95% percentile interval of a "
              "paired bootstrap over the test items (both structures rescored on the same "
              "resampled items, averaged over seeds; preferred: with few seeds a bootstrap over "
              "seeds is coarse and ignores test-set noise). contrasts.csv also holds the seed "
              "bootstrap's interval (seed_lo, seed_hi)."]  # fmt: skip
    return "\n".join(lines)


def write_csv(path: Path, rows: list[dict]) -> None:
    with atomic_open(path, "w", newline="") as f:
        if rows:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
