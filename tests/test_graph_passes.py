"""The passes run on the graph the user gets: every up (down) message travels
along one of the batched graph's own ``up`` (``down``) edges, in the slot of
that edge's ``position``, and the levels are built once by ``batch_trees``."""

import random

import pytest
import torch

from strae_graph import batch_trees, tree_to_graph
from strae_graph.graph.batch import DOWN, NODE, UP, Frontiers
from strae_graph.graph.schedule import PassSchedule
from strae_graph.trees.tree import Tree
from strae_graph.util.dgl import dgl
from tests.conftest import random_tree_shapes
from tests.test_entangle import ids_of, random_batch_with_repeats
from tests.test_model import make_model

T = lambda s: Tree.from_brackets(s, labelled=False)  # noqa: E731


def close(a, b):
    torch.testing.assert_close(a, b, rtol=0, atol=1e-14)


def level_nodes(first: torch.Tensor, rest: list[torch.Tensor]) -> list[torch.Tensor]:
    return [first, *rest]


def inputs(nodes, expand, split, level, k):
    """Node of every input row of level ``k``: the chunks of its source levels
    (DAG: after the expansion), as the passes concatenate them."""
    parts = []
    for j in level.sources:
        rows = nodes[j] if expand is None else nodes[j][expand[j]]
        parts.append(torch.split(rows, split[j])[k - j - 1])
    return torch.cat(parts)


