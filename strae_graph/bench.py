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
(benchmarks.plain_model, imported when the comparison runs); the library has
one code path (strae_graph.model).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from strae_graph.corpus import DEFAULT_CORPUS, DataError, read_sentences
from strae_graph.graph import Frontiers, batch_trees
from strae_graph.model import StrAE, StrAEConfig
from strae_graph.objectives import OBJECTIVES
from strae_graph.train_step import backward_checked
from strae_graph.tree import Tree
from strae_graph.tree_source import Parse, no_parse
from strae_graph.vocab import Vocabulary

#: word + punctuation tokens of the shipped corpus (data/SOURCES.md: ~10.6 M)
FULL_CORPUS_TOKENS = 10_600_000
#: wall time, or this process's CPU time (meaningful with one torch thread on a
#: machine shared with other work: it does not count time spent waiting for a core)
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


@dataclass
class BenchConfig:
    corpus: str = str(DEFAULT_CORPUS)
    structures: Sequence[str] = ("balanced",)  # strae bench: every heuristic (parsers)
    objectives: Sequence[str] = OBJECTIVES
    batch_size: int = 128
    steps: int = 3  # timed steps (distinct batches) per case
    warmup: int = 1
    vocab_sentences: int = 20_000  # the vocabulary is built from this many sentences
    max_vocab: int = 25_000
    max_length: int = 200
    channels: int = 10
    channel_size: int = 10
    #: training presets to time (strae_graph.presets): each sets compose, entangle and lr
    settings: Sequence[str] = ("default",)
    compose: str | None = None  # override the setting's compose function
    threads: int | None = None
    clock: str = "wall"  # or "cpu": process CPU time, robust to a busy machine with 1 thread
    plain: bool = True
    seed: int = 0
    json: str | None = "runs/bench.json"
    progress: bool = True


@dataclass
class CaseResult:
    structure: str
    objective: str
    batch_size: int
    nodes: int  # mean nodes per batch
    tokens: int  # mean tokens per batch
    frontiers_up: int  # mean number of up frontiers (tree height) per batch
    step_s: float
    step_cpu_s: float
    sentences_per_s: float
    tokens_per_s: float
    epoch_s: float  # extrapolated to FULL_CORPUS_TOKENS
    peak_rss_mb: float
    data_s: float
    share: dict[str, float]  # up, down, loss, optim_data (of the segmented step)
    floor_s: float
    overhead: float
    plain_step_s: float | None = None
    plain_ratio: float | None = None  # plain step time / library step time
    plain_max_abs_diff: float | None = None
    parts_s: dict[str, float] = field(default_factory=dict)
    setting: str = "default"  # the preset whose model and batches were timed
    compose: str = "linear"
    entangle: bool = False  # entangled (DAG) batches: nodes counts the distinct nodes


# --- memory ------------------------------------------------------------------
def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory (VmHWM) of this process, in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --- timing -----------------------------------------------------------------------
_now: Callable[[], float] = time.perf_counter  # set by run_bench (--clock)


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    t = _now()
    out = fn()
    return _now() - t, out


def _optimise(model: StrAE, opt: torch.optim.Optimizer, clip: float = 1.0) -> None:
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    opt.zero_grad(set_to_none=True)


def fused_step(model: StrAE, opt: torch.optim.Optimizer, g, fr) -> None:
    """One training step as training does it: forward, backward with the
    finiteness checks of the loss and the gradient norm (each a synchronisation)
    and clipping (:func:`strae_graph.train_step.backward_checked`), Adam over
    every parameter (the whole V x E table: its gradient is dense for ce /
    both), and reading the loss."""
    out = model(g, fr)
    bad = backward_checked(out, model, opt, 1.0)
    if bad is not None:
        raise FloatingPointError(f"bench: {bad}")
    opt.step()
    out.loss.item()


