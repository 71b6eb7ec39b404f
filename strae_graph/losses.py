"""Objectives: symmetric InfoNCE over node embeddings (computed in blocks) and
token cross-entropy."""

from __future__ import annotations

import math

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


def contrastive_loss_dense(up: torch.Tensor, down: torch.Tensor, scale: float) -> torch.Tensor:
    """Reference formula: ``S = scale * cos(up_i, down_j)`` (N x N); loss is the
    mean of row-wise and column-wise cross-entropy with the diagonal as targets."""
    u = F.normalize(up, dim=-1)
    d = F.normalize(down, dim=-1)
    s = scale * u @ d.T
    target = torch.arange(len(s), device=s.device)
    return 0.5 * (F.cross_entropy(s, target) + F.cross_entropy(s.T, target))


class _BlockedInfoNCE(torch.autograd.Function):
    """Symmetric InfoNCE on unit vectors, never holding more than a
    ``block x N`` slice of the similarity matrix (forward and backward)."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, d: torch.Tensor, scale: float, block: int):  # type: ignore[override]
        n = u.shape[0]
        row_lse = torch.empty(n, dtype=u.dtype, device=u.device)
        col_lse = torch.full((n,), -math.inf, dtype=u.dtype, device=u.device)
        for start in range(0, n, block):
            s = (u[start : start + block] @ d.T).mul_(scale)
            row_lse[start : start + block] = torch.logsumexp(s, dim=1)
            col_lse = torch.logaddexp(col_lse, torch.logsumexp(s, dim=0))
        diag = scale * (u * d).sum(-1)
        loss = 0.5 * ((row_lse - diag).mean() + (col_lse - diag).mean())
        ctx.save_for_backward(u, d, row_lse, col_lse)
        ctx.scale, ctx.block = scale, block
        return loss

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        u, d, row_lse, col_lse = ctx.saved_tensors
        scale, block = ctx.scale, ctx.block
        n = u.shape[0]
        # dL/dS_ij = (softmax_row_ij + softmax_col_ij - 2 [i == j]) / (2N)
        coef = grad_out / (2 * n)
        grad_u = torch.empty_like(u)
        grad_d = torch.zeros_like(d)
        for start in range(0, n, block):
            ub = u[start : start + block]
            s = (ub @ d.T).mul_(scale)
            g = torch.exp(s - row_lse[start : start + block, None])
            g += torch.exp(s - col_lse[None, :])
            del s
            g.mul_(coef * scale)
            grad_u[start : start + block] = g @ d
            grad_d += g.T @ ub
        # the diagonal's -2 [i == j] term
        grad_u -= (2 * coef * scale) * d
        grad_d -= (2 * coef * scale) * u
        return grad_u, grad_d, None, None


def contrastive_loss(
    up: torch.Tensor, down: torch.Tensor, scale: float, block_size: int = 2048
) -> torch.Tensor:
    """Symmetric InfoNCE over all pairs (up_i, down_j), positives on the diagonal.

    up, down: (N, E).  Equal in value and gradient to
    :func:`contrastive_loss_dense`, but memory is O(block_size x N), not O(N^2).
    """
    if up.shape != down.shape or up.dim() != 2:
        raise ValueError(
            f"up and down must both be (N, E), got {tuple(up.shape)}, {tuple(down.shape)}"
        )
    if up.shape[0] == 0:
        return up.sum() * 0.0
    return _BlockedInfoNCE.apply(
        F.normalize(up, dim=-1), F.normalize(down, dim=-1), scale, block_size
    )
