"""``strae bench``: training speed and memory per structure and objective.

On a fixed slice of the corpus (the first ``(warmup + steps) x batch_size``
sentences), for every structure and objective it measures one training step
(forward, backward, gradient clip, Adam) and reports:

* sentences/s and tokens/s of the step, and seconds per epoch extrapolated to
  the full shipped corpus (:data:`FULL_CORPUS_TOKENS`);
* peak resident memory (the process's VmHWM, reset before each case);
* the share of time in the up pass, the down pass, the loss, and the
  optimiser + data pipeline (a separately timed, segmented step: each part's
  forward and backward together; data = building the batched graph and its
  per-frontier schedule, which training does ahead in a background thread);
* the floor: the dense matrix products the objective cannot avoid for that
  batch, timed on their own (contrastive: S = U D^T (N x E x N) and the two
  backward products G D and G^T U; cross-entropy: the same three products with
  Lambda, leaves x E x V), and the overhead ratio = step time / floor time;
* the same model as a plain-PyTorch frontier loop (no DGL; gather children
  by index from a full (N, K, U) state, write each frontier back out of place),
  its step time and the speed ratio plain / library, and the largest
  difference between the two implementations' embeddings (a correctness check).

The plain-PyTorch implementation is a yardstick only, kept outside the library
(benchmarks.plain_model, handed in by the command line as ``plain_model``); the
library has one code path (strae_graph.model.strae).

This module is the case loop; its settings are :mod:`strae_graph.bench.config`,
how a step is measured :mod:`strae_graph.bench.timing`, the result record and
its table :mod:`strae_graph.bench.report`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from strae_graph.bench import timing
from strae_graph.bench.config import SAMPLES, BenchConfig, PlainModel
from strae_graph.bench.report import FULL_CORPUS_TOKENS, CaseResult
from strae_graph.bench.timing import (
    floor_seconds,
    fused_step,
    peak_rss_since_reset_mb,
    segmented_step,
)
from strae_graph.data.corpus import DataError, read_sentences
from strae_graph.data.vocab import Vocabulary
from strae_graph.graph.batch import Frontiers, batch_trees
from strae_graph.model.config import model_config, model_defaults
from strae_graph.model.objectives import OBJECTIVES
from strae_graph.model.precision import support_note, validate_precision
from strae_graph.model.strae import StrAE
from strae_graph.training.data import epoch_order
from strae_graph.training.presets import PRESETS, learning_rate
from strae_graph.trees.source import Parse, no_parse
from strae_graph.trees.tree import Tree
from strae_graph.util.progress import progress


# --- the benchmark ------------------------------------------------------------------
def load_slice(cfg: BenchConfig) -> tuple[list[list[str]], Vocabulary]:
    """The benchmark's sentences and a vocabulary built from the corpus head."""
    need = (cfg.warmup + cfg.steps) * cfg.batch_size
    limit = max(need, cfg.vocab_sentences)
    sents = [t for _, t in read_sentences(cfg.corpus, limit, cfg.max_length)]
    if len(sents) < need:
        raise DataError(f"{cfg.corpus}: {len(sents)} sentences, the benchmark needs {need}")
    vocab = Vocabulary.build(sents, 1, cfg.max_vocab)
    if cfg.sample == "shuffled":
        return [sents[i] for i in epoch_order(len(sents), cfg.seed, 0)[:need]], vocab
    return sents[:need], vocab


def make_batches(trees: Sequence[Tree], vocab: Vocabulary, batch_size: int,
                 entangle: bool = False, device: str = "cpu"):  # fmt: skip
    """[(graph, frontiers, seconds to build)] for consecutive batches."""
    out = []
    for start in range(0, len(trees), batch_size):
        chunk = trees[start : start + batch_size]
        t = timing.now()
        g = batch_trees(chunk, [vocab.encode(x.tokens) for x in chunk], device, entangle)
        fr = Frontiers.of(g)
        out.append((g, fr, timing.now() - t, chunk))
    return out


