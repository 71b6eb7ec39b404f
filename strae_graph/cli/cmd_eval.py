"""``strae eval`` and ``strae curve``: thin command lines over eval.runs and
eval.curve_plot (``strae compare`` is :mod:`strae_graph.cli.cmd_compare`)."""

from __future__ import annotations

import argparse
import time

from strae_graph.cli.options import CHECKPOINT_HELP, add_eval_options, eval_config
from strae_graph.cli.output import status


def add_subcommand(sub: argparse._SubParsersAction) -> None:
    _add_eval_command(sub)
    _add_curve_command(sub)


def _add_eval_command(sub: argparse._SubParsersAction) -> None:
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
    add_eval_options(p)
    p.set_defaults(func=_run_eval)


def _add_curve_command(sub: argparse._SubParsersAction) -> None:
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


def _run_eval(args: argparse.Namespace) -> int:
    from eval.data import load_sts, load_wordsim
    from eval.evaluate import MIN_COVERED_PAIRS
    from eval.runs import evaluate_run
    from strae_graph.data.corpus import check_input_file, check_output_file

    cfg = eval_config(args, files=bool(args.wordsim or args.sts))  # options first
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
