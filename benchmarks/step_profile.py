"""Where a training step's CPU time goes, against ``strae bench``'s step, on the
same batches: thread CPU time (``time.thread_time``) with one torch thread, so
the figures hold on a busy machine too (they count work, not waiting).

For BATCHES batches drawn as training draws them (the epoch permutation of the
first --max-sentences sentences), it times, per batch:

* build: the batch's graph and per-level blocks (``prepare_items``: what the
  prefetch thread did, or the step's own thread with ``--prefetch 0``);
* bench step: :func:`strae_graph.bench.timing.fused_step` (forward, backward
  with the finiteness checks, clipping, Adam, reading the loss);
* train step: what ``strae train`` does for a batch besides building it
  (``forward_backward``, the learning rate, Adam, the schedule, the random
  state kept for a NaN batch, the node ratio, a metrics and a timing line);
* bookkeeping: the train step's extras alone (the last three and the lines).

  python benchmarks/step_profile.py [--objective both] [--structure balanced]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from parsers.tree_cache import parse_cached
from strae_graph.bench.timing import fused_step
from strae_graph.training.config import preset_config
from strae_graph.training.data import (
    epoch_order,
    load_training_data,
    permutation_batch,
    prepare_items,
)
from strae_graph.training.distributed import DistContext
from strae_graph.training.lr_schedule import current_lr
from strae_graph.training.state import RunState
from strae_graph.training.step import forward_backward, step_record, timing_record

try:
    from strae_graph.training.step import step_rng_state
except ImportError:  # a checkout from before it (run on older code to compare)
    step_rng_state = torch.get_rng_state


def bookkeeping(state: RunState, out, items, n_tok: int, dt: float) -> None:
    """The train step's extras beyond forward, backward and Adam (train_loop._update)."""
    step_rng_state()
    _ = len(out.up) / sum(2 * len(t.tokens) - 1 for t in items)
    state.scheduler.step()
    rec = step_record(1, 1, 1, out, 0.0, state.model, state.cfg)
    json.dumps(rec), json.dumps(timing_record(1, dt, n_tok, dt))


def profile(objective: str, structure: str, sentences: int, n: int) -> dict[str, list[float]]:
    cfg = preset_config(
        "default", objective=objective, structure=structure, max_sentences=sentences,
        out="/tmp/step_profile", progress=False,
    )  # fmt: skip
    data = load_training_data(cfg, parse=parse_cached)
    order = epoch_order(len(data.train), cfg.seed, 0)
    ctx, now = DistContext(), time.thread_time
    state = RunState(cfg, ctx, lambda s: None, data, 0, {})
    model, opt = state.model, state.optimizer
    model.train()
    t: dict[str, list[float]] = {k: [] for k in ("build", "bench", "train", "bookkeeping")}
    for b in range(n + 1):  # batch 0: warm-up, not counted
        items = [data.train[i] for i in permutation_batch(order, b, cfg.batch_size)]
        c = now()
        _, batch = prepare_items(items, data.vocab, cfg)
        build = now() - c
        c = now()
        fused_step(model, opt, *batch)
        bench = now() - c
        c = now()
        out, _ = forward_backward(model, opt, items, batch, data.vocab, cfg, ctx)
        current_lr(opt)
        opt.step()
        c2 = now()
        bookkeeping(state, out, items, sum(len(x.tokens) for x in items), 0.1)
        extra, train = now() - c2, now() - c
        if b:
            for k, v in zip(
                ("build", "bench", "train", "bookkeeping"), (build, bench, train, extra)
            ):
                t[k].append(v)
    return t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--objective", default="both")
    p.add_argument("--structure", default="balanced")
    p.add_argument("--max-sentences", type=int, default=30000)
    p.add_argument("--batches", type=int, default=12)
    args = p.parse_args()
    torch.set_num_threads(1)
    t = profile(args.objective, args.structure, args.max_sentences, args.batches)
    ms = {k: 1e3 * float(np.mean(v)) for k, v in t.items()}
    print(f"{args.objective}, {args.structure}, {args.batches} batches, 1 thread, CPU ms/batch:")
    print("  " + ", ".join(f"{k} {v:.1f}" for k, v in ms.items()))
    print(
        f"  train step / bench step {ms['train'] / ms['bench']:.3f}; build / bench step "
        f"{ms['build'] / ms['bench']:.3f}; bookkeeping / bench step "
        f"{ms['bookkeeping'] / ms['bench']:.4f}"
    )


if __name__ == "__main__":
    main()
