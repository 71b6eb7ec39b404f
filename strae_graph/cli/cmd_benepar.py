"""``strae benepar-train``: a benepar parser trained offline (:mod:`parsers.benepar_train`)."""

from __future__ import annotations

import argparse
import json

from strae_graph.cli.output import status, summary


def add_subcommand(sub: argparse._SubParsersAction) -> None:
    """Register ``benepar-train`` on the ``strae`` sub-command parser."""
    from parsers.benepar_config import BeneparTrainConfig
    from parsers.benepar_data import CASES

    d = BeneparTrainConfig()
    p = sub.add_parser(
        "benepar-train",
        help="train a char-LSTM benepar ChartParser offline on bracketed trees",
        description="Train benepar's own ChartParser (character-LSTM encoder, no pretrained "
        "transformer) on the PTB sample (minus the held-out part parse-eval scores), save the "
        "best dev epoch in benepar's format and check it loads back through "
        "benepar.Parser(path). The training state is saved after every epoch (OUT.ckpt); "
        "--resume continues it. Use the model with --structure benepar --benepar-model OUT.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--trees", default=None, help="training trees (default: the PTB sample)")
    p.add_argument("--out", default=d.out, help="model file to write (.pt)")
    p.add_argument("--checkpoint", default=None, help="training state file (default OUT.ckpt)")
    p.add_argument("--resume", action="store_true", help="continue from the training state")
    p.add_argument("--held-out", type=int, default=d.held_out, help="last N trees: test set")
    p.add_argument("--dev", type=int, default=d.dev, help="trees before them: dev set")
    p.add_argument("--max-train", type=int, default=None, help="use at most N training trees")
    p.add_argument(
        "--max-len", type=int, default=None, help="train only on trees of at most N words"
    )
    p.add_argument("--epochs", type=int, default=d.epochs, help="at most N epochs")
    p.add_argument("--stop-after", type=int, default=d.stop_after,
                   help="stop after N epochs without a better dev F1")  # fmt: skip
    p.add_argument("--patience", type=int, default=d.patience,
                   help="halve the lr after N epochs without a better dev F1")  # fmt: skip
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument("--d-model", type=int, default=d.d_model)
    p.add_argument("--layers", type=int, default=d.num_layers)
    p.add_argument("--heads", type=int, default=d.num_heads)
    p.add_argument("--d-ff", type=int, default=d.d_ff)
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--no-tags", action="store_true", help="no POS-tag auxiliary loss")
    p.add_argument("--case", choices=CASES, default=d.case,
                   help="cased words, lower-cased, or each example either way")  # fmt: skip
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run_benepar_train)


def _run_benepar_train(args: argparse.Namespace) -> int:
    from parsers.benepar_config import BeneparTrainConfig
    from parsers.benepar_train import train_benepar

    cfg = BeneparTrainConfig(
        trees=args.trees, out=args.out, checkpoint=args.checkpoint, held_out=args.held_out,
        dev=args.dev, max_train=args.max_train, max_len=args.max_len, epochs=args.epochs,
        stop_after=args.stop_after, patience=args.patience, batch_size=args.batch_size,
        lr=args.lr, warmup_steps=args.warmup_steps, d_model=args.d_model,
        num_layers=args.layers, num_heads=args.heads, d_ff=args.d_ff, dropout=args.dropout,
        predict_tags=not args.no_tags, case=args.case, threads=args.threads, seed=args.seed,
        progress=not args.no_progress,
    )  # fmt: skip
    res = train_benepar(cfg, log=status, resume=args.resume)
    summary(json.dumps(res, indent=2))
    return 0
