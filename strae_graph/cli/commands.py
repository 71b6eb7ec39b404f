"""``strae``: the sub-commands and how their errors reach the user."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from parsers.errors import ParserError
from strae_graph.cli import (
    cmd_bench,
    cmd_benepar,
    cmd_compare,
    cmd_embed,
    cmd_eval,
    cmd_parse,
    cmd_train,
    cmd_verify,
)
from strae_graph.cli.errors import UserError
from strae_graph.data.corpus import DataError
from strae_graph.training.checkpoint import CheckpointError
from strae_graph.trees.errors import TreeError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strae",
        description="StrAE structured-autoencoder embeddings on DGL tree graphs.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for commands in (cmd_train, cmd_verify, cmd_bench, cmd_parse, cmd_benepar, cmd_embed, cmd_eval,
                     cmd_compare):  # fmt: skip
        commands.add_subcommand(sub)
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
