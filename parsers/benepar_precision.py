"""``--benepar-precision``: the number format of benepar's encoder.

* ``fp32`` (the default): every product in float32, as benepar computes it.
* ``bf16``: the character LSTM and the transformer run under
  ``torch.autocast(bfloat16)`` (their matrix products take bfloat16 operands and
  accumulate in float32; oneDNN with AVX512-BF16 or AMX on CPUs); their output
  is turned back into float32 before the span scores, which, and the decoders,
  stay float32.  Where the hardware has no bfloat16 matrix instructions PyTorch
  emulates them, slower than fp32: :func:`support_note` says so (as
  ``strae train --precision bf16`` does, :mod:`strae_graph.model.precision`).
* ``int8``: the encoder's ``nn.Linear`` and ``nn.LSTM`` layers (the character
  LSTM and the transformer's feed-forward layers) dynamically quantised
  (``torch.ao.quantization.quantize_dynamic``: int8 weights, activations
  quantised batch by batch); the attention and the span scores stay float32.

The trees may differ from fp32's where two span scores are close; the README's
*Measured speed* states each format's speed and its F1 on benepar's dev trees.
"""

from __future__ import annotations

import contextlib
import copy
import sys
import warnings
from collections.abc import Iterator
from typing import Any

#: every ``--benepar-precision``
BENEPAR_PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8")
DEFAULT_PRECISION = "fp32"

_noted: set[str] = set()


def check_precision(precision: str) -> None:
    """ValueError unless ``precision`` is one of :data:`BENEPAR_PRECISIONS`."""
    if precision not in BENEPAR_PRECISIONS:
        raise ValueError(f"--benepar-precision {precision!r}: unknown; choose one of "
                         f"{', '.join(BENEPAR_PRECISIONS)}")  # fmt: skip


def support_note(precision: str, device: Any = "cpu") -> str | None:
    """A note when ``precision`` runs emulated on ``device`` (None: fine): bf16
    autocast where the device has no bf16 matrix instructions
    (:func:`strae_graph.model.precision.bf16_hardware`)."""
    from strae_graph.model import precision as products

    if precision != "bf16" or products.bf16_hardware(device):
        return None
    what = ("this GPU has no bf16 tensor cores (Ampere or newer)"
            if str(device).startswith("cuda")
            else "this CPU has no bf16 matrix instructions (no avx512_bf16 or amx_bf16 in "
            "/proc/cpuinfo)")  # fmt: skip
    return (
        f"note: --benepar-precision bf16: {what}, so PyTorch emulates the encoder's bf16 "
        "arithmetic, slower than fp32 (use it to "
        "check results, not for speed)"
    )


def note_once(precision: str, device: Any = "cpu") -> None:
    """Print :func:`support_note` on stderr, once per process and precision."""
    note = support_note(precision, device)
    if note is not None and precision not in _noted:
        _noted.add(precision)
        print(note, file=sys.stderr)


@contextlib.contextmanager
def encoder_precision(precision: str, device: Any) -> Iterator[None]:
    """The context the encoder runs in: bf16 autocast for ``bf16``, else none."""
    if precision != "bf16":
        yield
        return
    import torch

    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
        yield


def quantized(core: Any) -> Any:
    """A copy of benepar's ChartParser ``core`` with its encoder's ``nn.Linear``
    and ``nn.LSTM`` layers dynamically quantised to int8 (``f_label`` and
    ``f_tag``, the span and tag scores, stay float32)."""
    import torch
    import torch.nn as nn
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    names = {
        name for name, m in core.named_modules()
        if isinstance(m, (nn.Linear, nn.LSTM)) and name.startswith(("char_encoder.", "encoder."))
    }  # fmt: skip
    if not {"x86", "fbgemm", "qnnpack", "onednn"} & set(torch.backends.quantized.supported_engines):
        raise ValueError("--benepar-precision int8: this torch build has no quantized engine")
    with warnings.catch_warnings():  # torch.ao.quantization's deprecation notices, each call
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
        model = quantize_dynamic(copy.deepcopy(core), {n: default_dynamic_qconfig for n in names})
    return model.eval()
