"""Training throughput of Self-StrAE against a given structure, interleaved.

    python -m benchmarks.self_strae_speed [--sentences 640] [--batch-size 64] [--steps 10]

Both models train (forward, backward, Adam step) on the same batches of the same
corpus slice; steps alternate between the two so that both see the same machine
load.  Prints tokens/s of each (time of the step only: for ``self`` this includes
inducing the trees; for the given structure it includes building the graph).
"""

from __future__ import annotations

import argparse
import time

import torch

from parsers.tree_cache import parse_cached
from strae_graph.data.corpus import DEFAULT_CORPUS, read_sentences
from strae_graph.data.vocab import Vocabulary
from strae_graph.model.config import StrAEConfig
from strae_graph.model.strae import StrAE
from strae_graph.training.config import TrainConfig
from strae_graph.training.step import batch_output


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    ap.add_argument("--sentences", type=int, default=640)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10, help="steps per structure")
    ap.add_argument("--versus", default="balanced", help="the given structure to compare with")
    ap.add_argument("--objective", default="contrastive")
    args = ap.parse_args()

    sents = [tuple(t) for _, t in read_sentences(args.corpus, args.sentences, 200)]
    vocab = Vocabulary.build(sents, 2, 25_000)
    runs = {}
    for structure in ("self", args.versus):
        cfg = TrainConfig(structure=structure, objective=args.objective, batch_size=args.batch_size)
        torch.manual_seed(0)
        model = StrAE(StrAEConfig(vocab_size=len(vocab), objective=args.objective)).train()
        items = sents if structure == "self" else parse_cached(sents, structure)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        runs[structure] = dict(cfg=cfg, model=model, items=items, opt=opt, tokens=0, seconds=0.0)
    n_batches = len(sents) // args.batch_size
    for step in range(args.steps):
        b = step % n_batches
        for r in runs.values():
            batch = r["items"][b * args.batch_size : (b + 1) * args.batch_size]
            t0 = time.perf_counter()
            out = batch_output(r["model"], batch, vocab, r["cfg"])
            r["opt"].zero_grad()
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(r["model"].parameters(), 1.0)
            r["opt"].step()
            r["seconds"] += time.perf_counter() - t0
            r["tokens"] += sum(
                len(s) for s in sents[b * args.batch_size : (b + 1) * args.batch_size]
            )
    print(f"{len(sents)} sentences, batch {args.batch_size}, {args.steps} steps each, "
          f"{args.objective}, torch threads {torch.get_num_threads()}")  # fmt: skip
    for name, r in runs.items():
        print(f"{name:>10}: {r['tokens'] / r['seconds']:8.0f} tokens/s "
              f"({r['seconds'] / args.steps:.3f} s/step)")  # fmt: skip


if __name__ == "__main__":
    main()
