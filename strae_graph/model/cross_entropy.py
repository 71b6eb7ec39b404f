"""Token cross-entropy (Lambda + softmax over the vocabulary), fused: the loss
and its gradients in one pass over a reused (n, V) buffer
(:func:`linear_cross_entropy`)."""

from __future__ import annotations

import torch

from strae_graph.model.precision import low, product_dtype
from strae_graph.model.workspace import Workspace

#: rows of the (rows, V) logits worked on at once by :func:`linear_cross_entropy`:
#: a block of about this many floats stays in cache between the passes over it
CE_BLOCK_FLOATS = 1 << 22

_CE_WORKSPACE = Workspace()  # the (n, V) softmax of the last CE forward, reused
_CE_LOW_WORKSPACE = Workspace()  # --precision bf16: the (n, V) bf16 logits, then softmax


def ce_block_rows(vocab_size: int, floats: int = CE_BLOCK_FLOATS) -> int:
    return max(1, floats // max(1, vocab_size))


def _logits(h, weight, bias, out=None, dtype=None, low_out=None):
    """``h W^T + b`` in ``dtype`` (default ``h``'s; into ``out``): one ``addmm``
    when the operands are of that dtype, else their low-precision product
    (into ``low_out``) turned into ``dtype`` with the bias added there."""
    if dtype is None or h.dtype == dtype:
        if bias is None:
            return torch.mm(h, weight.T, out=out)
        return torch.addmm(bias, h, weight.T, out=out)
    z = torch.mm(h, weight.T, out=low_out)
    if out is None:
        return z.to(dtype) if bias is None else torch.add(bias, z)
    return out.copy_(z) if bias is None else torch.add(bias, z, out=out)


def _ce_loss_sum(h, weight, bias, targets, rows, lowp=None) -> torch.Tensor:
    """Sum over the rows of ``h`` of -log softmax(h W^T + b)[target], in float64,
    ``rows`` rows of logits at a time (no gradients); ``lowp``: the dtype of the
    product's operands (None: ``h``'s)."""
    total = h.new_zeros((), dtype=torch.float64)
    hl, wl = low(h, lowp), low(weight, lowp)
    for s in range(0, len(h), rows):
        z = _logits(hl[s : s + rows], wl, bias, dtype=h.dtype)
        picked = z.gather(1, targets[s : s + rows, None]).squeeze(1)
        total += (torch.logsumexp(z, dim=1) - picked).sum(dtype=torch.float64)
    return total


class _LinearCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy of ``h W^T + b`` and its gradients in one pass.

    Forward computes the logits into a reused (n, V) buffer (no fresh hundreds
    of MB to page in every step), turns them in place, block of rows by block
    of rows while in cache, into ``softmax - one_hot``, and takes the two
    gradient products (n x V x E each) at once; backward only scales the small
    gradients.  Unfused, autograd would allocate and walk the (n, V) logits,
    log-softmax, one-hot gradient and log-softmax gradient.

    ``lowp`` (``torch.bfloat16`` for ``--precision bf16``; None: float32): the
    dtype of the three products' operands (:mod:`strae_graph.model.precision`); the
    logits, softmax and loss are in ``h``'s dtype."""

    @staticmethod
    def forward(ctx, h, weight, bias, targets, rows, divisor, lowp=None):  # type: ignore[override]
        n, v = len(h), weight.shape[0]
        hl, wl = low(h, lowp), low(weight, lowp)
        low_buf = None if lowp is None else _CE_LOW_WORKSPACE.take(n, v, wl)
        p = _logits(hl, wl, bias, _CE_WORKSPACE.take(n, v, h), h.dtype, low_buf)
        total = h.new_zeros((), dtype=torch.float64)
        for s in range(0, n, rows):
            z = p[s : s + rows]
            picked = z.gather(1, targets[s : s + rows, None])
            top = z.amax(dim=1, keepdim=True)
            z.sub_(top).exp_()
            norm = z.sum(dim=1, keepdim=True)
            total += (norm.log() + top - picked).sum(dtype=torch.float64)
            z.div_(norm)
        p.scatter_add_(1, targets[:, None], p.new_full((n, 1), -1.0))  # - one-hot
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        pl = p if low_buf is None else low_buf.copy_(p)
        ctx.grads = (
            torch.mm(pl, wl).to(h.dtype) if need_h else None,
            torch.mm(pl.T, hl).to(weight.dtype) if need_w else None,
            p.sum(dim=0) if need_b and bias is not None else None,
        )
        _CE_WORKSPACE.give(p)
        if low_buf is not None:
            _CE_LOW_WORKSPACE.give(low_buf)
        ctx.divisor = divisor
        return (total / divisor).to(h.dtype)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        scale = grad / ctx.divisor
        out = [None if x is None else x * scale.to(x.dtype) for x in ctx.grads]
        return (*out, None, None, None, None)


def linear_cross_entropy(
    h: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    bias: torch.Tensor | None = None,
    reduction: str = "mean",
    block_rows: int | None = None,
    precision: str = "fp32",
) -> torch.Tensor:
    """``F.cross_entropy(h @ weight.T + bias, targets, reduction=reduction)``, equal
    within float rounding (the loss is summed in float64).  With gradients
    wanted, they are computed in the forward pass (:class:`_LinearCrossEntropy`:
    the same 3 products of n x E x V as unfused, a fraction of its passes over
    n x V memory); without, the logits are made ``block_rows`` rows at a time
    (default :func:`ce_block_rows`).  The gradient of ``weight`` is dense (every
    row gets softmax mass), as unfused.  ``precision``: of the three n x E x V
    products (:mod:`strae_graph.model.precision`)."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if h.dim() != 2 or targets.dim() != 1 or len(h) != len(targets):
        raise ValueError("h must be (n, E) and targets (n,)")
    rows = block_rows or ce_block_rows(weight.shape[0])
    divisor = float(len(h)) if reduction == "mean" else 1.0
    lowp = product_dtype(precision)
    tensors = (h, weight) if bias is None else (h, weight, bias)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        if not len(h):  # e.g. a data-parallel shard without targets: 0, still in the graph
            return sum(t.sum() * 0.0 for t in tensors)
        return _LinearCrossEntropy.apply(h, weight, bias, targets, rows, divisor, lowp)
    return (_ce_loss_sum(h, weight, bias, targets, rows, lowp) / divisor).to(h.dtype)
