"""Per-frontier message-passing blocks for the up and down passes.

A batched tree graph is processed one frontier (tree height for the up pass,
depth for the down pass) at a time.  Running DGL's ``prop_nodes`` on the whole
graph costs O(N) per frontier (it finds in-edges and rewrites whole node
fields every level), so deep trees (right/left-branching, 100 tokens: 100
frontiers) were pathologically slow.  A :class:`PassSchedule` is computed once
per batch (in the data pipeline, off the training step's critical path) and
holds, for every frontier, a small DGL block (bipartite graph) whose edges are
exactly the tree's ``up`` (or ``down``) edges into that frontier.  An edge ends
in (up) or starts from (down) the parent's *slot* for the child's position:
slot ``2 * parent + position``, so a left child can never land in the right
slot whatever the node ids.  The model runs DGL message passing with built-in
functions (``copy_u`` + ``sum``, i.e. ``dgl.ops.copy_u_sum``) on each block in
topological order, at a cost proportional to the frontier's size.

Row layout.  Every level's output is a small tensor whose rows follow a fixed
order chosen here, so that what the next levels need is contiguous:

* up pass: the nodes of height ``j`` are ordered by the height of their parent
  (roots last).  The children that frontier ``k`` needs from level ``j`` are
  then one contiguous chunk; the frontier's input is the concatenation of its
  chunks over ``j < k`` (ascending), i.e. its children in global row order.
* down pass: the nodes of depth ``d`` are ordered internal nodes first, so
  the parents of frontier ``d + 1`` are the first ``n_internal[d]`` rows.

``up_rows[v]`` (``down_rows[v]``) is the row of node ``v`` in the
concatenation of all up (down) level outputs, used once at the end to return
embeddings in node-id order.

DAGs (entangled batches, :func:`strae_graph.graph.batch_trees` with
``entangle=True``).  When some node has more than one parent edge the
schedule is built by :meth:`PassSchedule.build` in its DAG form; a forest
(every batch without a shared node, entangled or not) keeps the layout above
unchanged, bit for bit.  In a DAG a node's output is needed by several later
levels, so the contiguous-chunk layout cannot hold; instead every level
``j`` has an *expansion*: an index that copies each of its rows once per level
``k > j`` that consumes it (``index_select``, autograd sums the gradients of
the copies), ordered by consuming level, then split into per-``k`` chunks.
The work is proportional to the number of (node, consuming level) pairs, at
most the number of edges.

* up levels: height (longest path to a leaf), as for trees.  Each parent
  slot still receives exactly one edge (``copy_u_sum``); a node that is both
  children of one parent feeds both of its slots.
* down levels: ``depth`` = longest path from a parentless node, so every
  parent of a level-``k`` node is in a level ``< k`` (not necessarily
  ``k - 1``).  Level ``k``'s block takes the decomposed (left, right) halves
  of all parents of its nodes (two slots per (parent, k) pair; an edge starts
  from the slot of the child's position in that parent) and reduces them by
  MEAN (``dgl.ops.copy_u_mean``): a node with one parent edge gets that half,
  one with several the mean of the halves; parentless nodes (level 0) keep
  down = up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from strae_graph._dgl import dgl


@dataclass
class UpLevel:
    """Frontier of height ``k``: its block from children (src) to nodes (dst)."""

    block: dgl.DGLGraph  # src: children in input order; dst: 2 slots per node of this level
    sources: list[int]  # levels j < k contributing a chunk, ascending


@dataclass
class DownLevel:
    """Frontier of depth ``d``: block from the internal nodes of depth ``d - 1``
    (DAG: from the (parent, d) pairs of the levels in ``sources``)."""

    block: dgl.DGLGraph  # src: 2 slots per internal node of depth d - 1; dst: level d
    sources: list[int] | None = None  # DAG only: levels j < d contributing a chunk


@dataclass
class PassSchedule:
    """Everything the per-frontier passes need, for one batched graph.

    ``leaf_order``: (n_leaves,) node ids of the leaves in up-level-0 row order.
    ``up_split[j]``: sizes splitting level ``j``'s output into the chunks
    consumed by levels ``j + 1 .. H`` and the roots (last).
    ``root_order``: node ids of the roots in down-level-0 row order.
    ``n_internal[d]``: internal nodes at depth ``d`` (the first rows of level d).
    """

    leaf_order: torch.Tensor
    up_split: list[list[int]]
    up_levels: list[UpLevel]
    up_rows: torch.Tensor
    up_nodes: list[torch.Tensor]  # node ids per height level 1..H, in row order
    root_order: torch.Tensor
    n_internal: list[int]
    down_levels: list[DownLevel]
    down_rows: torch.Tensor
    down_nodes: list[torch.Tensor]  # node ids per depth level 1..D, in row order
    # DAG only (None for a forest): per level j, the rows copied once per
    # consuming level (up: rows of level j's output; down: rows of its
    # decomposed internal nodes), split by ``up_split`` / ``down_split``
    up_expand: list[torch.Tensor] | None = None
    down_expand: list[torch.Tensor] | None = None
    down_split: list[list[int]] | None = None

    @property
    def is_dag(self) -> bool:
        return self.down_expand is not None

    @classmethod
    def build(
        cls,
        n_nodes: int,
        child: np.ndarray,
        parent: np.ndarray,
        position: np.ndarray,
        height: np.ndarray,
        depth: np.ndarray,
        device: torch.device | str = "cpu",
    ) -> PassSchedule:
        """From the ``up`` edges (child -> parent, with the child's position)
        and the node heights and depths, all as numpy arrays.  A graph in
        which some node has several parent edges gets the DAG form."""
        n = n_nodes
        if len(child) and np.bincount(child, minlength=n).max() > 1:
            return cls.build_dag(n, child, parent, position, height, depth, device)
        par = np.full(n, -1, dtype=np.int64)
        par[child] = parent
        pos = np.zeros(n, dtype=np.int64)
        pos[child] = position
        is_leaf = np.ones(n, dtype=bool)
        is_leaf[parent] = False
        has_parent = par >= 0
        top = int(height.max()) if n else 0

        # --- up pass ---------------------------------------------------------
        cons = np.where(has_parent, height[np.maximum(par, 0)], top + 1)  # consuming level
        order = np.lexsort((cons, height))  # by height, then consuming level
        rows = np.empty(n, dtype=np.int64)
        rows[order] = np.arange(n)
        starts = np.searchsorted(height[order], np.arange(top + 2))
        # chunk sizes: counts of (height j, consuming level k)
        pair = np.zeros((top + 1, top + 2), dtype=np.int64)
        np.add.at(pair, (height, cons), 1)
        up_split = [pair[j, j + 1 :].tolist() for j in range(top + 1)]
        # the children of each frontier, in global row order
        kids = np.nonzero(has_parent)[0]
        kids = kids[np.lexsort((rows[kids], cons[kids]))]
        kid_starts = np.searchsorted(cons[kids], np.arange(top + 2))
        up_levels = []
        for k in range(1, top + 1):
            c = kids[kid_starts[k] : kid_starts[k + 1]]
            dst = 2 * (rows[par[c]] - starts[k]) + pos[c]
            n_dst = 2 * int(starts[k + 1] - starts[k])
            up_levels.append(
                UpLevel(
                    block=_block(np.arange(len(c)), dst, len(c), n_dst, device),
                    sources=[j for j in range(k) if pair[j, k]],
                )
            )
        up_nodes = [
            torch.from_numpy(order[starts[k] : starts[k + 1]]).to(device) for k in range(1, top + 1)
        ]

        # --- down pass ---------------------------------------------------------
        bottom = int(depth.max()) if n else 0
        dorder = np.lexsort((is_leaf, depth))  # by depth, internal nodes first
        drows = np.empty(n, dtype=np.int64)
        drows[dorder] = np.arange(n)
        dstarts = np.searchsorted(depth[dorder], np.arange(bottom + 2))
        n_internal = np.bincount(depth[~is_leaf], minlength=bottom + 1).tolist()
        by_depth = kids[np.argsort(depth[kids], kind="stable")]
        bd_starts = np.searchsorted(depth[by_depth], np.arange(bottom + 2))
        down_levels = []
        for d in range(1, bottom + 1):
            c = by_depth[bd_starts[d] : bd_starts[d + 1]]
            src = 2 * (drows[par[c]] - dstarts[d - 1]) + pos[c]
            dst = drows[c] - dstarts[d]
            n_dst = int(dstarts[d + 1] - dstarts[d])
            down_levels.append(
                DownLevel(block=_block(src, dst, 2 * n_internal[d - 1], n_dst, device))
            )
        down_nodes = [
            torch.from_numpy(dorder[dstarts[d] : dstarts[d + 1]]).to(device)
            for d in range(1, bottom + 1)
        ]
        return cls(
            leaf_order=torch.from_numpy(order[: starts[1]]).to(device),
            up_split=up_split,
            up_levels=up_levels,
            up_rows=torch.from_numpy(rows).to(device),
            up_nodes=up_nodes,
            root_order=torch.from_numpy(dorder[: dstarts[1]]).to(device),
            n_internal=n_internal,
            down_levels=down_levels,
            down_rows=torch.from_numpy(drows).to(device),
            down_nodes=down_nodes,
        )

    @classmethod
    def build_dag(
        cls,
        n_nodes: int,
        child: np.ndarray,
        parent: np.ndarray,
        position: np.ndarray,
        height: np.ndarray,
        depth: np.ndarray,
        device: torch.device | str = "cpu",
    ) -> PassSchedule:
        """The DAG form (see the module docstring); works for forests too.

        ``depth`` must be the longest path from a parentless node (as
        :func:`strae_graph.graph.batch_trees` sets it for entangled graphs).
        """
        n = n_nodes
        has_parent = np.zeros(n, dtype=bool)
        has_parent[child] = True
        is_leaf = np.ones(n, dtype=bool)
        is_leaf[parent] = False
        if (depth[child] <= depth[parent]).any() or (depth[~has_parent] != 0).any():
            raise ValueError("depth must be the longest path from a parentless node")
        top = int(height.max()) if n else 0

        # --- up pass: levels by height ------------------------------------------
        k_e = height[parent]  # the level consuming each edge's child
        first_use = np.full(n, top + 1, dtype=np.int64)
        np.minimum.at(first_use, child, k_e)
        order = np.lexsort((first_use, height))
        rows = np.empty(n, dtype=np.int64)
        rows[order] = np.arange(n)
        starts = np.searchsorted(height[order], np.arange(top + 2))
        up_expand, up_split, up_src, up_blocks = _expansions(
            child, parent, k_e, rows, starts, height[child], top
        )
        up_levels = []
        for k in range(1, top + 1):
            e_src, e = up_blocks[k]
            dst = 2 * (rows[parent[e]] - starts[k]) + position[e]
            n_dst = 2 * int(starts[k + 1] - starts[k])
            sources = [j for j in range(k) if up_split[j][k - j - 1]]
            up_levels.append(UpLevel(_block(e_src, dst, up_src[k], n_dst, device), sources))
        up_nodes = [
            torch.from_numpy(order[starts[k] : starts[k + 1]]).to(device) for k in range(1, top + 1)
        ]

        # --- down pass: levels by depth (longest path from a parentless node) ----
        bottom = int(depth.max()) if n else 0
        dorder = np.lexsort((is_leaf, depth))  # by depth, internal nodes first
        drows = np.empty(n, dtype=np.int64)
        drows[dorder] = np.arange(n)
        dstarts = np.searchsorted(depth[dorder], np.arange(bottom + 2))
        n_internal = np.bincount(depth[~is_leaf], minlength=bottom + 1).tolist()
        d_e = depth[child]  # the level consuming each edge's parent (its child's level)
        down_expand, down_split, down_src, down_blocks = _expansions(
            parent, child, d_e, drows, dstarts, depth[parent], bottom
        )
        down_levels = []
        for k in range(1, bottom + 1):
            pair, e = down_blocks[k]
            src = 2 * pair + position[e]  # the half for the child's position in that parent
            dst = drows[child[e]] - dstarts[k]
            n_dst = int(dstarts[k + 1] - dstarts[k])
            sources = [j for j in range(k) if down_split[j][k - j - 1]]
            block = _block(src, dst, 2 * down_src[k], n_dst, device)
            down_levels.append(DownLevel(block, sources))
        down_nodes = [
            torch.from_numpy(dorder[dstarts[d] : dstarts[d + 1]]).to(device)
            for d in range(1, bottom + 1)
        ]
        return cls(
            leaf_order=torch.from_numpy(order[: starts[1]]).to(device),
            up_split=up_split,
            up_levels=up_levels,
            up_rows=torch.from_numpy(rows).to(device),
            up_nodes=up_nodes,
            root_order=torch.from_numpy(dorder[: dstarts[1]]).to(device),
            n_internal=n_internal,
            down_levels=down_levels,
            down_rows=torch.from_numpy(drows).to(device),
            down_nodes=down_nodes,
            up_expand=[torch.from_numpy(x).to(device) for x in up_expand],
            down_expand=[torch.from_numpy(x).to(device) for x in down_expand],
            down_split=down_split,
        )

    @classmethod
    def of(cls, g: dgl.DGLGraph) -> PassSchedule:
        """The schedule of a graph made by :func:`strae_graph.graph.batch_trees`
        (any node numbering: only edges, positions, heights and depths are used)."""
        child, parent = (t.cpu().numpy() for t in g.edges(etype="up"))
        position = g.edges["up"].data["position"].cpu().numpy()
        return cls.build(
            g.num_nodes(),
            child.astype(np.int64),
            parent.astype(np.int64),
            position,
            g.ndata["height"].cpu().numpy(),
            g.ndata["depth"].cpu().numpy(),
            g.device,
        )


def _expansions(
    sender: np.ndarray,
    receiver: np.ndarray,
    level_e: np.ndarray,
    rows: np.ndarray,
    starts: np.ndarray,
    sender_level: np.ndarray,
    top: int,
) -> tuple[list[np.ndarray], list[list[int]], list[int], dict[int, tuple[np.ndarray, np.ndarray]]]:
    """The (sender, consuming level) pairs of a DAG pass.

    Each edge ``e`` needs ``sender[e]``'s output (a row of level
    ``sender_level[e]``, global row ``rows[sender[e]]``) at level
    ``level_e[e]``.  Returns, per sender level ``j``: the expansion index
    (rows of level ``j``'s output, one per pair, ordered by consuming level
    then row) and the chunk sizes for consuming levels ``j + 1 .. top`` plus a
    final 0; per consuming level ``k``: the number of pairs (its input rows,
    ordered by row = by sender level, then row) and, for its edges (ordered by
    input row), (input row of the edge's pair, edge ids).
    """
    n = len(rows)
    key = level_e * n + rows[sender]  # pair key, sorted = by (consuming level, row)
    ukey, first_e, inv = np.unique(key, return_index=True, return_inverse=True)
    pk, prow, pj = ukey // n, ukey % n, sender_level[first_e]
    ks = np.searchsorted(pk, np.arange(top + 2))  # pairs of consuming level k: ks[k]:ks[k+1]
    n_src = np.diff(ks).tolist()
    counts = np.zeros((top + 1, top + 2), dtype=np.int64)
    np.add.at(counts, (pj, pk), 1)
    by_sender = np.lexsort((prow, pk, pj))
    js = np.searchsorted(pj[by_sender], np.arange(top + 2))
    expand, split = [], []
    for j in range(top + 1):
        p = by_sender[js[j] : js[j + 1]]
        expand.append(prow[p] - starts[j])
        split.append([*counts[j, j + 1 : top + 1].tolist(), 0])
    e_order = np.lexsort((inv, level_e))  # edges by consuming level, then input row
    es = np.searchsorted(level_e[e_order], np.arange(top + 2))
    blocks = {}
    for k in range(1, top + 1):
        e = e_order[es[k] : es[k + 1]]
        blocks[k] = (inv[e] - ks[k], e)
    return expand, split, n_src, blocks


def _block(
    src: np.ndarray, dst: np.ndarray, n_src: int, n_dst: int, device: torch.device | str
) -> dgl.DGLGraph:
    b = dgl.create_block(
        (torch.from_numpy(np.ascontiguousarray(src)), torch.from_numpy(np.ascontiguousarray(dst))),
        num_src_nodes=n_src,
        num_dst_nodes=n_dst,
    )
    b = b.to(device)
    b.create_formats_()  # build the sparse formats now, not inside the training step
    return b
