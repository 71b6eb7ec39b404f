"""A reusable buffer for the large intermediate matrices of the fused losses
(:mod:`strae_graph.model.losses`, :mod:`strae_graph.model.cross_entropy`)."""

from __future__ import annotations

import torch


class Workspace:
    """One reusable buffer for a large intermediate matrix (InfoNCE's kept (N, N)
    similarities, the cross-entropy's (n, V) softmax): allocating hundreds of MB
    afresh every step costs page faults comparable to an exponential pass."""

    def __init__(self) -> None:
        self.buffer: torch.Tensor | None = None

    def take(self, rows: int, n: int, like: torch.Tensor) -> torch.Tensor:
        """A (rows, n) matrix of ``like``'s dtype and device: the held buffer
        when it fits (the workspace then holds none until :meth:`give`)."""
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
        """Hold ``kept`` (its base tensor) for the next :meth:`take`, unless the
        buffer held already is larger."""
        base = kept._base if kept._base is not None else kept
        if self.buffer is None or base.numel() > self.buffer.numel():
            self.buffer = base
