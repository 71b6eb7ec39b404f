"""Banyan's diagonal composition and decomposition functions (SPEC.md, "Beyond
the paper": Banyan).

Every channel k of U numbers is combined element-wise with gates and biases
that are vectors of size U shared by all channels:

    parent  = sigmoid(a_l) * left + sigmoid(a_r) * right + b
    left    = sigmoid(c_l) * parent + b_l
    right   = sigmoid(c_r) * parent + b_r

7U parameters in all (3U compose, 4U decompose: 14 for U = 2), against
4U^2 + 3U for the linear functions of strae_graph.model.strae.  The raw gates start
uniform in [0.6, 0.9], so sigmoid(gate) starts between 0.646 and 0.711; the
biases start at zero.  As for the linear functions, the optional activation
and then dropout apply to the outputs.

The call signatures are those of :class:`strae_graph.model.strae.Compose` and
:class:`strae_graph.model.strae.Decompose`, so the passes, Self-StrAE, the
embeddings and checkpoints work unchanged with either kind.
"""

from __future__ import annotations

import torch
from torch import nn

#: raw gate values start uniform in this range (sigmoid: 0.646 .. 0.711)
GATE_INIT = (0.6, 0.9)


def _activation(name: str) -> nn.Module:
    from strae_graph.model.strae import ACTIVATIONS  # the one table; model imports this module

    return ACTIVATIONS[name]()


def _gate(size: int) -> nn.Parameter:
    return nn.Parameter(torch.empty(size).uniform_(*GATE_INIT))


class DiagonalCompose(nn.Module):
    """parent = sigmoid(a_l) * left + sigmoid(a_r) * right + b, per channel.

    left, right: (n, K, U) -> parent: (n, K, U).
    """

    def __init__(self, channel_size: int, dropout: float = 0.1, activation: str = "none"):
        super().__init__()
        self.gate_left = _gate(channel_size)  # a_l
        self.gate_right = _gate(channel_size)  # a_r
        self.bias = nn.Parameter(torch.zeros(channel_size))  # b
        self.activation = _activation(activation)
        self.dropout = nn.Dropout(dropout)

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        parent = left * self.gate_left.sigmoid() + right * self.gate_right.sigmoid() + self.bias
        return self.dropout(self.activation(parent))


class DiagonalDecompose(nn.Module):
    """left = sigmoid(c_l) * parent + b_l, right = sigmoid(c_r) * parent + b_r.

    parent: (n, K, U) -> children: (n, 2, K, U), index 0 left, 1 right.
    """

    def __init__(self, channel_size: int, dropout: float = 0.1, activation: str = "none"):
        super().__init__()
        self.gate_left = _gate(channel_size)  # c_l
        self.gate_right = _gate(channel_size)  # c_r
        self.bias_left = nn.Parameter(torch.zeros(channel_size))  # b_l
        self.bias_right = nn.Parameter(torch.zeros(channel_size))  # b_r
        self.activation = _activation(activation)
        self.dropout = nn.Dropout(dropout)

    def forward(self, parent: torch.Tensor) -> torch.Tensor:
        gates = torch.stack([self.gate_left, self.gate_right]).sigmoid()[:, None]  # (2, 1, U)
        biases = torch.stack([self.bias_left, self.bias_right])[:, None]  # (2, 1, U)
        out = parent[:, None] * gates + biases  # (n, 2, K, U)
        return self.dropout(self.activation(out))
