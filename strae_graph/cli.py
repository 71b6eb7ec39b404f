"""The ``strae`` command line: a thin layer over the library."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from eval import cli as eval_cli
from parsers import cli as parser_commands
from parsers.errors import ParserError
from strae_graph import bench, embed_cli, verify_cli
from strae_graph.checkpoint import CheckpointError
from strae_graph.corpus import DEFAULT_CORPUS, DataError
from strae_graph.model import OBJECTIVES
from strae_graph.tree import TreeError


class UserError(Exception):
    """An error whose message is all the user needs (no traceback)."""


def _preset_help(key: str, text: str = "", label: str = "") -> str:
    """Help text of a preset option, ending with its value in every preset."""
    from strae_graph.presets import PRESETS

    values = ", ".join(f"{name} {preset[key]}" for name, preset in PRESETS.items())
    return f"{text} (preset{' ' + label if label else ''}: {values})".lstrip()


#: ``--minutes`` of ``strae train`` and ``strae compare``
MINUTES_HELP = (
    "time budget: stop cleanly (dev loss, checkpoint) once this many minutes of training "
    "time have passed (checked after each step; the learning-rate schedule stays step-based)"
)


def add_preset_options(p: argparse.ArgumentParser) -> None:
    """The preset options of ``strae train`` except ``--objective`` (absent from
    the namespace unless given; :func:`strae_graph.presets.resolve` fills in the
    rest): shared by ``strae train`` and ``strae compare``."""
    from strae_graph.schedule_lr import LR_DECAYS

    unset = argparse.SUPPRESS
    p.add_argument("--epochs", type=int, default=unset, help=_preset_help("epochs"))
    p.add_argument(
        "--batch-size",
        type=int,
        default=unset,
        help=_preset_help("batch_size", "sentences per step"),
    )
    p.add_argument(
        "--lr",
        type=float,
        default=unset,
        help=_preset_help("lr", "peak learning rate (None: 1e-4 contrastive, 1e-3 ce/both)"),
    )
    p.add_argument(
        "--warmup-steps",
        type=int,
        default=unset,
        help=_preset_help(
            "warmup_steps", "linear warm-up of the learning rate from 0 over N steps"
        ),
    )
    p.add_argument(
        "--lr-decay",
        default=unset,
        choices=LR_DECAYS,
        help=_preset_help(
            "lr_decay",
            "after the warm-up, decay the learning rate to --min-lr-ratio x --lr over the "
            "run's epochs x batches steps (step-based: --minutes does not change it)",
        ),
    )
    p.add_argument(
        "--min-lr-ratio",
        type=float,
        default=unset,
        help=_preset_help("min_lr_ratio", "final learning rate / --lr, in [0, 1]"),
    )
    p.add_argument(
        "--clip", type=float, default=unset, help=_preset_help("clip", "gradient-norm clip")
    )
    p.add_argument(
        "--vocab",
        default=unset,
        choices=["word", "bpe"],
        help=_preset_help(
            "vocab",
            "leaves: words, or BPE pieces learned from the training sentences (trees are "
            "still decided over words; a word's pieces get a balanced subtree); --min-count "
            "and --max-vocab apply to word runs only",
        ),
    )
    p.add_argument(
        "--bpe-size", type=int, default=unset, help=_preset_help("bpe_size", "--vocab bpe: pieces")
    )
    p.add_argument("--channels", "-K", type=int, default=unset, help=_preset_help("channels", "K"))
    p.add_argument(
        "--channel-size", "-U", type=int, default=unset, help=_preset_help("channel_size", "U")
    )
    p.add_argument(
        "--untied",
        dest="tied",
        action="store_false",
        default=unset,
        help=_preset_help("tied", "untied Lambda (Linear E -> V)", label="tied"),
    )
    p.add_argument(
        "--activation",
        default=unset,
        choices=["none", "tanh", "relu", "gelu"],
        help=_preset_help("activation"),
    )
    p.add_argument(
        "--compose",
        default=unset,
        metavar="{linear,diagonal}",
        help=_preset_help(
            "compose",
            "compose/decompose functions: linear (Linear 2U->U, U->2U per channel) or "
            "diagonal (Banyan: element-wise gates and biases, 7U parameters)",
        ),
    )
    p.add_argument(
        "--entangle",
        action=argparse.BooleanOptionalAction,
        default=unset,
        help=_preset_help(
            "entangle",
            "entangled trees: identical spans of a batch are one node with several parents "
            "(a DAG; down = mean of the halves from all parents); not under torchrun",
        ),
    )
    t = p.add_mutually_exclusive_group()
    t.add_argument(
        "--temperature",
        type=float,
        default=unset,
        help=_preset_help("temperature", "paper convention: logits = cos / tau"),
    )
    t.add_argument(
        "--log-scale",
        type=float,
        default=unset,
        help=_preset_help(
            "log_scale", "reference-code convention: logits = cos * exp(a) (None: a = 0.2)"
        ),
    )
    p.add_argument(
        "--learn-temperature",
        action=argparse.BooleanOptionalAction,
        default=unset,
        help=_preset_help(
            "learn_temperature",
            "learn the logit scale (stored as its log, CLIP-style), starting from "
            "--temperature / --log-scale, kept in [1, 100]",
        ),
    )
    p.add_argument(
        "--dropout", type=float, default=unset, help=_preset_help("dropout", "on compose/decompose")
    )
    p.add_argument(
        "--input-dropout",
        type=float,
        default=unset,
        help=_preset_help("input_dropout", "on leaves"),
    )
    p.add_argument(
        "--init-range",
        type=float,
        default=unset,
        help=_preset_help("init_range", "embeddings start Uniform(-r, r)"),
    )


def _add_train(sub: argparse._SubParsersAction) -> None:
    from eval.curve import CURVE_TASKS, DEFAULT_CURVE_TASKS
    from strae_graph.presets import PRESETS
    from strae_graph.train import TrainConfig, structure_names

    d = TrainConfig()
    unset = argparse.SUPPRESS  # preset options: absent unless given, then the preset decides
    p = sub.add_parser(
        "train",
        help="train a StrAE on a corpus",
        description="Train a StrAE. Checkpoints go to --out each epoch (atomically); "
        "Ctrl-C saves and stops; --resume continues.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--corpus",
        default=str(DEFAULT_CORPUS),
        help="text file (optionally .gz), one sentence per line, or a dataset directory "
        "written by `strae parse` (its trees are used, never re-parsed)",
    )
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
    p.add_argument(
        "--objective", default=unset, choices=OBJECTIVES, help=_preset_help("objective")
    )
    p.add_argument("--out", default=d.out, help="run directory")
    p.add_argument(
        "--max-sentences",
        type=int,
        default=d.max_sentences,
        help="training sentences to read (0 = all)",
    )
    p.add_argument("--dev-sentences", type=int, default=d.dev_sentences)
    p.add_argument(
        "--max-length",
        type=int,
        default=d.max_length,
        help="longest sentence in tokens; longer ones are skipped and counted",
    )
    p.add_argument("--min-count", type=int, default=d.min_count)
    p.add_argument("--max-vocab", type=int, default=d.max_vocab)
    add_preset_options(p)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="cpu, cuda, cuda:1, ...")
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
    p.add_argument(
        "--minutes",
        type=float,
        default=None,
        metavar="M",
        help=MINUTES_HELP + "; kept in the checkpoint, so --resume continues with the rest; "
        "may be changed on --resume",
    )
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
        default=unset,
        metavar="TASK",
        help=f"tasks of the learning curve, of {', '.join(CURVE_TASKS)} "
        f"(default: {' '.join(DEFAULT_CURVE_TASKS)})",
    )
    r = p.add_mutually_exclusive_group()
    r.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    r.add_argument(
        "--overwrite", action="store_true", help="start again even if OUT holds a checkpoint"
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run_train)


def _train_config(args: argparse.Namespace):
    """The TrainConfig of ``strae train ARGS``: the preset, overridden by the
    preset options given explicitly, and every other option."""
    from strae_graph.presets import PRESET_KEYS

    curve_tasks = getattr(args, "curve_tasks", None)
    if curve_tasks is not None and args.eval_every_minutes is None:
        raise UserError("--curve-tasks needs --eval-every-minutes")
    given = {k: getattr(args, k) for k in PRESET_KEYS if hasattr(args, k)}
    if args.eval_every_minutes is not None and curve_tasks is None:
        from eval.curve import DEFAULT_CURVE_TASKS

        curve_tasks = DEFAULT_CURVE_TASKS
    try:
        return _make_train_config(args, curve_tasks, given)
    except ValueError as e:  # name the option: "--seed: seed must be at least 0, got -1"
        raise UserError(_with_option(str(e))) from None


def _with_option(message: str) -> str:
    """``"max_length must be ..."`` -> ``"--max-length: max_length must be ..."``
    for a message that starts with a TrainConfig field."""
    from strae_graph.train import train_config_fields

    field = message.partition(" ")[0]
    if field in train_config_fields():
        return f"--{field.replace('_', '-')}: {message}"
    return message


def _make_train_config(args: argparse.Namespace, curve_tasks, given: dict):
    from strae_graph.distributed import under_torchrun
    from strae_graph.presets import resolve
    from strae_graph.train import TrainConfig

    values = resolve(args.preset, given)
    if values["entangle"] and "entangle" not in given and under_torchrun():
        values["entangle"] = False  # each process would entangle only its own shard
        if os.environ.get("RANK", "0") == "0":
            print("strae train: under torchrun the preset's entangled trees are off "
                  "(each process would entangle only its own shard)", file=sys.stderr)  # fmt: skip
    return TrainConfig(
        corpus=args.corpus,
        out=args.out,
        structure=args.structure,
        max_sentences=args.max_sentences or None,
        dev_sentences=args.dev_sentences,
        max_length=args.max_length,
        min_count=args.min_count,
        max_vocab=args.max_vocab,
        seed=args.seed,
        device=args.device,
        log_every=args.log_every,
        checkpoint_every=args.checkpoint_every,
        on_error=args.on_error,
        on_nan=args.on_nan,
        progress=not args.no_progress,
        minutes=args.minutes,
        eval_every_minutes=args.eval_every_minutes,
        curve_tasks=tuple(curve_tasks or ()),
        preset=args.preset,
        **values,
    )


def _run_train(args: argparse.Namespace) -> int:
    import signal

    from strae_graph.interrupt import quiet_after_stop
    from strae_graph.jsonsafe import dumps
    from strae_graph.train import GOLD, train

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
    print(f"strae train: {cfg.structure} trees, {cfg.objective} objective, "
          f"corpus {cfg.corpus}, run directory {cfg.out}")  # fmt: skip
    on_eval = None
    if cfg.eval_every_minutes is not None:  # eval sits above the core: built here
        from eval.curve import CurveEvaluator

        on_eval = CurveEvaluator(cfg.curve_tasks, structure=cfg.structure, seed=cfg.seed).load()
    t0 = time.perf_counter()
    if threading_main():  # a late second Ctrl-C while exiting after a stop: ignored
        signal.signal(signal.SIGINT, quiet_after_stop)
    res = train(cfg, resume=args.resume, on_eval=on_eval, log=lambda s: print(s, flush=True))
    wall = time.perf_counter() - t0
    print(dumps({**res.__dict__, "wall_s": round(wall, 1)}, why=_summary_null, indent=2))
    return 130 if res.interrupted else 0


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _summary_null(path: str, value: float) -> str | None:
    """Why a value of the training summary is null (see strae_graph.jsonsafe)."""
    if path in ("best_dev_loss", "last_dev_loss"):
        return ("no dev loss: no dev evaluation has run yet (the run stopped before the end of "
                "its first epoch), or there are no dev sentences")  # fmt: skip
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strae",
        description="StrAE structured-autoencoder embeddings on DGL tree graphs.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(sub)
    verify_cli.add_subcommand(sub)
    bench.add_subcommand(sub)
    parser_commands.add_subcommand(sub)
    embed_cli.add_subcommand(sub)
    eval_cli.add_subcommand(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (
        UserError, DataError, TreeError, CheckpointError, ParserError, ValueError,
        FloatingPointError,
    ) as e:  # fmt: skip
        print(f"strae {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # e.g. a run directory that cannot be written, a full disk
        where = f"{e.filename}: " if e.filename else ""
        print(f"strae {args.command}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        why = f": {e}" if str(e) else ""
        print(f"strae {args.command}: interrupted{why}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
