"""``strae embed`` and ``strae export``: embeddings of a trained run to files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from strae_graph.cli.errors import UserError
from strae_graph.cli.options import CHECKPOINT_HELP, int_at_least
from strae_graph.cli.output import status
from strae_graph.data.corpus import check_output_file, read_lines


def add_subcommand(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "embed",
        help="embed sentences (or words) with a trained run into a .npy file",
        description="One sentence (or, with --words, one word) per line of --input; writes an "
        "(n, E) float32 array to --out. Sentences are parsed with the run's structure and "
        "embedded by their root up embedding; unknown words (--words) and empty lines give NaN "
        "rows, and OUT.mask.npy records which rows are real.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?", default=None,
                   help="a run directory (or give --model)")  # fmt: skip
    p.add_argument("--model", default=None, metavar="NAME_OR_DIR",
                   help="a model directory (strae export --format model) or a shipped "
                   "model's name (e.g. strae-wiki10m) instead of RUN_DIR")  # fmt: skip
    p.add_argument("--input", required=True, help="text file (optionally .gz), '-' for stdin")
    p.add_argument("--out", required=True, help="output .npy file")
    p.add_argument("--words", action="store_true", help="input holds one word per line")
    p.add_argument("--structure", default=None, help="override the run's structure")
    p.add_argument("--checkpoint", default="best", help=CHECKPOINT_HELP)
    p.add_argument("--batch-size", type=int_at_least(1), default=256)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_run_embed)

    p = sub.add_parser(
        "export",
        help="export a run's word embeddings (word2vec) or the model itself (model directory)",
        description="--format word2vec: the leaf embeddings of every vocabulary word (not "
        "<unk>) in word2vec text format, readable by gensim's "
        "KeyedVectors.load_word2vec_format (a --vocab bpe run exports its pieces, word-initial "
        "ones written ▁piece). --format model: a model directory --out (config.json, "
        "model.safetensors with the inference weights only, vocab.json / tokenizer.json, a "
        "README.md model card with the run's training and, when there is one, its strae eval "
        "table), loadable with no pickle by Embedder.from_pretrained(DIR), strae embed --model "
        "DIR and, with strae-graph[st], sentence-transformers.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", default="word2vec", choices=["word2vec", "model"])
    p.add_argument("--out", required=True, help="output text file (word2vec) or directory (model)")
    p.add_argument("--checkpoint", default="best", help=CHECKPOINT_HELP)
    p.add_argument("--eval-json", default=None, metavar="FILE",
                   help="model: the `strae eval --json` results for the model card (default: "
                   "RUN_DIR/eval.json when it exists)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true",
                   help="model: replace an existing non-empty --out directory")  # fmt: skip
    p.set_defaults(func=_run_export)


def _read_lines(path: str) -> list[str]:
    if path == "-":
        return [line.rstrip("\n") for line in sys.stdin]
    return read_lines(path)


def _run_embed(args: argparse.Namespace) -> int:
    from parsers.api import load_embedder

    out = Path(args.out)
    if out.suffix != ".npy":
        out = out.with_name(out.name + ".npy")
    check_output_file(out)
    if (args.run_dir is None) == (args.model is None):
        raise UserError("give a run directory (RUN_DIR) or --model NAME_OR_DIR, not both")
    lines = _read_lines(args.input)
    source = args.model if args.model is not None else args.run_dir
    emb = load_embedder(source, device=args.device, checkpoint=args.checkpoint)
    if args.words:
        words = [line.strip() for line in lines]
        vectors, mask = emb.embed_words(words, return_mask=True)
        what = "words"
        unknown = {"unknown_words": int((~mask).sum()), "words": len(words)}
        note = f"unknown words: {unknown['unknown_words']:,} of {len(words):,} (NaN rows)"
    else:
        vectors = emb.embed_sentences(lines, structure=args.structure, batch_size=args.batch_size)
        mask = ~np.isnan(vectors).any(axis=1)
        what = "sentences"
        unk, total = emb.count_unknown(lines)  # reported as strae train reports them
        unknown = {"unknown_tokens": unk, "tokens": total}
        note = f"unknown tokens: {unk:,} of {total:,}, embedded as <unk>"
        if total and unk == total:
            note += " (warning: every token is unknown to the run's vocabulary)"
    np.save(out, vectors)
    mask_path = out.with_name(out.stem + ".mask.npy")
    np.save(mask_path, mask)
    summary = {"rows": len(vectors), "embedded": int(mask.sum()), "nan_rows": int((~mask).sum()),
               "dim": int(vectors.shape[1]), "out": str(out), "mask": str(mask_path),
               **unknown}  # fmt: skip
    status(f"strae embed: {len(vectors)} {what} -> {out}; {note}")
    print(json.dumps(summary))
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from parsers.api import load_embedder

    if args.format == "model":
        return _export_model(args)
    out = check_output_file(args.out)
    emb = load_embedder(args.run_dir, checkpoint=args.checkpoint)
    n = emb.export_word2vec(out)
    what = "BPE pieces" if emb.subwords is not None else "words"
    status(f"strae export: {n} {what} x {emb.embedding_size} -> {out} (word2vec text format)")
    return 0


def _export_model(args: argparse.Namespace) -> int:
    from parsers.api import sentence_transformers_files
    from parsers.structures import recorded_options
    from strae_graph.embed.load import load_run
    from strae_graph.embed.model_card import structure_record
    from strae_graph.embed.model_dir import export_run

    named = args.checkpoint in ("best", "last")
    run = load_run(args.run_dir if named else args.checkpoint, args.checkpoint if named else "best")
    table = _eval_table(args.eval_json, Path(args.run_dir) / "eval.json")
    structure = structure_record(run)  # every parser option explicit, an old run's too
    structure["options"] = recorded_options(structure["name"], structure["options"])
    out = export_run(run, args.out, table, args.overwrite, sentence_transformers_files(),
                     structure)  # fmt: skip
    files = sorted(p.name for p in out.iterdir())
    status(f"strae export: {run.path} -> model directory {out} ({', '.join(files)})")
    return 0


def _eval_table(given: str | None, default: Path) -> str:
    """The markdown table of a `strae eval --json` file for the model card ('' if none)."""
    from eval.runs import RunEvaluation

    path = Path(given) if given else default
    if given is None and not path.is_file():
        return ""
    try:
        res = RunEvaluation.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise UserError(f"--eval-json {path}: no such file") from None
    except (OSError, ValueError, TypeError, KeyError) as e:
        why = f"{type(e).__name__}: {e}"
        raise UserError(f"{path}: not a `strae eval --json` file ({why})") from None
    return f"Sentences parsed as `{res.structure}`.\n\n" + res.table()