def up_messages(g):
    """[(child, parent, position)] each up block carries, read off the blocks
    and the schedule's row layout, with the graph edge ids the levels name."""
    sch = Frontiers.of(g).schedule
    nodes = level_nodes(sch.leaf_order, sch.up_nodes)
    out = []
    for k, level in enumerate(sch.up_levels, start=1):
        x = inputs(nodes, sch.up_expand, sch.up_split, level, k)
        src, dst = level.block.edges()
        triples = torch.stack([x[src], nodes[k][dst // 2], dst % 2], 1)
        out.append((triples, level.eids))
    return out


def down_messages(g):
    """[(parent, child, position)] each down block carries (see up_messages)."""
    sch = Frontiers.of(g).schedule
    nodes = level_nodes(sch.root_order, sch.down_nodes)
    out = []
    for k, level in enumerate(sch.down_levels, start=1):
        if sch.is_dag:
            halves = inputs(nodes, sch.down_expand, sch.down_split, level, k)
        else:
            halves = nodes[k - 1][: sch.n_internal[k - 1]]
        src, dst = level.block.edges()
        triples = torch.stack([halves[src // 2], nodes[k][dst], src % 2], 1)
        out.append((triples, level.eids))
    return out


def graph_triples(g, etype, eids):
    src, dst = g.find_edges(eids, etype=etype)
    return torch.stack([src, dst, g.edges[etype].data["position"][eids]], 1)


def batches():
    rng = random.Random(4)
    trees = random_tree_shapes(rng, 20, max_len=30)
    ids = [[int(t[1:]) for t in tree.tokens] for tree in trees]
    counter = iter(range(1, 10_000))
    distinct = [[next(counter) for _ in t.tokens] for t in trees]
    dag_trees, dag_ids = random_batch_with_repeats(2)
    return [
        batch_trees(trees, ids),
        batch_trees(trees, distinct, entangle=True),  # no repeated span: a forest
        batch_trees(dag_trees, dag_ids, entangle=True),
    ]


@pytest.mark.parametrize("which", [0, 1, 2])
def test_every_message_travels_along_its_own_graph_edge(which):
    g = batches()[which]
    assert Frontiers.of(g).schedule.is_dag == (which == 2)
    for etype, messages in ((UP, up_messages(g)), (DOWN, down_messages(g))):
        for triples, eids in messages:
            assert torch.equal(triples, graph_triples(g, etype, eids))
        # the levels together carry every edge of that type exactly once
        eids = torch.cat([e for _, e in messages])
        assert torch.equal(eids.sort().values, torch.arange(g.num_edges(etype)))


def test_a_trees_networkx_edges_are_the_down_pass_edges():
    tree = T("((a b) (c (d e)))")
    g = tree_to_graph(tree, [1, 2, 3, 4, 5])
    carried = {tuple(t[:2]) for triples, _ in down_messages(g) for t in triples.tolist()}
    shown = set(zip(*(t.tolist() for t in g.edges(etype=DOWN))))
    assert carried == set(tree.to_networkx().edges) == shown


def test_the_down_pass_takes_each_half_from_the_down_edge_position():
    tree = T("((a b) (c (d e)))")
    g = tree_to_graph(tree, [1, 2, 3, 4, 5])
    src, dst = g.edges(etype=DOWN)
    e = int(torch.nonzero(dst == 2)[0])  # the down edge into leaf c (parent 7, left)
    flipped = g.edges[DOWN].data["position"].clone()
    flipped[e] = 1 - flipped[e]
    h = dgl.heterograph({et: g.edges(etype=et) for et in (UP, DOWN)}, {NODE: g.num_nodes()})
    h.ndata.update(g.ndata)
    h.edges[UP].data["position"] = g.edges[UP].data["position"].clone()
    h.edges[DOWN].data["position"] = flipped  # only this down edge's position differs
    model = make_model(vocab_size=6).double()
    up_g, up_h = model.up(g), model.up(h)
    assert torch.equal(up_g, up_h)  # the up pass does not read the down edges
    down_g, down_h = model.down(g, up_g), model.down(h, up_h)
    p, pos = int(src[e]), int(g.edges[DOWN].data["position"][e])
    halves = model.decompose(down_g[p][None])[0]
    close(down_g[2], halves[pos])
    close(down_h[2], halves[1 - pos])
    assert not torch.allclose(halves[0], halves[1])
    others = torch.arange(g.num_nodes()) != 2
    close(down_h[others], down_g[others])


def test_dropping_a_down_edge_changes_only_the_node_it_feeds():
    trees = [T("(the dog)"), T("(dog barks)")]
    g = batch_trees(trees, ids_of(trees), entangle=True)
    src, dst = g.edges(etype=DOWN)
    dog = 1
    into_dog = torch.nonzero(dst == dog).flatten()
    assert len(into_dog) == 2  # [the dog] (right) and [dog barks] (left)
    keep, drop = int(into_dog[0]), int(into_dog[1])
    h = dgl.remove_edges(g, torch.tensor([drop]), etype="down")
    model = make_model(vocab_size=6).double()
    up = model.up(g)
    assert torch.equal(model.up(h), up)
    down_g, down_h = model.down(g, up), model.down(h, up)
    parent, pos = int(src[keep]), int(g.edges[DOWN].data["position"][keep])
    want = model.decompose(down_g[parent][None])[0, pos]  # the one parent left
    close(down_h[dog], want)
    assert not torch.allclose(down_g[dog], want)
    others = torch.arange(g.num_nodes()) != dog
    close(down_h[others], down_g[others])


def test_batch_trees_builds_the_levels_once_and_keeps_them(monkeypatch):
    trees = [T("(the dog)"), T("((the dog) barks)"), T("(a dog)")]
    for entangle in (False, True):
        g = batch_trees(trees, ids_of(trees), entangle=entangle)

        def rebuilt(*a, **k):
            raise AssertionError("batch_trees' own frontiers were not used")

        with monkeypatch.context() as m:
            m.setattr(PassSchedule, "of", classmethod(rebuilt))
            fr = Frontiers.of(g)
            make_model(vocab_size=6)(g)
        assert fr is g.frontiers
    # a graph changed in place gets new levels, from its changed edges
    g.remove_edges(torch.tensor([0]), etype="up")
    new = Frontiers.of(g)
    assert new is not fr and sum(len(lv.eids) for lv in new.schedule.up_levels) == 5
