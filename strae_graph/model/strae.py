"""StrAE: embed the leaves, compose up the tree, decompose down it, score.

Shapes: N nodes in the batched graph, K channels of U numbers, E = K * U.
Every embedding is (N, K, U); compose and decompose act on each channel
with the same weights (SPEC.md, "The model, precisely").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from strae_graph.graph.batch import Frontiers
from strae_graph.model.config import SCALE_RANGE, StrAEConfig, initial_learned_scale
from strae_graph.model.cross_entropy import linear_cross_entropy
from strae_graph.model.functions import make_functions
from strae_graph.model.losses import Scale, contrastive_loss, logit_scale
from strae_graph.model.memory import check_model_memory
from strae_graph.model.objectives import objective_loss
from strae_graph.util.dgl import dgl


@dataclass
class StrAEOutput:
    """up, down: (N, E) node embeddings; loss: scalar; parts: named loss terms."""

    up: torch.Tensor
    down: torch.Tensor
    loss: torch.Tensor
    parts: dict[str, float]


class StrAE(nn.Module):
    """Structured autoencoder over batched DGL tree graphs (see strae_graph.graph.batch)."""

    def __init__(self, config: StrAEConfig):
        super().__init__()
        check_model_memory(config)  # -K/-U too large: an error, not an allocator traceback
        self.config = config
        k, u = config.channels, config.channel_size
        self.embedding = nn.Embedding(config.vocab_size, k * u)  # Omega
        nn.init.uniform_(self.embedding.weight, -config.init_range, config.init_range)
        self.input_dropout = nn.Dropout(config.input_dropout)
        self.compose, self.decompose = make_functions(
            config.compose, u, config.dropout, config.activation
        )
        self.output: nn.Linear | None = None  # untied Lambda
        if not config.tied:
            self.output = nn.Linear(k * u, config.vocab_size)
        self.fixed_scale = logit_scale(config.temperature, config.log_scale)
        #: learned logit scale, stored as its logarithm (state-dict key ``log_logit_scale``)
        self.log_logit_scale: nn.Parameter | None
        if config.learn_temperature:
            start = initial_learned_scale(config.temperature, config.log_scale)
            self.log_logit_scale = nn.Parameter(torch.tensor(math.log(start)))
        else:
            self.log_logit_scale = None

    @property
    def scale(self) -> Scale:
        """The multiplier of the cosines: a number, or with ``learn_temperature`` a
        0-dim tensor ``exp(clamp(log_logit_scale))`` inside SCALE_RANGE (the clamp
        is in the forward pass: the gradient is zero outside the range)."""
        if self.log_logit_scale is None:
            return self.fixed_scale
        lo, hi = SCALE_RANGE
        return self.log_logit_scale.clamp(math.log(lo), math.log(hi)).exp()

    def scale_value(self) -> float:
        """The current logit scale as a number (for logs)."""
        s = self.scale
        return float(s.detach()) if isinstance(s, torch.Tensor) else s

    # -- Lambda ---------------------------------------------------------------
    @property
    def lambda_weight(self) -> torch.Tensor:
        """(V, E) weight of Lambda; the embedding table itself when tied."""
        return self.embedding.weight if self.output is None else self.output.weight

    def token_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Lambda: (n, E) -> (n, V)."""
        if self.output is None:
            return h @ self.embedding.weight.T
        return self.output(h)

    def non_embedding_parameters(self) -> int:
        """Parameters of compose and decompose (linear: 4U^2 + 3U, 430 for U = 10;
        diagonal: 7U)."""
        return sum(p.numel() for m in (self.compose, self.decompose) for p in m.parameters())

    # -- the two passes --------------------------------------------------------
    def embed_leaves(self, g: dgl.DGLGraph) -> torch.Tensor:
        """Omega on the leaves, zeros elsewhere: (N, K, U)."""
        c = self.config
        leaves = torch.nonzero(g.ndata["is_leaf"], as_tuple=True)[0]
        emb = self.input_dropout(self.embedding(g.ndata["token"][leaves]))
        h = emb.new_zeros(g.num_nodes(), c.channels, c.channel_size)
        return h.index_copy(0, leaves, emb.view(-1, c.channels, c.channel_size))

    def up(self, g: dgl.DGLGraph, frontiers: Frontiers | None = None) -> torch.Tensor:
        """Composition, bottom-up, one frontier (tree height) at a time: (N, K, U).

        Each child sends its embedding along its ``up`` edge of ``g`` into its
        parent's slot for the edge's ``position`` (DGL ``copy_u`` + ``sum``);
        the parent composes its two slots.  Every frontier runs on its own
        small DGL block, the edge subgraph of ``g``'s ``up`` edges into it
        (``frontiers``, by default ``Frontiers.of(g)``; see
        :mod:`strae_graph.graph.schedule`), so a level costs time in proportion to
        its size, not to the whole batch.
        """
        sch = (frontiers or Frontiers.of(g)).schedule
        c = self.config
        ex = sch.up_expand  # DAG: level j's rows copied once per consuming level

        def split(h: torch.Tensor, j: int) -> tuple[torch.Tensor, ...]:
            return torch.split(h if ex is None else h.index_select(0, ex[j]), sch.up_split[j])

        tokens = g.ndata["token"][sch.leaf_order]
        leaves = self.input_dropout(self.embedding(tokens)).view(-1, c.channels, c.channel_size)
        outs = [leaves]  # outs[j]: (n_j, K, U), level j's rows in schedule order
        chunks = [split(leaves, 0)]  # chunks[j][k - j - 1]: for level k
        for k, level in enumerate(sch.up_levels, start=1):
            x = torch.cat([chunks[j][k - j - 1] for j in level.sources])
            slots = dgl.ops.copy_u_sum(level.block, x).view(-1, 2, c.channels, c.channel_size)
            h = self.compose(slots[:, 0], slots[:, 1])
            outs.append(h)
            chunks.append(split(h, k))
        return torch.cat(outs).index_select(0, sch.up_rows)

    def down(
        self, g: dgl.DGLGraph, up: torch.Tensor, frontiers: Frontiers | None = None
    ) -> torch.Tensor:
        """Decomposition, top-down, one frontier (depth) at a time: (N, K, U).

        A root's down embedding is its up embedding.  Each node decomposes its
        down embedding into (left, right) halves; each ``down`` edge of ``g``
        carries the half of its ``position`` (its source is the parent's slot
        for that position, never chosen by node id) to the child (DGL
        ``copy_u`` + ``sum``), one frontier at a time on the edge subgraph of
        the ``down`` edges into it.

        Entangled graphs (a DAG, :func:`strae_graph.graph.batch.batch_trees` with
        ``entangle=True``): a node with no parent keeps down = up; a node with
        one or more parent edges gets the MEAN of the halves it receives, each
        parent sending the half for the child's position in THAT parent (the
        node may be a left child of one parent and a right child of another;
        a node that is both children of one parent receives both halves).
        This holds also for a span that is one sentence's root and an inner
        node of another: it has a parent, so its down is that mean, not its up.
        Levels are the longest path from a parentless node, so a node is
        decomposed only once all its parents are done (``copy_u`` + ``mean``).
        """
        sch = (frontiers or Frontiers.of(g)).schedule
        if sch.is_dag:
            return self._down_dag(up, sch)
        h = up.index_select(0, sch.root_order)  # depth 0: roots, internal ones first
        outs = [h]
        for d, level in enumerate(sch.down_levels):
            parts = self.decompose(h[: sch.n_internal[d]])  # (n, 2, K, U): 2n slots
            h = dgl.ops.copy_u_sum(level.block, parts.flatten(0, 1))
            outs.append(h)
        return torch.cat(outs).index_select(0, sch.down_rows)

    def _down_dag(self, up: torch.Tensor, sch) -> torch.Tensor:
        """The down pass on a DAG schedule (see :meth:`down`)."""
        h = up.index_select(0, sch.root_order)  # level 0: parentless nodes, internal first
        outs = [h]
        chunks = []  # chunks[j][k - j - 1]: halves of level j's parents needed at level k

        def decomposed(h: torch.Tensor, j: int) -> tuple[torch.Tensor, ...]:
            if not sch.down_expand[j].numel():
                return (h.new_zeros(0, 2, *h.shape[1:]),) * len(sch.down_split[j])
            parts = self.decompose(h[: sch.n_internal[j]])  # once per node: (n, 2, K, U)
            return torch.split(parts.index_select(0, sch.down_expand[j]), sch.down_split[j])

        chunks.append(decomposed(h, 0))
        for k, level in enumerate(sch.down_levels, start=1):
            x = torch.cat([chunks[j][k - j - 1] for j in level.sources])
            h = dgl.ops.copy_u_mean(level.block, x.flatten(0, 1))  # 2 slots per (parent, k)
            outs.append(h)
            chunks.append(decomposed(h, k))
        return torch.cat(outs).index_select(0, sch.down_rows)

    # -- objectives ---------------------------------------------------------------
    def forward(self, g: dgl.DGLGraph, frontiers: Frontiers | None = None) -> StrAEOutput:
        frontiers = frontiers or Frontiers.of(g)
        up = self.up(g, frontiers)
        down = self.down(g, up, frontiers)
        n = g.num_nodes()
        up, down = up.reshape(n, -1), down.reshape(n, -1)
        loss, parts = self.loss(g, up, down)
        return StrAEOutput(up=up, down=down, loss=loss, parts=parts)

    def loss(
        self, g: dgl.DGLGraph, up: torch.Tensor, down: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The configured objective on (N, E) up and down embeddings
        (:func:`strae_graph.model.objectives.objective_loss`); parts as numbers."""
        is_leaf, c = g.ndata["is_leaf"], self.config
        loss, terms = objective_loss(
            c.objective,
            up,
            down,
            is_leaf,
            contrastive=lambda u, d: contrastive_loss(
                u, d, self.scale, c.block_size, precision=c.precision
            ),
            ce=lambda: self.reconstruction_loss(down[is_leaf], g.ndata["token"][is_leaf]),
            ce_weight=c.ce_weight,
        )
        return loss, {k: v.item() for k, v in terms.items()}

    def reconstruction_loss(self, leaf_down: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of Lambda(leaf down embeddings) against the leaf tokens.

        Leaves whose token is unknown (id 0) are not reconstruction targets.
        """
        known = tokens != 0
        if not bool(known.any()):
            return leaf_down.sum() * 0.0
        return self.token_cross_entropy(leaf_down[known], tokens[known])

    def token_cross_entropy(
        self, h: torch.Tensor, tokens: torch.Tensor, reduction: str = "mean"
    ) -> torch.Tensor:
        """``F.cross_entropy(self.token_logits(h), tokens)`` (within float rounding),
        without holding the (n, V) logits
        (:func:`strae_graph.model.cross_entropy.linear_cross_entropy`)."""
        bias = None if self.output is None else self.output.bias
        return linear_cross_entropy(
            h, self.lambda_weight, tokens, bias, reduction, precision=self.config.precision
        )
