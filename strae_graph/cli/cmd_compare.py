"""``strae compare``: the thin command line of a structure-comparison study
(:func:`eval.compare.run_study`)."""

from __future__ import annotations

import argparse
import json
import time

from eval import compare
from eval.study import DEFAULT_CONTRASTS, StudyConfig
from eval.study_specs import parse_eval_structures
from parsers.structures import structure_names
from strae_graph.cli.errors import option_error
from strae_graph.cli.options import (
    MAX_STEPS_HELP,
    MINUTES_HELP,
    add_data_options,
    add_eval_options,
    add_preset_options,
    data_values,
    eval_config,
    preset_given,
)
from strae_graph.cli.output import status, summary
from strae_graph.cli.tune_options import parse_tune
from strae_graph.model.objectives import OBJECTIVES
from strae_graph.training.config import train_config_fields
from strae_graph.training.presets import PRESETS


def add_subcommand(sub: argparse._SubParsersAction) -> None:
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
    _add_study_options(p)
    add_data_options(p, 20_000, "training sentences (0 = all)")
    _add_budget_options(p)
    add_preset_options(p)
    _add_learning_rates(p)
    _add_tune_options(p)
    _add_report_options(p)
    add_eval_options(p)
    p.set_defaults(func=_run_compare)


def _add_study_options(p: argparse.ArgumentParser) -> None:
    """Where the study goes, and its grid: structures x objectives x seeds, one preset."""
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


def _add_budget_options(p: argparse.ArgumentParser) -> None:
    """Each run's budget (part of the study's recipe) and checkpoints (not part of it)."""
    p.add_argument("--minutes", type=float, default=None, metavar="M",
                   help=MINUTES_HELP + "; per run, part of the study's budget")  # fmt: skip
    p.add_argument("--max-steps", type=int, default=None, metavar="N",
                   help=MAX_STEPS_HELP + "; per run, part of the study's budget")  # fmt: skip
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                   help="each run also saves last.pt every N steps (0: at the end of each "
                   "epoch and on interrupt), so a killed study loses at most N steps; "
                   "not part of the study's recipe")  # fmt: skip


def _add_learning_rates(p: argparse.ArgumentParser) -> None:
    """A learning rate per objective family, over the recipe's."""
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


def _add_tune_options(p: argparse.ArgumentParser) -> None:
    """Per-structure tuning on the development sets (eval.tune)."""
    p.add_argument(
        "--tune",
        nargs="+",
        default=None,
        metavar="KEY=V1,V2",
        help="tune recipe options per structure: KEY is a strae train option (lr, temperature, "
        "batch-size, ...); every combination trains --tune-steps steps with --tune-seed in "
        "OUT/tune/LABEL-OBJECTIVE/SETTING/ and is scored on the development sets only (mean "
        "Spearman of stsb-dev and sick-trial); each structure's runs use its best setting. "
        "Cost: structures x objectives x settings x tune steps",
    )
    p.add_argument("--tune-steps", type=int, default=None, metavar="N",
                   help="steps of each tuning run (default: a quarter of --max-steps)")  # fmt: skip
    p.add_argument("--tune-seed", type=int, default=None, metavar="SEED",
                   help="seed of the tuning runs (default: the first of --seeds)")  # fmt: skip


def _add_report_options(p: argparse.ArgumentParser) -> None:
    """How the runs are evaluated and contrasted: test-sentence structures, the
    contrasts, the bootstrap, the bracket F1."""
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


def _contrast(text: str) -> tuple[str, str]:
    a, sep, b = text.partition(":")
    if not (sep and a and b):
        raise ValueError(f"--contrast {text!r}: give A:B (two structure labels)")
    return a, b


def _run_compare(args: argparse.Namespace) -> int:
    try:
        cfg = _study_config(args)
    except ValueError as e:  # "--dropout: dropout must lie in [0, 1), got 2.0"
        names = [*train_config_fields(), *StudyConfig.__dataclass_fields__]
        raise option_error(e, [*names, "lr_ce", "lr_contrastive"]) from None
    t0 = time.perf_counter()
    study = compare.run_study(cfg, log=status)  # looked up now: tests replace it
    wall = time.perf_counter() - t0
    status(study.markdown)
    summary(json.dumps({"out": args.out, "runs": len(study.runs), "trained": study.trained,
                        "reused": study.reused, "wall_s": round(wall, 1)}))  # fmt: skip
    return 0


def _study_config(args: argparse.Namespace):
    """The StudyConfig of ``strae compare ARGS`` (ValueError for a bad setting)."""
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
        eval=eval_config(args, files=False),
        mean_baseline=not args.no_mean_baseline,
        word2vec=args.word2vec,
        batch_size=args.embed_batch_size,
        eval_structures=parse_eval_structures(args.eval_structure),
        contrasts=None if args.contrast is None else tuple(_contrast(c) for c in args.contrast),
        parse_f1=not args.no_parse_f1,
        resamples=args.resamples,
        tune=parse_tune(args.tune),
        tune_steps=args.tune_steps,
        tune_seed=args.tune_seed,
    )
