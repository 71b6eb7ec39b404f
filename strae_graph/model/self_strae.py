"""Self-StrAE: the model builds each sentence's tree while composing it.

Starting from the leaf embeddings, every step computes the cosine of each
adjacent pair of a sentence's current frontier and merges the most similar
pair with the model's Compose (ties: the leftmost pair), one merge per
sentence per step, until one node is left.  The merges are the tree
(:class:`~strae_graph.trees.tree.Tree`, canonical numbering), which becomes a DGL
graph with :func:`~strae_graph.graph.batch.batch_trees`; the down pass and the
objectives then run on it exactly as for a given structure.

The merge loop is batched over sentences on padded tensors.  Sentences are
sorted longest first, so the sentences still merging at step ``s`` (those with
more than ``s + 1`` tokens) are a prefix of the batch: finished ones drop out
of the tensors, and positions past a sentence's frontier are excluded from the
argmax by an explicit mask (padding is zeros, never a sentinel value).

Up embeddings are REUSED, not recomputed: the embeddings the merge loop
composed (with gradients, and with the same dropout that decided the merges)
are put in graph node order and handed to ``model.down`` and ``model.loss``.
Recomputing ``model.up`` on the graph gives the same values (tested, in eval
mode) but would cost a second composition pass, and under dropout it would
compose different noisy embeddings from those that chose the tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from strae_graph.graph.batch import Frontiers, batch_trees
from strae_graph.model.config import StrAEConfig
from strae_graph.model.strae import StrAE, StrAEOutput
from strae_graph.trees.tree import Tree
from strae_graph.util.dgl import dgl

__all__ = ["MergeResult", "SelfStep", "induce_trees", "merge", "self_forward"]


@dataclass
class MergeResult:
    """What the merge loop produced for a batch of B sentences.

    trees: B canonical trees (leaves = ``sentences[b]``, or the ids as strings).
    up: (N, K, U) up embeddings in the node order of ``batch_trees(trees, ...)``,
        N = sum of 2 n_b - 1; differentiable w.r.t. the model's parameters.
    """

    trees: list[Tree]
    up: torch.Tensor


def merge(
    model: StrAE,
    token_ids: Sequence[Sequence[int]],
    sentences: Sequence[Sequence[str]] | None = None,
    device: str | torch.device | None = None,
) -> MergeResult:
    """Greedy merging of the most similar adjacent pair, batched over sentences.

    Runs in the model's current mode (dropout in train mode) and with autograd
    unless the caller disables it.  ``token_ids[b]``: vocabulary ids of
    sentence b (at least one).  The steps: the leaf embeddings, the padded
    frontier (:class:`_Frontier`), the merge loop (:func:`_merge_loop`), the
    trees (:func:`_trees`) and the up embeddings in graph order (:func:`_up_rows`).
    """
    c: StrAEConfig = model.config
    device = torch.device(device) if device is not None else model.embedding.weight.device
    lengths = _lengths(token_ids, sentences)
    # leaf embeddings, flat in graph order (sentence-major), as StrAE.embed_leaves
    flat_ids = torch.from_numpy(np.concatenate([np.asarray(s, dtype=np.int64) for s in token_ids]))
    leaves = model.input_dropout(model.embedding(flat_ids.to(device)))
    leaves = leaves.view(-1, c.channels, c.channel_size)
    fr = _Frontier.of(leaves, lengths, device)
    steps = _merge_loop(model, fr)
    trees, parent_rows, parent_dest = _trees(steps, fr, lengths, token_ids, sentences)
    return MergeResult(trees=trees, up=_up_rows(leaves, lengths, steps, parent_rows, parent_dest))


def _lengths(
    token_ids: Sequence[Sequence[int]], sentences: Sequence[Sequence[str]] | None
) -> np.ndarray:
    """The sentences' lengths; ValueError for no sentence, an empty one, or
    ``sentences`` that do not match the ids."""
    lengths = np.fromiter((len(s) for s in token_ids), dtype=np.int64, count=len(token_ids))
    if len(lengths) == 0:
        raise ValueError("cannot induce trees for zero sentences")
    if (lengths < 1).any():
        b = int(np.flatnonzero(lengths < 1)[0])
        raise ValueError(f"sentence {b} is empty; every sentence needs at least one token")
    if sentences is not None:
        if len(sentences) != len(token_ids):
            raise ValueError(f"{len(sentences)} sentences but {len(token_ids)} token id lists")
        for b, (s, ids) in enumerate(zip(sentences, token_ids)):
            if len(s) != len(ids):
                raise ValueError(f"sentence {b} has {len(s)} tokens but {len(ids)} ids")
    return lengths


@dataclass
class _Frontier:
    """The padded frontier of a batch, longest sentence first (row r holds
    sentence ``order[r]``): embeddings (B, n_max, K, U), zeros past a sentence's
    end, and the merge-order node id of every slot (leaves 0..n-1, the merge of
    step s is n + s; -1 past the end)."""

    order: np.ndarray
    sorted_np: np.ndarray  # lengths, row order
    sorted_len: torch.Tensor
    pos: torch.Tensor  # 0 .. n_max - 1
    emb: torch.Tensor
    node_id: torch.Tensor

    @classmethod
    def of(cls, leaves: torch.Tensor, lengths: np.ndarray, device: torch.device) -> _Frontier:
        n_sent, n_max = len(lengths), int(lengths.max())
        k, u = leaves.shape[1:]
        order = np.argsort(-lengths, kind="stable")
        sorted_np = lengths[order]
        sorted_len = torch.from_numpy(sorted_np).to(device)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])  # leaf offset of each sentence
        pos = torch.arange(n_max, device=device)
        in_sentence = pos[None, :] < sorted_len[:, None]  # (B, n_max)
        leaf_index = torch.from_numpy(starts[order]).to(device)[:, None] + pos[None, :]
        rows, cols = torch.nonzero(in_sentence, as_tuple=True)
        emb = leaves.new_zeros(n_sent, n_max, k, u).index_put(
            (rows, cols), leaves[leaf_index[rows, cols]]
        )
        node_id = torch.where(
            in_sentence, pos[None, :], torch.full_like(in_sentence, -1, dtype=torch.long)
        )
        return cls(order, sorted_np, sorted_len, pos, emb, node_id)


@dataclass
class _Steps:
    """The merges, step by step: ``parents[s]`` (A_s, K, U) for rows 0..A_s-1 of
    the batch, and the merge-order ids of their left and right children."""

    parents: list[torch.Tensor]
    lefts: list[torch.Tensor]
    rights: list[torch.Tensor]


def _merge_loop(model: StrAE, fr: _Frontier) -> _Steps:
    """Merge the most similar adjacent pair of every active sentence until each
    has one node (ties: the leftmost pair)."""
    frontier, node_id, pos, sorted_len = fr.emb, fr.node_id, fr.pos, fr.sorted_len
    n_max, k, u = frontier.shape[1:]
    steps = _Steps([], [], [])
    for step in range(n_max - 1):
        active = int((fr.sorted_np > step + 1).sum())  # sentences with >= 2 frontier nodes
        width = n_max - step  # the longest active sentence's frontier
        frontier, node_id = frontier[:active, :width], node_id[:active, :width]
        count = sorted_len[:active] - step  # frontier size of each active sentence
        with torch.no_grad():
            x = frontier.reshape(active, width, k * u)
            cos = F.cosine_similarity(x[:, :-1], x[:, 1:], dim=-1)  # (A, width - 1)
            pair_ok = pos[None, : width - 1] < (count - 1)[:, None]
            best = cos.masked_fill(~pair_ok, float("-inf")).argmax(dim=1)  # first max: leftmost
        r = torch.arange(active, device=frontier.device)
        parent = model.compose(frontier[r, best], frontier[r, best + 1])  # (A, K, U)
        steps.parents.append(parent)
        steps.lefts.append(node_id[r, best])
        steps.rights.append(node_id[r, best + 1])
        # new frontier: slots before `best` stay, `best` takes the parent, the rest shift left
        p = pos[None, : width - 1]
        src = p + (p > best[:, None]).long()  # (A, width - 1)
        shifted = frontier.gather(1, src[:, :, None, None].expand(-1, -1, k, u))
        is_new = (p == best[:, None])[:, :, None, None]
        frontier = torch.where(is_new, parent[:, None], shifted)
        new_id = sorted_len[:active] + step
        node_id = torch.where(p == best[:, None], new_id[:, None], node_id.gather(1, src))
    return steps


def _trees(
    steps: _Steps,
    fr: _Frontier,
    lengths: np.ndarray,
    token_ids: Sequence[Sequence[int]],
    sentences: Sequence[Sequence[str]] | None,
) -> tuple[list[Tree], np.ndarray, np.ndarray]:
    """The canonical trees of the merges, and for every merge its row among the
    concatenated ``steps.parents`` and its node in graph order (per-sentence
    bookkeeping on small integer arrays: not the hot path)."""
    left_np = [t.cpu().numpy() for t in steps.lefts]
    right_np = [t.cpu().numpy() for t in steps.rights]
    n_sent = len(lengths)
    rank = np.empty(n_sent, dtype=np.int64)
    rank[fr.order] = np.arange(n_sent)  # row of sentence b
    trees: list[Tree] = []
    graph_offset = _graph_offsets(lengths)
    step_base = np.concatenate([[0], np.cumsum([len(t) for t in left_np])])  # row offsets
    parent_rows = np.empty(int((lengths - 1).sum()), dtype=np.int64)
    parent_dest = np.empty_like(parent_rows)
    filled = 0
    for b in range(n_sent):
        n, row = int(lengths[b]), int(rank[b])
        children = [(int(left_np[s][row]), int(right_np[s][row])) for s in range(n - 1)]
        tokens = sentences[b] if sentences is not None else [str(i) for i in token_ids[b]]
        merged = Tree(tuple(tokens), tuple(children))
        tree = merged.canonical()
        trees.append(tree)
        if n > 1:
            canon_of_span = {span: v for v, span in enumerate(tree.spans())}
            merged_spans = merged.spans()
            for s in range(n - 1):
                parent_rows[filled] = step_base[s] + row
                parent_dest[filled] = graph_offset[b] + canon_of_span[merged_spans[n + s]]
                filled += 1
    return trees, parent_rows, parent_dest


def _graph_offsets(lengths: np.ndarray) -> np.ndarray:
    """The first graph node of every sentence (a sentence of n tokens has 2n - 1)."""
    return np.concatenate([[0], np.cumsum(2 * lengths - 1)[:-1]])


def _up_rows(
    leaves: torch.Tensor,
    lengths: np.ndarray,
    steps: _Steps,
    parent_rows: np.ndarray,
    parent_dest: np.ndarray,
) -> torch.Tensor:
    """(N, K, U): the leaves' and the merges' embeddings in graph node order."""
    device = leaves.device
    graph_offset = np.concatenate([[0], np.cumsum(2 * lengths - 1)[:-1]])
    n_nodes = int((2 * lengths - 1).sum())
    leaf_dest = np.concatenate(
        [graph_offset[b] + np.arange(lengths[b]) for b in range(len(lengths))]
    )
    up = leaves.new_zeros(n_nodes, *leaves.shape[1:]).index_copy(
        0, torch.from_numpy(leaf_dest).to(device), leaves
    )
    if steps.parents:
        all_parents = torch.cat(steps.parents)
        up = up.index_copy(
            0,
            torch.from_numpy(parent_dest).to(device),
            all_parents[torch.from_numpy(parent_rows).to(device)],
        )
    return up


def induce_trees(
    model: StrAE,
    token_ids: Sequence[Sequence[int]],
    sentences: Sequence[Sequence[str]] | None = None,
) -> list[Tree]:
    """The trees the model induces (eval mode, no dropout, no gradients).

    Leaves are ``sentences[b]`` when given, else the ids written as strings.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return merge(model, token_ids, sentences).trees
    finally:
        model.train(was_training)


