"""benepar's span scores, computed the cheap way.

benepar's ``ChartParser.forward`` scores a span ``(i, j)`` as
``f_label(x[j + 1] - x[i])`` for every pair of fenceposts of the padded batch,
so its first layer, a ``Linear`` of ``d_model x d_model``, runs over
``batch x length^2`` vectors, half of them for impossible spans (``j < i``) and
many for padding.  That layer is linear: ``W (x[j+1] - x[i]) + b = Wx[j+1] - Wx[i]
+ b``, so here it runs once per fencepost, and the rest of ``f_label`` (layer
norm, ReLU, the output layer) only over the real spans ``i <= j < n`` of each
sentence.  The scores equal ``forward``'s up to float rounding (a test checks
it to 1e-4, and that the chart trees are the same); the lower triangle, which
no decoder reads, is left at 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def fencepost_features(core: Any, batch: dict) -> Any:
    """``ChartParser.forward`` up to its fencepost annotations (a char-LSTM
    model: benepar's offline kind), shape ``(batch, max words + 1, d_model)``."""
    import torch

    valid = batch["valid_token_mask"].to(core.output_device)
    longest = core.add_timing.timing_table.shape[0]
    if valid.shape[1] > longest:  # forward's own check, with its message
        raise ValueError(
            f"Sentence of length {valid.shape[1] - 2} exceeds the maximum supported length of "
            f"{longest - 2}"
        )
    chars = core.char_encoder(batch["char_ids"].to(core.device), valid)
    ann = core.encoder(core.add_timing(core.morpho_emb_dropout(chars)), valid)
    ann = torch.cat([ann[..., 0::2], ann[..., 1::2]], -1)
    half = core.d_model // 2
    return torch.cat([ann[:, :-1, :half], ann[:, 1:, half:]], -1)


def supports_fast_scores(core: Any) -> bool:
    """True for a char-LSTM ChartParser whose ``f_label`` is benepar's
    Linear / LayerNorm / ReLU / Linear (else use ``core.forward``)."""
    import torch.nn as nn

    f = getattr(core, "f_label", None)
    shape = [type(m) for m in f] if isinstance(f, nn.Sequential) else []
    return (
        getattr(core, "char_encoder", None) is not None
        and getattr(core, "encoder", None) is not None
        and shape == [nn.Linear, nn.LayerNorm, nn.ReLU, nn.Linear]
    )


def span_scores(core: Any, batch: dict, lengths: list[int]) -> list[np.ndarray]:
    """Per sentence of ``batch`` (``lengths`` words each), the ``(n, n, labels)``
    scores of ``core.forward`` (null label 0 at column 0; upper triangle)."""
    import torch

    first, norm, act, last = core.f_label
    with torch.no_grad():
        wx = fencepost_features(core, batch) @ first.weight.T
        index = [np.triu_indices(n) for n in lengths]
        b = torch.from_numpy(np.concatenate([np.full(len(i), k) for k, (i, _) in enumerate(index)]))
        i = torch.from_numpy(np.concatenate([i for i, _ in index]))
        j = torch.from_numpy(np.concatenate([j for _, j in index]))
        flat = last(act(norm(wx[b, j + 1] - wx[b, i] + first.bias))).cpu().numpy()
    out, offset = [], 0
    for n, (i, j) in zip(lengths, index):
        arr = np.zeros((n, n, flat.shape[1] + 1), dtype=flat.dtype)
        arr[i, j, 1:] = flat[offset : offset + len(i)]
        offset += len(i)
        out.append(arr)
    return out
