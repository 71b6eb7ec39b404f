"""Objectives: symmetric InfoNCE over node embeddings (computed in blocks) and
token cross-entropy."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F


def logit_scale(temperature: float | None = None, log_scale: float | None = None) -> float:
    """Multiplier of the cosine similarities.

    Two conventions: the paper's temperature ``tau`` (scale ``1 / tau``) and the
    reference code's ``exp(log_scale)`` (``log_scale = 0.2``: scale 1.2214,
    effective temperature 0.8187).  Give one of them.
    """
    if temperature is not None and log_scale is not None:
        raise ValueError("give either a temperature or a log scale, not both")
    if temperature is not None:
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        return 1.0 / temperature
    return math.exp(0.2 if log_scale is None else log_scale)


#: a logit scale: a number, or a (0-dim) tensor when it is learned
Scale = float | torch.Tensor


def contrastive_loss_dense(up: torch.Tensor, down: torch.Tensor, scale: Scale) -> torch.Tensor:
    """Reference formula: ``S = scale * cos(up_i, down_j)`` (N x N); loss is the
    mean of row-wise and column-wise cross-entropy with the diagonal as targets."""
    u = F.normalize(up, dim=-1)
    d = F.normalize(down, dim=-1)
    s = scale * u @ d.T
    target = torch.arange(len(s), device=s.device)
    return 0.5 * (F.cross_entropy(s, target) + F.cross_entropy(s.T, target))


#: largest logit scale for which the fixed-shift path is exact in float32:
#: logits lie in [-scale, scale], so exp(logit - scale) >= exp(-2 scale) stays a
#: normal float32 number (> 1.2e-38) and never overflows.
FIXED_SHIFT_MAX_SCALE = 40.0
#: keep the (N, N) exponentiated similarities from forward for backward when
#: they fit in this many bytes (saves one N x N x E product); else recompute
CACHE_BYTES = 256 * 2**20


class _Workspace:
    """One reusable buffer for the kept (N, N) matrix: allocating hundreds of MB
    afresh every step costs page faults comparable to an exponential pass."""

    def __init__(self) -> None:
        self.buffer: torch.Tensor | None = None

    def take(self, rows: int, n: int, like: torch.Tensor) -> torch.Tensor:
        buf, self.buffer = self.buffer, None
        if (
            buf is None
            or buf.numel() < rows * n
            or buf.dtype != like.dtype
            or buf.device != like.device
        ):
            buf = torch.empty(rows * n, dtype=like.dtype, device=like.device)
        return buf[: rows * n].view(rows, n)

    def give(self, kept: torch.Tensor) -> None:
        base = kept._base if kept._base is not None else kept
        if self.buffer is None or base.numel() > self.buffer.numel():
            self.buffer = base


_WORKSPACE = _Workspace()


#: sums (or maxima) of a tensor over processes, in place; ``None``: one process
ColumnReduce = Callable[[torch.Tensor, str], None]


class _BlockedInfoNCE(torch.autograd.Function):
    """Symmetric InfoNCE on unit vectors, never holding more than a
    ``block x N`` slice of the similarity matrix (forward and backward), unless
    the whole matrix fits in ``cache_bytes``.

    Cosines are bounded, so the logits ``scale * s`` lie in ``[-scale, scale]``
    and ``exp(scale * s - scale)`` needs no running maximum: one exponential per
    entry gives both the row and the column sums (and, in backward, both
    softmaxes).  For very large scales (tiny temperatures) the running-maximum
    log-sum-exp form is used instead.

    Row shards (data-parallel training): ``u`` may hold only this process's
    rows ``offset .. offset + n_rows`` of all ``N`` rows, with ``d`` holding all
    N columns and ``reduce`` summing column statistics over processes.  The
    result is then this process's share of the loss (its rows' terms and its
    columns' terms), and backward returns the gradient of the *global* loss
    through this process's rows of S: summed over processes, these are exactly
    the single-process gradients.

    ``scale`` may be a tensor (a learned logit scale); its gradient is then
    ``sum_ij dL/dlogit_ij * cos_ij``.  The logits are ``(scale * u) @ d.T``, so
    that sum equals ``<u, dL/du> / scale``: no extra pass over the matrix, and
    each row shard returns its rows' share of the global gradient.
    """

    @staticmethod
    def forward(ctx, u, d, scale, block, cache, offset=0, reduce=None):  # type: ignore[override]
        if isinstance(scale, torch.Tensor):  # learned: its gradient goes back in its dtype
            ctx.scale_meta = (scale.dtype, scale.shape)
            scale = scale.detach()
        scale = float(scale)
        rows, n = u.shape[0], d.shape[0]
        fixed = scale <= FIXED_SHIFT_MAX_SCALE and u.dtype in (torch.float32, torch.float64)
        keep = fixed and rows * n * u.element_size() <= cache and any(ctx.needs_input_grad[:3])
        if fixed:
            shift = torch.full((1,), -scale, dtype=u.dtype, device=u.device)
            row_sum = torch.empty(rows, dtype=u.dtype, device=u.device)
            col_sum = torch.zeros(n, dtype=u.dtype, device=u.device)
            kept = _WORKSPACE.take(rows, n, u) if keep else None
            for start in range(0, rows, block):
                stop = min(start + block, rows)
                out = None if kept is None else kept[start:stop]
                e = torch.addmm(shift, u[start:stop], d.T, alpha=scale, out=out).exp_()
                torch.sum(e, dim=1, out=row_sum[start:stop])
                col_sum += e.sum(dim=0)
            if reduce is not None:
                reduce(col_sum, "sum")
            row_lse = row_sum.log_().add_(scale)
            col_lse = col_sum.log_().add_(scale)
        else:
            kept = None
            row_lse = torch.empty(rows, dtype=u.dtype, device=u.device)
            col_lse = torch.full((n,), -math.inf, dtype=u.dtype, device=u.device)
            for start in range(0, rows, block):
                s = (u[start : start + block] @ d.T).mul_(scale)
                row_lse[start : start + block] = torch.logsumexp(s, dim=1)
                col_lse = torch.logaddexp(col_lse, torch.logsumexp(s, dim=0))
            if reduce is not None:
                top = col_lse.clone()
                reduce(top, "max")
                top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
                col_sum = torch.exp(col_lse - top)
                reduce(col_sum, "sum")
                col_lse = col_sum.log_().add_(top)
        diag = scale * (u * d[offset : offset + rows]).sum(-1)
        own_cols = col_lse[offset : offset + rows]
        loss = (row_lse.sum() + own_cols.sum() - 2 * diag.sum()) / (2 * n)
        ctx.save_for_backward(u, d, row_lse, col_lse)
        ctx.kept = kept
        ctx.scale, ctx.block, ctx.fixed, ctx.offset = scale, block, fixed, offset
        return loss

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        u, d, row_lse, col_lse = ctx.saved_tensors
        scale, block, kept, offset = ctx.scale, ctx.block, ctx.kept, ctx.offset
        ctx.kept = None
        rows, n = u.shape[0], d.shape[0]
        # dL/dS_ij = (softmax_row_ij + softmax_col_ij - 2 [i == j]) / (2N)
        coef = grad_out / (2 * n)
        grad_u = torch.empty_like(u)
        grad_d = torch.zeros_like(d)
        if ctx.fixed:
            # softmax_row_ij + softmax_col_ij = e_ij * (a_i + b_j),
            # e_ij = exp(scale s_ij - scale), a = exp(scale - row_lse), b likewise
            a = torch.exp(scale - row_lse).mul_(coef * scale)
            b = torch.exp(scale - col_lse).mul_(coef * scale)
            shift = torch.full((1,), -scale, dtype=u.dtype, device=u.device)
        for start in range(0, rows, block):
            stop = min(start + block, rows)
            ub = u[start:stop]
            if ctx.fixed:
                if kept is not None:
                    g = kept[start:stop]
                else:
                    g = torch.addmm(shift, ub, d.T, alpha=scale).exp_()
                _scale_rows_cols(g, a[start:stop], b)
            else:
                s = (ub @ d.T).mul_(scale)
                g = torch.exp(s - row_lse[start:stop, None])
                g += torch.exp(s - col_lse[None, :])
                del s
                g.mul_(coef * scale)
            torch.mm(g, d, out=grad_u[start:stop])
            grad_d.addmm_(g.T, ub)
        if kept is not None:
            _WORKSPACE.give(kept)
        # the diagonal's -2 [i == j] term
        grad_u -= (2 * coef * scale) * d[offset : offset + rows]
        grad_d[offset : offset + rows] -= (2 * coef * scale) * u
        grad_scale = None
        if ctx.needs_input_grad[2]:
            dtype, shape = ctx.scale_meta
            grad_scale = ((u * grad_u).sum() / scale).to(dtype).reshape(shape)
        return grad_u, grad_d, grad_scale, None, None, None, None


def _scale_rows_cols(g: torch.Tensor, a: torch.Tensor, b: torch.Tensor, rows: int = 32) -> None:
    """In place: ``g[i, j] *= a[i] + b[j]``, a few rows at a time so the
    broadcast sum stays in cache instead of allocating a ``g``-sized temporary."""
    tmp = g.new_empty(min(rows, len(g)), g.shape[1])
    for i in range(0, len(g), rows):
        m = min(rows, len(g) - i)
        torch.add(a[i : i + m, None], b[None, :], out=tmp[:m])
        g[i : i + m].mul_(tmp[:m])


def contrastive_loss(
    up: torch.Tensor,
    down: torch.Tensor,
    scale: Scale,
    block_size: int = 2048,
    cache_bytes: int | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE over all pairs (up_i, down_j), positives on the diagonal.

    up, down: (N, E).  Equal in value and gradient to
    :func:`contrastive_loss_dense`, but memory is O(block_size x N), not O(N^2),
    except that the N x N matrix is kept from forward to backward when it fits
    in ``cache_bytes`` (default :data:`CACHE_BYTES`; 0 never keeps it).
    ``scale``: a number, or a tensor to learn it (it then gets a gradient).
    """
    if up.shape != down.shape or up.dim() != 2:
        raise ValueError(
            f"up and down must both be (N, E), got {tuple(up.shape)}, {tuple(down.shape)}"
        )
    if up.shape[0] == 0:
        return up.sum() * 0.0
    return _BlockedInfoNCE.apply(
        F.normalize(up, dim=-1),
        F.normalize(down, dim=-1),
        scale,
        block_size,
        CACHE_BYTES if cache_bytes is None else cache_bytes,
    )


