"""The tables, contrasts and plots of a ``strae compare`` study (eval.compare)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eval.metrics import mean_std
from eval.runs import RunEvaluation, load_items
from eval.stats import accuracy_bootstrap, seed_bootstrap, similarity_bootstrap
from strae_graph.fileio import atomic_open, atomic_write_text

if TYPE_CHECKING:
    from eval.compare import Study, StudyConfig

#: the system whose structures are contrasted (mean-leaves shares its word scores)
CONTRAST_SYSTEM = "strae"


# --- tables -------------------------------------------------------------------------
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


# --- contrasts ----------------------------------------------------------------------
def _items_of(run_dir: str, cache: dict) -> dict:
    if run_dir not in cache:
        from eval.compare import ITEMS_FILE

        path = Path(run_dir) / ITEMS_FILE
        cache[run_dir] = load_items(path) if path.exists() else {}
    return cache[run_dir]


def contrasts(rows: list[dict], pairs: list[tuple[str, str]], resamples: int = 1000,
              seed: int = 0) -> list[dict]:  # fmt: skip
    """Paired differences A − B of :data:`CONTRAST_SYSTEM` scores per task and
    objective, over the seeds both structures have (eval.stats)."""
    rows = [r for r in rows if r["system"] == CONTRAST_SYSTEM]
    index = {(r["structure"], r["objective"], r["task"], r["seed"]): r for r in rows}
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    objectives = list(dict.fromkeys(r["objective"] for r in rows))
    cache: dict = {}
    out = []
    for a, b in pairs:
        for obj in objectives:
            for task in tasks:
                seeds = sorted(
                    {s for (st, o, t, s) in index if (st, o, t) == (a, obj, task)}
                    & {s for (st, o, t, s) in index if (st, o, t) == (b, obj, task)}
                )
                if not seeds:
                    continue
                scored = [s for s in seeds if _scored(index[(a, obj, task, s)])
                          and _scored(index[(b, obj, task, s)])]  # fmt: skip
                if not scored:  # n/a (e.g. too few covered pairs) on every seed: no contrast
                    out.append({"task": task, "objective": obj, "a": a, "b": b,
                                "metric": index[(a, obj, task, seeds[0])]["metric"],
                                "mean": float("nan"), "lo": float("nan"), "hi": float("nan"),
                                "method": "n/a", "seed_lo": float("nan"),
                                "seed_hi": float("nan"), "n_seeds": 0, "n_items": None,
                                "resamples": resamples})  # fmt: skip
                    continue
                seeds = scored  # a seed where either score is n/a has no paired difference
                ra = [index[(a, obj, task, s)] for s in seeds]
                rb = [index[(b, obj, task, s)] for s in seeds]
                sb = seed_bootstrap([r["score"] for r in ra], [r["score"] for r in rb],
                                    resamples, seed)  # fmt: skip
                ia = [_items_of(r["run_dir"], cache).get((CONTRAST_SYSTEM, task)) for r in ra]
                ib = [_items_of(r["run_dir"], cache).get((CONTRAST_SYSTEM, task)) for r in rb]
                ib_ = _item_interval(ia, ib, resamples, seed)
                row = {"task": task, "objective": obj, "a": a, "b": b, "metric": ra[0]["metric"],
                       "mean": sb.mean, "lo": float("nan"), "hi": float("nan"),
                       "method": "seeds", "seed_lo": sb.lo, "seed_hi": sb.hi,
                       "n_seeds": sb.n_seeds, "n_items": None, "resamples": resamples}  # fmt: skip
                if ib_ is not None:
                    row.update(mean=ib_.mean, lo=ib_.lo, hi=ib_.hi, method="items",
                               n_items=ib_.n_items)  # fmt: skip
                out.append(row)
    return out


def _scored(row: dict) -> bool:
    score = row["score"]
    return score is not None and math.isfinite(score)


def _item_interval(ia: list, ib: list, resamples: int, seed: int):
    if any(x is None for x in ia + ib):
        return None
    if all("cos" in x for x in ia + ib):
        gold = ia[0]["gold"]
        if any(len(x["gold"]) != len(gold) for x in ia + ib):
            return None
        return similarity_bootstrap([x["cos"] for x in ia], [x["cos"] for x in ib], gold,
                                    resamples=resamples, seed=seed)  # fmt: skip
    if all("correct" in x for x in ia + ib):
        n = ia[0]["correct"].shape[-1]
        if any(x["correct"].shape[-1] != n for x in ia + ib):
            return None
        return accuracy_bootstrap([x["correct"] for x in ia], [x["correct"] for x in ib],
                                  resamples=resamples, seed=seed)  # fmt: skip
    return None


# --- the whole report -----------------------------------------------------------------
def write_report(cfg: StudyConfig, runs, labels, f1, pairs, trained, reused, log) -> Study:
    from eval.compare import Study

    out = Path(cfg.out)
    rows = result_rows(runs, labels)
    summary = summarize(rows, f1)
    diffs = contrasts(rows, list(pairs), cfg.resamples)
    markdown = summary_markdown(summary, cfg, diffs)
    write_csv(out / "results.csv", rows)
    write_csv(out / "summary.csv", summary)
    write_csv(out / "contrasts.csv", diffs)
    atomic_write_text(out / "results.md", markdown + "\n")
    plot_summary(summary, out / "results.png", rows)
    written = ["results.csv", "summary.csv", "contrasts.csv", "results.md", "results.png"]
    if f1:
        plot_f1_vs_score(summary, out / "f1_vs_score.png")
        written.append("f1_vs_score.png")
    log(f"wrote {', '.join(str(out / w) for w in written)} ({trained} trained, {reused} reused)")
    return Study(runs, rows, summary, markdown, trained, reused, diffs, f1)


# --- plots --------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(plt, n: int):
    ncols = min(3, n)
    nrows = (n + ncols - 1) // ncols
    return plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)


def plot_summary(summary: list[dict], path: Path, rows: list[dict] | None = None) -> None:
    """One panel per task; structures on the x axis; one bar per objective (StrAE
    solid, mean-of-leaves hatched) with std error bars and each seed's score as a
    point; word2vec as a dashed line."""
    plt = _pyplot()
    tasks = list(dict.fromkeys(r["task"] for r in summary))
    structures = list(dict.fromkeys(r["structure"] for r in summary if r["structure"] != "-"))
    objectives = list(dict.fromkeys(r["objective"] for r in summary if r["objective"] != "-"))
    systems = [s for s in ("strae", "mean-leaves") if any(r["system"] == s for r in summary)]
    if not tasks:
        return
    fig, axes = _grid(plt, len(tasks))
    index = {(r["system"], r["structure"], r["objective"], r["task"]): r for r in summary}
    points: dict[tuple, list[float]] = {}
    for r in rows or []:
        key = (r["system"], r["structure"], r["objective"], r["task"])
        points.setdefault(key, []).append(r["score"])
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    n_bars = max(1, len(objectives) * len(systems))
    width = 0.8 / n_bars
    for ax, task in zip(axes.flat, tasks):
        b = 0
        for si, system in enumerate(systems):
            for oi, obj in enumerate(objectives):
                xs, ys, es = [], [], []
                for x, st in enumerate(structures):
                    r = index.get((system, st, obj, task))
                    if r is not None and r["mean"] == r["mean"]:
                        xc = x - 0.4 + width * (b + 0.5)
                        xs.append(xc)
                        ys.append(r["mean"])
                        es.append(r["std"])
                        pts = [p for p in points.get((system, st, obj, task), []) if p == p]
                        if pts:
                            jitter = np.linspace(-0.25, 0.25, len(pts)) * width
                            ax.scatter(xc + jitter, pts, s=9, color="k", zorder=3, linewidths=0)
                ax.bar(
                    xs,
                    ys,
                    width,
                    yerr=es,
                    capsize=2,
                    color=colors[oi % len(colors)],
                    alpha=1.0 if si == 0 else 0.45,
                    hatch=None if si == 0 else "//",
                    label=f"{system} {obj}",
                )
                b += 1
        w2v = index.get(("word2vec", "-", "-", task))
        if w2v is not None and w2v["mean"] == w2v["mean"]:
            ax.axhline(w2v["mean"], color="k", ls="--", lw=1, label="word2vec")
        metric = next(r["metric"] for r in summary if r["task"] == task)
        ax.set_title(f"{task} ({metric})")
        ax.set_xticks(range(len(structures)))
        ax.set_xticklabels(structures)
        ax.axhline(0, color="grey", lw=0.5)
    for ax in list(axes.flat)[len(tasks) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=8)
    fig.text(0.99, 0.01, "dots: seeds", ha="right", fontsize=7)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_f1_vs_score(summary: list[dict], path: Path) -> None:
    """One panel per task: the StrAE's score (mean ± std over seeds) against the
    structure's bracket F1 on the PTB sample, one point per structure and
    objective, labelled with the structure."""
    plt = _pyplot()
    rows = [r for r in summary if r["system"] == CONTRAST_SYSTEM]
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    if not tasks:
        return
    objectives = list(dict.fromkeys(r["objective"] for r in rows))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = _grid(plt, len(tasks))
    for ax, task in zip(axes.flat, tasks):
        for oi, obj in enumerate(objectives):
            pts = [r for r in rows if r["task"] == task and r["objective"] == obj
                   and not math.isnan(r["parse_f1"]) and r["mean"] == r["mean"]]  # fmt: skip
            if not pts:
                continue
            xs = [100 * r["parse_f1"] for r in pts]
            xerr = [0.0 if r["parse_f1_std"] != r["parse_f1_std"] else 100 * r["parse_f1_std"]
                    for r in pts]  # fmt: skip
            ax.errorbar(xs, [r["mean"] for r in pts], yerr=[r["std"] for r in pts], xerr=xerr,
                        fmt="o", capsize=2, color=colors[oi % len(colors)], label=obj)  # fmt: skip
            for x, r in zip(xs, pts):
                ax.annotate(r["structure"], (x, r["mean"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")  # fmt: skip
        metric = next(r["metric"] for r in rows if r["task"] == task)
        ax.set_title(f"{task} ({metric})")
        ax.set_xlabel("bracket F1 on the PTB sample (x100)")
    for ax in list(axes.flat)[len(tasks) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
