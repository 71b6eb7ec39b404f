"""The DGL passes against a plain recursive reference, losses, parameters."""

import random

import pytest
import torch

from strae_graph import StrAE, StrAEConfig, Vocabulary, batch_trees, roots, tree_to_graph
from strae_graph.graph.batch import DOWN, NODE, UP, Frontiers
from strae_graph.model.losses import contrastive_loss, contrastive_loss_dense, logit_scale
from strae_graph.trees.tree import Tree
from strae_graph.util.dgl import dgl
from tests.conftest import random_tree_shapes


def reference_passes(model: StrAE, tree: Tree, ids: list[int], compose=None, decompose=None):
    """Plain recursion over the tree: (up, down) as (2n-1, K, U) stacks.

    compose(left, right) -> parent and decompose(parent) -> (left, right) act on
    one node's (K, U) tensors; by default the model's own functions.
    """
    k, u = model.config.channels, model.config.channel_size
    if compose is None:
        compose = lambda a, b: model.compose(a[None], b[None])[0]  # noqa: E731
    if decompose is None:
        decompose = lambda p: model.decompose(p[None])[0]  # noqa: E731
    n = tree.n_leaves
    up: dict[int, torch.Tensor] = {}

    def up_of(v: int) -> torch.Tensor:
        if v < n:
            up[v] = model.embedding.weight[ids[v]].view(k, u)
        else:
            left, right = tree.children[v - n]
            up[v] = compose(up_of(left), up_of(right))
        return up[v]

    up_of(tree.root)
    down: dict[int, torch.Tensor] = {tree.root: up[tree.root]}

    def down_of(v: int) -> None:
        if v < n:
            return
        halves = decompose(down[v])
        left, right = tree.children[v - n]
        down[left], down[right] = halves[0], halves[1]
        down_of(left)
        down_of(right)

    down_of(tree.root)
    order = range(tree.n_nodes)
    return torch.stack([up[v] for v in order]), torch.stack([down[v] for v in order])


def make_model(vocab_size=20, **kw) -> StrAE:
    torch.manual_seed(0)
    m = StrAE(StrAEConfig(vocab_size=vocab_size, **kw))
    with torch.no_grad():  # non-trivial biases
        for p in m.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return m.eval()