def contrastive_loss_shard(
    up_rows: torch.Tensor,
    down_all: torch.Tensor,
    offset: int,
    scale: Scale,
    reduce: ColumnReduce,
    block_size: int = 2048,
    cache_bytes: int | None = None,
) -> torch.Tensor:
    """This process's share of the global symmetric InfoNCE (data parallel).

    up_rows: (n, E) this process's nodes, which are rows ``offset .. offset + n``
    of the global batch; down_all: (N, E) every process's down embeddings, in
    global order.  Both must already be L2-normalised.  ``reduce(t, op)`` sums
    (``op == "sum"``) or maximises (``"max"``) ``t`` over processes in place.
    The shares sum to :func:`contrastive_loss` of the global batch, and the
    gradients (summed over processes) to its gradients.
    """
    if up_rows.dim() != 2 or down_all.dim() != 2 or up_rows.shape[1] != down_all.shape[1]:
        raise ValueError(
            f"need (n, E) and (N, E), got {tuple(up_rows.shape)}, {tuple(down_all.shape)}"
        )
    if down_all.shape[0] == 0:
        return up_rows.sum() * 0.0 + down_all.sum() * 0.0
    return _BlockedInfoNCE.apply(
        up_rows,
        down_all,
        scale,
        block_size,
        CACHE_BYTES if cache_bytes is None else cache_bytes,
        offset,
        reduce,
    )


