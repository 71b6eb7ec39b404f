"""The report of a ``strae compare`` study: every file it writes into the study
directory.  The parts are one module each: the tables (:mod:`eval.compare_tables`),
the contrasts (:mod:`eval.compare_contrasts`) and the plots
(:mod:`eval.compare_plots`); their public names are importable from here too."""

from __future__ import annotations

from pathlib import Path

from eval.compare_contrasts import CONTRAST_SYSTEM, contrasts
from eval.compare_plots import plot_f1_vs_score, plot_summary
from eval.compare_tables import (
    contrast_markdown,
    result_rows,
    summarize,
    summary_markdown,
    training_markdown,
    training_rows,
    write_csv,
)
from eval.study import Study, StudyConfig
from eval.tune import Tuning, tuning_markdown
from strae_graph.util.fileio import atomic_write_text

__all__ = [
    "CONTRAST_SYSTEM", "contrast_markdown", "contrasts", "plot_f1_vs_score", "plot_summary",
    "result_rows", "summarize", "summary_markdown", "training_markdown", "training_rows",
    "write_csv", "write_report",
]  # fmt: skip


def write_report(
    cfg: StudyConfig, runs, labels, f1, pairs, trained, reused, log, tuning: Tuning | None = None
) -> Study:
    """Write the study's tables (results.csv, summary.csv, contrasts.csv,
    results.md with the training of each run, and the tuning with --tune) and
    plots (results.png; f1_vs_score.png when ``f1`` is given) into ``cfg.out`` and
    return the :class:`eval.study.Study`."""
    out = Path(cfg.out)
    rows = result_rows(runs, labels)
    summary = summarize(rows, f1)
    if tuning is not None and tuning.chosen:  # the chosen setting of every run's structure
        for r in (*rows, *summary):
            r["tuned"] = tuning.chosen_name(r["structure"], r["objective"])
    diffs = contrasts(rows, list(pairs), cfg.resamples)
    markdown = summary_markdown(summary, cfg, diffs)
    trained_runs = training_rows(runs, labels)
    if trained_runs:
        markdown += "\n\n" + training_markdown(trained_runs)
    if tuning is not None and tuning.chosen:
        markdown += "\n\n" + tuning_markdown(tuning, cfg)
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
