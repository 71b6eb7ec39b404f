"""Every node of one sentence's tree embedded (:class:`NodeEmbeddings`): its
span, its phrase and its up and down embeddings, from one up and one down
pass of the model (:meth:`strae_graph.embed.embedder.Embedder.embed_nodes`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from strae_graph.data.subwords import Subwords, join_sentence
from strae_graph.data.vocab import Vocabulary
from strae_graph.graph.batch import Frontiers, batch_trees
from strae_graph.model.strae import StrAE
from strae_graph.trees.tree import Tree


@dataclass
class NodeEmbeddings:
    """Every node of one sentence's tree (node ids as in :class:`Tree`).

    spans: half-open token spans, one per node; phrases: the tokens of each span
    joined by spaces; up, down: (2n - 1, E) arrays.
    """

    tree: Tree
    spans: list[tuple[int, int]]
    phrases: list[str]
    up: np.ndarray
    down: np.ndarray


@torch.no_grad()
def node_embeddings(
    model: StrAE, vocab: Vocabulary, tree: Tree, device: torch.device,
    subwords: Subwords | None = None,
) -> NodeEmbeddings:  # fmt: skip
    """Up and down embeddings of every node of ``tree`` (over the model's leaves:
    BPE pieces when ``subwords`` is given, whose phrases are then written as words)."""
    g = batch_trees([tree], [vocab.encode(tree.tokens)], device)
    fr = Frontiers.of(g)
    up = model.up(g, fr)
    down = model.down(g, up, fr)
    n = g.num_nodes()
    spans = tree.spans()
    join = " ".join if subwords is None else join_sentence
    return NodeEmbeddings(
        tree=tree,
        spans=spans,
        phrases=[join(tree.tokens[a:b]) for a, b in spans],
        up=up.reshape(n, -1).cpu().numpy(),
        down=down.reshape(n, -1).cpu().numpy(),
    )
