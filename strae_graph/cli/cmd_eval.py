"""``strae eval``, ``strae curve`` and ``strae compare``: thin command lines over
eval.runs, eval.curve_plot and eval.compare."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields

from eval.evaluate import ALL_TASKS, EvalConfig
from strae_graph.cli.errors import option_error
from strae_graph.cli.options import (
    CHECKPOINT_HELP,
    MAX_STEPS_HELP,
    MINUTES_HELP,
    add_data_options,
    add_preset_options,
    data_values,
    int_at_least,
    preset_given,
)
from strae_graph.cli.output import status, summary
from strae_graph.training.config import train_config_fields


def _add_eval_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tasks",
        nargs="+",
        choices=ALL_TASKS,
        default=None,
        help="tasks to run (default: all; only the given files when --wordsim/--sts is used)",
    )
    p.add_argument(
        "--probe-seeds",
        nargs="+",
        type=int,
        default=[0, 1, 2],
        help="seeds of the classification probes (mean ± std over them)",
    )
    p.add_argument(
        "--probe-max-train",
        type=int,
        default=20_000,
        help="training examples per probe (seeded sample; 0 = all)",
    )
    p.add_argument(
        "--word2vec",
        action="store_true",
        help="add a gensim word2vec baseline trained on the same corpus slice",
    )
    p.add_argument(
        "--no-mean-baseline",
        action="store_true",
        help="leave out the mean-of-leaf-embeddings baseline",
    )
    p.add_argument("--embed-batch-size", type=int_at_least(1), default=256,
                   help="sentences per embedding batch")  # fmt: skip
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")


def add_subcommand(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a trained run (word/sentence similarity, probes)",
        description="Evaluate RUN_DIR: word similarity (SimLex-999, WordSim-353 all/sim/rel), "
        "sentence similarity (STS-B test, SICK-R test) and probes on frozen embeddings (SST-2, "
        "RTE, WNLI; dev accuracy), for the StrAE and the mean-of-leaf-embeddings baseline.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--json", default=None, help="also write the results as JSON to this file")
    p.add_argument(
        "--structure", default=None, help="parse sentences with this structure (default: the run's)"
    )
    p.add_argument(
        "--wordsim",
        action="append",
        default=[],
        metavar="FILE",
        help="a word-similarity file: word1<TAB>word2<TAB>score (repeatable)",
    )
    p.add_argument(
        "--sts",
        action="append",
        default=[],
        metavar="FILE",
        help="a sentence-similarity file: score<TAB>s1<TAB>s2, STS-B or SICK layout (repeatable)",
    )
    p.add_argument("--checkpoint", default="best", help=CHECKPOINT_HELP)
    _add_eval_options(p)
    p.set_defaults(func=_run_eval)

    p = sub.add_parser(
        "curve",
        help="plot learning curves (score against training minutes) of runs",
        description="Plot RUN_DIR/curve.jsonl (from strae train --eval-every-minutes) of one "
        "or more runs: one panel per task, score against training minutes, with optional "
        "reference lines (e.g. word2vec on the same corpus).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="runs, or LABEL=RUN_DIR")
    p.add_argument("--out", required=True, help="the PNG file to write")
    p.add_argument("--tasks", nargs="+", default=None, help="default: every task in the curves")
    p.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="LABEL=TASK:VALUE,...",
        help="a dashed reference line per task, e.g. 'word2vec=simlex:0.235,stsb:0.198' "
        "(repeatable)",
    )
    p.set_defaults(func=_run_curve)

    from eval.study import DEFAULT_CONTRASTS
    from parsers.structures import structure_names
    from strae_graph.model.objectives import OBJECTIVES
    from strae_graph.training.presets import PRESETS

    p = sub.add_parser(
        "compare",
        help="structure-comparison study: train and evaluate structures x objectives x seeds",
        description="Train one StrAE per structure x objective x seed on the same corpus slice, "
        "vocabulary, recipe and budget (epochs, --minutes and/or --max-steps), evaluate each "
        "(with the mean-of-leaves baseline, and word2vec with --word2vec), score every structure's "
        "bracket F1 on the held-out PTB sample, and write OUT/results.csv, summary.csv, "
        "contrasts.csv (paired differences with bootstrap intervals), results.md, results.png "
        "and f1_vs_score.png. The recipe is strae train's: --preset and its options, which "
        "a study holds fixed. Re-running resumes: finished runs are neither retrained nor "
        "re-evaluated; an interrupted run continues from its last checkpoint; a changed recipe "
        "or budget is refused.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", required=True, help="study directory")
    p.add_argument(
        "--structures",
        nargs="+",
        default=["balanced", "right", "left"],
        metavar="STRUCTURE",
        help=f"structures: any strae train takes ({', '.join(structure_names())}); "
        "LABEL=DATASET (a `strae parse` dataset, e.g. gold trees); gold=TREE_FILE "
        "(bracketed trees, converted into OUT/parsed/gold); benepar=MODEL or "
        "benepar-TAG=MODEL (a benepar model path: the corpus slice is parsed with it)",
    )
    p.add_argument("--objectives", nargs="+", default=None, choices=OBJECTIVES,
                   help="objectives to compare (default: the preset's objective)")  # fmt: skip
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument(
        "--preset",
        default="default",
        choices=list(PRESETS),
        help="strae train's named set of defaults for the options marked 'preset'",
    )
    add_data_options(p, 20_000, "training sentences (0 = all)")
    p.add_argument("--minutes", type=float, default=None, metavar="M",
                   help=MINUTES_HELP + "; per run, part of the study's budget")  # fmt: skip
    p.add_argument("--max-steps", type=int, default=None, metavar="N",
                   help=MAX_STEPS_HELP + "; per run, part of the study's budget")  # fmt: skip
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                   help="each run also saves last.pt every N steps (0: at the end of each "
                   "epoch and on interrupt), so a killed study loses at most N steps; "
                   "not part of the study's recipe")  # fmt: skip
    add_preset_options(p)
    p.add_argument(
        "--lr-contrastive",
        type=float,
        default=None,
        help="learning rate of contrastive runs (default: the recipe's, --lr or the preset's)",
    )
    p.add_argument(
        "--lr-ce",
        type=float,
        default=None,
        help="learning rate of ce / both runs (default: the recipe's, --lr or the preset's)",
    )
    p.add_argument(
        "--eval-structure",
        action="append",
        default=[],
        metavar="LABEL=STRUCTURE",
        help="parse the test sentences of LABEL's runs with STRUCTURE (a name, or "
        "benepar=MODEL); gold runs need one (default: gold=spacy)",
    )
    p.add_argument(
        "--contrast",
        action="append",
        default=None,
        metavar="A:B",
        help="paired contrast A - B to report (repeatable; default: those of "
        f"{', '.join(a + ':' + b for a, b in DEFAULT_CONTRASTS)} whose structures are present)",
    )
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    p.add_argument(
        "--no-parse-f1",
        action="store_true",
        help="skip the bracket F1 of the structures on the PTB sample",
    )
    _add_eval_options(p)
    p.set_defaults(func=_run_compare)


def _eval_config(args: argparse.Namespace, files: bool) -> EvalConfig:
    tasks = args.tasks
    if tasks is None:
        tasks = () if files else ALL_TASKS
    try:
        return EvalConfig(
            tasks=tuple(tasks),
            wordsim_files=tuple(getattr(args, "wordsim", ())),
            sts_files=tuple(getattr(args, "sts", ())),
            probe_seeds=tuple(args.probe_seeds),
            probe_max_train=args.probe_max_train,
            progress=not args.no_progress,
        )
    except ValueError as e:  # "--probe-seeds: probe_seeds must be ..."
        raise option_error(e, [f.name for f in fields(EvalConfig)]) from None


def _run_eval(args: argparse.Namespace) -> int:
    from eval.data import load_sts, load_wordsim
    from eval.evaluate import MIN_COVERED_PAIRS
    from eval.runs import evaluate_run
    from strae_graph.data.corpus import check_input_file, check_output_file

    cfg = _eval_config(args, files=bool(args.wordsim or args.sts))  # options first
    for f in [*args.wordsim, *args.sts]:  # read now: a bad file fails before any work
        check_input_file(f)
    for f in args.wordsim:
        load_wordsim(f)
    for f in args.sts:
        load_sts(f)
    if args.json:
        check_output_file(args.json)
    t0 = time.perf_counter()
    res = evaluate_run(
        args.run_dir,
        cfg,
        structure=args.structure,
        mean_baseline=not args.no_mean_baseline,
        word2vec=args.word2vec,
        checkpoint=args.checkpoint,
        device=args.device,
        batch_size=args.embed_batch_size,
        log=status,
    )
    res.wall_s = round(time.perf_counter() - t0, 1)
    print(
        f"strae eval {args.run_dir}: {res.trained_structure} / {res.objective} / seed "
        f"{res.seed}; sentences parsed as {res.structure}\n"
    )
    print(res.table())
    print(
        "\nscore: Spearman (similarity) or dev accuracy (probes, mean ± std over "
        f"{len(cfg.probe_seeds)} seeds); cov: share of pairs embedded; n/a (too few pairs: "
        f"N): only N < {MIN_COVERED_PAIRS} pairs covered, too few for a correlation; "
        f"wall {res.wall_s}s"
    )
    if args.json:
        res.save(args.json)
        print(f"wrote {args.json}")
    return 0


def _contrast(text: str) -> tuple[str, str]:
    a, sep, b = text.partition(":")
    if not (sep and a and b):
        raise ValueError(f"--contrast {text!r}: give A:B (two structure labels)")
    return a, b


def _run_compare(args: argparse.Namespace) -> int:
    from eval.compare import run_study
    from eval.study import StudyConfig

    try:
        cfg = _study_config(args)
    except ValueError as e:  # "--dropout: dropout must lie in [0, 1), got 2.0"
        names = [*train_config_fields(), *StudyConfig.__dataclass_fields__]
        raise option_error(e, [*names, "lr_ce", "lr_contrastive"]) from None
    t0 = time.perf_counter()
    study = run_study(cfg, log=status)
    wall = time.perf_counter() - t0
    status(study.markdown)
    summary(json.dumps({"out": args.out, "runs": len(study.runs), "trained": study.trained,
                        "reused": study.reused, "wall_s": round(wall, 1)}))  # fmt: skip
    return 0


def _study_config(args: argparse.Namespace):
    """The StudyConfig of ``strae compare ARGS`` (ValueError for a bad setting)."""
    from eval.study import StudyConfig
    from eval.study_specs import parse_eval_structures
    from strae_graph.training.presets import PRESETS

    return StudyConfig(
        out=args.out,
        structures=tuple(args.structures),
        objectives=tuple(args.objectives or [PRESETS[args.preset]["objective"]]),
        seeds=tuple(args.seeds),
        preset=args.preset,
        train={
            **data_values(args),
            "device": args.device,
            "minutes": args.minutes,
            "max_steps": args.max_steps,
            "checkpoint_every": args.checkpoint_every,
            **preset_given(args),
        },
        lr={"contrastive": args.lr_contrastive, "ce": args.lr_ce, "both": args.lr_ce},
        eval=_eval_config(args, files=False),
        mean_baseline=not args.no_mean_baseline,
        word2vec=args.word2vec,
        batch_size=args.embed_batch_size,
        eval_structures=parse_eval_structures(args.eval_structure),
        contrasts=None if args.contrast is None else tuple(_contrast(c) for c in args.contrast),
        parse_f1=not args.no_parse_f1,
        resamples=args.resamples,
    )


def _run_curve(args: argparse.Namespace) -> int:
    from eval.curve_plot import parse_reference, plot_curves, read_curve
    from strae_graph.data.corpus import check_output_file

    curves = []
    for item in args.run_dirs:
        label, sep, path = item.partition("=")
        curves.append(read_curve(path, label) if sep and path else read_curve(item))
    references = dict(parse_reference(r) for r in args.reference)
    out = check_output_file(args.out)
    plot_curves(curves, out, args.tasks, references)
    for c in curves:
        last = {t: round(v[-1], 3) for t, v in c.scores.items()}
        print(f"{c.label}: {len(c.minutes)} points, last at {c.minutes[-1]:.1f} min: {last}")
    print(f"wrote {out}")
    return 0
