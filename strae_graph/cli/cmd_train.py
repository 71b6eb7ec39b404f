"""``strae train``: the command line of :func:`strae_graph.training.train.train`."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from strae_graph.cli.errors import UserError, with_option
from strae_graph.cli.options import (
    MAX_STEPS_HELP,
    MINUTES_HELP,
    add_data_options,
    add_preset_options,
    add_speed_options,
    data_values,
    preset_given,
    preset_help,
)
from strae_graph.cli.output import status, summary
from strae_graph.model.objectives import OBJECTIVES
from strae_graph.training.config import ORDERS, TrainConfig, train_config_fields
from strae_graph.training.distributed import under_torchrun
from strae_graph.training.interrupt import quiet_after_stop
from strae_graph.training.presets import PRESETS, resolve
from strae_graph.util.jsonsafe import dumps


def add_subcommand(sub: argparse._SubParsersAction) -> None:
    d = TrainConfig()
    p = sub.add_parser(
        "train",
        help="train a StrAE on a corpus",
        description="Train a StrAE. Checkpoints go to --out each epoch (atomically); "
        "Ctrl-C saves and stops; --resume continues.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_data_options(p, d.max_sentences, "training sentences to read (0 = all)")
    _add_run_options(p, d)
    add_preset_options(p)
    _add_process_options(p, d)
    _add_order_options(p, d)
    _add_budget_options(p)
    r = p.add_mutually_exclusive_group()
    r.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    r.add_argument(
        "--overwrite",
        action="store_true",
        help="start again over the run in OUT: the old run's files (checkpoints, logs, "
        "config, vocabulary, cached baselines) are removed first, anything else is kept",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run_train)


def _add_run_options(p: argparse.ArgumentParser, d: TrainConfig) -> None:
    """What is trained, and where to: the structure, the preset, the objective, --out."""
    from parsers.structures import structure_names

    unset = argparse.SUPPRESS  # a preset option: absent unless given, then the preset decides
    p.add_argument(
        "--structure",
        default=d.structure,
        choices=structure_names(),
        help="ignored when --corpus is a `strae parse` dataset (the structure comes from it)",
    )
    p.add_argument(
        "--preset",
        default="default",
        choices=list(PRESETS),
        help="a named set of defaults for the options marked 'preset' (options given "
        "explicitly override it); paper: the paper's reference setting (SPEC.md)",
    )
    p.add_argument("--objective", default=unset, choices=OBJECTIVES, help=preset_help("objective"))
    p.add_argument("--out", default=d.out, help="run directory")


def _add_process_options(p: argparse.ArgumentParser, d: TrainConfig) -> None:
    """The seed and device, logging and checkpoints, and what to do with bad lines and NaNs."""
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="cpu, cuda, cuda:1, ...")
    add_speed_options(p)
    p.add_argument("--log-every", type=int, default=d.log_every, help="steps between metric lines")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=d.checkpoint_every,
        help="also checkpoint every N steps (0: only at epoch ends)",
    )
    p.add_argument(
        "--on-error",
        default=d.on_error,
        choices=["skip", "raise"],
        help="bad corpus lines (empty, not UTF-8, longer than --max-length): skip and "
        "count, or stop with an error naming the line. Not given: skip, but stop when over "
        "half of the lines are not UTF-8 text (a binary file?)",
    )
    p.add_argument(
        "--on-nan",
        default=d.on_nan,
        choices=["stop", "skip"],
        help="a NaN/inf loss or gradient: stop (saving the model from before the batch), "
        "or skip the batch and count it",
    )


def _add_order_options(p: argparse.ArgumentParser, d: TrainConfig) -> None:
    """Streaming and the order of the batches."""
    p.add_argument(
        "--stream",
        action="store_true",
        help="for a corpus larger than memory: convert it once into an Arrow cache and read "
        "one window of the bucketed order at a time (--order-buffer batches), never the whole "
        "training part; a parser's structures stream from a `strae parse` dataset (--corpus DIR)",
    )
    p.add_argument(
        "--order",
        default=None,
        choices=ORDERS,
        help="the order of the batches in an epoch: permutation (a plain shuffle; the default "
        "in memory) or bucketed (blocks of --order-block sentences shuffled, a shuffle buffer "
        "of --order-buffer batches, batches of similar-length sentences; the default and the "
        "only order with --stream, and in memory the same batches as --stream)",
    )
    p.add_argument("--order-buffer", type=int, default=d.order_buffer, metavar="BATCHES",
                   help="bucketed order: the shuffle buffer, in global batches")  # fmt: skip
    p.add_argument("--order-block", type=int, default=d.order_block, metavar="SENTENCES",
                   help="bucketed order: consecutive sentences the block shuffle moves "
                   "together (one read from disk when streaming)")  # fmt: skip


def _add_budget_options(p: argparse.ArgumentParser) -> None:
    """The time and step budgets, and the learning curve."""
    from eval.curve import CURVE_TASKS, DEFAULT_CURVE_TASKS

    p.add_argument(
        "--minutes",
        type=float,
        default=None,
        metavar="M",
        help=MINUTES_HELP + "; kept in the checkpoint, so --resume continues with the rest; "
        "may be changed on --resume (a decay's estimate, once made, is kept)",
    )
    p.add_argument("--max-steps", type=int, default=None, metavar="N",
                   help=MAX_STEPS_HELP + "; may be changed on --resume, except with a "
                   "decaying --lr-decay (its end is fixed)")  # fmt: skip
    p.add_argument(
        "--eval-every-minutes",
        type=float,
        default=None,
        metavar="X",
        help="learning curve: every X minutes of training time (not counting the evaluation) "
        "and at the end, score the model on --curve-tasks and append a line to OUT/curve.jsonl",
    )
    p.add_argument(
        "--curve-tasks",
        nargs="+",
        choices=CURVE_TASKS,
        default=argparse.SUPPRESS,
        metavar="TASK",
        help=f"tasks of the learning curve, of {', '.join(CURVE_TASKS)} "
        f"(default: {' '.join(DEFAULT_CURVE_TASKS)})",
    )


def _train_config(args: argparse.Namespace):
    """The TrainConfig of ``strae train ARGS``: the preset, overridden by the
    preset options given explicitly, and every other option; its structure
    checked against the registry."""
    from parsers.structures import check_streamable, check_training_structure

    curve_tasks = getattr(args, "curve_tasks", None)
    if curve_tasks is not None and args.eval_every_minutes is None:
        raise UserError("--curve-tasks needs --eval-every-minutes")
    if args.eval_every_minutes is not None and curve_tasks is None:
        from eval.curve import DEFAULT_CURVE_TASKS

        curve_tasks = DEFAULT_CURVE_TASKS
    try:
        cfg = _make_train_config(args, curve_tasks)
        check_training_structure(cfg.structure, cfg.corpus)
    except ValueError as e:  # name the option: "--seed: seed must be at least 0, got -1"
        raise UserError(_with_option(str(e))) from None
    if cfg.stream:
        try:
            check_streamable(cfg.structure, cfg.corpus)
        except ValueError as e:
            raise UserError(f"--stream: {e}") from None
    return cfg


def _with_option(message: str) -> str:
    """``"max_length must be ..."`` -> ``"--max-length: max_length must be ..."``
    for a message that starts with a TrainConfig field."""
    return with_option(message, train_config_fields())


def _make_train_config(args: argparse.Namespace, curve_tasks):
    """Every option is read back by its TrainConfig field name (the option's
    dest), the preset options through the preset."""
    given = preset_given(args)
    values = resolve(args.preset, given)
    if values["entangle"] and "entangle" not in given and under_torchrun():
        values["entangle"] = False  # each process would entangle only its own shard
        if os.environ.get("RANK", "0") == "0":
            print("strae train: under torchrun the preset's entangled trees are off "
                  "(each process would entangle only its own shard)", file=sys.stderr)  # fmt: skip
    options = {k: v for k, v in vars(args).items() if k in train_config_fields()}
    return TrainConfig(**{**options, **data_values(args), **values,
                          "progress": not args.no_progress,
                          "curve_tasks": tuple(curve_tasks or ())})  # fmt: skip


def _run_train(args: argparse.Namespace) -> int:
    import signal

    from parsers.api import train
    from parsers.structures import GOLD

    cfg = _train_config(args)
    if cfg.structure == GOLD and cfg.eval_every_minutes is not None:
        from eval.evaluate import STS_TASKS

        sentences = [t for t in cfg.curve_tasks if t in STS_TASKS]
        if sentences:
            raise UserError(
                f"--curve-tasks {' '.join(sentences)}: a run on gold trees has no parser for "
                "the evaluation sentences; choose word-similarity tasks"
            )
    last = Path(cfg.out) / "last.pt"
    if not args.resume and not args.overwrite and last.exists():
        raise UserError(
            f"{cfg.out} already holds a run ({last}); add --resume to continue it "
            "or --overwrite to start again"
        )
    status(f"strae train: {cfg.structure} trees, {cfg.objective} objective, "
           f"corpus {cfg.corpus}, run directory {cfg.out}")  # fmt: skip
    on_eval = None
    if cfg.eval_every_minutes is not None:  # eval sits above the core: built here
        from eval.curve import CurveEvaluator

        on_eval = CurveEvaluator(cfg.curve_tasks, structure=cfg.structure, seed=cfg.seed).load()
    t0 = time.perf_counter()
    if threading_main():  # a late second Ctrl-C while exiting after a stop: ignored
        signal.signal(signal.SIGINT, quiet_after_stop)
    res = train(cfg, resume=args.resume, on_eval=on_eval, log=status)
    wall = time.perf_counter() - t0
    summary(dumps({**res.__dict__, "wall_s": round(wall, 1)}, why=_summary_null, indent=2))
    return 130 if res.interrupted else 0


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _summary_null(path: str, value: float) -> str | None:
    """Why a value of the training summary is null (see strae_graph.util.jsonsafe)."""
    if path in ("best_dev_loss", "last_dev_loss"):
        return ("no dev loss: no dev evaluation has run yet (the run stopped before the end of "
                "its first epoch), or there are no dev sentences")  # fmt: skip
    return None