def token_ids(trees):
    return [[int(t[1:]) for t in tree.tokens] for tree in trees]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dgl_passes_equal_recursive_reference(seed):
    rng = random.Random(seed)
    trees = random_tree_shapes(rng, 25, max_len=40)
    ids = token_ids(trees)
    model = make_model(activation=["none", "tanh", "none"][seed])
    g = batch_trees(trees, ids)
    up = model.up(g)
    down = model.down(g, up)
    offset = 0
    for tree, tid in zip(trees, ids):
        ref_up, ref_down = reference_passes(model, tree, tid)
        sl = slice(offset, offset + tree.n_nodes)
        torch.testing.assert_close(up[sl], ref_up, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(down[sl], ref_down, rtol=1e-5, atol=1e-6)
        offset += tree.n_nodes


def test_gradients_equal_recursive_reference():
    rng = random.Random(7)
    trees = random_tree_shapes(rng, 12, max_len=25)
    ids = token_ids(trees)
    model = make_model()
    g = batch_trees(trees, ids)
    wu = torch.randn(g.num_nodes(), 10, 10)
    wd = torch.randn(g.num_nodes(), 10, 10)
    up = model.up(g)
    ((model.down(g, up) * wd).sum() + (up * wu).sum()).backward()
    got = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    refs = [reference_passes(model, t, i) for t, i in zip(trees, ids)]
    ref_up = torch.cat([r[0] for r in refs])
    ref_down = torch.cat([r[1] for r in refs])
    ((ref_down * wd).sum() + (ref_up * wu).sum()).backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(got[n], p.grad, rtol=1e-4, atol=1e-5, msg=n)


def test_gradcheck_of_dgl_passes_in_double():
    trees = [Tree.from_brackets("((a b) (c (d e)))", labelled=False), Tree(("a",), ())]
    model = make_model(vocab_size=6).double()
    g = batch_trees(trees, [[1, 2, 3, 4, 5], [1]])
    fr = Frontiers.of(g)
    params = [model.compose.linear.weight, model.decompose.linear.weight]

    def fn_(wc, wd):
        comp = torch.func.functional_call(
            model,
            {"compose.linear.weight": wc, "decompose.linear.weight": wd},
            args=(g, fr),
            kwargs={},
            strict=False,
        )
        return comp.up.sum() + (comp.down**2).sum()

    inputs = tuple(p.detach().clone().requires_grad_(True) for p in params)
    assert torch.autograd.gradcheck(fn_, inputs, eps=1e-6, atol=1e-5)


def permute_graph(g: dgl.DGLGraph, perm: torch.Tensor) -> dgl.DGLGraph:
    """Relabel node v as perm[v] (node data and edges move with it)."""
    src_u, dst_u = g.edges(etype=UP)
    h = dgl.heterograph(
        {UP: (perm[src_u], perm[dst_u]), DOWN: (perm[dst_u], perm[src_u])},
        num_nodes_dict={NODE: g.num_nodes()},
    )
    inv = torch.argsort(perm)
    for k, v in g.ndata.items():
        h.ndata[k] = v[inv]
    for et in (UP, DOWN):
        for k, v in g.edges[et].data.items():
            h.edges[et].data[k] = v
    return h


def test_decomposition_follows_position_not_node_id():
    # reverse all ids: every right child now has a smaller id than its left sibling
    tree = Tree.from_brackets("((a b) (c (d e)))", labelled=False)
    g = tree_to_graph(tree, [1, 2, 3, 4, 5])
    perm = torch.arange(g.num_nodes() - 1, -1, -1)
    h = permute_graph(g, perm)
    src, dst = h.edges(etype=DOWN)
    pos = h.edges[DOWN].data["position"]
    # the test means something: a right child with a smaller id than its left sibling
    by_parent = {}
    for s, d, p in zip(src.tolist(), dst.tolist(), pos.tolist()):
        by_parent.setdefault(s, {})[p] = d
    assert any(c[1] < c[0] for c in by_parent.values())
    model = make_model(vocab_size=6)
    up_g, up_h = model.up(g), model.up(h)
    down_g, down_h = model.down(g, up_g), model.down(h, up_h)
    torch.testing.assert_close(up_h[perm], up_g)
    torch.testing.assert_close(down_h[perm], down_g)
    ref_up, ref_down = reference_passes(model, tree, [1, 2, 3, 4, 5])
    torch.testing.assert_close(down_h[perm], ref_down)
    # and the halves really differ: swapping them would change the leaves
    assert not torch.allclose(down_g[0], down_g[1])


def test_batch_equals_dgl_batch_and_roots():
    rng = random.Random(3)
    trees = random_tree_shapes(rng, 10)
    ids = token_ids(trees)
    g = batch_trees(trees, ids)
    ref = dgl.batch([tree_to_graph(t, i) for t, i in zip(trees, ids)])
    for et in (UP, DOWN):
        assert torch.equal(torch.stack(g.edges(etype=et)), torch.stack(ref.edges(etype=et)))
    for k in ref.ndata:
        assert torch.equal(g.ndata[k], ref.ndata[k]), k
    assert torch.equal(g.batch_num_nodes(), ref.batch_num_nodes())
    r = roots(g)
    assert torch.equal(r, torch.cumsum(g.batch_num_nodes(), 0) - 1)
    parts = dgl.unbatch(g)
    assert [p.num_nodes() for p in parts] == [t.n_nodes for t in trees]
    # frontiers are DGL's own topological order of the up edges
    topo = dgl.topological_nodes_generator(dgl.edge_type_subgraph(g, ["up"]))
    fr = Frontiers.of(g)
    assert [sorted(f.tolist()) for f in topo][1:] == [sorted(f.tolist()) for f in fr.up]


def test_parameter_count_and_tied_lambda():
    m = StrAE(StrAEConfig(vocab_size=1000))
    assert m.non_embedding_parameters() == 430
    assert sum(p.numel() for p in m.parameters()) == 430 + 1000 * 100
    assert m.lambda_weight.data_ptr() == m.embedding.weight.data_ptr()
    untied = StrAE(StrAEConfig(vocab_size=1000, tied=False))
    assert untied.lambda_weight.data_ptr() != untied.embedding.weight.data_ptr()
    assert untied.non_embedding_parameters() == 430
    w = m.embedding.weight
    assert float(w.detach().abs().max()) <= 0.1 and float(w.detach().std()) > 0.05


@pytest.mark.parametrize("block", [1, 7, 64, 1000])
def test_blocked_contrastive_equals_dense(block):
    torch.manual_seed(block)
    up = torch.randn(150, 100, dtype=torch.float64, requires_grad=True)
    down = torch.randn(150, 100, dtype=torch.float64, requires_grad=True)
    scale = logit_scale(temperature=0.3)
    dense = contrastive_loss_dense(up, down, scale)
    g_dense = torch.autograd.grad(dense, (up, down))
    blocked = contrastive_loss(up, down, scale, block_size=block)
    g_blocked = torch.autograd.grad(blocked, (up, down))
    torch.testing.assert_close(blocked, dense)
    for a, b in zip(g_blocked, g_dense):
        torch.testing.assert_close(a, b)


def test_blocked_contrastive_gradcheck():
    up = torch.randn(9, 4, dtype=torch.float64, requires_grad=True)
    down = torch.randn(9, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: contrastive_loss(a, b, 1.5, block_size=4), (up, down)
    )


def test_contrastive_hand_computed():
    # two nodes, orthogonal unit vectors, up == down: S = scale * I
    e = torch.eye(2)
    s = 2.0
    expected = -torch.log(torch.exp(torch.tensor(s)) / (torch.exp(torch.tensor(s)) + 1))
    torch.testing.assert_close(contrastive_loss(e, e, s), expected)
    assert logit_scale() == pytest.approx(1.2214027581601699)
    assert logit_scale(temperature=0.5) == 2.0
    with pytest.raises(ValueError):
        logit_scale(0.5, 0.2)


def test_cross_entropy_hand_computed():
    v = Vocabulary(["<unk>", "a", "b"])
    m = make_model(vocab_size=3, objective="ce", channels=1, channel_size=2)
    with torch.no_grad():
        m.embedding.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    tree = Tree(("a", "b"), ((0, 1),))
    g = tree_to_graph(tree, v.encode(tree.tokens))
    out = m(g)
    logits = out.down[:2] @ m.embedding.weight.T
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([1, 2]))
    manual = -(logits.log_softmax(-1)[0, 1] + logits.log_softmax(-1)[1, 2]) / 2
    torch.testing.assert_close(out.loss, expected)
    torch.testing.assert_close(out.loss, manual)
    # unknown tokens are not reconstruction targets
    g2 = tree_to_graph(tree, [0, 2])
    out2 = m(g2)
    logits2 = out2.down[1:2] @ m.embedding.weight.T
    torch.testing.assert_close(
        out2.loss, torch.nn.functional.cross_entropy(logits2, torch.tensor([2]))
    )


