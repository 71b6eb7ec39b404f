"""The numpy side of a pass schedule (:mod:`strae_graph.graph.schedule`, whose
docstring describes the levels, row layout and DAG form): a graph's edges as
arrays (:class:`EdgeArrays`), the check of node heights and depths, the down
pass's row order, a DAG pass's (sender, consuming level) pairs and the DGL
block of one level."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from strae_graph.util.dgl import block_from_coo, dgl


@dataclass(frozen=True)
class EdgeArrays:
    """One edge type of a graph as numpy int64 arrays in edge-id order: edge
    ``e`` goes ``src[e] -> dst[e]`` and its ``position`` field is ``position[e]``
    (the child's slot in the parent: 0 left, 1 right)."""

    src: np.ndarray
    dst: np.ndarray
    position: np.ndarray

    @classmethod
    def of(cls, g: dgl.DGLGraph, etype: str) -> EdgeArrays:
        """The ``etype`` edges of ``g`` (no copy when ``g`` is on the CPU)."""
        src, dst = g.edges(etype=etype)
        position = g.edges[etype].data["position"]
        return cls(int64_array(src), int64_array(dst), int64_array(position))


def int64_array(t: torch.Tensor) -> np.ndarray:
    """``t`` as a numpy int64 array (no copy for a CPU int64 tensor)."""
    return np.asarray(t.cpu().numpy(), dtype=np.int64)


def any_repeated(ids: np.ndarray, n: int) -> bool:
    """Whether some node occurs more than once in ``ids``."""
    return bool(len(ids)) and int(np.bincount(ids, minlength=n).max()) > 1


def check_levels(
    n: int, up: EdgeArrays, down: EdgeArrays, height: np.ndarray, depth: np.ndarray, exact: bool
) -> None:
    """ValueError unless every up edge rises in height and every down edge
    descends in depth from a parentless node (depth 0); ``exact``: by one."""
    has_parent = np.zeros(n, dtype=bool)
    has_parent[down.dst] = True
    rises = height[up.dst] > height[up.src]
    steps = depth[down.dst] == depth[down.src] + 1 if exact else depth[down.dst] > depth[down.src]
    if not (rises.all() and steps.all()) or (depth[~has_parent] != 0).any():
        raise ValueError(
            "height must grow along every up edge and depth along every down edge, "
            "from 0 at a node without down in-edges"
            + (" (by one on a tree)" if exact else " (the longest path)")
        )


def down_row_order(
    n: int, down: EdgeArrays, depth: np.ndarray, bottom: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Row order of the down pass: by depth, nodes with ``down`` out-edges first.
    Returns (order, rows, level starts, such nodes per level)."""
    internal = np.zeros(n, dtype=bool)
    internal[down.src] = True
    dorder = np.lexsort((~internal, depth))
    drows = np.empty(n, dtype=np.int64)
    drows[dorder] = np.arange(n)
    dstarts = np.searchsorted(depth[dorder], np.arange(bottom + 2))
    return dorder, drows, dstarts, np.bincount(depth[internal], minlength=bottom + 1).tolist()


def dag_expansions(
    sender: np.ndarray,
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


def level_block(
    src: np.ndarray, dst: np.ndarray, n_src: int, n_dst: int, device: torch.device | str
) -> dgl.DGLGraph:
    b = block_from_coo(
        torch.from_numpy(np.ascontiguousarray(src, dtype=np.int64)),
        torch.from_numpy(np.ascontiguousarray(dst, dtype=np.int64)),
        int(n_src),
        int(n_dst),
    )
    if torch.device(device).type != "cpu":
        b = b.to(device)
    b.create_formats_()  # build the sparse formats now, not inside the training step
    return b
