"""``strae embed`` and ``strae export``: embeddings of a trained run to files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from strae_graph.cli.options import int_at_least
from strae_graph.corpus import check_output_file, read_lines


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
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--input", required=True, help="text file (optionally .gz), '-' for stdin")
    p.add_argument("--out", required=True, help="output .npy file")
    p.add_argument("--words", action="store_true", help="input holds one word per line")
    p.add_argument("--structure", default=None, help="override the run's structure")
    p.add_argument("--checkpoint", default="best", help="best, last, or a .pt path")
    p.add_argument("--batch-size", type=int_at_least(1), default=256)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_run_embed)

    p = sub.add_parser(
        "export",
        help="export a run's word (leaf) embeddings",
        description="Write the leaf embeddings of every vocabulary word (not <unk>) in word2vec "
        "text format, readable by gensim's KeyedVectors.load_word2vec_format. A --vocab bpe "
        "run exports its pieces (word-initial ones written ▁piece).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", default="word2vec", choices=["word2vec"])
    p.add_argument("--out", required=True, help="output text file")
    p.add_argument("--checkpoint", default="best", help="best, last, or a .pt path")
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
    lines = _read_lines(args.input)
    emb = load_embedder(args.run_dir, device=args.device, checkpoint=args.checkpoint)
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
    print(f"strae embed: {len(vectors)} {what} -> {out}; {note}", file=sys.stderr)
    print(json.dumps(summary))
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from parsers.api import load_embedder

    out = check_output_file(args.out)
    emb = load_embedder(args.run_dir, checkpoint=args.checkpoint)
    n = emb.export_word2vec(out)
    what = "BPE pieces" if emb.subwords is not None else "words"
    print(f"strae export: {n} {what} x {emb.embedding_size} -> {out} (word2vec text format)")
    return 0
