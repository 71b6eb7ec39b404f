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

:func:`forward_scores` is ``forward`` itself (the n-ary decoder needs the padded
scores), the same operations in the same order; both run the encoder (the
character LSTM and the transformer) in a ``--benepar-precision``
(:mod:`parsers.benepar_precision`) and everything after it in float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def annotations(core: Any, batch: dict, precision: str = "fp32") -> Any:
    """``ChartParser.forward`` up to its word annotations (a char-LSTM model:
    benepar's offline kind), shape ``(batch, max words + 2, d_model)``, float32;
    the character LSTM and the transformer run in ``precision``
    (:mod:`parsers.benepar_precision`)."""
    import torch

    from parsers.benepar_precision import encoder_precision

    valid = batch["valid_token_mask"].to(core.output_device)
    longest = core.add_timing.timing_table.shape[0]
    if valid.shape[1] > longest:  # forward's own check, with its message
        raise ValueError(
            f"Sentence of length {valid.shape[1] - 2} exceeds the maximum supported length of "
            f"{longest - 2}"
        )
    with encoder_precision(precision, core.device):
        chars = core.char_encoder(batch["char_ids"].to(core.device), valid)
        ann = core.encoder(core.add_timing(core.morpho_emb_dropout(chars)), valid)
    return torch.cat([ann[..., 0::2], ann[..., 1::2]], -1).float()


def fenceposts(core: Any, ann: Any) -> Any:
    """The fencepost features of :func:`annotations`, ``(batch, max words + 1, d_model)``."""
    import torch

    half = core.d_model // 2
    return torch.cat([ann[:, :-1, :half], ann[:, 1:, half:]], -1)


def forward_scores(
    core: Any, batch: dict, lengths: list[int], precision: str = "fp32"
) -> tuple[Any, Any]:
    """``core.forward(batch)``'s padded span scores (and tag scores, or None)
    with the encoder in ``precision``, for the spans a decoder reads: words
    ``i <= j`` of each sentence (``lengths`` words), each computed as
    ``forward`` computes it, ``f_label(x[j+1] - x[i])``, block by block
    (:data:`SPAN_BLOCK`); every other entry 0 (``forward`` scores the lower
    triangle and the padding too)."""
    ann = annotations(core, batch, precision)
    tags = None if core.f_tag is None else core.f_tag(ann)
    fp = fenceposts(core, ann)
    n = fp.shape[1] - 1
    out = fp.new_zeros((len(lengths), n, n, core.f_label[-1].out_features + 1))
    b, i, j = _upper_spans(lengths)
    for s in range(0, len(b), SPAN_BLOCK):
        bs, i_s, j_s = b[s : s + SPAN_BLOCK], i[s : s + SPAN_BLOCK], j[s : s + SPAN_BLOCK]
        out[bs, i_s, j_s, 1:] = core.f_label(fp[bs, j_s + 1] - fp[bs, i_s])
    return out, tags


def _upper_spans(lengths: list[int]) -> tuple[Any, Any, Any]:
    """(sentence, first word, last word) of every span ``i <= j`` of each
    sentence, as index tensors, sentence by sentence."""
    import torch

    index = [np.triu_indices(n) for n in lengths]
    b = np.concatenate([np.full(len(i), k) for k, (i, _) in enumerate(index)])
    i = np.concatenate([i for i, _ in index])
    j = np.concatenate([j for _, j in index])
    return torch.from_numpy(b), torch.from_numpy(i), torch.from_numpy(j)


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


#: spans whose label scores are computed at once: a block's hidden layer (spans x
#: d_label_hidden floats) stays in the CPU's cache through the layer norm, the ReLU
#: and the output layer, whatever the batch size
SPAN_BLOCK = 2048


def span_scores(
    core: Any, batch: dict, lengths: list[int], precision: str = "fp32", weights: bool = False
) -> list[np.ndarray]:
    """Per sentence of ``batch`` (``lengths`` words each), the ``(n, n, labels)``
    scores of ``core.forward`` (null label 0 at column 0; upper triangle), the
    encoder in ``precision``; with ``weights`` only the ``(n, n)`` float64 span
    weights :func:`parsers.chart_tree.span_weights` makes of them (the best
    non-null label's score; the same numbers, without the full arrays)."""
    import torch

    with torch.no_grad():
        wx = fenceposts(core, annotations(core, batch, precision)) @ core.f_label[0].weight.T
        b, i, j = _upper_spans(lengths)
        flat = _label_scores(core, wx, b, i, j, best=weights).cpu().numpy()
    out, offset = [], 0
    for n in lengths:
        i, j = np.triu_indices(n)
        part = flat[offset : offset + len(i)]
        offset += len(i)
        if weights:
            arr = np.zeros((n, n))
            arr[i, j] = part
        else:
            arr = np.zeros((n, n, flat.shape[1] + 1), dtype=flat.dtype)
            arr[i, j, 1:] = part
        out.append(arr)
    return out


def _label_scores(core: Any, wx: Any, b: Any, i: Any, j: Any, best: bool) -> Any:
    """``f_label`` of the spans ``(b, i, j)`` block by block (:data:`SPAN_BLOCK`):
    the first layer's ``W x[j+1] - W x[i] + bias`` from ``wx``; per span the
    non-null label scores, or with ``best`` only their maximum."""
    import torch

    first, norm, act, last = core.f_label
    parts = []
    for s in range(0, len(b), SPAN_BLOCK):
        bs, i_s, j_s = b[s : s + SPAN_BLOCK], i[s : s + SPAN_BLOCK], j[s : s + SPAN_BLOCK]
        scores = last(act(norm(wx[bs, j_s + 1] - wx[bs, i_s] + first.bias)))
        parts.append(scores.max(-1).values if best else scores)
    return torch.cat(parts)
