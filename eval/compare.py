"""The structure-comparison study: structures x objectives x seeds, one corpus
slice, one vocabulary, one budget; every run evaluated by the same code.

Layout of the study directory OUT:
  study.json                      the study configuration
  runs/STRUCTURE-OBJECTIVE-sSEED/ one ``strae train`` run directory each, plus
      train_result.json           written when training finished (resume marker)
      eval.json                   its evaluation (reused when the eval settings match)
  baselines/word2vec-sSEED/       word2vec on the same slice (with --word2vec)
  results.csv                     one row per run x system x task
  summary.csv                     mean and std over seeds per system x structure x objective x task
  results.md                      the summary as a Markdown table
  results.png                     one panel per task, structures side by side, error bars

A structure is only a name handed to :func:`strae_graph.train.train` (which
parses with :func:`parsers.parse_sentences`) and to the evaluation, so every
structure the parsers package knows works here.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from eval.encoders import Word2VecEncoder, gensim_available, train_word2vec, training_sentences
from eval.evaluate import EvalConfig, evaluate
from eval.metrics import mean_std
from eval.runs import RunEvaluation, evaluate_run
from strae_graph.checkpoint import CheckpointError
from strae_graph.train import _COMPARED, TrainConfig, train


@dataclass
class StudyConfig:
    out: str
    structures: tuple[str, ...] = ("balanced", "right", "left")
    objectives: tuple[str, ...] = ("contrastive", "ce")
    seeds: tuple[int, ...] = (0, 1, 2)
    train: dict = field(default_factory=dict)  # TrainConfig fields shared by every run
    lr: dict = field(default_factory=dict)  # objective -> learning rate (None: the default)
    eval: EvalConfig = field(default_factory=EvalConfig)
    mean_baseline: bool = True
    word2vec: bool = False
    batch_size: int = 256  # sentences per embedding batch

    def __post_init__(self) -> None:
        from parsers import STRUCTURES

        unknown = [s for s in self.structures if s not in STRUCTURES]
        if unknown:
            raise ValueError(
                f"unknown structure(s) {unknown}; the parsers package knows {', '.join(STRUCTURES)}"
            )
        if not (self.structures and self.objectives and self.seeds):
            raise ValueError("a study needs at least one structure, objective and seed")
        bad = set(self.train) - set(TrainConfig.__dataclass_fields__)
        if bad:
            raise ValueError(f"unknown training option(s) {sorted(bad)}")

    def train_config(self, structure: str, objective: str, seed: int) -> TrainConfig:
        return TrainConfig(
            **{
                **self.train,
                "structure": structure,
                "objective": objective,
                "seed": seed,
                "lr": self.lr.get(objective),
                "out": str(self.run_dir(structure, objective, seed)),
                "progress": self.eval.progress,
            }
        )

    def run_dir(self, structure: str, objective: str, seed: int) -> Path:
        return Path(self.out) / "runs" / f"{structure}-{objective}-s{seed}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["eval"] = self.eval.to_dict()
        return d


@dataclass
class Study:
    runs: list[RunEvaluation]
    rows: list[dict]  # one per run x system x task
    summary: list[dict]  # mean / std over seeds
    markdown: str
    trained: int
    reused: int


def _eval_key(cfg: dict) -> dict:
    """The evaluation settings that decide results, as JSON stores them (lists, not tuples)."""
    return json.loads(json.dumps({k: v for k, v in cfg.items() if k != "progress"}))


def _same_training(saved: dict, cfg: TrainConfig) -> list[str]:
    now = asdict(cfg)
    return [k for k in _COMPARED if k in saved and saved[k] != now[k]]


def _train_once(cfg: TrainConfig, log: Callable[[str], None], train_fn) -> bool:
    """Train unless finished; True when training ran now."""
    out = Path(cfg.out)
    marker = out / "train_result.json"
    if marker.exists():
        saved = json.loads(marker.read_text())["train_config"]
        diff = _same_training(saved, cfg)
        if diff:
            pairs = ", ".join(f"{k}: {saved[k]!r} there, {getattr(cfg, k)!r} now" for k in diff)
            raise CheckpointError(
                f"{out}: finished with a different configuration ({pairs}); use another --out"
            )
        return False
    resume = (out / "last.pt").exists()
    log(f"{'resuming' if resume else 'training'} {out}")
    res = train_fn(cfg, resume=resume, log=log)
    if res.interrupted:
        raise KeyboardInterrupt
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps({"train_config": asdict(cfg), "result": asdict(res)}, indent=2))
    os.replace(tmp, marker)
    return True


def _evaluate_once(cfg: StudyConfig, run: Path, log) -> RunEvaluation:
    path = run / "eval.json"
    want = {"eval": _eval_key(cfg.eval.to_dict()), "mean_baseline": cfg.mean_baseline}
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("study_eval") == want:
            return RunEvaluation.from_dict(saved["evaluation"])
    res = evaluate_run(
        run,
        cfg.eval,
        mean_baseline=cfg.mean_baseline,
        batch_size=cfg.batch_size,
        device=cfg.train.get("device", "cpu"),
        log=log,
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"study_eval": want, "evaluation": res.to_dict()}, indent=2))
    os.replace(tmp, path)
    return res


def _word2vec_once(cfg: StudyConfig, seed: int, dim: int, log) -> RunEvaluation:
    base = Path(cfg.out) / "baselines" / f"word2vec-s{seed}"
    path = base / "eval.json"
    tcfg = cfg.train_config(cfg.structures[0], cfg.objectives[0], seed)
    want = {
        "eval": _eval_key(cfg.eval.to_dict()),
        "train": {
            k: getattr(tcfg, k)
            for k in ("corpus", "max_sentences", "dev_sentences", "max_length", "min_count")
        },
    }
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("study_eval") == want:
            return RunEvaluation.from_dict(saved["evaluation"])
    cache = base / f"word2vec-d{dim}.kv"
    if not cache.exists():
        log(f"training word2vec (seed {seed}) on the study's corpus slice -> {cache}")
    sentences = [] if cache.exists() else training_sentences(asdict(tcfg))
    kv = train_word2vec(sentences, dim=dim, seed=seed, min_count=tcfg.min_count, cache=cache)
    res = RunEvaluation(
        run_dir=str(base),
        structure="-",
        trained_structure="-",
        objective="-",
        seed=seed,
        systems={"word2vec": evaluate(Word2VecEncoder(kv), cfg.eval)},
        eval_config=cfg.eval.to_dict(),
    )
    base.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"study_eval": want, "evaluation": res.to_dict()}, indent=2))
    os.replace(tmp, path)
    return res


def run_study(cfg: StudyConfig, log: Callable[[str], None] = print, train_fn=train) -> Study:
    """Train (or reuse) and evaluate every run of the study, then write the tables
    and the plot.  ``train_fn`` is :func:`strae_graph.train.train` (replaceable in tests)."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    grid = [(s, o, seed) for seed in cfg.seeds for s in cfg.structures for o in cfg.objectives]
    runs: list[RunEvaluation] = []
    trained = reused = 0
    bar = tqdm(grid, desc="study", unit="run", disable=not cfg.eval.progress)
    for s, o, seed in bar:
        bar.set_postfix_str(f"{s}/{o}/seed {seed}")
        tcfg = cfg.train_config(s, o, seed)
        if _train_once(tcfg, log, train_fn):
            trained += 1
        else:
            reused += 1
        runs.append(_evaluate_once(cfg, Path(tcfg.out), log))
    bar.close()
    if cfg.word2vec:
        if gensim_available():
            dim = tcfg.channels * tcfg.channel_size
            runs += [_word2vec_once(cfg, seed, dim, log) for seed in cfg.seeds]
        else:
            log(
                "word2vec baseline skipped: gensim is not installed "
                "(pip install 'strae-graph[word2vec]')"
            )
    rows = result_rows(runs)
    summary = summarize(rows)
    markdown = summary_markdown(summary, cfg)
    write_csv(out / "results.csv", rows)
    write_csv(out / "summary.csv", summary)
    (out / "results.md").write_text(markdown + "\n")
    plot_summary(summary, out / "results.png")
    log(
        f"wrote {out / 'results.csv'}, {out / 'summary.csv'}, {out / 'results.md'}, "
        f"{out / 'results.png'} ({trained} trained, {reused} reused)"
    )
    return Study(runs, rows, summary, markdown, trained, reused)


