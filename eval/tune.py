"""Per-structure tuning of a ``strae compare`` study (``--tune KEY=V1,V2 ...``).

For each structure (and objective) every setting of the grid trains for
``tune_steps`` steps with ``tune_seed`` in ``OUT/tune/LABEL-OBJECTIVE/SETTING/``
and is scored on the development sets only (:data:`eval.data.DEV_TASKS`: the mean
Spearman of STS-B dev and SICK trial).  Sentence similarity is what the study
compares; the dev loss is not comparable across temperatures (it is a softmax
over the batch at that temperature).  The best setting wins (ties: the grid's
first) and the study's runs of that structure train with it.  No test set is
read here.  Tuning runs resume like the study's runs: a finished one is neither
retrained nor re-scored, an interrupted one continues from its checkpoint.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from eval.data import DEV_TASKS
from eval.evaluate import EvalConfig
from eval.runs import evaluate_run
from eval.study import StudyConfig
from eval.study_specs import StructureSpec, eval_parse
from strae_graph.util.fileio import atomic_write_text

#: the file of a tuning run holding its development scores
DEV_EVAL_FILE = "dev_eval.json"


@dataclass
class Tuning:
    """The grid's scores and each structure's choice."""

    rows: list[dict] = field(default_factory=list)  # label, objective, setting, task scores, mean
    chosen: dict[tuple[str, str], dict] = field(default_factory=dict)  # (label, obj) -> setting
    trained: int = 0
    reused: int = 0

    def chosen_name(self, label: str, objective: str) -> str:
        setting = self.chosen.get((label, objective))
        return "" if setting is None else setting_name(setting)


def settings(grid: dict[str, list]) -> list[dict]:
    """Every combination of the grid, the first key varying slowest."""
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def setting_name(setting: dict) -> str:
    """``lr=0.001,temperature=0.05`` (also the tuning run's directory name)."""
    return ",".join(f"{k}={v}" for k, v in setting.items()).replace("/", "_")


def dev_scores(cfg: StudyConfig, spec: StructureSpec, run: Path, log) -> dict[str, float]:
    """The run's Spearman on each development set and their mean (cached in
    ``run/dev_eval.json``); only the development sets are loaded."""
    structure, options = eval_parse(spec, cfg.eval_structures)
    ecfg = EvalConfig(tasks=DEV_TASKS, data_dir=cfg.eval.data_dir, progress=cfg.eval.progress)
    want = {"tasks": list(DEV_TASKS), "data_dir": cfg.eval.data_dir, "structure": structure,
            "options": options}  # fmt: skip
    path = run / DEV_EVAL_FILE
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("dev_eval") == want:
            return saved["scores"]
    res = evaluate_run(run, ecfg, structure=structure, mean_baseline=False,
                       batch_size=cfg.batch_size, device=cfg.train.get("device", "cpu"),
                       log=log, structure_options=options or None)  # fmt: skip
    scores = {r.task: float(r.score) for r in res.systems["strae"]}
    scores["mean"] = sum(scores[t] for t in DEV_TASKS) / len(DEV_TASKS)
    atomic_write_text(path, json.dumps({"dev_eval": want, "scores": scores}, indent=2))
    return scores


def _best(scored: list[tuple[dict, dict]]) -> dict:
    """The setting with the highest mean (NaN: never chosen while another has a
    score); ties go to the grid's first."""
    best, best_mean = scored[0][0], -math.inf
    for setting, scores in scored:
        mean = scores["mean"]
        if mean == mean and mean > best_mean:
            best, best_mean = setting, mean
    return best


def tune_study(cfg: StudyConfig, specs: list[StructureSpec], log: Callable[[str], None],
               train_fn, train_once) -> Tuning:  # fmt: skip
    """Train and score every grid setting per structure x objective; choose.
    ``train_once(tcfg, log, train_fn)`` is the study's train-unless-finished."""
    result = Tuning()
    if not cfg.tune:
        return result
    for spec in specs:
        for objective in cfg.objectives:
            scored = []
            for setting in settings(cfg.tune):
                run = _tune_config(cfg, spec, objective, setting)
                if train_once(run, log, train_fn):
                    result.trained += 1
                else:
                    result.reused += 1
                scores = dev_scores(cfg, spec, Path(run.out), log)
                scored.append((setting, scores))
                result.rows.append({"structure": spec.label, "objective": objective,
                                    "setting": setting_name(setting), **scores})  # fmt: skip
            result.chosen[(spec.label, objective)] = _best(scored)
            log(f"tuned {spec.label}/{objective}: "
                f"{setting_name(result.chosen[(spec.label, objective)])}")  # fmt: skip
    log(f"tuning: {result.trained} trained, {result.reused} reused")
    return result


def _tune_config(cfg: StudyConfig, spec: StructureSpec, objective: str, setting: dict):
    """A tuning run: the study's recipe with ``setting``, ``tune_steps`` steps, the tune seed."""
    tcfg = cfg.train_config(spec, objective, cfg.tune_seed, setting)
    out = Path(cfg.out) / "tune" / f"{spec.label}-{objective}" / setting_name(setting)
    return replace(tcfg, out=str(out), max_steps=cfg.tune_steps, minutes=None, epochs=None)


def tuning_markdown(tuning: Tuning, cfg: StudyConfig) -> str:
    """The grid table (structure x setting -> each dev set's score and the mean)
    and the chosen setting per structure."""
    head = ["structure / objective", "setting", *DEV_TASKS, "dev mean", "chosen"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(DEV_TASKS) + 1) + "---|"]
    for r in tuning.rows:
        chosen = tuning.chosen_name(r["structure"], r["objective"]) == r["setting"]
        cells = [f"{r[t]:.3f}" for t in (*DEV_TASKS, "mean")]
        lines.append(f"| {r['structure']} / {r['objective']} | {r['setting']} | "
                     f"{' | '.join(cells)} | {'**yes**' if chosen else ''} |")  # fmt: skip
    note = (f"Tuning: each setting trained for {cfg.tune_steps} steps with seed "
            f"{cfg.tune_seed} and scored on the development sets only (Spearman; chosen: the "
            "best mean, ties to the grid's first); the study's runs of each structure use its "
            "chosen setting.")  # fmt: skip
    return "## Tuning\n\n" + "\n".join(lines) + "\n\n" + note
