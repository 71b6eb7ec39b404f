"""``--precision``: the number format of the losses' big matrix products.

* ``fp32`` (the default): every product in float32, as before.
* ``bf16``: the products that dominate a step, the contrastive similarity
  S = U D^T and its two backward products (:mod:`strae_graph.model.losses`) and
  the cross-entropy logits H Lambda^T and their two gradient products
  (:mod:`strae_graph.model.cross_entropy`), multiply operands rounded to
  bfloat16 (to nearest, ties to even) with float32 accumulation, into a float32
  result (not rounded to bfloat16).  Everything else is float32: the
  exponentials, softmax sums, log-sum-exp, loss and gradients, the model's
  parameters, the passes and the optimiser.

How the products are made (:class:`Products`, chosen per device):

* ``onednn``: a CPU whose oneDNN has bf16 matrix instructions (AVX512-BF16,
  AMX): float32 tensors multiplied by oneDNN in its bf16 "fpmath" mode
  (``torch.backends.mkldnn.matmul.fp32_precision = "bf16"``, set only around
  these products): oneDNN rounds the operands to bf16 while it packs them and
  writes float32, so no pass over memory converts anything.  The setting is the
  process's while it lasts; strae's other thread (the batch prefetcher) makes
  no float32 products meanwhile.
* ``cast``: a GPU with bf16 (Ampere or newer): bf16 copies of the operands,
  multiplied by cuBLAS into float32 (``torch.mm(..., out_dtype=torch.float32)``).
* ``round``: anywhere else (a CPU without ``avx512_bf16`` / ``amx_bf16``, an
  older GPU): the operands rounded to bf16 values kept in float32 and multiplied
  in float32, which is exact for such values up to the accumulation: the same
  numbers, at float32's speed plus the rounding passes.  :func:`support_note`
  says so, and ``strae train`` / ``strae bench`` print it and carry on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

PRECISIONS: tuple[str, ...] = ("fp32", "bf16")

#: the format of the low-precision products' operands
LOW = torch.bfloat16

#: how :class:`Products` makes its products (module docstring)
MODES: tuple[str, ...] = ("fp32", "onednn", "cast", "round")


def validate_precision(precision: str) -> None:
    """ValueError unless ``precision`` is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def rounded(x: torch.Tensor) -> torch.Tensor:
    """``x``'s values rounded to bf16, in ``x``'s dtype: what a bf16 product sees."""
    return x.to(LOW).to(x.dtype)


@contextmanager
def _onednn_bf16() -> Iterator[None]:
    """float32 products on the CPU in oneDNN's bf16 fpmath mode, within."""
    prec = torch.backends.mkldnn.matmul
    before = prec.fp32_precision
    prec.fp32_precision = "bf16"
    try:
        yield
    finally:
        prec.fp32_precision = before


@cache
def onednn_bf16_works() -> bool:
    """Whether float32 products on this CPU run in bf16 under :func:`_onednn_bf16`
    (bf16 matrix instructions, and a torch with the setting): tried on a product
    whose float32 and bf16 results differ."""
    a = torch.full((32, 32), 1.0 + 2.0**-10)  # 1.0 in bf16
    try:
        with _onednn_bf16():
            got = torch.mm(a, torch.ones(32, 32))
    except (AttributeError, RuntimeError, ValueError):
        return False
    return bool((got == 32.0).all())


@dataclass(frozen=True)
class Products:
    """The losses' big products in one precision on one device (:data:`MODES`).

    Callers turn each operand once with :meth:`operand` and multiply with
    :meth:`mm`, :meth:`addmm` and :meth:`add_mm_`; results are float32 (or the
    operands' dtype where that is wider)."""

    mode: str = "fp32"

    @staticmethod
    def of(precision: str, device: str | torch.device = "cpu") -> Products:
        """How ``precision``'s products are made on ``device``."""
        validate_precision(precision)
        if precision == "fp32":
            return Products("fp32")
        dev = torch.device(device)
        if dev.type == "cpu" and onednn_bf16_works():
            return Products("onednn")
        if dev.type == "cuda" and bf16_hardware(dev):
            return Products("cast")
        return Products("round")

    @property
    def low(self) -> bool:
        """Whether the operands are rounded to bf16 (any mode but fp32)."""
        return self.mode != "fp32"

    def operand(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as an operand of this mode's products."""
        if self.mode == "cast":
            return x.to(LOW)
        if self.mode == "round" or (self.mode == "onednn" and x.dtype != torch.float32):
            return rounded(x)
        return x

    def exact(self, x: torch.Tensor) -> torch.Tensor:
        """The values the products see of ``x``, in ``x``'s dtype (rounded to bf16
        but for fp32): for a small product made by hand, such as a diagonal."""
        return rounded(x) if self.low else x

    @contextmanager
    def _within(self) -> Iterator[None]:
        if self.mode == "onednn":
            with _onednn_bf16():
                yield
        else:
            yield

    def mm(self, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """``a @ b`` (into ``out``)."""
        if self.mode == "cast":
            r = torch.mm(a, b, out_dtype=torch.float32)
            return r if out is None else out.copy_(r)
        with self._within():
            return torch.mm(a, b, out=out)

    def addmm(self, c: torch.Tensor, a: torch.Tensor, b: torch.Tensor, alpha: float = 1.0,
              out: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """``c + alpha * a @ b`` (into ``out``; ``c`` broadcast)."""
        if self.mode == "cast":
            return torch.add(c, self.mm(a, b), alpha=alpha, out=out)
        with self._within():
            return torch.addmm(c, a, b, alpha=alpha, out=out)

    def add_mm_(self, acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``acc += a @ b`` in place."""
        if self.mode == "cast":
            return acc.add_(self.mm(a, b))
        with self._within():
            return acc.addmm_(a, b)


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
    """A note to print when ``precision`` on ``device`` brings no speed (None: fine)."""
    if Products.of(precision, device).mode != "round":
        return None
    dev = torch.device(device)
    what = ("this GPU has no bf16 tensor cores (Ampere or newer)" if dev.type == "cuda"
            else "this CPU's oneDNN has no bf16 matrix instructions (no avx512_bf16 or "
            "amx_bf16 in /proc/cpuinfo, or a torch without "
            "torch.backends.mkldnn.matmul.fp32_precision)")  # fmt: skip
    return (
        f"note: --precision {precision}: {what}, so the products are made in float32 on "
        "operands rounded to bf16: the same numbers, but no faster than fp32 (use it to "
        "check results, not for speed)"
    )
