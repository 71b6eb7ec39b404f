"""``strae bench``: the command line of :mod:`strae_graph.bench.cases`."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from strae_graph.bench.cases import run_bench
from strae_graph.bench.config import BENCH_JSON, SAMPLES, BenchConfig
from strae_graph.bench.report import bench_record, format_table
from strae_graph.bench.timing import CLOCKS
from strae_graph.cli.errors import option_error
from strae_graph.cli.options import PRECISION_HELP
from strae_graph.model.functions import COMPOSE_FUNCTIONS
from strae_graph.model.objectives import OBJECTIVES
from strae_graph.model.precision import PRECISIONS


def add_subcommand(sub: argparse._SubParsersAction) -> None:
    from parsers.structures import names

    d = BenchConfig()
    heuristics = list(names("heuristic"))
    p = sub.add_parser(
        "bench",
        help="measure training speed and memory per structure and objective",
        description="Time training steps on a fixed slice of the corpus for every structure "
        "and objective; print a table and write JSON.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--corpus", default=d.corpus)
    p.add_argument("--structures", nargs="+", default=heuristics, choices=heuristics)
    p.add_argument("--objectives", nargs="+", default=list(d.objectives), choices=OBJECTIVES)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--steps", type=int, default=d.steps, help="timed batches per case")
    p.add_argument("--warmup", type=int, default=d.warmup, help="untimed batches per case")
    p.add_argument("--vocab-sentences", type=int, default=d.vocab_sentences)
    p.add_argument("--max-vocab", type=int, default=d.max_vocab)
    p.add_argument(
        "--settings",
        nargs="+",
        default=list(d.settings),
        choices=["default", "recipe", "paper"],
        help="training presets to time: each sets compose, entangled batches and lr "
        "(e.g. --settings default paper: the recipe against the reference setting)",
    )
    p.add_argument("--compose", default=None, choices=COMPOSE_FUNCTIONS,
                   help="override the setting's compose function")  # fmt: skip
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument(
        "--clock",
        default=d.clock,
        choices=list(CLOCKS),
        help="wall time; or process CPU time (use with --threads 1 on a busy machine)",
    )
    p.add_argument("--precision", default=d.precision, choices=PRECISIONS, help=PRECISION_HELP)
    p.add_argument("--device", default=d.device, help="cpu, cuda, cuda:1, ...")
    p.add_argument(
        "--sample",
        default=d.sample,
        choices=SAMPLES,
        help="the timed sentences: the corpus head (consecutive sentences, which share words, "
        "so entangled batches are smaller than training's), or shuffled: drawn at random from "
        "the --vocab-sentences read, as training draws its batches",
    )
    p.add_argument(
        "--no-plain",
        action="store_true",
        help="skip the plain-PyTorch comparison (always skipped on a GPU)",
    )
    p.add_argument(
        "--json",
        default=d.json,
        help="write results here ('' to skip); its folder must exist (the default's is created)",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        cfg = _bench_config(args)
    except ValueError as e:  # "--threads: threads must be at least 1, got 0"
        raise option_error(e, [f.name for f in fields(BenchConfig)]) from None
    from benchmarks.plain_model import PlainFrontierModel
    from parsers.tree_cache import parse_cached

    results = run_bench(cfg, parse=parse_cached, plain_model=PlainFrontierModel)
    print(format_table(results))
    if cfg.json:
        path = Path(cfg.json)
        if cfg.json == BENCH_JSON:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(bench_record(cfg, results), indent=2))
        print(f"wrote {path}")
    return 0


def _bench_config(args: argparse.Namespace) -> BenchConfig:
    return BenchConfig(
        corpus=args.corpus,
        structures=args.structures,
        objectives=args.objectives,
        batch_size=args.batch_size,
        steps=args.steps,
        warmup=args.warmup,
        vocab_sentences=args.vocab_sentences,
        max_vocab=args.max_vocab,
        settings=args.settings,
        compose=args.compose,
        threads=args.threads,
        clock=args.clock,
        plain=not args.no_plain,
        json=args.json or None,
        seed=args.seed,
        progress=not args.no_progress,
        precision=args.precision,
        device=args.device,
        sample=args.sample,
    )
