"""Trees as DGL graphs with directed ``up`` (child -> parent) and ``down``
(parent -> child) edges, and batches of them.

Node fields (``g.ndata``):
  ``token``    int64 (N,)  vocabulary id; meaningful only where ``is_leaf``
  ``is_leaf``  bool  (N,)
  ``is_root``  bool  (N,)
  ``position`` int64 (N,)  0 = left child, 1 = right child (0 for roots)
  ``height``   int64 (N,)  0 for leaves; 1 + max over children
  ``depth``    int64 (N,)  0 for roots; 1 + parent's depth
Edge field (both edge types): ``position`` int64 (E,), the child's position.
Edge ``e`` of ``down`` is edge ``e`` of ``up`` reversed.

How the passes use the graph.  The model's passes send their messages along
this graph's own edges: the up pass along the ``up`` edges, the down pass
along the ``down`` edges, each message into (up) or out of (down) the
parent's slot for the edge's ``position``.  They run one level at a time on
per-level DGL blocks that are edge subgraphs of the graph
(:mod:`strae_graph.graph.schedule`): up level ``k`` holds the ``up`` edges into the
nodes of height ``k``, down level ``d`` the ``down`` edges into the nodes of
depth ``d``, and ``level.eids`` names them by edge id.  :func:`batch_trees`
builds these levels once, on the CPU from the same edge arrays, before moving
the graph to its device, and keeps them on the graph (``g.frontiers``, what
:meth:`Frontiers.of` returns); a graph made otherwise (``dgl.batch``, edited
copies) gets its levels from its own edges when :meth:`Frontiers.of` is
called.  So the ``down`` edges a user sees (``g.edges(etype="down")``,
``dgl.to_networkx``; for one tree the parent -> child edges of
``Tree.to_networkx``) are exactly the ones the down pass sends messages along.

Entangled batches (``batch_trees(..., entangle=True)``, SPEC.md "Entangled
trees").  Identical spans of the batch become ONE node, so the graph is a DAG,
not a forest:

* every distinct vocabulary id is one leaf node (all unknown words, id 0, are
  therefore one leaf);
* every distinct ordered pair (left child node, right child node) is one
  parent node.  Applied bottom-up, identical subtrees (same tokens, same
  internal structure) collapse recursively; the same tokens under another
  bracketing stay distinct.
* Node ids follow the first occurrence in the plain (non-entangled) batch
  numbering, so children come before parents, and a batch in which no span
  repeats gets exactly the plain graph (same ids, edges and fields).
* The DAG is made by the same path as a plain batch: its edge and node arrays
  are reduced from the plain ones, then the same construction builds the
  graph, its per-level blocks and its ``frontiers``.

The fields then mean:
  ``is_root``   the node is the root of at least one sentence (it may also be
                an inner node of another sentence, and then has parents)
  ``position``  the child's position in its lowest-numbered parent (0 when it
                has none); a node can be the left child of one parent and the
                right child of another: the ``up``/``down`` edges carry the
                position that holds for each parent
  ``height``    0 for leaves; 1 + max over children (the longest path to a leaf)
  ``depth``     0 for a node with no parent; otherwise 1 + the largest depth
                of its parents (the longest path from a parentless node), so a
                node is processed in the down pass after ALL its parents
  ``first_plain`` int64 (N,) the node's first occurrence in the plain batch
                numbering (only on entangled graphs)
A child occurring in both slots of one parent (the span ``x x``) has two edges
to it, one per position.  :func:`roots` gives one root id per sentence (two
identical sentences share it); ``batch_num_nodes`` is the whole graph.

The up pass is unchanged (each node composes its two children).  Down pass
(:meth:`strae_graph.model.strae.StrAE.down`): a node with no parent keeps
down = up; a node with one or more parent edges takes the MEAN of the halves
it receives, each parent sending the half for the child's position in THAT
parent (one half per edge).  A span that is a sentence's root in one sentence
and an inner node of another has a parent, so its down embedding is that mean
too, not its up embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import torch

from strae_graph.graph.schedule import PassSchedule
from strae_graph.trees.tree import Tree
from strae_graph.util.dgl import dgl

NODE = "node"
UP = (NODE, "up", NODE)
DOWN = (NODE, "down", NODE)


def _batch_arrays(
    trees: Sequence[Tree], token_ids: Sequence[Sequence[int]]
) -> tuple[np.ndarray, ...]:
    """The plain (forest) arrays of a batch, vectorised over its trees:
    (src, dst, pos) of the ``up`` edges, per-node token, leaf and root flags,
    height and depth, and the nodes per tree.  Tree ``b``'s nodes follow those
    of trees ``< b``; its edges are its internal nodes' (left, right) pairs."""
    n_trees = len(trees)
    n_leaves = np.fromiter((len(t.tokens) for t in trees), dtype=np.int64, count=n_trees)
    n_ids = np.fromiter((len(x) for x in token_ids), dtype=np.int64, count=n_trees)
    if (n_ids != n_leaves).any():
        b = int(np.flatnonzero(n_ids != n_leaves)[0])
        raise ValueError(f"tree {b} has {n_leaves[b]} leaves but {n_ids[b]} token ids")
    n_nodes = 2 * n_leaves - 1
    offsets = np.cumsum(n_nodes) - n_nodes
    total = int(n_nodes.sum())
    pairs = chain.from_iterable(chain.from_iterable(t.children for t in trees))
    n_tokens = int(n_leaves.sum())
    n_edges = 2 * (n_tokens - n_trees)
    src = np.fromiter(pairs, dtype=np.int64, count=n_edges) + np.repeat(offsets, 2 * (n_leaves - 1))
    leaf = np.arange(total) - np.repeat(offsets, n_nodes) < np.repeat(n_leaves, n_nodes)
    dst = np.repeat(np.flatnonzero(~leaf), 2)  # each internal node, once per child
    pos = np.tile(np.array([0, 1], dtype=np.int64), n_edges // 2)
    token = np.zeros(total, dtype=np.int64)
    token[leaf] = np.fromiter(chain.from_iterable(token_ids), dtype=np.int64, count=n_tokens)
    root = np.zeros(total, dtype=bool)
    root[offsets + n_nodes - 1] = True
    height = _heights(src, dst, leaf)
    return src, dst, pos, token, leaf, root, height, _depths(src, dst, total), n_nodes


def _heights(src: np.ndarray, dst: np.ndarray, leaf: np.ndarray) -> np.ndarray:
    """Every node's height (leaves 0, else 1 + the larger of its children's),
    as :meth:`Tree.heights`: one vectorised round per height level, each
    settling the internal nodes whose two children are settled (post-order:
    the lowest unsettled node of each tree always is)."""
    height = np.zeros(len(leaf), dtype=np.int64)
    done = leaf.copy()
    node, left, right = dst[0::2], src[0::2], src[1::2]
    while len(node):
        ready = done[left] & done[right]
        settled = node[ready]
        height[settled] = 1 + np.maximum(height[left[ready]], height[right[ready]])
        done[settled] = True
        wait = ~ready
        node, left, right = node[wait], left[wait], right[wait]
    return height


def _depths(src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray:
    """Every node's depth (roots 0, else 1 + its parent's), as :meth:`Tree.depths`,
    by pointer jumping: log2(height) vectorised rounds."""
    up = np.arange(n)
    up[src] = dst  # a root points to itself
    depth = (up != np.arange(n)).astype(np.int64)  # distance to the node ``up`` points to
    while True:
        upup = up[up]
        if np.array_equal(upup, up):
            return depth
        depth = depth + depth[up]
        up = upup


def batch_trees(
    trees: Sequence[Tree],
    token_ids: Sequence[Sequence[int]],
    device: str | torch.device = "cpu",
    entangle: bool = False,
) -> dgl.DGLGraph:
    """One batched DGL graph for many trees (equal to ``dgl.batch`` of
    :func:`tree_to_graph` of each tree, built in one step), on ``device``, with
    its per-level blocks in ``g.frontiers`` (see the module docstring).

    ``token_ids[b]`` holds the vocabulary ids of tree ``b``'s leaves.  With
    ``entangle``, identical spans are one node and the graph is a DAG (see the
    module docstring).
    """
    if len(trees) != len(token_ids):
        raise ValueError(f"{len(trees)} trees but {len(token_ids)} token id lists")
    if not trees:
        raise ValueError("cannot batch zero trees")
    src, dst, pos, token, leaf, root, height, depth, n_nodes = _batch_arrays(trees, token_ids)
    if entangle:
        return _graph(*_entangled(n_nodes, src, dst, pos, token, leaf, height), device)
    node_pos = np.zeros(len(token), dtype=np.int64)
    node_pos[src] = pos
    fields = {"token": token, "is_leaf": leaf, "is_root": root,
              "position": node_pos, "height": height, "depth": depth}  # fmt: skip
    # each tree: 2 edges per internal node, n_nodes - 1 in all
    return _graph(src, dst, pos, fields, n_nodes, n_nodes - 1, None, device)


def _graph(
    src: np.ndarray, dst: np.ndarray, pos: np.ndarray, fields: dict[str, np.ndarray],
    batch_nodes: np.ndarray, batch_edges: np.ndarray, sentence_roots: np.ndarray | None,
    device: str | torch.device,
) -> dgl.DGLGraph:  # fmt: skip
    """The one construction of :func:`batch_trees` (plain and entangled): the
    graph with ``up`` edges ``src -> dst`` and ``down`` edges ``dst -> src``
    (same ids), each with the child's ``position``, and the node ``fields``;
    its frontiers are built from its own edges here on the CPU, then graph and
    frontiers move to ``device``."""
    src_t, dst_t, pos_t = (torch.from_numpy(np.ascontiguousarray(a)) for a in (src, dst, pos))
    n = len(fields["token"])
    g = dgl.heterograph({UP: (src_t, dst_t), DOWN: (dst_t, src_t)}, num_nodes_dict={NODE: n})
    for k, v in fields.items():
        g.ndata[k] = torch.from_numpy(v)
    for etype in (UP, DOWN):
        g.edges[etype].data["position"] = pos_t
    g.set_batch_num_nodes({NODE: torch.from_numpy(batch_nodes)})
    e = torch.from_numpy(batch_edges)
    g.set_batch_num_edges({UP: e, DOWN: e.clone()})
    frontiers = Frontiers.build(g, device)
    g = g.to(device)
    g.frontiers = frontiers
    if sentence_roots is not None:
        g.sentence_roots = torch.from_numpy(sentence_roots).to(device)
    return g


def entangle_nodes(
    src: np.ndarray, dst: np.ndarray, pos: np.ndarray, token: np.ndarray,
    is_leaf: np.ndarray, height: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """The entangled node of every node of a plain batch (arrays as built by
    :func:`batch_trees`: ``up`` edges ``src -> dst`` with the child's position,
    per-node token, leaf flag and height): ``node_of`` (N_plain,), numbered by
    first occurrence, so ``node_of`` of a batch without repeats is the identity.

    Leaves are keyed by token id; a parent by the entangled ids of its (left,
    right) children, assigned height level by height level (a node's children
    have smaller heights, so their ids are known by then).
    """
    n = len(token)
    cls = np.empty(n, dtype=np.int64)
    leaves = np.flatnonzero(is_leaf)
    _, cls[leaves] = np.unique(token[leaves], return_inverse=True)
    n_cls = int(cls[leaves].max()) + 1 if len(leaves) else 0
    left = np.empty(n, dtype=np.int64)
    right = np.empty(n, dtype=np.int64)
    left[dst[pos == 0]] = src[pos == 0]
    right[dst[pos == 1]] = src[pos == 1]
    internal = np.flatnonzero(~is_leaf)
    internal = internal[np.argsort(height[internal], kind="stable")]
    bounds = np.searchsorted(height[internal], np.arange(1, int(height.max()) + 2))
    for a, b in zip(bounds[:-1], bounds[1:]):
        v = internal[a:b]
        if len(v) == 0:
            continue
        key = cls[left[v]] * n + cls[right[v]]  # ids < n, so the key is exact
        uniq, inv = np.unique(key, return_inverse=True)
        cls[v] = n_cls + inv
        n_cls += len(uniq)
    _, first = np.unique(cls, return_index=True)  # first occurrence of each class
    new_id = np.empty(n_cls, dtype=np.int64)
    new_id[np.argsort(first, kind="stable")] = np.arange(n_cls)
    return new_id[cls]


def _entangled(
    n_nodes: np.ndarray, src: np.ndarray, dst: np.ndarray, pos: np.ndarray, token: np.ndarray,
    is_leaf: np.ndarray, height: np.ndarray,
) -> tuple:  # fmt: skip
    """The arguments of :func:`_graph` for the DAG of a batch, from its plain
    (forest) arrays; see the module docstring."""
    node_of = entangle_nodes(src, dst, pos, token, is_leaf, height)
    n = int(node_of.max()) + 1
    first = np.full(n, len(node_of), dtype=np.int64)
    np.minimum.at(first, node_of, np.arange(len(node_of)))
    # the edges of every node's first occurrence (each distinct node has one
    # (left, right) pair); plain edges are in parent order, so these are too
    keep = first[node_of[dst]] == dst
    e_src, e_dst, e_pos = node_of[src[keep]], node_of[dst[keep]], pos[keep]
    depth = np.zeros(n, dtype=np.int64)
    e_height = height[first][e_dst]
    by_height = np.argsort(-e_height, kind="stable")  # parents before their children
    hb = np.flatnonzero(np.diff(e_height[by_height])) + 1
    for chunk in np.split(by_height, hb):  # a parent's own parents are all higher
        np.maximum.at(depth, e_src[chunk], depth[e_dst[chunk]] + 1)
    sentence_roots = node_of[np.cumsum(n_nodes) - 1]
    is_root = np.zeros(n, dtype=bool)
    is_root[sentence_roots] = True
    node_pos = np.zeros(n, dtype=np.int64)
    _, first_edge = np.unique(e_src, return_index=True)  # edges sorted by parent
    node_pos[e_src[first_edge]] = e_pos[first_edge]
    fields = {"token": token[first], "is_leaf": is_leaf[first], "is_root": is_root,
              "position": node_pos, "height": height[first], "depth": depth,
              "first_plain": first}  # fmt: skip
    return (e_src, e_dst, e_pos, fields, np.array([n]), np.array([len(e_src)]), sentence_roots)


def is_entangled(g: dgl.DGLGraph) -> bool:
    """True for a graph made by ``batch_trees(..., entangle=True)``."""
    return "first_plain" in g.ndata


def tree_to_graph(tree: Tree, token_ids: Sequence[int]) -> dgl.DGLGraph:
    """The DGL graph of one tree (see the module docstring for its fields)."""
    return batch_trees([tree], [token_ids])


def roots(g: dgl.DGLGraph) -> torch.Tensor:
    """Node ids of the roots of a (batched) graph, one per tree, in batch order.

    On an entangled graph two identical sentences give the same id twice; the
    ids are kept on the graph object ``batch_trees`` returned (a copy of it,
    e.g. by ``.to(device)``, loses them: an error, not a wrong answer).
    """
    if is_entangled(g):
        r = getattr(g, "sentence_roots", None)
        if r is None:
            raise ValueError(
                "this entangled graph has lost its per-sentence roots (copied or moved "
                "after batch_trees); use the graph batch_trees returned"
            )
        return r
    return torch.nonzero(g.ndata["is_root"], as_tuple=True)[0]


@dataclass
class Frontiers:
    """Topological frontiers of a batched graph.

    ``up[k]``: nodes of height ``k + 1`` (their children are all done before
    them); ``down[k]``: nodes of depth ``k + 1`` (on an entangled graph: the
    longest path from a parentless node, so all parents are done before).
    Leaves (height 0) and roots (depth 0) start the two passes and are not
    listed.  ``schedule`` holds the per-frontier DGL blocks the model's passes
    run on, edge subgraphs of the graph's ``up`` and ``down`` edges (see
    :mod:`strae_graph.graph.schedule`).
    """

    up: list[torch.Tensor]
    down: list[torch.Tensor]
    schedule: PassSchedule
    #: (nodes, up edges, down edges) of the graph built from; None if unknown
    shape: tuple[int, int, int] | None = None

    @classmethod
    def of(cls, g: dgl.DGLGraph) -> Frontiers:
        """The frontiers of ``g``: those :func:`batch_trees` built and kept on
        it (``g.frontiers``), else (a graph made otherwise, or whose node or
        edge counts changed since) built now from its own edges.  An edge
        ``position`` changed in place is not noticed: change a copy."""
        kept = getattr(g, "frontiers", None)
        if isinstance(kept, Frontiers) and kept.shape == _shape(g):
            return kept
        return cls.build(g)

    @classmethod
    def build(cls, g: dgl.DGLGraph, device: str | torch.device | None = None) -> Frontiers:
        """New frontiers from ``g``'s ``up`` and ``down`` edges, their blocks on
        ``device`` (default: the graph's)."""
        sch = PassSchedule.of(g, device)
        return cls(up=sch.up_nodes, down=sch.down_nodes, schedule=sch, shape=_shape(g))


def _shape(g: dgl.DGLGraph) -> tuple[int, int, int]:
    return g.num_nodes(), g.num_edges(UP), g.num_edges(DOWN)