def run_case(
    cfg: BenchConfig,
    structure: str,
    objective: str,
    sents,
    vocab: Vocabulary,
    setting: str = "default",
    parse: Parse | None = None,
    plain_model: PlainModel | None = None,
) -> CaseResult:
    """Time one case; ``parse`` builds the trees (:mod:`strae_graph.trees.source`),
    ``plain_model`` the plain-PyTorch yardstick (needed when ``cfg.plain``)."""
    if parse is None:
        raise no_parse(structure)

    preset = PRESETS[setting]
    compose = cfg.compose or preset["compose"]
    entangle = bool(preset["entangle"])
    trees = parse(sents, structure, cfg.seed)
    batches = make_batches(trees, vocab, cfg.batch_size, entangle, cfg.device)
    torch.manual_seed(cfg.seed)
    options = {"objective": objective, "channels": cfg.channels,
               "channel_size": cfg.channel_size, "compose": compose,
               "precision": cfg.precision}  # fmt: skip
    model = StrAE(model_config({**model_defaults(), **options}, len(vocab))).to(cfg.device)
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate(preset["lr"], objective))
    timed = batches[cfg.warmup :]
    measured = _time_steps(model, opt, batches[: cfg.warmup], timed, cfg.device)
    case = {"setting": setting, "structure": structure, "objective": objective,
            "compose": compose, "entangle": entangle}  # fmt: skip
    res = _case_result(cfg, case, model, timed, measured)
    gpu = torch.device(cfg.device).type == "cuda"
    if cfg.plain and not entangle and not gpu:  # the plain loop: the un-entangled CPU reference
        _compare_plain(cfg, res, model, opt, batches, vocab, plain_model)
    return res


@dataclass
class _Measured:
    """What the timed batches of a case measured (seconds, MB)."""

    wall: list[float]  # per batch: the fused step's time on the benchmark's clock
    cpu: list[float]  # per batch: this process's CPU time
    peak_rss_mb: float
    peak_gpu_mb: float | None  # on a CUDA device: the most memory torch allocated
    parts: dict[str, float]  # the segmented step's mean seconds: up, down, loss, optim


def _time_steps(
    model: StrAE, opt: torch.optim.Optimizer, warm: list, timed: list, device: str
) -> _Measured:
    """The warm-up steps, the timed fused steps (and the peak memory over them),
    then the segmented steps on the same batches."""
    model.train()
    timing.reset_peak_rss()
    gpu = torch.device(device).type == "cuda"
    if gpu:
        torch.cuda.reset_peak_memory_stats(device)
    for g, fr, _, _ in warm:
        fused_step(model, opt, g, fr)
    wall, cpu = [], []
    for g, fr, _, _ in timed:
        c0, t0 = time.process_time(), timing.now()
        fused_step(model, opt, g, fr)
        wall.append(timing.now() - t0)
        cpu.append(time.process_time() - c0)
    peak = peak_rss_since_reset_mb()
    peak_gpu = torch.cuda.max_memory_allocated(device) / 2**20 if gpu else None
    parts = {"up": 0.0, "down": 0.0, "loss": 0.0, "optim": 0.0}
    for g, fr, _, _ in timed:
        for k, v in segmented_step(model, opt, g, fr).items():
            parts[k] += v / len(timed)
    return _Measured(wall, cpu, peak, peak_gpu, parts)


def _case_result(
    cfg: BenchConfig, case: dict[str, Any], model: StrAE, timed: list, m: _Measured
) -> CaseResult:
    """The result of a case (``case``: its setting, structure, objective, compose
    and entangle) from its measurements, the time of its floor (measured now) and
    the sizes of its batches."""
    data_s = float(np.mean([b[2] for b in timed]))
    floor = float(np.mean([floor_seconds(model, b[0]) for b in timed]))
    step_s = float(np.mean(m.wall))
    tokens = [sum(t.n_leaves for t in b[3]) for b in timed]
    seg_total = sum(m.parts.values()) + data_s
    share = {k: m.parts[k] / seg_total for k in ("up", "down", "loss")}
    share["optim_data"] = (m.parts["optim"] + data_s) / seg_total
    tok_s = float(np.sum(tokens) / np.sum(m.wall))
    return CaseResult(
        **case,
        batch_size=cfg.batch_size,
        nodes=int(np.mean([b[0].num_nodes() for b in timed])),
        tokens=int(np.mean(tokens)),
        frontiers_up=int(np.mean([len(b[1].up) for b in timed])),
        step_s=step_s,
        step_cpu_s=float(np.mean(m.cpu)),
        sentences_per_s=float(np.sum([len(b[3]) for b in timed]) / np.sum(m.wall)),
        tokens_per_s=tok_s,
        epoch_s=FULL_CORPUS_TOKENS / tok_s,
        peak_rss_mb=m.peak_rss_mb,
        data_s=data_s,
        share=share,
        floor_s=floor,
        overhead=step_s / floor,
        parts_s={**m.parts, "data": data_s},
        precision=cfg.precision,
        device=cfg.device,
        peak_gpu_mb=m.peak_gpu_mb,
    )


