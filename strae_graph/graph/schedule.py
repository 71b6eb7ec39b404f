"""Per-frontier message-passing blocks for the up and down passes.

A batched tree graph is processed one frontier (tree height for the up pass,
depth for the down pass) at a time, each on a small DGL block, so a level costs
time in proportion to its size (DGL's ``prop_nodes`` on the whole graph costs
O(N) per level: deep trees were pathologically slow).  A :class:`PassSchedule`
is built once per batch by :func:`strae_graph.graph.batch.batch_trees`, on the CPU
from the graph's own edge arrays before the graph moves to its device.  Its
blocks are edge subgraphs of the batched graph: the up levels partition its
``up`` edges (by the height of their destination), the down levels its
``down`` edges (by the depth of their destination); block edge ``i`` of a
level is graph edge ``level.eids[i]``.  An edge ends in (up) or starts from
(down) the parent's *slot* for the edge's ``position``: slot
``2 * parent + position``, so a left child never lands in the right slot
whatever the node ids.  The model runs DGL's built-in ``copy_u`` + ``sum``
(``dgl.ops.copy_u_sum``) on each block in topological order.

Row layout.  Every level's output is a small tensor whose rows follow a fixed
order, so that what the next levels need is contiguous.  Up: the nodes of
height ``j`` ordered by their parent's height (roots last), so the children
frontier ``k`` needs from level ``j`` are one chunk and its input is its
chunks over ``j < k`` (ascending), i.e. its children in global row order.
Down: the nodes of depth ``d``, those with ``down`` edges first (the first
``n_internal[d]`` rows are the parents of frontier ``d + 1``).
``up_rows[v]`` (``down_rows[v]``) is node ``v``'s row in the concatenation of
all up (down) level outputs, used once at the end to return node-id order.

DAGs (entangled batches).  When some node has more than one parent edge
:meth:`PassSchedule.build` builds the DAG form; a forest (entangled or not)
keeps the layout above, bit for bit.  A DAG node's output is needed by several
later levels, so every level ``j`` has an *expansion*: an index copying each
of its rows once per level ``k > j`` that consumes it (``index_select``;
autograd sums the copies' gradients), ordered by consuming level and split
into per-``k`` chunks; the work is at most the number of edges.  Up levels:
height (longest path to a leaf); each parent slot receives exactly one edge
(a node that is both children of one parent feeds both slots).  Down levels:
``depth`` = longest path from a parentless node, so every parent of a level-``k``
node is in a level ``< k``.  Level ``k``'s block takes the decomposed halves of
all parents of its nodes (two slots per (parent, k) pair; an edge starts from
the slot of its ``position``) and reduces them by MEAN (``dgl.ops.copy_u_mean``);
parentless nodes (level 0) keep down = up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from strae_graph.graph.levels import (
    EdgeArrays,
    any_repeated,
    check_levels,
    dag_expansions,
    down_row_order,
    int64_array,
    level_block,
)
from strae_graph.util.dgl import dgl


@dataclass
class UpLevel:
    """Frontier of height ``k``: its block from children (src) to nodes (dst)."""

    block: dgl.DGLGraph  # src: children in input order; dst: 2 slots per node of this level
    sources: list[int]  # levels j < k contributing a chunk, ascending
    eids: torch.Tensor  # (CPU) the graph's ``up`` edge that each block edge is


@dataclass
class DownLevel:
    """Frontier of depth ``d``: block from the internal nodes of depth ``d - 1``
    (DAG: from the (parent, d) pairs of the levels in ``sources``)."""

    block: dgl.DGLGraph  # src: 2 slots per internal node of depth d - 1; dst: level d
    eids: torch.Tensor  # (CPU) the graph's ``down`` edge that each block edge is
    sources: list[int] | None = None  # DAG only: levels j < d contributing a chunk


@dataclass
class PassSchedule:
    """Everything the per-frontier passes need, for one batched graph.

    ``leaf_order``: (n_leaves,) node ids of the leaves in up-level-0 row order.
    ``up_split[j]``: sizes splitting level ``j``'s output into the chunks
    consumed by levels ``j + 1 .. H`` and the roots (last).
    ``root_order``: node ids of the roots in down-level-0 row order.
    ``n_internal[d]``: nodes at depth ``d`` with ``down`` edges (the first rows
    of level d).
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
    def of(
        cls, g: dgl.DGLGraph, device: torch.device | str | None = None, dag: bool = False
    ) -> PassSchedule:
        """The schedule of a graph shaped like :func:`strae_graph.graph.batch.batch_trees`'s
        (any node numbering): the up levels from its ``up`` edges, the down
        levels from its ``down`` edges, each with its edge ``position``; node
        ``height`` and ``depth`` give the levels.  Blocks go to ``device``
        (default: the graph's).  ``dag`` builds the DAG form even for a forest."""
        build = cls.build_dag if dag else cls.build
        return build(
            g.num_nodes(),
            EdgeArrays.of(g, "up"),
            EdgeArrays.of(g, "down"),
            int64_array(g.ndata["height"]),
            int64_array(g.ndata["depth"]),
            g.device if device is None else device,
        )

    @classmethod
    def build(
        cls, n_nodes: int, up: EdgeArrays, down: EdgeArrays, height: np.ndarray,
        depth: np.ndarray, device: torch.device | str = "cpu",
    ) -> PassSchedule:  # fmt: skip
        """From the ``up`` edges (child -> parent) and ``down`` edges (parent ->
        child) and the node heights and depths.  A graph in which some node has
        several parent edges (``up`` out-edges or ``down`` in-edges) gets the
        DAG form."""
        n = n_nodes
        if any_repeated(up.src, n) or any_repeated(down.dst, n):
            return cls.build_dag(n, up, down, height, depth, device)
        check_levels(n, up, down, height, depth, exact=True)
        top = int(height.max()) if n else 0

        # --- up pass: the up edges, by the height of their parent ------------------
        cons = np.full(n, top + 1, dtype=np.int64)  # consuming level: the parent's height
        cons[up.src] = height[up.dst]
        order = np.lexsort((cons, height))  # by height, then consuming level
        rows = np.empty(n, dtype=np.int64)
        rows[order] = np.arange(n)
        starts = np.searchsorted(height[order], np.arange(top + 2))
        # chunk sizes: counts of (height j, consuming level k)
        pair = np.zeros((top + 1, top + 2), dtype=np.int64)
        np.add.at(pair, (height, cons), 1)
        up_split = [pair[j, j + 1 :].tolist() for j in range(top + 1)]
        # each frontier's edges, by their child's global row (= its input order)
        e_level = cons[up.src]
        e_up = np.lexsort((rows[up.src], e_level))
        e_starts = np.searchsorted(e_level[e_up], np.arange(top + 2))
        up_levels = []
        for k in range(1, top + 1):
            e = e_up[e_starts[k] : e_starts[k + 1]]
            dst = 2 * (rows[up.dst[e]] - starts[k]) + up.position[e]
            n_dst = 2 * int(starts[k + 1] - starts[k])
            block = level_block(np.arange(len(e)), dst, len(e), n_dst, device)
            sources = [j for j in range(k) if pair[j, k]]
            up_levels.append(UpLevel(block, sources, torch.from_numpy(e)))

        # --- down pass: the down edges, by the depth of their child -----------------
        bottom = int(depth.max()) if n else 0
        dorder, drows, dstarts, n_internal = down_row_order(n, down, depth, bottom)
        d_level = depth[down.dst]
        e_down = np.lexsort((drows[down.dst], d_level))  # by level, then child row
        d_starts = np.searchsorted(d_level[e_down], np.arange(bottom + 2))
        down_levels = []
        for d in range(1, bottom + 1):
            e = e_down[d_starts[d] : d_starts[d + 1]]
            src = 2 * (drows[down.src[e]] - dstarts[d - 1]) + down.position[e]
            dst = drows[down.dst[e]] - dstarts[d]
            n_dst = int(dstarts[d + 1] - dstarts[d])
            block = level_block(src, dst, 2 * n_internal[d - 1], n_dst, device)
            down_levels.append(DownLevel(block, torch.from_numpy(e)))
        return cls(
            *_common(order, starts, rows, up_split, up_levels, device),
            *_common(dorder, dstarts, drows, n_internal, down_levels, device),
        )

    @classmethod
    def build_dag(
        cls, n_nodes: int, up: EdgeArrays, down: EdgeArrays, height: np.ndarray,
        depth: np.ndarray, device: torch.device | str = "cpu",
    ) -> PassSchedule:  # fmt: skip
        """The DAG form (see the module docstring); works for forests too.

        ``depth`` must be the longest path from a parentless node (as
        :func:`strae_graph.graph.batch.batch_trees` sets it for entangled graphs).
        """
        n = n_nodes
        check_levels(n, up, down, height, depth, exact=False)
        top = int(height.max()) if n else 0

        # --- up pass: levels by height ------------------------------------------
        k_e = height[up.dst]  # the level consuming each edge's child
        first_use = np.full(n, top + 1, dtype=np.int64)
        np.minimum.at(first_use, up.src, k_e)
        order = np.lexsort((first_use, height))
        rows = np.empty(n, dtype=np.int64)
        rows[order] = np.arange(n)
        starts = np.searchsorted(height[order], np.arange(top + 2))
        up_expand, up_split, up_src, up_blocks = dag_expansions(
            up.src, k_e, rows, starts, height[up.src], top
        )
        up_levels = []
        for k in range(1, top + 1):
            e_src, e = up_blocks[k]
            dst = 2 * (rows[up.dst[e]] - starts[k]) + up.position[e]
            n_dst = 2 * int(starts[k + 1] - starts[k])
            sources = [j for j in range(k) if up_split[j][k - j - 1]]
            block = level_block(e_src, dst, up_src[k], n_dst, device)
            up_levels.append(UpLevel(block, sources, torch.from_numpy(e)))

        # --- down pass: levels by depth (longest path from a parentless node) ----
        bottom = int(depth.max()) if n else 0
        dorder, drows, dstarts, n_internal = down_row_order(n, down, depth, bottom)
        d_e = depth[down.dst]  # the level consuming each edge's parent (its child's level)
        down_expand, down_split, down_src, down_blocks = dag_expansions(
            down.src, d_e, drows, dstarts, depth[down.src], bottom
        )
        down_levels = []
        for k in range(1, bottom + 1):
            pair, e = down_blocks[k]
            src = 2 * pair + down.position[e]  # the half for the child's position in that parent
            dst = drows[down.dst[e]] - dstarts[k]
            n_dst = int(dstarts[k + 1] - dstarts[k])
            sources = [j for j in range(k) if down_split[j][k - j - 1]]
            block = level_block(src, dst, 2 * down_src[k], n_dst, device)
            down_levels.append(DownLevel(block, torch.from_numpy(e), sources))
        return cls(
            *_common(order, starts, rows, up_split, up_levels, device),
            *_common(dorder, dstarts, drows, n_internal, down_levels, device),
            up_expand=[torch.from_numpy(x).to(device) for x in up_expand],
            down_expand=[torch.from_numpy(x).to(device) for x in down_expand],
            down_split=down_split,
        )


def _common(
    order: np.ndarray, starts: np.ndarray, rows: np.ndarray, counts: list, levels: list,
    device: torch.device | str,
) -> tuple:  # fmt: skip
    """One pass's fields of :class:`PassSchedule`, in field order: the node ids
    of level 0 in row order, ``counts`` (``up_split`` / ``n_internal``), the
    levels, every node's row, and the node ids of levels 1.. in row order."""
    nodes = [torch.from_numpy(order[a:b]).to(device) for a, b in zip(starts[:-1], starts[1:])]
    return nodes[0], counts, levels, torch.from_numpy(rows).to(device), nodes[1:]