# --- token cross-entropy (Lambda + softmax over the vocabulary) -----------------------
#: rows of the (rows, V) logits worked on at once by :func:`linear_cross_entropy`:
#: a block of about this many floats stays in cache between the passes over it
CE_BLOCK_FLOATS = 1 << 22

_CE_WORKSPACE = _Workspace()  # the (n, V) softmax of the last CE forward, reused


def ce_block_rows(vocab_size: int, floats: int = CE_BLOCK_FLOATS) -> int:
    return max(1, floats // max(1, vocab_size))


def _logits(h, weight, bias, out=None):
    if bias is None:
        return torch.mm(h, weight.T, out=out)
    return torch.addmm(bias, h, weight.T, out=out)


def _ce_loss_sum(h, weight, bias, targets, rows) -> torch.Tensor:
    """Sum over the rows of ``h`` of -log softmax(h W^T + b)[target], in float64,
    ``rows`` rows of logits at a time (no gradients)."""
    total = h.new_zeros((), dtype=torch.float64)
    for s in range(0, len(h), rows):
        z = _logits(h[s : s + rows], weight, bias)
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
    log-softmax, one-hot gradient and log-softmax gradient."""

    @staticmethod
    def forward(ctx, h, weight, bias, targets, rows, divisor):  # type: ignore[override]
        n, v = len(h), weight.shape[0]
        p = _logits(h, weight, bias, out=_CE_WORKSPACE.take(n, v, h))
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
        ctx.grads = (
            torch.mm(p, weight) if need_h else None,
            torch.mm(p.T, h) if need_w else None,
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


def linear_cross_entropy(
    h: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    bias: torch.Tensor | None = None,
    reduction: str = "mean",
    block_rows: int | None = None,
) -> torch.Tensor:
    """``F.cross_entropy(h @ weight.T + bias, targets, reduction=reduction)``, equal
    within float rounding (the loss is summed in float64).  With gradients
    wanted, they are computed in the forward pass (:class:`_LinearCrossEntropy`:
    the same 3 products of n x E x V as unfused, a fraction of its passes over
    n x V memory); without, the logits are made ``block_rows`` rows at a time
    (default :func:`ce_block_rows`).  The gradient of ``weight`` is dense (every
    row gets softmax mass), as unfused."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if h.dim() != 2 or targets.dim() != 1 or len(h) != len(targets):
        raise ValueError("h must be (n, E) and targets (n,)")
    rows = block_rows or ce_block_rows(weight.shape[0])
    divisor = float(len(h)) if reduction == "mean" else 1.0
    tensors = (h, weight) if bias is None else (h, weight, bias)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        if not len(h):  # e.g. a data-parallel shard without targets: 0, still in the graph
            return sum(t.sum() * 0.0 for t in tensors)
        return _LinearCrossEntropy.apply(h, weight, bias, targets, rows, divisor)
    return (_ce_loss_sum(h, weight, bias, targets, rows) / divisor).to(h.dtype)
