"""The ``strae`` command line: a thin layer over the library."""

from __future__ import annotations

import argparse
import json
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


def _add_train(sub: argparse._SubParsersAction) -> None:
    from strae_graph.train import TrainConfig, structure_names

    d = TrainConfig()
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
    p.add_argument("--objective", default=d.objective, choices=OBJECTIVES)
    p.add_argument("--out", default=d.out, help="run directory")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="sentences per step")
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default: 1e-4 contrastive, 1e-3 ce/both)",
    )
    p.add_argument("--clip", type=float, default=d.clip, help="gradient-norm clip")
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
    p.add_argument(
        "--vocab",
        default=d.vocab,
        choices=["word", "bpe"],
        help="leaves: words, or BPE pieces learned from the training sentences (trees are "
        "still decided over words; a word's pieces get a balanced subtree); --min-count "
        "and --max-vocab apply to word runs only",
    )
    p.add_argument("--bpe-size", type=int, default=d.bpe_size, help="--vocab bpe: pieces")
    p.add_argument("--channels", "-K", type=int, default=d.channels, help="K")
    p.add_argument("--channel-size", "-U", type=int, default=d.channel_size, help="U")
    p.add_argument("--untied", action="store_true", help="untied Lambda (Linear E -> V)")
    p.add_argument("--activation", default=d.activation, choices=["none", "tanh", "relu", "gelu"])
    p.add_argument(
        "--compose",
        default=d.compose,
        metavar="{linear,diagonal}",
        help="compose/decompose functions: linear (Linear 2U->U, U->2U per channel) or "
        "diagonal (Banyan: element-wise gates and biases, 7U parameters)",
    )
    p.add_argument(
        "--entangle",
        action="store_true",
        help="entangled trees: identical spans of a batch are one node with several parents "
        "(a DAG; down = mean of the halves from all parents); not under torchrun",
    )
    t = p.add_mutually_exclusive_group()
    t.add_argument(
        "--temperature", type=float, default=None, help="paper convention: logits = cos / tau"
    )
    t.add_argument(
        "--log-scale",
        type=float,
        default=None,
        help="reference-code convention: logits = cos * exp(a) (default a = 0.2)",
    )
    p.add_argument("--dropout", type=float, default=d.dropout, help="on compose/decompose")
    p.add_argument("--input-dropout", type=float, default=d.input_dropout, help="on leaves")
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
        "count, or stop with an error naming the line",
    )
    p.add_argument(
        "--on-nan",
        default=d.on_nan,
        choices=["stop", "skip"],
        help="a NaN/inf loss or gradient: stop (saving the model from before the batch), "
        "or skip the batch and count it",
    )
    r = p.add_mutually_exclusive_group()
    r.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    r.add_argument(
        "--overwrite", action="store_true", help="start again even if OUT holds a checkpoint"
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from strae_graph.train import TrainConfig, train

    cfg = TrainConfig(
        corpus=args.corpus,
        out=args.out,
        structure=args.structure,
        objective=args.objective,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        clip=args.clip,
        max_sentences=args.max_sentences or None,
        dev_sentences=args.dev_sentences,
        max_length=args.max_length,
        min_count=args.min_count,
        max_vocab=args.max_vocab,
        vocab=args.vocab,
        bpe_size=args.bpe_size,
        channels=args.channels,
        channel_size=args.channel_size,
        tied=not args.untied,
        activation=args.activation,
        entangle=args.entangle,
        temperature=args.temperature,
        log_scale=args.log_scale,
        dropout=args.dropout,
        input_dropout=args.input_dropout,
        compose=args.compose,
        seed=args.seed,
        device=args.device,
        log_every=args.log_every,
        checkpoint_every=args.checkpoint_every,
        on_error=args.on_error,
        on_nan=args.on_nan,
        progress=not args.no_progress,
    )
    last = Path(cfg.out) / "last.pt"
    if not args.resume and not args.overwrite and last.exists():
        raise UserError(
            f"{cfg.out} already holds a run ({last}); add --resume to continue it "
            "or --overwrite to start again"
        )
    print(f"strae train: {cfg.structure} trees, {cfg.objective} objective, "
          f"corpus {cfg.corpus}, run directory {cfg.out}")  # fmt: skip
    t0 = time.perf_counter()
    res = train(cfg, resume=args.resume)
    wall = time.perf_counter() - t0
    print(json.dumps({**res.__dict__, "wall_s": round(wall, 1)}, indent=2))
    return 130 if res.interrupted else 0


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
    except KeyboardInterrupt:
        print(f"strae {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
