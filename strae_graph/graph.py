"""Trees as DGL graphs with directed ``up`` (child -> parent) and ``down``
(parent -> child) edges, and batches of them.

Node fields (``g.ndata``):
  ``token``    int64 (N,)  vocabulary id; meaningful only where ``is_leaf``
  ``is_leaf``  bool  (N,)
  ``is_root``  bool  (N,)
  ``position`` int64 (N,)  0 = left child, 1 = right child (0 for roots)
  ``height``   int64 (N,)  0 for leaves; 1 + max over children
  ``depth``    int64 (N,)  0 for roots; 1 + parent's depth
Edge fields (both edge types):
  ``position`` int64 (E,)       the child's position
  ``slot``     float (E, 2, 1, 1) one-hot of ``position``: multiplying a message
               by it places the child in its left or right slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from strae_graph._dgl import dgl
from strae_graph.schedule import PassSchedule
from strae_graph.tree import Tree

NODE = "node"
UP = (NODE, "up", NODE)
DOWN = (NODE, "down", NODE)


def _tree_arrays(tree: Tree) -> tuple[np.ndarray, ...]:
    ch = np.asarray(tree.children, dtype=np.int64).reshape(-1, 2)
    parents = np.arange(tree.n_leaves, tree.n_nodes, dtype=np.int64)
    src = ch.reshape(-1)  # left0, right0, left1, right1, ...
    dst = np.repeat(parents, 2)
    pos = np.tile(np.array([0, 1], dtype=np.int64), len(parents))
    return (
        src,
        dst,
        pos,
        np.asarray(tree.heights(), dtype=np.int64),
        np.asarray(tree.depths(), dtype=np.int64),
    )


def batch_trees(
    trees: Sequence[Tree], token_ids: Sequence[Sequence[int]], device: str | torch.device = "cpu"
) -> dgl.DGLGraph:
    """One batched DGL graph for many trees (equal to ``dgl.batch`` of
    :func:`tree_to_graph` of each tree, built in one step).

    ``token_ids[b]`` holds the vocabulary ids of tree ``b``'s leaves.
    """
    if len(trees) != len(token_ids):
        raise ValueError(f"{len(trees)} trees but {len(token_ids)} token id lists")
    if not trees:
        raise ValueError("cannot batch zero trees")
    srcs, dsts, poss, heights, depths, tokens, is_leaf, is_root = [], [], [], [], [], [], [], []
    offset = 0
    n_nodes = np.empty(len(trees), dtype=np.int64)
    for b, (tree, ids) in enumerate(zip(trees, token_ids)):
        if len(ids) != tree.n_leaves:
            raise ValueError(f"tree {b} has {tree.n_leaves} leaves but {len(ids)} token ids")
        src, dst, pos, h, d = _tree_arrays(tree)
        srcs.append(src + offset)
        dsts.append(dst + offset)
        poss.append(pos)
        heights.append(h)
        depths.append(d)
        tok = np.zeros(tree.n_nodes, dtype=np.int64)
        tok[: tree.n_leaves] = ids
        tokens.append(tok)
        leaf = np.zeros(tree.n_nodes, dtype=bool)
        leaf[: tree.n_leaves] = True
        is_leaf.append(leaf)
        root = np.zeros(tree.n_nodes, dtype=bool)
        root[-1] = True
        is_root.append(root)
        n_nodes[b] = tree.n_nodes
        offset += tree.n_nodes
    src = torch.from_numpy(np.concatenate(srcs))
    dst = torch.from_numpy(np.concatenate(dsts))
    epos = torch.from_numpy(np.concatenate(poss))
    g = dgl.heterograph({UP: (src, dst), DOWN: (dst, src)}, num_nodes_dict={NODE: offset})
    node_pos = torch.zeros(offset, dtype=torch.int64)
    node_pos[src] = epos
    g.ndata["token"] = torch.from_numpy(np.concatenate(tokens))
    g.ndata["is_leaf"] = torch.from_numpy(np.concatenate(is_leaf))
    g.ndata["is_root"] = torch.from_numpy(np.concatenate(is_root))
    g.ndata["position"] = node_pos
    g.ndata["height"] = torch.from_numpy(np.concatenate(heights))
    g.ndata["depth"] = torch.from_numpy(np.concatenate(depths))
    slot = torch.nn.functional.one_hot(epos, 2).to(torch.float32).view(-1, 2, 1, 1)
    for etype in (UP, DOWN):
        g.edges[etype].data["position"] = epos
        g.edges[etype].data["slot"] = slot
    n_edges = torch.from_numpy(n_nodes - 1)  # each tree: 2 edges per internal node
    g.set_batch_num_nodes({NODE: torch.from_numpy(n_nodes)})
    g.set_batch_num_edges({UP: n_edges, DOWN: n_edges.clone()})
    return g.to(device)


def tree_to_graph(tree: Tree, token_ids: Sequence[int]) -> dgl.DGLGraph:
    """The DGL graph of one tree (see the module docstring for its fields)."""
    return batch_trees([tree], [token_ids])


def roots(g: dgl.DGLGraph) -> torch.Tensor:
    """Node ids of the roots of a (batched) graph, one per tree, in batch order."""
    return torch.nonzero(g.ndata["is_root"], as_tuple=True)[0]


@dataclass
class Frontiers:
    """Topological frontiers of a batched graph.

    ``up[k]``: nodes of height ``k + 1`` (their children are all done before
    them); ``down[k]``: nodes of depth ``k + 1``.  Leaves (height 0) and roots
    (depth 0) start the two passes and are not listed.  ``schedule`` holds the
    per-frontier DGL blocks the model's passes run on (see
    :mod:`strae_graph.schedule`).
    """

    up: list[torch.Tensor]
    down: list[torch.Tensor]
    schedule: PassSchedule

    @classmethod
    def of(cls, g: dgl.DGLGraph) -> Frontiers:
        schedule = PassSchedule.of(g)
        return cls(up=schedule.up_nodes, down=schedule.down_nodes, schedule=schedule)
