"""The compose and decompose functions C and D, of both families: the paper's
linear ones (:class:`Compose`, :class:`Decompose`) and Banyan's diagonal ones
(SPEC.md, "Beyond the paper": Banyan), and :func:`make_functions`, which builds
the pair a configuration names.

Linear: ``parent_k = W_c [left_k ; right_k] + b_c`` and ``[left_k ; right_k] =
W_d parent_k + b_d`` for every channel k (4U^2 + 3U parameters).

Diagonal: every channel k of U numbers is combined element-wise with gates and biases
that are vectors of size U shared by all channels:

    parent  = sigmoid(a_l) * left + sigmoid(a_r) * right + b
    left    = sigmoid(c_l) * parent + b_l
    right   = sigmoid(c_r) * parent + b_r

7U parameters in all (3U compose, 4U decompose: 14 for U = 2).  The raw gates start
uniform in [0.6, 0.9], so sigmoid(gate) starts between 0.646 and 0.711; the
biases start at zero.  As for the linear functions, the optional activation
and then dropout apply to the outputs.

Both families have the same call signatures, so the passes, Self-StrAE, the
embeddings and checkpoints work unchanged with either kind.
"""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"none": nn.Identity, "tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}
#: raw gate values start uniform in this range (sigmoid: 0.646 .. 0.711)
GATE_INIT = (0.6, 0.9)


def _activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


# --- linear (the paper's) -------------------------------------------------------------
class Compose(nn.Module):
    """C: parent_k = W_c [left_k ; right_k] + b_c for every channel k.

    left, right: (n, K, U) -> parent: (n, K, U).
    """

    def __init__(self, channel_size: int, dropout: float = 0.1, activation: str = "none"):
        super().__init__()
        self.linear = nn.Linear(2 * channel_size, channel_size)
        self.activation = _activation(activation)
        self.dropout = nn.Dropout(dropout)

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.activation(self.linear(torch.cat([left, right], dim=-1))))


class Decompose(nn.Module):
    """D: [left_k ; right_k] = W_d parent_k + b_d for every channel k.

    parent: (n, K, U) -> children: (n, 2, K, U), index 0 left, 1 right.
    """

    def __init__(self, channel_size: int, dropout: float = 0.1, activation: str = "none"):
        super().__init__()
        self.linear = nn.Linear(channel_size, 2 * channel_size)
        self.activation = _activation(activation)
        self.dropout = nn.Dropout(dropout)

    def forward(self, parent: torch.Tensor) -> torch.Tensor:
        out = self.dropout(self.activation(self.linear(parent)))
        left, right = out.chunk(2, dim=-1)
        return torch.stack([left, right], dim=1)


# --- diagonal (Banyan's) ---------------------------------------------------------------
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


#: the families: compose_function name -> (compose, decompose) classes
FUNCTIONS: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "linear": (Compose, Decompose),
    "diagonal": (DiagonalCompose, DiagonalDecompose),
}
COMPOSE_FUNCTIONS: tuple[str, ...] = tuple(FUNCTIONS)


def make_functions(
    kind: str, channel_size: int, dropout: float, activation: str
) -> tuple[nn.Module, nn.Module]:
    """The (compose, decompose) pair of the family ``kind``."""
    comp, decomp = FUNCTIONS[kind]
    return comp(channel_size, dropout, activation), decomp(channel_size, dropout, activation)
