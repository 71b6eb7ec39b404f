"""Whether a model of a given size fits in memory, checked before it is built:
``-K 100000 -U 100000`` is a one-line error naming the options and the size,
not an allocator traceback (or a machine brought down by swapping)."""

from __future__ import annotations

import os
from pathlib import Path

from strae_graph.model.config import StrAEConfig

#: bytes per parameter: float32 weights; training adds the gradient and Adam's two moments
WEIGHT_BYTES, TRAINING_BYTES = 4, 16


def parameter_count(config: StrAEConfig) -> int:
    """The parameters :class:`strae_graph.model.strae.StrAE` will have (computed, not
    built): the embedding table, the untied Lambda, compose + decompose
    (linear: 4U^2 + 3U; diagonal: 7U) and the learned logit scale."""
    e, u, v = config.channels * config.channel_size, config.channel_size, config.vocab_size
    n = v * e
    if not config.tied:
        n += v * e + v
    n += 4 * u * u + 3 * u if config.compose == "linear" else 7 * u
    return n + (1 if config.learn_temperature else 0)


def available_memory() -> int | None:
    """Bytes of memory available now (Linux: MemAvailable, capped by a cgroup
    limit); None where it cannot be told."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    try:  # a container's own limit (cgroup v2)
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            room = int(limit) - used
            avail = room if avail is None else min(avail, room)
    except (OSError, ValueError):
        pass
    return avail


def human_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KB"`` (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_model_memory(config: StrAEConfig, training: bool = False) -> None:
    """ValueError naming ``-K/-U`` when the model's weights (and, ``training``,
    their gradients and Adam moments) need more memory than is available."""
    params = parameter_count(config)
    need = params * (TRAINING_BYTES if training else WEIGHT_BYTES)
    avail = available_memory()
    if avail is None or need <= avail:
        return
    what = "weights, gradients and Adam moments" if training else "weights"
    raise ValueError(
        f"-K/-U (channels x channel_size = {config.channels:,} x {config.channel_size:,}): "
        f"a model of {params:,} parameters over a vocabulary of {config.vocab_size:,} "
        f"needs about {human_bytes(need)} for its {what}, more than the "
        f"{human_bytes(avail)} of memory available; lower -K/-U (or --max-vocab)"
    )
