"""The plots of a ``strae compare`` study: the scores per task and structure
(``results.png``) and the scores against the structures' parse F1
(``f1_vs_score.png``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from eval.compare_contrasts import CONTRAST_SYSTEM


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
