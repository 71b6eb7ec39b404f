"""The losses of the objectives: symmetric InfoNCE over node embeddings (computed
in blocks, optionally as one process's row shard), here; the fused token
cross-entropy is :mod:`strae_graph.model.cross_entropy`."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from strae_graph.model.precision import Products
from strae_graph.model.workspace import Workspace


def logit_scale(temperature: float | None = None, log_scale: float | None = None) -> float:
    """Multiplier of the cosine similarities.

    Two conventions: the paper's temperature ``tau`` (scale ``1 / tau``) and the
    reference code's ``exp(log_scale)`` (``log_scale = 0.2``: scale 1.2214,
    effective temperature 0.8187).  Give one of them.
    """
    if temperature is not None and log_scale is not None:
        raise ValueError(
            f"temperature {temperature} and log_scale {log_scale} are one setting (scale "
            "1/temperature or exp(log_scale)): give one and set the other to None (a "
            "default may have set it)"
        )
    if temperature is not None:
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a positive finite number, got {temperature}")
        if not math.isfinite(1.0 / temperature):
            raise ValueError(f"temperature {temperature} is too small (1 / temperature overflows)")
        return 1.0 / temperature
    if log_scale is None:
        return math.exp(0.2)
    if not math.isfinite(log_scale):
        raise ValueError(f"log_scale must be a finite number, got {log_scale}")
    try:
        scale = math.exp(log_scale)  # 0.0 below about -745
    except OverflowError:  # above about 709
        scale = math.inf
    if not 0 < scale < math.inf:
        raise ValueError(
            f"log_scale {log_scale} gives the logit scale exp({log_scale}) = {scale}; "
            "it must be positive and finite (log_scale between -745 and 709)"
        )
    return scale


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


#: largest logit scale for which the path without a running maximum is exact in
#: float32: logits lie in [-scale, scale] (a little beyond with bf16 operands), so
#: exp(logit) lies in [exp(-40), exp(40)] = [4e-18, 2e17], normal float32
#: numbers whose sums over even 10^20 columns stay finite.
FIXED_SHIFT_MAX_SCALE = 40.0
#: keep the (N, N) exponentiated similarities from forward for backward when
#: they fit in this many bytes (saves one N x N x E product); else recompute
CACHE_BYTES = 256 * 2**20


#: the kept (N, N) matrix of the last contrastive forward, reused
_WORKSPACE = Workspace()


#: sums (or maxima) of a tensor over processes, in place; ``None``: one process
ColumnReduce = Callable[[torch.Tensor, str], None]


class _BlockedInfoNCE(torch.autograd.Function):
    """Symmetric InfoNCE on unit vectors, never holding more than a
    ``block x N`` slice of the similarity matrix (forward and backward), unless
    the whole matrix fits in ``cache_bytes``.

    Cosines are bounded, so the logits ``scale * s`` lie in ``[-scale, scale]``
    and ``exp(scale * s)`` needs no running maximum (:data:`FIXED_SHIFT_MAX_SCALE`):
    one product ``(scale u) d^T`` and one exponential per entry give both the row
    and the column sums (and, in backward, both softmaxes).  For very large
    scales (tiny temperatures) the running-maximum log-sum-exp form is used instead.

    Row shards (data-parallel training): ``u`` may hold only this process's
    rows ``offset .. offset + n_rows`` of all ``N`` rows, with ``d`` holding all
    N columns and ``reduce`` summing column statistics over processes.  The
    result is then this process's share of the loss (its rows' terms and its
    columns' terms), and backward returns the gradient of the *global* loss
    through this process's rows of S: summed over processes, these are exactly
    the single-process gradients.

    ``products`` (:class:`~strae_graph.model.precision.Products`): how the three
    N x E x N products are made (``--precision``); their results are in ``u``'s
    dtype, as is everything after them.

    ``scale`` may be a tensor (a learned logit scale); its gradient is then
    ``sum_ij dL/dlogit_ij * cos_ij``.  The logits are ``(scale * u) @ d.T``, so
    that sum equals ``<u, dL/du> / scale``: no extra pass over the matrix, and
    each row shard returns its rows' share of the global gradient.
    """

    @staticmethod
    def forward(ctx, u, d, scale, block, cache, offset, reduce, products):  # type: ignore[override]
        if isinstance(scale, torch.Tensor):  # learned: its gradient goes back in its dtype
            ctx.scale_meta = (scale.dtype, scale.shape)
            scale = scale.detach()
        scale = float(scale)
        rows, n = u.shape[0], d.shape[0]
        fixed = scale <= FIXED_SHIFT_MAX_SCALE and u.dtype in (torch.float32, torch.float64)
        keep = fixed and rows * n * u.element_size() <= cache and any(ctx.needs_input_grad[:3])
        su, d_lp = products.operand(u * scale), products.operand(d)  # logits: su d^T
        if fixed:
            row_sum = torch.empty(rows, dtype=u.dtype, device=u.device)
            col_sum = torch.zeros(n, dtype=u.dtype, device=u.device)
            kept = _WORKSPACE.take(rows, n, u) if keep else None
            for start in range(0, rows, block):
                stop = min(start + block, rows)
                out = None if kept is None else kept[start:stop]
                e = products.mm(su[start:stop], d_lp.T, out=out).exp_()
                torch.sum(e, dim=1, out=row_sum[start:stop])
                col_sum += e.sum(dim=0)
            if reduce is not None:
                reduce(col_sum, "sum")
            row_lse, col_lse = row_sum.log_(), col_sum.log_()
        else:
            kept = None
            row_lse = torch.empty(rows, dtype=u.dtype, device=u.device)
            col_lse = torch.full((n,), -math.inf, dtype=u.dtype, device=u.device)
            for start in range(0, rows, block):
                s = products.mm(su[start : start + block], d_lp.T)
                row_lse[start : start + block] = torch.logsumexp(s, dim=1)
                col_lse = torch.logaddexp(col_lse, torch.logsumexp(s, dim=0))
            if reduce is not None:
                top = col_lse.clone()
                reduce(top, "max")
                top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
                col_sum = torch.exp(col_lse - top)
                reduce(col_sum, "sum")
                col_lse = col_sum.log_().add_(top)
        diag = _diagonal(products, u * scale, d[offset : offset + rows])
        own_cols = col_lse[offset : offset + rows]
        loss = (row_lse.sum() + own_cols.sum() - 2 * diag.sum()) / (2 * n)
        ctx.save_for_backward(u, d, row_lse, col_lse)
        ctx.kept = kept
        ctx.scale, ctx.block, ctx.fixed, ctx.offset = scale, block, fixed, offset
        ctx.products = products
        return loss

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        u, d, row_lse, col_lse = ctx.saved_tensors
        scale, block, kept, offset = ctx.scale, ctx.block, ctx.kept, ctx.offset
        products = ctx.products
        u_lp, d_lp = products.operand(u), products.operand(d)
        su = None if kept is not None else products.operand(u * scale)
        ctx.kept = None
        rows, n = u.shape[0], d.shape[0]
        # dL/dS_ij = (softmax_row_ij + softmax_col_ij - 2 [i == j]) / (2N)
        coef = grad_out / (2 * n)
        grad_u = torch.empty_like(u)
        grad_d_t = torch.zeros(d.shape[1], n, dtype=d.dtype, device=d.device)  # grad_d^T
        if ctx.fixed:
            # softmax_row_ij + softmax_col_ij = e_ij * (a_i + b_j),
            # e_ij = exp(scale s_ij), a = exp(-row_lse), b likewise
            a = torch.exp(-row_lse).mul_(coef * scale)
            b = torch.exp(-col_lse).mul_(coef * scale)
        for start in range(0, rows, block):
            stop = min(start + block, rows)
            if ctx.fixed:
                if kept is not None:
                    g = kept[start:stop]
                else:
                    g = products.mm(su[start:stop], d_lp.T).exp_()
                _scale_rows_cols(g, a[start:stop], b)
            else:
                s = products.mm(su[start:stop], d_lp.T)
                g = torch.exp(s - row_lse[start:stop, None])
                g += torch.exp(s - col_lse[None, :])
                del s
                g.mul_(coef * scale)
            g = products.operand(g)
            products.mm(g, d_lp, out=grad_u[start:stop])
            # (u^T G)^T: the same numbers as G^T u, faster with a row-major G
            products.add_mm_(grad_d_t, u_lp[start:stop].T, g)
        if kept is not None:
            _WORKSPACE.give(kept)
        grad_d = grad_d_t.T.contiguous()
        # the diagonal's -2 [i == j] term
        grad_u -= (2 * coef * scale) * d[offset : offset + rows]
        grad_d[offset : offset + rows] -= (2 * coef * scale) * u
        grad_scale = None
        if ctx.needs_input_grad[2]:
            dtype, shape = ctx.scale_meta
            grad_scale = ((u * grad_u).sum() / scale).to(dtype).reshape(shape)
        return grad_u, grad_d, grad_scale, None, None, None, None, None


def _diagonal(products: Products, su: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """The positives' logits ``(su_i . d_i)`` (``su``: the scaled ``u``) of the
    values the products see (rounded to bf16 for ``--precision bf16``), so that
    they are the diagonal of the same S the log-sum-exps saw."""
    return (products.exact(su) * products.exact(d)).sum(-1)


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
    precision: str = "fp32",
) -> torch.Tensor:
    """Symmetric InfoNCE over all pairs (up_i, down_j), positives on the diagonal.

    up, down: (N, E).  Equal in value and gradient to
    :func:`contrastive_loss_dense`, but memory is O(block_size x N), not O(N^2),
    except that the N x N matrix is kept from forward to backward when it fits
    in ``cache_bytes`` (default :data:`CACHE_BYTES`; 0 never keeps it).
    ``scale``: a number, or a tensor to learn it (it then gets a gradient).
    ``precision``: of the N x E x N products (:mod:`strae_graph.model.precision`).
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
        0,
        None,
        Products.of(precision, up.device),
    )


def contrastive_loss_shard(
    up_rows: torch.Tensor,
    down_all: torch.Tensor,
    offset: int,
    scale: Scale,
    reduce: ColumnReduce,
    block_size: int = 2048,
    cache_bytes: int | None = None,
    precision: str = "fp32",
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
        Products.of(precision, up_rows.device),
    )
