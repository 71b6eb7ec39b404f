"""What ``strae bench`` reports: one :class:`CaseResult` per setting x structure x
objective, the Markdown table of them, and the JSON record ``--json`` writes.
The measurements themselves are :mod:`strae_graph.bench.cases`'s."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from strae_graph.bench.config import BenchConfig

#: word + punctuation tokens of the shipped corpus (data/SOURCES.md: ~10.6 M)
FULL_CORPUS_TOKENS = 10_600_000


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
    precision: str = "fp32"  # of the losses' big products
    device: str = "cpu"
    peak_gpu_mb: float | None = None  # CUDA: torch.cuda.max_memory_allocated


def format_table(results: Sequence[CaseResult]) -> str:
    """The results as a Markdown table, one row per case."""
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
            f"| {r.peak_rss_mb:,.0f}{_gpu_mb(r)} "
            f"| {sh['up']:.0%} | {sh['down']:.0%} | {sh['loss']:.0%} | {sh['optim_data']:.0%} "
            f"| {r.step_s:.3f} | {r.floor_s:.3f} | {r.overhead:.2f} | {plain} | {ratio} |"
        )
    return "\n".join(lines)


def _gpu_mb(r: CaseResult) -> str:
    """`` (GPU n)``: the peak GPU memory of a CUDA case, after its resident memory."""
    return "" if r.peak_gpu_mb is None else f" (GPU {r.peak_gpu_mb:,.0f})"


def bench_record(cfg: BenchConfig, results: Sequence[CaseResult]) -> dict[str, Any]:
    """The JSON record of a benchmark (``strae bench --json``): its configuration,
    torch's thread count, the corpus size epochs are extrapolated to, the results."""
    return {
        "config": asdict(cfg),
        "torch_threads": torch.get_num_threads(),
        "full_corpus_tokens": FULL_CORPUS_TOKENS,
        "results": [asdict(r) for r in results],
    }