def _compare_plain(
    cfg: BenchConfig,
    res: CaseResult,
    model: StrAE,
    opt: torch.optim.Optimizer,
    batches: list,
    vocab: Vocabulary,
    plain_model: PlainModel | None,
) -> None:
    """Time the plain-PyTorch loop on the same batches (training ``model``
    further) and fill in ``res``'s plain fields: its step time, the ratio to the
    library's, and the largest difference between the two embeddings."""
    if plain_model is None:
        raise _no_plain_model()
    plain = [plain_model(b[3], [vocab.encode(t.tokens) for t in b[3]]) for b in batches]
    pw = []
    for i, p in enumerate(plain):
        t0 = timing.now()
        p.forward_loss(model).backward()
        timing.optimise(model, opt)
        if i >= cfg.warmup:
            pw.append(timing.now() - t0)
    res.plain_step_s = float(np.mean(pw))
    res.plain_ratio = res.plain_step_s / res.step_s
    model.eval()
    with torch.no_grad():
        g, fr = batches[cfg.warmup][0], batches[cfg.warmup][1]
        up = model.up(g, fr)
        down = model.down(g, up, fr)
        pu = plain[cfg.warmup].up(model)
        pd = plain[cfg.warmup].down(model, pu)
        res.plain_max_abs_diff = float(max((up - pu).abs().max(), (down - pd).abs().max()))
    model.train()


def _no_plain_model() -> ValueError:
    return ValueError(
        "bench: the plain-PyTorch comparison needs plain_model "
        "(benchmarks.plain_model.PlainFrontierModel), or plain=False"
    )


def _check_case_options(cfg: BenchConfig, log: Callable[[str], None]) -> None:
    """ValueError for a sample, precision or device that cannot work; the note
    of a bf16 without bf16 hardware (:func:`strae_graph.model.precision.support_note`)."""
    if cfg.sample not in SAMPLES:
        raise ValueError(f"unknown sample {cfg.sample!r}; choose from {', '.join(SAMPLES)}")
    validate_precision(cfg.precision)
    try:
        device = torch.device(cfg.device)
    except RuntimeError as e:
        raise ValueError(f"unknown device {cfg.device!r} ({e})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {cfg.device!r}: this torch build or machine has no CUDA GPU")
    note = support_note(cfg.precision, cfg.device)
    if note:
        log(note)


def run_bench(
    cfg: BenchConfig,
    log: Callable[[str], None] = print,
    parse: Parse | None = None,
    plain_model: PlainModel | None = None,
) -> list[CaseResult]:
    """Every case of ``cfg``; ``parse`` builds the trees of its structures
    (:mod:`strae_graph.trees.source`; ``strae bench`` passes the registry's),
    ``plain_model`` the plain-PyTorch yardstick of ``cfg.plain`` (``strae bench``
    passes :class:`benchmarks.plain_model.PlainFrontierModel`)."""
    timing.set_clock(cfg.clock)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    _check_case_options(cfg, log)
    if parse is None:
        raise no_parse(", ".join(cfg.structures))
    for s in cfg.structures:
        parse([], s, cfg.seed)  # an empty parse: an unknown name fails before any work
    for o in cfg.objectives:
        if o not in OBJECTIVES:
            raise ValueError(f"unknown objective {o!r}; choose from {', '.join(OBJECTIVES)}")
    sents, vocab = load_slice(cfg)
    log(
        f"bench: {len(sents)} sentences ({cfg.sample}: {cfg.warmup} warm-up + {cfg.steps} timed "
        f"batches of {cfg.batch_size}), vocabulary {len(vocab):,}, torch threads "
        f"{torch.get_num_threads()}, {cfg.clock} clock, {cfg.device}, {cfg.precision} products"
    )
    for name in cfg.settings:
        if name not in PRESETS:
            raise ValueError(f"unknown setting {name!r}; choose from {', '.join(PRESETS)}")
    if cfg.plain and plain_model is None and not all(PRESETS[n]["entangle"] for n in cfg.settings):
        raise _no_plain_model()
    cases = [(p, s, o) for p in cfg.settings for s in cfg.structures for o in cfg.objectives]
    results = []
    for p, s, o in progress(cases, desc="bench", unit="case", disable=not cfg.progress):
        results.append(run_case(cfg, s, o, sents, vocab, p, parse, plain_model))
    return results
