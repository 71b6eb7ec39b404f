"""benepar's parse speed (the default chart trees) per ``--benepar-precision``.

    python -m benchmarks.benepar_speed [--sentences 2000] [--parser-threads 1] \\
        [--precision fp32 bf16 int8] [--batch-size 32] [--model PATH] [--skip 5000]

Parses the same corpus sentences (lines after the first ``--skip`` usable ones,
as ``strae train`` reads them) once per precision, after a warm-up batch, in one
process whose forward passes run at ``--parser-threads`` torch threads
(:data:`parsers.benepar_forward.THREADS`, 1 unless changed here).  Prints, per
precision: wall-clock sentences/s, process CPU seconds per 100 sentences (all
threads), and how many trees equal the first precision's.  Loading the model is
not timed.  Two processes on two cores: ``strae parse --num-proc 2`` (README,
*Measured speed*).
"""

from __future__ import annotations

import argparse
import time

from parsers import benepar_forward
from parsers.benepar_parser import BATCH_SIZE, benepar_trees, load_benepar
from parsers.benepar_precision import BENEPAR_PRECISIONS
from strae_graph.data.corpus import DEFAULT_CORPUS, read_sentences


def corpus_slice(corpus: str, n: int, skip: int) -> list[list[str]]:
    """``n`` usable sentences (at most 200 tokens) after the first ``skip``."""
    rows = read_sentences(corpus, skip + n, 200)
    return [toks for i, (_, toks) in enumerate(rows) if i >= skip]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    ap.add_argument("--sentences", type=int, default=2000)
    ap.add_argument("--skip", type=int, default=5000, help="usable sentences skipped first")
    ap.add_argument("--parser-threads", type=int, default=benepar_forward.THREADS)
    ap.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    ap.add_argument("--precision", nargs="+", default=list(BENEPAR_PRECISIONS),
                    choices=BENEPAR_PRECISIONS)  # fmt: skip
    ap.add_argument("--model", default=None, help="benepar model (default: the shipped one)")
    args = ap.parse_args()

    benepar_forward.THREADS = args.parser_threads
    sents = corpus_slice(args.corpus, args.sentences, args.skip)
    tokens = sum(len(s) for s in sents)
    print(f"{len(sents)} sentences, {tokens} tokens ({tokens / len(sents):.1f} a sentence), "
          f"{args.parser_threads} parser threads, batches of {args.batch_size}")  # fmt: skip
    first = None
    for precision in args.precision:
        load_benepar(args.model, args.batch_size, precision)
        run = {"model": args.model, "batch_size": args.batch_size, "precision": precision}
        benepar_trees(sents[: args.batch_size], **run)  # warm-up
        cpu, wall = time.process_time(), time.perf_counter()
        trees = benepar_trees(sents, **run)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        first = first or trees
        same = sum(a == b for a, b in zip(trees, first))
        print(f"{precision}: {len(sents) / wall:7.1f} sentences/s wall, "
              f"{100 * cpu / len(sents):6.2f} CPU s per 100 sentences, "
              f"trees equal to {args.precision[0]}'s: {same}/{len(sents)}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
