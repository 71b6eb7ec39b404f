"""The structure-comparison study: structures x objectives x seeds, one corpus
slice, one vocabulary, one recipe, one budget (epochs, minutes and/or steps); every
run evaluated by the same code.

Layout of the study directory OUT:
  study.json                      the study configuration (and its recipe, checked on resume)
  parsed/LABEL/                   datasets the study builds (gold=TREES, benepar=MODEL)
  runs/LABEL-OBJECTIVE-sSEED/     one ``strae train`` run directory each, plus
      train_result.json           written when training finished (resume marker)
      eval.json                   its evaluation (reused when the eval settings match)
      eval_items.npz              per-item cosines / probe correctness (paired statistics)
  tune/LABEL-OBJECTIVE/SETTING/   with --tune: one tuning run per grid setting (eval.tune),
      dev_eval.json               its scores on the development sets
  baselines/word2vec-sSEED/       word2vec on the same slice (with --word2vec)
  parse_f1.json                   cached bracket F1 on the held-out PTB sample
  results.csv                     one row per run x system x task
  summary.csv                     mean and std over seeds per system x structure x objective x task
  contrasts.csv                   paired differences between structures (eval.stats)
  results.md                      the summary, the contrasts and each run's training
                                  (steps, sentences seen, tokens/s) as Markdown tables
  results.png                     one panel per task: bars (mean ± std) and the seeds' points
  f1_vs_score.png                 score against bracket F1, one panel per task

Structures are named as :mod:`eval.study_specs` describes (everything ``strae
train`` takes, plus datasets, gold trees and benepar model paths).  The
training configuration of every run comes from the presets of ``strae train``
(:func:`strae_graph.training.config.preset_config`): the study names a preset and the
options it overrides, never its own defaults.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from eval import compare_report as report
from eval.compare_report import result_rows, summarize, summary_markdown  # noqa: F401 (API)
from eval.encoders import Word2VecEncoder, cached_word2vec, gensim_available, training_sentences
from eval.evaluate import evaluate
from eval.parse_quality import study_f1
from eval.runs import RunEvaluation, evaluate_run
from eval.study import DEFAULT_CONTRASTS, STUDY_COMPARED, Study, StudyConfig
from eval.study_specs import StructureSpec, build_dataset, eval_parse
from eval.tune import tune_study
from parsers.api import train
from strae_graph.data.corpus import read_limit
from strae_graph.data.parsed import read_meta
from strae_graph.training.checkpoint import CheckpointError
from strae_graph.training.config import TrainConfig
from strae_graph.training.run_files import EVAL_FILE, EVAL_ITEMS_FILE, TRAIN_RESULT_FILE
from strae_graph.util.fileio import atomic_write_text, check_output_dir
from strae_graph.util.progress import progress


def _eval_key(cfg: dict) -> dict:
    """The evaluation settings that decide results, as JSON stores them (lists, not tuples)."""
    return json.loads(json.dumps({k: v for k, v in cfg.items() if k != "progress"}))


def _same_training(saved: dict, cfg: TrainConfig) -> list[str]:
    now = asdict(cfg)
    return [k for k in STUDY_COMPARED if k in saved and saved[k] != now[k]]


def _check_recipe(cfg: StudyConfig) -> None:
    """Refuse to resume a study whose recipe or budget (epochs, minutes, steps, ...) changed."""
    path = Path(cfg.out) / "study.json"
    if not path.exists():
        return
    saved = json.loads(path.read_text()).get("recipe", {})
    now = cfg.recipe()
    diff = [
        f"{obj} {k}: {saved[obj][k]!r} there, {v!r} now"
        for obj, rec in now.items()
        if obj in saved
        for k, v in rec.items()
        if k in saved[obj] and saved[obj][k] != v
    ]
    saved_tuning = json.loads(path.read_text()).get("tuning")
    if saved_tuning != cfg.tuning():
        raise CheckpointError(
            f"{cfg.out}: the study was tuned differently ({_tuning_text(saved_tuning)} there, "
            f"{_tuning_text(cfg.tuning())} now); use another --out"
        )
    if diff:
        raise CheckpointError(
            f"{cfg.out}: the study was run with a different configuration (recipe or budget: "
            f"{'; '.join(diff)}); "
            "use another --out"
        )


def _tuning_text(tuning: dict | None) -> str:
    """``--tune lr=0.001,0.003 --tune-steps 50 --tune-seed 0`` or ``no --tune``."""
    if not tuning:
        return "no --tune"
    grid = " ".join(f"{k.replace('_', '-')}={','.join(map(str, v))}"
                    for k, v in tuning["grid"].items())  # fmt: skip
    return f"--tune {grid} --tune-steps {tuning['steps']} --tune-seed {tuning['seed']}"


def _train_once(cfg: TrainConfig, log: Callable[[str], None], train_fn) -> bool:
    """Train unless finished; True when training ran now."""
    out = Path(cfg.out)
    marker = out / TRAIN_RESULT_FILE
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
    atomic_write_text(
        marker, json.dumps({"train_config": asdict(cfg), "result": asdict(res)}, indent=2)
    )
    return True


def _evaluate_once(cfg: StudyConfig, spec: StructureSpec, run: Path, log) -> RunEvaluation:
    path = run / EVAL_FILE
    structure, options = eval_parse(spec, cfg.eval_structures)
    want = {"eval": _eval_key(cfg.eval.to_dict()), "mean_baseline": cfg.mean_baseline,
            "structure": structure, "options": options, "items": EVAL_ITEMS_FILE}  # fmt: skip
    if path.exists() and (run / EVAL_ITEMS_FILE).exists():
        saved = json.loads(path.read_text())
        if saved.get("study_eval") == want:
            return RunEvaluation.from_dict(saved["evaluation"])
    res = evaluate_run(
        run,
        cfg.eval,
        structure=structure,
        mean_baseline=cfg.mean_baseline,
        batch_size=cfg.batch_size,
        device=cfg.train.get("device", "cpu"),
        log=log,
        structure_options=options or None,
    )
    res.save_items(run / EVAL_ITEMS_FILE)
    atomic_write_text(path, json.dumps({"study_eval": want, "evaluation": res.to_dict()}, indent=2))
    return res


def _word2vec_once(cfg: StudyConfig, seed: int, log) -> RunEvaluation:
    base = Path(cfg.out) / "baselines" / f"word2vec-s{seed}"
    path = base / "eval.json"
    tcfg = cfg.train_config(StructureSpec("balanced", "balanced"), cfg.objectives[0], seed)
    dim = tcfg.channels * tcfg.channel_size
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
    kv = cached_word2vec(base / f"word2vec-d{dim}.npz", lambda: training_sentences(asdict(tcfg)),
                         log, dim=dim, seed=seed, min_count=tcfg.min_count)  # fmt: skip
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
    atomic_write_text(path, json.dumps({"study_eval": want, "evaluation": res.to_dict()}, indent=2))
    return res


def _note_unpaired(spec: StructureSpec, corpus: str, log) -> None:
    """Say so when a dataset's sentences are not the study's corpus (e.g. gold
    treebank trees): its runs share seeds but not data with the others."""
    if spec.dataset is None:
        return
    source = read_meta(spec.dataset).get("input")
    if source and Path(corpus).exists() and Path(source).resolve() != Path(corpus).resolve():
        log(f"note: {spec.label} trains on the sentences of {source}, not of --corpus {corpus}: "
            "its contrasts pair seeds, not data")  # fmt: skip


def run_study(cfg: StudyConfig, log: Callable[[str], None] = print, train_fn=train) -> Study:
    """Train (or reuse) and evaluate every run of the study, then write the tables
    and the plots.  ``train_fn`` is :func:`parsers.api.train` (replaceable in tests)."""
    out = Path(cfg.out)
    # a folder holding anything but a study is refused: a study writes results.csv & co.
    check_output_dir(out, lambda p: (p / "study.json").is_file(), "a strae compare study")
    out.mkdir(parents=True, exist_ok=True)
    _check_recipe(cfg)
    atomic_write_text(out / "study.json", json.dumps(cfg.to_dict(), indent=2))
    specs = cfg.specs()
    base = cfg.train_config(StructureSpec("balanced", "balanced"), cfg.objectives[0], cfg.seeds[0])
    n_sentences = read_limit(base.max_sentences, base.dev_sentences)
    for spec in specs:
        build_dataset(spec, base.corpus, n_sentences, base.max_length, cfg.eval.progress, log)
        _note_unpaired(spec, base.corpus, log)
    tuning = tune_study(cfg, specs, log, train_fn, _train_once)  # dev sets only
    grid = [(sp, o, seed) for seed in cfg.seeds for sp in specs for o in cfg.objectives]
    runs: list[RunEvaluation] = []
    labels: dict[str, str] = {}
    done: list[tuple[StructureSpec, str, int, Path]] = []
    trained = reused = 0
    bar = progress(grid, desc="study", unit="run", disable=not cfg.eval.progress)
    for spec, o, seed in bar:
        bar.set_postfix_str(f"{spec.label}/{o}/seed {seed}")
        tcfg = cfg.train_config(spec, o, seed, tuning.chosen.get((spec.label, o)))
        if _train_once(tcfg, log, train_fn):
            trained += 1
        else:
            reused += 1
        runs.append(_evaluate_once(cfg, spec, Path(tcfg.out), log))
        labels[str(tcfg.out)] = spec.label
        done.append((spec, o, seed, Path(tcfg.out)))
    bar.close()
    if cfg.word2vec:
        if gensim_available():
            runs += [_word2vec_once(cfg, seed, log) for seed in cfg.seeds]
        else:
            log(
                "word2vec baseline skipped: gensim is not installed "
                "(pip install 'strae-graph[word2vec]')"
            )
    f1 = {}
    if cfg.parse_f1:
        f1 = study_f1(done, out, log)
    present = {s.label for s in specs}
    pairs = cfg.contrasts if cfg.contrasts is not None else DEFAULT_CONTRASTS
    pairs = [(a, b) for a, b in pairs if a in present and b in present]
    if cfg.contrasts is not None and len(pairs) < len(cfg.contrasts):
        log(f"contrasts left out (a structure is not in the study): "
            f"{[c for c in cfg.contrasts if tuple(c) not in pairs]}")  # fmt: skip
    return report.write_report(cfg, runs, labels, f1, pairs, trained, reused, log, tuning)
