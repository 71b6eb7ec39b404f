"""``--precision``: the number format of the losses' big matrix products.

* ``fp32`` (the default): every product in float32, as before.
* ``bf16``: the products that dominate a step are done on bfloat16 copies of
  their operands: the contrastive similarity S = U D^T and its two backward
  products (:mod:`strae_graph.model.losses`), and the cross-entropy logits
  H Lambda^T and their two gradient products (:mod:`strae_graph.model.cross_entropy`).
  The matrix units accumulate in float32 (oneDNN with AVX512-BF16 or AMX on
  CPUs, cuBLAS on GPUs); each product's result is rounded to bfloat16 once and
  turned back into float32 before anything else happens to it, so the
  exponentials, softmax sums, log-sum-exp, loss and gradients are float32,
  and so are the model's parameters, the passes and the optimiser.

Where the hardware has no bfloat16 matrix instructions (a CPU without
``avx512_bf16`` / ``amx_bf16``, a GPU older than Ampere) PyTorch emulates the
products, with the same arithmetic (bf16 operands, float32 accumulation) but
several times slower than float32:
:func:`support_note` says so, and ``strae train`` / ``strae bench`` print it
and carry on (the runs are still bf16 runs, e.g. to check results).
"""

from __future__ import annotations

from pathlib import Path

import torch

PRECISIONS: tuple[str, ...] = ("fp32", "bf16")

#: the format of the low-precision products
LOW = torch.bfloat16


def validate_precision(precision: str) -> None:
    """ValueError unless ``precision`` is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def product_dtype(precision: str) -> torch.dtype | None:
    """The dtype the big products' operands are cast to; None: leave them (fp32)."""
    validate_precision(precision)
    return LOW if precision == "bf16" else None


def low(x: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """``x`` as an operand of a product in ``dtype`` (unchanged for None)."""
    return x if dtype is None else x.to(dtype)


def mm(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """``a @ b`` as a float32 (or ``a``'s dtype) result; with ``dtype``, of the
    operands cast to it (a float32-accumulated bf16 product, rounded once)."""
    if dtype is None:
        return torch.mm(a, b)
    return torch.mm(a.to(dtype), b.to(dtype)).float()


def cpu_flags() -> set[str]:
    """The CPU feature flags of /proc/cpuinfo (empty where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def bf16_hardware(device: str | torch.device) -> bool:
    """Whether ``device`` has bfloat16 matrix instructions that PyTorch uses."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported(False))
    if dev.type != "cpu":
        return False
    try:  # oneDNN's own check (AVX512-BF16 / AVX512-FP16 / AMX, or Arm's BF16)
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def support_note(precision: str, device: str | torch.device) -> str | None:
    """A note to print when ``precision`` on ``device`` is emulated (None: fine)."""
    if product_dtype(precision) is None or bf16_hardware(device):
        return None
    dev = torch.device(device)
    what = ("this GPU has no bf16 tensor cores (Ampere or newer)" if dev.type == "cuda"
            else "this CPU has no bf16 matrix instructions (no avx512_bf16 or amx_bf16 in "
            "/proc/cpuinfo; torch.ops.mkldnn._is_mkldnn_bf16_supported() is False)")  # fmt: skip
    return (
        f"note: --precision {precision}: {what}, so PyTorch emulates the bf16 products: the "
        "same arithmetic (bf16 operands, float32 accumulation), but slower than fp32 (use it "
        "to check results, not for speed)"
    )
