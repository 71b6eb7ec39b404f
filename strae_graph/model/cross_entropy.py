"""Token cross-entropy (Lambda + softmax over the vocabulary), fused: the loss
and its gradients in one pass over a reused (n, V) buffer
(:func:`linear_cross_entropy`)."""

from __future__ import annotations

import torch

from strae_graph.model.precision import Products
from strae_graph.model.workspace import Workspace

#: rows of the (rows, V) logits worked on at once by :func:`linear_cross_entropy`
#: without gradients: a block of about this many floats
CE_BLOCK_FLOATS = 1 << 22

_CE_WORKSPACE = Workspace()  # the (n, V) softmax of the last CE forward, reused

#: a target probability below this many times the dtype's smallest normal number
#: has lost digits (or is 0): its row's loss is made from the logits instead
EXACT_PROBABILITY = 2.0**24


def ce_block_rows(vocab_size: int, floats: int = CE_BLOCK_FLOATS) -> int:
    return max(1, floats // max(1, vocab_size))


def _logits(products: Products, h, weight, bias, out=None) -> torch.Tensor:
    """``h W^T + b`` (into ``out``) of operands made by ``products``."""
    if bias is None:
        return products.mm(h, weight.T, out=out)
    return products.addmm(bias, h, weight.T, out=out)


def _ce_loss_sum(h, weight, bias, targets, rows, products: Products) -> torch.Tensor:
    """Sum over the rows of ``h`` of -log softmax(h W^T + b)[target], in float64,
    ``rows`` rows of logits at a time (no gradients)."""
    total = h.new_zeros((), dtype=torch.float64)
    hl, wl = products.operand(h), products.operand(weight)
    for s in range(0, len(h), rows):
        z = _logits(products, hl[s : s + rows], wl, bias)
        picked = z.gather(1, targets[s : s + rows, None]).squeeze(1)
        total += (torch.logsumexp(z, dim=1) - picked).sum(dtype=torch.float64)
    return total


class _LinearCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy of ``h W^T + b`` and its gradients in one pass.

    Forward makes the logits into a reused (n, V) buffer (no fresh hundreds of
    MB to page in every step), turns them in place into ``softmax - one_hot``
    (one fused softmax kernel, row by row in cache) and takes the two gradient
    products (n x V x E each) at once; backward only scales the small
    gradients.  Unfused, autograd would allocate and walk the (n, V) logits,
    log-softmax, one-hot gradient and log-softmax gradient.  The loss of a row
    is ``-log softmax[target]``, or its log-sum-exp made afresh where that
    probability is too small to be exact in the dtype (:func:`_nll`).

    ``products`` (:class:`~strae_graph.model.precision.Products`): how the three
    products are made (``--precision``); the logits, softmax and loss are in
    ``h``'s dtype."""

    @staticmethod
    def forward(ctx, h, weight, bias, targets, divisor, products):  # type: ignore[override]
        n, v = len(h), weight.shape[0]
        hl, wl = products.operand(h), products.operand(weight)
        p = _logits(products, hl, wl, bias, out=_CE_WORKSPACE.take(n, v, h))
        picked = p.gather(1, targets[:, None]).squeeze(1)
        torch.softmax(p, 1, out=p)
        nll = _nll(p, targets, picked, lambda i: _logits(products, hl[i], wl, bias))
        total = nll.sum(dtype=torch.float64)
        p.scatter_add_(1, targets[:, None], p.new_full((n, 1), -1.0))  # - one-hot
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        pl = products.operand(p)
        ctx.grads = (
            products.mm(pl, wl).to(h.dtype) if need_h else None,
            # (h^T G)^T: the same numbers as G^T h, faster with a row-major G
            products.mm(hl.T, pl).T.to(weight.dtype) if need_w else None,
            p.sum(dim=0) if need_b and bias is not None else None,
        )
        _CE_WORKSPACE.give(p)
        ctx.divisor = divisor
        return (total / divisor).to(h.dtype)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        scale = grad / ctx.divisor
        out = [None if x is None else x * scale.to(x.dtype) for x in ctx.grads]
        return (*out, None, None, None)


def _nll(p: torch.Tensor, targets: torch.Tensor, picked: torch.Tensor, logits) -> torch.Tensor:
    """``-log p[i, target_i]`` of the softmax ``p``; for the rows where that
    probability is below :data:`EXACT_PROBABILITY` times the dtype's smallest
    normal number (a loss above about 70 in float32), ``logsumexp - picked``
    of the rows' ``logits(rows)`` made afresh (``picked``: the targets' logits)."""
    pt = p.gather(1, targets[:, None]).squeeze(1)
    nll = pt.log().neg_()
    tiny = pt < EXACT_PROBABILITY * torch.finfo(p.dtype).tiny
    if bool(tiny.any()):
        rows = tiny.nonzero().squeeze(1)
        nll[rows] = torch.logsumexp(logits(rows), dim=1) - picked[rows]
    return nll


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
    n x V memory; ``block_rows`` is not used); without, the logits are made
    ``block_rows`` rows at a time (default :func:`ce_block_rows`).  The gradient
    of ``weight`` is dense (every row gets softmax mass), as unfused.
    ``precision``: of the three n x E x V products (:mod:`strae_graph.model.precision`)."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if h.dim() != 2 or targets.dim() != 1 or len(h) != len(targets):
        raise ValueError("h must be (n, E) and targets (n,)")
    rows = block_rows or ce_block_rows(weight.shape[0])
    divisor = float(len(h)) if reduction == "mean" else 1.0
    products = Products.of(precision, h.device)
    tensors = (h, weight) if bias is None else (h, weight, bias)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        if not len(h):  # e.g. a data-parallel shard without targets: 0, still in the graph
            return sum(t.sum() * 0.0 for t in tensors)
        return _LinearCrossEntropy.apply(h, weight, bias, targets, divisor, products)
    return (_ce_loss_sum(h, weight, bias, targets, rows, products) / divisor).to(h.dtype)