def segmented_step(model: StrAE, opt: torch.optim.Optimizer, g, fr) -> dict[str, float]:
    """The same step cut at the up/down/loss boundaries (same gradients), timing
    each part's forward and backward: seconds for up, down, loss, optim."""
    n = g.num_nodes()
    t_up, up = _timed(lambda: model.up(g, fr))
    up_in = up.detach().requires_grad_()
    t_down, down = _timed(lambda: model.down(g, up_in, fr))
    u2 = up.detach().reshape(n, -1).requires_grad_()
    d2 = down.detach().reshape(n, -1).requires_grad_()

    def loss_part() -> None:
        loss, _ = model.loss(g, u2, d2)
        loss.backward()

    t_loss, _ = _timed(loss_part)

    def grad_of(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(like) if x.grad is None else x.grad.view_as(like)

    t_down_b, _ = _timed(lambda: down.backward(grad_of(d2, down)))
    t_up_b, _ = _timed(lambda: up.backward(grad_of(u2, up) + grad_of(up_in, up)))
    t_opt, _ = _timed(lambda: _optimise(model, opt))
    return {"up": t_up + t_up_b, "down": t_down + t_down_b, "loss": t_loss, "optim": t_opt}


def floor_seconds(model: StrAE, g, reps: int = 2) -> float:
    """Time of the dense products the objective must do for this batch (best of reps)."""
    e = model.config.embedding_size
    is_leaf = g.ndata["is_leaf"]
    products: list[tuple[int, int]] = []  # (rows, cols) of S; each costs 3 products of depth E
    objective = model.config.objective
    if objective == "contrastive":
        products.append((g.num_nodes(), g.num_nodes()))
    else:
        leaves = int(is_leaf.sum())
        products.append((leaves, model.config.vocab_size))
        if objective == "both":
            internal = g.num_nodes() - leaves
            products.append((internal, internal))
    best = math.inf
    for _ in range(reps):
        total = 0.0
        for rows, cols in products:
            a = torch.randn(rows, e)
            b = torch.randn(cols, e)
            t = _now()
            s = a @ b.T  # forward
            _ = s @ b  # backward, first operand
            _ = s.T @ a  # backward, second operand
            total += _now() - t
            del s
        best = min(best, total)
    return best


# --- the benchmark ------------------------------------------------------------------
def load_slice(cfg: BenchConfig) -> tuple[list[list[str]], Vocabulary]:
    """The benchmark's sentences and a vocabulary built from the corpus head."""
    need = (cfg.warmup + cfg.steps) * cfg.batch_size
    limit = max(need, cfg.vocab_sentences)
    sents = [t for _, t in read_sentences(cfg.corpus, limit, cfg.max_length)]
    if len(sents) < need:
        raise DataError(f"{cfg.corpus}: {len(sents)} sentences, the benchmark needs {need}")
    vocab = Vocabulary.build(sents, 1, cfg.max_vocab)
    return sents[:need], vocab


def make_batches(trees: Sequence[Tree], vocab: Vocabulary, batch_size: int,
                 entangle: bool = False):  # fmt: skip
    """[(graph, frontiers, seconds to build)] for consecutive batches."""
    out = []
    for start in range(0, len(trees), batch_size):
        chunk = trees[start : start + batch_size]
        t = _now()
        g = batch_trees(chunk, [vocab.encode(x.tokens) for x in chunk], entangle=entangle)
        fr = Frontiers.of(g)
        out.append((g, fr, _now() - t, chunk))
    return out


def run_case(
    cfg: BenchConfig,
    structure: str,
    objective: str,
    sents,
    vocab: Vocabulary,
    setting: str = "default",
    parse: Parse | None = None,
) -> CaseResult:
    """Time one case; ``parse`` builds the trees (:mod:`strae_graph.tree_source`)."""
    from strae_graph.presets import PRESETS

    if parse is None:
        raise no_parse(structure)

    preset = PRESETS[setting]
    compose = cfg.compose or preset["compose"]
    entangle = bool(preset["entangle"])
    lr = preset["lr"] or (1e-4 if objective == "contrastive" else 1e-3)
    trees = parse(sents, structure, cfg.seed)
    batches = make_batches(trees, vocab, cfg.batch_size, entangle)
    warm, timed = batches[: cfg.warmup], batches[cfg.warmup :]
    torch.manual_seed(cfg.seed)
    model = StrAE(
        StrAEConfig(
            vocab_size=len(vocab),
            channels=cfg.channels,
            channel_size=cfg.channel_size,
            objective=objective,
            compose=compose,
        )
    )
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    _reset_peak_rss()
    for g, fr, _, _ in warm:
        fused_step(model, opt, g, fr)
    wall, cpu = [], []
    for g, fr, _, _ in timed:
        c0, t0 = time.process_time(), _now()
        fused_step(model, opt, g, fr)
        wall.append(_now() - t0)
        cpu.append(time.process_time() - c0)
    peak = peak_rss_mb()
    parts = {"up": 0.0, "down": 0.0, "loss": 0.0, "optim": 0.0}
    for g, fr, _, _ in timed:
        for k, v in segmented_step(model, opt, g, fr).items():
            parts[k] += v / len(timed)
    data_s = float(np.mean([b[2] for b in timed]))
    floor = float(np.mean([floor_seconds(model, b[0]) for b in timed]))
    step_s = float(np.mean(wall))
    sizes = [len(b[3]) for b in timed]
    tokens = [sum(t.n_leaves for t in b[3]) for b in timed]
    seg_total = sum(parts.values()) + data_s
    share = {
        "up": parts["up"] / seg_total,
        "down": parts["down"] / seg_total,
        "loss": parts["loss"] / seg_total,
        "optim_data": (parts["optim"] + data_s) / seg_total,
    }
    tok_s = float(np.sum(tokens) / np.sum(wall))
    res = CaseResult(
        structure=structure,
        objective=objective,
        batch_size=cfg.batch_size,
        nodes=int(np.mean([b[0].num_nodes() for b in timed])),
        tokens=int(np.mean(tokens)),
        frontiers_up=int(np.mean([len(b[1].up) for b in timed])),
        step_s=step_s,
        step_cpu_s=float(np.mean(cpu)),
        sentences_per_s=float(np.sum(sizes) / np.sum(wall)),
        tokens_per_s=tok_s,
        epoch_s=FULL_CORPUS_TOKENS / tok_s,
        peak_rss_mb=peak,
        data_s=data_s,
        share=share,
        floor_s=floor,
        overhead=step_s / floor,
        parts_s={**parts, "data": data_s},
        setting=setting,
        compose=compose,
        entangle=entangle,
    )
    if cfg.plain and not entangle:  # the plain loop is the un-entangled reference
        from benchmarks.plain_model import PlainFrontierModel

        plain = [PlainFrontierModel(b[3], [vocab.encode(t.tokens) for t in b[3]]) for b in batches]
        pw = []
        for i, p in enumerate(plain):
            t0 = _now()
            p.forward_loss(model).backward()
            _optimise(model, opt)
            if i >= cfg.warmup:
                pw.append(_now() - t0)
        res.plain_step_s = float(np.mean(pw))
        res.plain_ratio = res.plain_step_s / step_s
        model.eval()
        with torch.no_grad():
            g, fr = timed[0][0], timed[0][1]
            up = model.up(g, fr)
            down = model.down(g, up, fr)
            pu = plain[cfg.warmup].up(model)
            pd = plain[cfg.warmup].down(model, pu)
            res.plain_max_abs_diff = float(max((up - pu).abs().max(), (down - pd).abs().max()))
        model.train()
    return res


def run_bench(
    cfg: BenchConfig, log: Callable[[str], None] = print, parse: Parse | None = None
) -> list[CaseResult]:
    """Every case of ``cfg``; ``parse`` builds the trees of its structures
    (:mod:`strae_graph.tree_source`; ``strae bench`` passes the registry's)."""
    global _now
    if cfg.clock not in CLOCKS:
        raise ValueError(f"unknown clock {cfg.clock!r}; choose from {', '.join(CLOCKS)}")
    _now = CLOCKS[cfg.clock]
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if parse is None:
        raise no_parse(", ".join(cfg.structures))
    for s in cfg.structures:
        parse([], s, cfg.seed)  # an empty parse: an unknown name fails before any work
    for o in cfg.objectives:
        if o not in OBJECTIVES:
            raise ValueError(f"unknown objective {o!r}; choose from {', '.join(OBJECTIVES)}")
    sents, vocab = load_slice(cfg)
    log(
        f"bench: {len(sents)} sentences ({cfg.warmup} warm-up + {cfg.steps} timed batches of "
        f"{cfg.batch_size}), vocabulary {len(vocab):,}, torch threads {torch.get_num_threads()}, "
        f"{cfg.clock} clock"
    )
    from strae_graph.presets import PRESETS

    for name in cfg.settings:
        if name not in PRESETS:
            raise ValueError(f"unknown setting {name!r}; choose from {', '.join(PRESETS)}")
    cases = [(p, s, o) for p in cfg.settings for s in cfg.structures for o in cfg.objectives]
    results = []
    for p, s, o in tqdm(cases, desc="bench", unit="case", disable=not cfg.progress):
        results.append(run_case(cfg, s, o, sents, vocab, p, parse))
    return results


def format_table(results: Sequence[CaseResult]) -> str:
    head = (
        "| setting | structure | objective | nodes | sent/s | tok/s | epoch (h) | peak MB | up "
        "| down | loss | optim+data | step s | floor s | overhead | plain s | plain/lib |"
    )
    lines = [head, "|" + "---|" * 17]
    for r in results:
        sh = r.share
        plain = "-" if r.plain_step_s is None else f"{r.plain_step_s:.2f}"
        ratio = "-" if r.plain_ratio is None else f"{r.plain_ratio:.2f}x"
        lines.append(
            f"| {r.setting} | {r.structure} | {r.objective} | {r.nodes:,} "
            f"| {r.sentences_per_s:,.0f} | {r.tokens_per_s:,.0f} | {r.epoch_s / 3600:.2f} "
            f"| {r.peak_rss_mb:,.0f} "
            f"| {sh['up']:.0%} | {sh['down']:.0%} | {sh['loss']:.0%} | {sh['optim_data']:.0%} "
            f"| {r.step_s:.3f} | {r.floor_s:.3f} | {r.overhead:.2f} | {plain} | {ratio} |"
        )
    return "\n".join(lines)