@dataclass
class SelfStep:
    """One Self-StrAE forward pass: the output, the induced trees, their graph."""

    output: StrAEOutput
    trees: list[Tree]
    graph: dgl.DGLGraph


def self_forward(
    model: StrAE,
    token_ids: Sequence[Sequence[int]],
    sentences: Sequence[Sequence[str]] | None = None,
    entangle: bool = False,
) -> SelfStep:
    """Induce the trees, then the down pass and the objective on their graph.

    The loss is differentiable through every composition of the merge loop.
    With ``entangle`` the graph of the induced trees is entangled
    (:func:`~strae_graph.graph.batch.batch_trees`) and each shared node's up
    embedding is the one the merge loop composed at its FIRST occurrence in
    the batch (the others only decided their own merges).  Without dropout
    (eval mode) every occurrence has the same up embedding, so this is exactly
    the entangled up pass; under dropout it is that occurrence's noisy sample.
    """
    merged = merge(model, token_ids, sentences)
    device = model.embedding.weight.device
    g = batch_trees(merged.trees, token_ids, device=device, entangle=entangle)
    frontiers = Frontiers.of(g)
    up = merged.up[g.ndata["first_plain"]] if entangle else merged.up
    down = model.down(g, up, frontiers)
    n = g.num_nodes()
    up, down = up.reshape(n, -1), down.reshape(n, -1)
    loss, parts = model.loss(g, up, down)
    return SelfStep(StrAEOutput(up=up, down=down, loss=loss, parts=parts), merged.trees, g)
