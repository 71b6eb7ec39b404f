"""``strae eval`` and ``strae compare``: thin command lines over eval.runs / eval.compare."""

from __future__ import annotations

import argparse
import json
import sys
import time

from eval.evaluate import ALL_TASKS, EvalConfig


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
    p.add_argument(
        "--embed-batch-size", type=int, default=256, help="sentences per embedding batch"
    )
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
    p.add_argument("--checkpoint", default="best", help="best, last, or a .pt path")
    _add_eval_options(p)
    p.set_defaults(func=_run_eval)

    from strae_graph.model import OBJECTIVES
    from strae_graph.train import TrainConfig

    d = TrainConfig()
    p = sub.add_parser(
        "compare",
        help="structure-comparison study: train and evaluate structures x objectives x seeds",
        description="Train one StrAE per structure x objective x seed on the same corpus slice, "
        "vocabulary and budget, evaluate each (with the mean-of-leaves baseline, and word2vec "
        "with --word2vec), and write OUT/results.csv, OUT/summary.csv, OUT/results.md and "
        "OUT/results.png. Re-running resumes: finished runs are neither retrained nor "
        "re-evaluated; an interrupted run continues from its last checkpoint.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", required=True, help="study directory")
    p.add_argument(
        "--structures",
        nargs="+",
        default=["balanced", "right", "left"],
        help="structure names as strae train takes them",
    )
    p.add_argument("--objectives", nargs="+", default=["contrastive", "ce"], choices=OBJECTIVES)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--corpus", default=d.corpus)
    p.add_argument("--max-sentences", type=int, default=20_000)
    p.add_argument("--dev-sentences", type=int, default=d.dev_sentences)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument(
        "--batch-size",
        dest="train_batch_size",
        type=int,
        default=128,
        help="training sentences per step",
    )
    p.add_argument("--min-count", type=int, default=d.min_count)
    p.add_argument("--max-vocab", type=int, default=d.max_vocab)
    p.add_argument(
        "--lr-contrastive",
        type=float,
        default=None,
        help="learning rate of contrastive runs (default: strae train's)",
    )
    p.add_argument(
        "--lr-ce",
        type=float,
        default=None,
        help="learning rate of ce / both runs (default: strae train's)",
    )
    _add_eval_options(p)
    p.set_defaults(func=_run_compare)


def _eval_config(args: argparse.Namespace, files: bool) -> EvalConfig:
    tasks = args.tasks
    if tasks is None:
        tasks = () if files else ALL_TASKS
    return EvalConfig(
        tasks=tuple(tasks),
        wordsim_files=tuple(getattr(args, "wordsim", ())),
        sts_files=tuple(getattr(args, "sts", ())),
        probe_seeds=tuple(args.probe_seeds),
        probe_max_train=args.probe_max_train or None,
        progress=not args.no_progress,
    )


def _log(msg: str) -> None:
    print(msg, file=sys.stderr)


def _run_eval(args: argparse.Namespace) -> int:
    from eval.data import load_sts, load_wordsim
    from eval.evaluate import MIN_COVERED_PAIRS
    from eval.runs import evaluate_run
    from strae_graph.corpus import check_input_file, check_output_file

    for f in [*args.wordsim, *args.sts]:  # read now: a bad file fails before any work
        check_input_file(f)
    for f in args.wordsim:
        load_wordsim(f)
    for f in args.sts:
        load_sts(f)
    if args.json:
        check_output_file(args.json)
    cfg = _eval_config(args, files=bool(args.wordsim or args.sts))
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
        log=_log,
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


def _run_compare(args: argparse.Namespace) -> int:
    from eval.compare import StudyConfig, run_study

    cfg = StudyConfig(
        out=args.out,
        structures=tuple(args.structures),
        objectives=tuple(args.objectives),
        seeds=tuple(args.seeds),
        train={
            "corpus": args.corpus,
            "max_sentences": args.max_sentences or None,
            "dev_sentences": args.dev_sentences,
            "epochs": args.epochs,
            "batch_size": args.train_batch_size,
            "min_count": args.min_count,
            "max_vocab": args.max_vocab,
            "device": args.device,
        },
        lr={"contrastive": args.lr_contrastive, "ce": args.lr_ce, "both": args.lr_ce},
        eval=_eval_config(args, files=False),
        mean_baseline=not args.no_mean_baseline,
        word2vec=args.word2vec,
        batch_size=args.embed_batch_size,
    )
    t0 = time.perf_counter()
    study = run_study(cfg, log=_log)
    wall = time.perf_counter() - t0
    print(study.markdown)
    print(
        json.dumps(
            {
                "out": args.out,
                "runs": len(study.runs),
                "trained": study.trained,
                "reused": study.reused,
                "wall_s": round(wall, 1),
            }
        )
    )
    return 0