# --- tables -------------------------------------------------------------------------
def result_rows(runs: list[RunEvaluation]) -> list[dict]:
    rows = []
    for run in runs:
        for system, results in run.systems.items():
            for r in results:
                rows.append(
                    {
                        "system": system,
                        "structure": run.trained_structure,
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


def summarize(rows: list[dict]) -> list[dict]:
    """Mean and std (ddof 1) over seeds per system x structure x objective x task."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["system"], r["structure"], r["objective"], r["task"]), []).append(r)
    out = []
    for (system, structure, objective, task), rs in groups.items():
        scores = [r["score"] for r in rs if r["score"] == r["score"]]
        mean, std = mean_std(scores)
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
            }
        )
    return out


def _label(system: str, structure: str, objective: str) -> str:
    return system if structure == "-" else f"{system} {structure} / {objective}"


def summary_markdown(summary: list[dict], cfg: StudyConfig | None = None) -> str:
    """Rows: system x structure x objective; columns: tasks; cells mean ± std."""
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
    lines = ["| system | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
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
        lines.append(f"| {_label(*k)} | " + " | ".join(cells) + " |")
    seeds = max((r["seeds"] for r in summary), default=0)
    lines.append("")
    lines.append(
        f"Mean ± std over {seeds} seed(s); Spearman for word/sentence similarity, dev "
        "accuracy for probes; (x%) = coverage where below 100%."
    )
    return "\n".join(lines)


def write_csv(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        if rows:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    os.replace(tmp, path)


# --- plot --------------------------------------------------------------------------
def plot_summary(summary: list[dict], path: Path) -> None:
    """One panel per task; structures on the x axis; one bar per objective (StrAE
    solid, mean-of-leaves hatched) with std error bars; word2vec as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in summary))
    structures = list(dict.fromkeys(r["structure"] for r in summary if r["structure"] != "-"))
    objectives = list(dict.fromkeys(r["objective"] for r in summary if r["objective"] != "-"))
    systems = [s for s in ("strae", "mean-leaves") if any(r["system"] == s for r in summary)]
    if not tasks:
        return
    ncols = min(3, len(tasks))
    nrows = (len(tasks) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    index = {(r["system"], r["structure"], r["objective"], r["task"]): r for r in summary}
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
                        xs.append(x - 0.4 + width * (b + 0.5))
                        ys.append(r["mean"])
                        es.append(r["std"])
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
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
