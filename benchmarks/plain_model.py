"""The StrAE passes as a plain-PyTorch frontier loop (no DGL): the yardstick
``strae bench`` compares the library with (speed ratio and the largest
difference between the two implementations' embeddings).  Not part of the
library, which has one code path (:mod:`strae_graph.model.strae`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from strae_graph.model.losses import contrastive_loss
from strae_graph.model.objectives import objective_loss
from strae_graph.model.strae import StrAE
from strae_graph.trees.tree import Tree


class PlainFrontierModel:
    """The StrAE passes as a plain-PyTorch frontier loop, no DGL.

    Node ids follow :func:`strae_graph.graph.batch.batch_trees` (tree by tree, leaves
    then internal nodes in post-order).  Up: for each height frontier, gather
    the left and right children's rows of the (N, K, U) state, compose, and
    ``index_copy`` the results into a new state.  Down: for each depth frontier
    of parents, decompose and write the halves into the children's rows.
    """

    def __init__(self, trees: Sequence[Tree], token_ids: Sequence[Sequence[int]]):
        nodes, leaves, roots, tok = [], [], [], []
        parent, left, right, height, depth = [], [], [], [], []
        offset = 0
        for tree, ids in zip(trees, token_ids):
            n = tree.n_leaves
            leaves.append(offset + np.arange(n))
            tok.append(np.asarray(ids, dtype=np.int64))
            roots.append(offset + tree.n_nodes - 1)
            ch = np.asarray(tree.children, dtype=np.int64).reshape(-1, 2)
            parent.append(offset + np.arange(n, tree.n_nodes))
            left.append(offset + ch[:, 0])
            right.append(offset + ch[:, 1])
            h, d = np.asarray(tree.heights()), np.asarray(tree.depths())
            height.append(h[n:])
            depth.append(d[n:])
            nodes.append(tree.n_nodes)
            offset += tree.n_nodes
        self.n = offset
        self.leaves = torch.from_numpy(np.concatenate(leaves))
        self.tokens = torch.from_numpy(np.concatenate(tok))
        self.roots = torch.tensor(roots)
        p, lc, rc = (np.concatenate(x) for x in (parent, left, right))
        h, d = np.concatenate(height), np.concatenate(depth)
        self.up_frontiers = [
            tuple(torch.from_numpy(x[h == k]) for x in (p, lc, rc)) for k in range(1, h.max() + 1)
        ] if len(h) else []  # fmt: skip
        self.down_frontiers = [
            tuple(torch.from_numpy(x[d == k]) for x in (p, lc, rc)) for k in range(0, d.max() + 1)
        ] if len(d) else []  # fmt: skip
        is_leaf = torch.zeros(self.n, dtype=torch.bool)
        is_leaf[self.leaves] = True
        self.is_leaf = is_leaf

    def up(self, model: StrAE) -> torch.Tensor:
        c = model.config
        emb = model.input_dropout(model.embedding(self.tokens))
        h = emb.new_zeros(self.n, c.channels, c.channel_size)
        h = h.index_copy(0, self.leaves, emb.view(-1, c.channels, c.channel_size))
        for nodes, lc, rc in self.up_frontiers:
            h = h.index_copy(0, nodes, model.compose(h[lc], h[rc]))
        return h

    def down(self, model: StrAE, up: torch.Tensor) -> torch.Tensor:
        hd = up.new_zeros(up.shape).index_copy(0, self.roots, up[self.roots])
        for nodes, lc, rc in self.down_frontiers:
            parts = model.decompose(hd[nodes])
            hd = hd.index_copy(0, lc, parts[:, 0]).index_copy(0, rc, parts[:, 1])
        return hd

    def loss(self, model: StrAE, up: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
        objective, block = model.config.objective, model.config.block_size
        leaf = torch.zeros(self.n, dtype=torch.bool)
        leaf[self.leaves] = True
        tokens = torch.zeros(self.n, dtype=torch.int64)
        tokens[self.leaves] = self.tokens
        terms = (lambda u, d: contrastive_loss(u, d, model.scale, block,
                                               precision=model.config.precision),
                 lambda: model.reconstruction_loss(down[leaf], tokens[leaf]))  # fmt: skip
        return objective_loss(objective, up, down, leaf, *terms, model.config.ce_weight)[0]

    def forward_loss(self, model: StrAE) -> torch.Tensor:
        up = self.up(model)
        down = self.down(model, up)
        return self.loss(model, up.reshape(self.n, -1), down.reshape(self.n, -1))