def test_both_objective_is_mean_of_parts():
    rng = random.Random(5)
    trees = random_tree_shapes(rng, 8)
    g = batch_trees(trees, token_ids(trees))
    m = make_model(objective="both")
    out = m(g)
    assert out.loss.item() == pytest.approx(
        0.5 * (out.parts["contrastive"] + out.parts["ce"]), rel=1e-6
    )
    internal = ~g.ndata["is_leaf"]
    co = contrastive_loss_dense(out.up[internal], out.down[internal], m.scale)
    assert out.parts["contrastive"] == pytest.approx(co.item(), rel=1e-5)


@pytest.mark.parametrize("w", [0.0, 0.2, 0.75, 1.0])
def test_ce_weight_weighs_the_two_terms_of_both(w):
    """(1 - w) contrastive(internal) + w CE(leaves), each term computed by hand
    (the dense similarity and F.cross_entropy over the tied logits)."""
    rng = random.Random(6)
    trees = random_tree_shapes(rng, 6)
    g = batch_trees(trees, token_ids(trees))
    torch.manual_seed(0)
    m = make_model(objective="both", ce_weight=w).double().eval()
    out = m(g)
    leaf, tok = g.ndata["is_leaf"], g.ndata["token"]
    co = contrastive_loss_dense(out.up[~leaf], out.down[~leaf], m.scale)
    known = leaf & (tok != 0)
    ce = torch.nn.functional.cross_entropy(out.down[known] @ m.embedding.weight.T, tok[known])
    torch.testing.assert_close(out.loss, (1 - w) * co + w * ce, rtol=1e-10, atol=1e-12)
    out.loss.backward()  # the gradient follows the weights: w = 0 leaves the CE out of it
    assert m.embedding.weight.grad is not None


def test_ce_weight_default_is_the_mean_bit_for_bit():
    """0.5 (the default) gives exactly the old 0.5 * (contrastive + ce)."""
    from strae_graph.model.objectives import objective_loss

    torch.manual_seed(3)
    leaf = torch.tensor([True, False, True, False])
    for a, b in torch.rand(50, 2) * 20:
        loss, _ = objective_loss("both", torch.zeros(4, 2), torch.zeros(4, 2), leaf,
                                 lambda u, d, a=a: a, lambda b=b: b)  # fmt: skip
        assert torch.equal(loss, 0.5 * (a + b))
    assert StrAEConfig(vocab_size=3).ce_weight == 0.5


@pytest.mark.parametrize("w", [-0.1, 1.5, float("nan")])
def test_ce_weight_outside_0_1_is_refused(w):
    with pytest.raises(ValueError, match="ce_weight must lie in"):
        StrAEConfig(vocab_size=3, objective="both", ce_weight=w)


def test_ce_weight_needs_objective_both():
    with pytest.raises(ValueError, match="objective both"):
        StrAEConfig(vocab_size=3, objective="contrastive", ce_weight=0.3)
    assert StrAEConfig(vocab_size=3, objective="contrastive").ce_weight == 0.5


def test_config_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown objective"):
        StrAEConfig(vocab_size=3, objective="mse")
    with pytest.raises(ValueError, match="unknown activation"):
        StrAEConfig(vocab_size=3, activation="swish")
