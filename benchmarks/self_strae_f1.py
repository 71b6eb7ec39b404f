"""Bracket F1 of Self-StrAE trees against gold PTB sample trees.

    python -m benchmarks.self_strae_f1 RUN_DIR [--gold FILE] [--limit N]

RUN_DIR is a run of ``strae train --structure self``.  Prints unlabelled span F1
(trivial spans excluded, see strae_graph.bracket_f1) of the trees induced by the
run's model at initialisation (re-created from config.json's seed, exactly as
``train`` builds it) and after training (best.pt, else last.pt), next to
right-branching, left-branching, balanced and random trees.  Gold leaves are
lower-cased; words outside the run's vocabulary are <unk> to the model.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from parsers import parse_sentences
from strae_graph.bracket_f1 import bracket_f1, read_gold, sentences_of
from strae_graph.corpus import DATA_DIR
from strae_graph.model import StrAE, StrAEConfig
from strae_graph.self_strae import load_model, parse_with_model
from strae_graph.vocab import Vocabulary

GOLD = DATA_DIR / "trees" / "ptb_sample_combined.mrg.oneline.txt.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("run", help="run directory of strae train --structure self")
    ap.add_argument("--gold", default=str(GOLD))
    ap.add_argument("--limit", type=int, default=None, help="first N gold trees only")
    args = ap.parse_args()

    gold = read_gold(args.gold, lower=True, limit=args.limit)
    sents = sentences_of(gold)
    run = Path(args.run)
    record = json.loads((run / "config.json").read_text())
    vocab = Vocabulary.from_json((run / "vocab.json").read_text())
    known = sum(w in vocab for s in sents for w in s) / sum(len(s) for s in sents)
    print(
        f"gold: {len(gold)} trees, {sum(len(s) for s in sents)} tokens from {args.gold}; "
        f"{100 * known:.1f}% of tokens in the run's vocabulary ({len(vocab)} words)"
    )

    torch.manual_seed(record["train"]["seed"])
    init = StrAE(StrAEConfig(**record["model"])).eval()
    trained, _ = load_model(run)
    rows = []
    for name, make in [
        ("self (initial model)", lambda: parse_with_model(init, sents, vocab)),
        ("self (trained)", lambda: parse_with_model(trained, sents, vocab)),
        ("right-branching", lambda: parse_sentences(sents, "right")),
        ("left-branching", lambda: parse_sentences(sents, "left")),
        ("balanced", lambda: parse_sentences(sents, "balanced")),
        ("random (seed 0)", lambda: parse_sentences(sents, "random", seed=0)),
    ]:
        t0 = time.perf_counter()
        trees = make()
        dt = time.perf_counter() - t0
        rows.append((name, bracket_f1(trees, gold), dt))
    print(f"{'trees':<22} {'corpus F1':>9} {'P':>6} {'R':>6} {'sent F1':>8} {'seconds':>8}")
    for name, r, dt in rows:
        print(f"{name:<22} {100 * r.f1:9.1f} {100 * r.precision:6.1f} {100 * r.recall:6.1f} "
              f"{100 * r.sentence_f1:8.1f} {dt:8.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
