"""Entangled trees (--entangle): identical spans of a batch are one node of a
DAG; the down pass takes the mean of the halves from all parents."""

import json
import random

import pytest
import torch

from strae_graph.graph.batch import DOWN, UP, Frontiers, batch_trees, is_entangled, roots
from strae_graph.graph.schedule import PassSchedule
from strae_graph.trees.tree import Tree
from tests.conftest import CORPUS, random_tree_shapes
from tests.test_model import make_model

T = lambda s: Tree.from_brackets(s, labelled=False)  # noqa: E731
IDS = {"the": 1, "dog": 2, "barks": 3, "a": 4, "cat": 5}


def ids_of(trees, table=IDS):
    return [[table[w] for w in t.tokens] for t in trees]


def parents_of(g):
    """{node: sorted [(parent, position), ...]} from the graph's up edges."""
    src, dst = g.edges(etype=UP)
    pos = g.edges[UP].data["position"]
    out = {v: [] for v in range(g.num_nodes())}
    for s, d, p in zip(src.tolist(), dst.tolist(), pos.tolist()):
        out[s].append((d, p))
    return {v: sorted(x) for v, x in out.items()}


# --- an independent reference: spans as nested tuples, plain dictionaries -------------
def span_key(tree: Tree, ids: list[int]):
    """Key of every node of ``tree``: a token id, or (left key, right key)."""
    keys = list(ids)
    for left, right in tree.children:
        keys.append((keys[left], keys[right]))
    return keys


def reference_dag(model, trees, ids):
    """(up, down) dictionaries keyed by span, straight from SPEC.md: one node
    per distinct span; up composes the children; down = up for a span that is
    nobody's child in the batch, else the mean of the halves its parents send
    (one half per (parent, position) the span fills)."""
    k, u = model.config.channels, model.config.channel_size
    parents: dict = {}
    for tree, tid in zip(trees, ids):
        keys = span_key(tree, tid)
        parents.setdefault(keys[-1], set())
        for i, (left, right) in enumerate(tree.children):
            p = keys[tree.n_leaves + i]
            parents.setdefault(keys[left], set()).add((p, 0))
            parents.setdefault(keys[right], set()).add((p, 1))
    up: dict = {}

    def compose(key):
        if key not in up:
            if isinstance(key, int):
                up[key] = model.embedding.weight[key].view(k, u)
            else:
                up[key] = model.compose(compose(key[0])[None], compose(key[1])[None])[0]
        return up[key]

    down: dict = {}

    def decompose(key):
        if key not in down:
            if not parents[key]:
                down[key] = up[key]
            else:
                halves = [model.decompose(decompose(p)[None])[0, pos] for p, pos in parents[key]]
                down[key] = torch.stack(halves).mean(0)
        return down[key]

    for key in parents:
        compose(key)
    for key in parents:
        decompose(key)
    return up, down


def graph_keys(g):
    """The span key of every graph node, read off the graph's own edges."""
    kids = {}
    for s, d, p in zip(*(t.tolist() for t in g.edges(etype=UP)), g.edges[UP].data["position"]):
        kids.setdefault(d, [None, None])[int(p)] = s
    keys: list = [None] * g.num_nodes()
    tok = g.ndata["token"].tolist()
    for v in range(g.num_nodes()):  # children have smaller ids
        keys[v] = tok[v] if v not in kids else (keys[kids[v][0]], keys[kids[v][1]])
    return keys


def random_batch_with_repeats(seed, n=30, vocab=6):
    """Small vocabulary, repeated sentences and sub-spans, all tree shapes."""
    rng = random.Random(seed)
    trees = random_tree_shapes(rng, n, max_len=12)
    trees = [Tree(tuple(f"w{rng.randrange(vocab)}" for _ in t.tokens), t.children) for t in trees]
    trees += [trees[i] for i in rng.sample(range(n), 5)]  # whole sentences again
    trees.append(T("(w1 w2)"))
    trees.append(T("((w1 w2) (w1 w2))"))  # a span in both slots of one parent
    rng.shuffle(trees)
    return trees, [[int(w[1:]) for w in t.tokens] for t in trees]


# --- graph construction ------------------------------------------------------------------
def test_hand_made_batch_shares_nodes():
    trees = [T("(the dog)"), T("((the dog) barks)"), T("(a dog)")]
    g = batch_trees(trees, ids_of(trees), entangle=True)
    assert is_entangled(g)
    # the(0) dog(1) [the dog](2) barks(3) [[the dog] barks](4) a(5) [a dog](6): 7 of 11
    assert g.num_nodes() == 7 and g.num_edges(UP) == g.num_edges(DOWN) == 6
    assert g.ndata["token"].tolist() == [1, 2, 0, 3, 0, 4, 0]
    assert g.ndata["is_leaf"].tolist() == [True, True, False, True, False, True, False]
    assert parents_of(g) == {0: [(2, 0)], 1: [(2, 1), (6, 1)], 2: [(4, 0)], 3: [(4, 1)],
                             4: [], 5: [(6, 0)], 6: []}  # fmt: skip
    assert roots(g).tolist() == [2, 4, 6]  # [the dog] is a root and an inner node
    assert g.ndata["is_root"].tolist() == [False, False, True, False, True, False, True]
    assert g.ndata["position"].tolist() == [0, 1, 0, 1, 0, 0, 0]
    assert g.ndata["height"].tolist() == [0, 0, 1, 0, 2, 0, 1]
    assert g.ndata["depth"].tolist() == [2, 2, 1, 1, 0, 1, 0]  # longest path from a root
    assert g.ndata["first_plain"].tolist() == [0, 1, 2, 5, 7, 8, 10]
    src, dst = g.edges(etype=DOWN)
    assert sorted(zip(dst.tolist(), src.tolist())) == sorted(zip(*g.edges(etype=UP)))


def test_identical_sentences_share_a_root_and_other_bracketings_do_not():
    trees = [T("(the (dog barks))"), T("((the dog) barks)"), T("(the (dog barks))")]
    g = batch_trees(trees, ids_of(trees), entangle=True)
    # 3 leaves; [dog barks], [the [dog barks]], [the dog], [[the dog] barks]
    assert g.num_nodes() == 7
    r = roots(g).tolist()
    assert r[0] == r[2] != r[1] and len(r) == 3
    assert int(g.ndata["is_root"].sum()) == 2


def test_left_child_of_one_parent_and_right_child_of_another():
    trees = [T("(the dog)"), T("(dog barks)"), T("(the the)")]
    g = batch_trees(trees, ids_of(trees), entangle=True)
    p = parents_of(g)
    assert p[1] == [(2, 1), (4, 0)]  # dog: right in [the dog], left in [dog barks]
    assert p[0] == [(2, 0), (5, 0), (5, 1)]  # the: both slots of [the the]
    model = make_model(vocab_size=6).double()
    up = model.up(g)
    down = model.down(g, up)
    dec = lambda v: model.decompose(down[v][None])[0]  # noqa: E731
    for root in (2, 4, 5):
        torch.testing.assert_close(down[root], up[root], rtol=0, atol=0)
    torch.testing.assert_close(down[1], (dec(2)[1] + dec(4)[0]) / 2, rtol=0, atol=1e-15)
    torch.testing.assert_close(down[0], (dec(2)[0] + dec(5)[0] + dec(5)[1]) / 3, rtol=0, atol=1e-15)
    assert not torch.allclose(dec(2)[1], dec(4)[0])  # the two halves really differ


def test_sentence_root_that_is_inner_elsewhere_takes_its_parents_half():
    trees = [T("(the dog)"), T("((the dog) barks)")]
    g = batch_trees(trees, ids_of(trees), entangle=True)
    r = roots(g).tolist()
    assert r == [2, 4]
    model = make_model(vocab_size=6).double()
    out = model(g)
    up, down = out.up.view(-1, 10, 10), out.down.view(-1, 10, 10)
    torch.testing.assert_close(down[4], up[4], rtol=0, atol=0)  # parentless: down = up
    want = model.decompose(up[4][None])[0, 0]  # [the dog] is the left child of node 4
    torch.testing.assert_close(down[2], want, rtol=0, atol=0)
    assert not torch.allclose(down[2], up[2])


def test_batch_without_repeats_is_exactly_the_plain_run():
    rng = random.Random(11)
    trees = random_tree_shapes(rng, 20, max_len=25)
    counter = iter(range(1, 10_000))
    ids = [[next(counter) for _ in t.tokens] for t in trees]  # every token distinct
    plain = batch_trees(trees, ids)
    ent = batch_trees(trees, ids, entangle=True)
    assert ent.num_nodes() == plain.num_nodes()
    for et in (UP, DOWN):
        assert torch.equal(torch.stack(ent.edges(etype=et)), torch.stack(plain.edges(etype=et)))
        for k in plain.edges[et].data:
            assert torch.equal(ent.edges[et].data[k], plain.edges[et].data[k])
    for k in plain.ndata:  # the same node order: the mapping is the identity
        assert torch.equal(ent.ndata[k], plain.ndata[k]), k
    assert torch.equal(ent.ndata["first_plain"], torch.arange(plain.num_nodes()))
    assert torch.equal(roots(ent), roots(plain))
    for objective in ("contrastive", "ce", "both"):
        model = make_model(vocab_size=10_000, objective=objective).train()
        torch.manual_seed(5)
        a = model(plain)
        torch.manual_seed(5)
        b = model(ent)
        assert torch.equal(a.up, b.up) and torch.equal(a.down, b.down)
        assert torch.equal(a.loss, b.loss) and a.parts == b.parts


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_sharing_matches_span_identity(seed):
    trees, ids = random_batch_with_repeats(seed)
    g = batch_trees(trees, ids, entangle=True)
    keys = graph_keys(g)
    assert len(set(keys)) == len(keys)  # no two nodes are the same span
    want = {k for t, i in zip(trees, ids) for k in span_key(t, i)}
    assert set(keys) == want  # and every span of the batch is a node
    assert [keys[r] for r in roots(g).tolist()] == [span_key(t, i)[-1] for t, i in zip(trees, ids)]
    fr = Frontiers.of(g)
    assert fr.schedule.is_dag
    assert (
        sorted(torch.cat(fr.up).tolist()) == torch.nonzero(~g.ndata["is_leaf"]).flatten().tolist()
    )
    has_parent = g.out_degrees(etype=UP) > 0
    assert sorted(torch.cat(fr.down).tolist()) == torch.nonzero(has_parent).flatten().tolist()
    # each parent of a node is in an earlier down level; each child in an earlier up level
    src, dst = g.edges(etype=UP)
    assert bool((g.ndata["depth"][src] > g.ndata["depth"][dst]).all())
    assert bool((g.ndata["height"][src] < g.ndata["height"][dst]).all())
    assert g.num_nodes() < sum(t.n_nodes for t in trees)


# --- the passes against the reference ------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_dag_passes_equal_dictionary_reference(seed):
    trees, ids = random_batch_with_repeats(seed)
    g = batch_trees(trees, ids, entangle=True)
    model = make_model(vocab_size=6, activation=["none", "tanh"][seed % 2]).double()
    up = model.up(g)
    down = model.down(g, up)
    ref_up, ref_down = reference_dag(model, trees, ids)
    keys = graph_keys(g)
    torch.testing.assert_close(up, torch.stack([ref_up[k] for k in keys]), rtol=0, atol=1e-12)
    torch.testing.assert_close(down, torch.stack([ref_down[k] for k in keys]), rtol=0, atol=1e-12)


def test_gradients_through_shared_nodes_equal_reference():
    trees, ids = random_batch_with_repeats(9, n=20)
    g = batch_trees(trees, ids, entangle=True)
    model = make_model(vocab_size=6).double()
    torch.manual_seed(1)
    wu = torch.randn(g.num_nodes(), 10, 10, dtype=torch.float64)
    wd = torch.randn(g.num_nodes(), 10, 10, dtype=torch.float64)
    up = model.up(g)
    ((model.down(g, up) * wd).sum() + (up * wu).sum()).backward()
    got = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    ref_up, ref_down = reference_dag(model, trees, ids)
    keys = graph_keys(g)
    r_up = torch.stack([ref_up[k] for k in keys])
    r_down = torch.stack([ref_down[k] for k in keys])
    ((r_down * wd).sum() + (r_up * wu).sum()).backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(got[n], p.grad, rtol=1e-10, atol=1e-12, msg=n)


def test_gradcheck_through_shared_nodes():
    trees = [T("(the dog)"), T("((the dog) (dog barks))"), T("(the the)"), T("(dog barks)")]
    g = batch_trees(trees, ids_of(trees), entangle=True)
    fr = Frontiers.of(g)
    assert fr.schedule.is_dag
    model = make_model(vocab_size=6, objective="both").double()
    names = ["compose.linear.weight", "decompose.linear.weight", "embedding.weight"]
    params = dict(model.named_parameters())

    def fn_(*ws):
        out = torch.func.functional_call(model, dict(zip(names, ws)), args=(g, fr), strict=False)
        return out.loss + out.up.sum() + (out.down**2).sum()

    inputs = tuple(params[n].detach().clone().requires_grad_(True) for n in names)
    assert torch.autograd.gradcheck(fn_, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_dag_schedule_on_a_forest_equals_the_forest_schedule(seed):
    """The general (DAG) schedule is correct on plain trees too."""
    rng = random.Random(seed)
    trees = random_tree_shapes(rng, 25, max_len=40)
    ids = [[int(t[1:]) for t in tree.tokens] for tree in trees]
    g = batch_trees(trees, ids)
    fr = Frontiers.of(g)
    assert not fr.schedule.is_dag
    dag = PassSchedule.of(g, dag=True)
    fd = Frontiers(up=dag.up_nodes, down=dag.down_nodes, schedule=dag)
    model = make_model().double()
    up, up_d = model.up(g, fr), model.up(g, fd)
    torch.testing.assert_close(up_d, up, rtol=0, atol=1e-12)
    torch.testing.assert_close(model.down(g, up, fd), model.down(g, up, fr), rtol=0, atol=1e-12)


def test_losses_are_over_distinct_nodes():
    trees = [T("(the dog)"), T("(the dog)"), T("((the dog) cat)"), T("(a (the dog))")]
    ids = ids_of(trees)
    ids[3][0] = 0  # an unknown word: not a CE target
    g = batch_trees(trees, ids, entangle=True)
    assert g.num_nodes() == 7  # the dog [the dog] cat [[the dog] cat] <unk> [<unk> [the dog]]
    from strae_graph.model.losses import contrastive_loss_dense

    for objective in ("contrastive", "ce", "both"):
        model = make_model(vocab_size=6, objective=objective).double()
        out = model(g)
        leaf = g.ndata["is_leaf"]
        tok = g.ndata["token"]
        known = leaf & (tok != 0)
        assert int(known.sum()) == 3
        ce = torch.nn.functional.cross_entropy(model.token_logits(out.down[known]), tok[known])
        co_all = contrastive_loss_dense(out.up, out.down, model.scale)
        co_int = contrastive_loss_dense(out.up[~leaf], out.down[~leaf], model.scale)
        want = {"contrastive": co_all, "ce": ce, "both": 0.5 * (co_int + ce)}[objective]
        torch.testing.assert_close(out.loss, want)


def test_roots_of_a_copied_entangled_graph_is_an_error():
    trees = [T("(the dog)"), T("(the dog)")]
    g = batch_trees(trees, ids_of(trees), entangle=True)
    assert roots(g).tolist() == [2, 2]
    from strae_graph.util.dgl import dgl

    copy = dgl.edge_type_subgraph(g, ["up", "down"])  # a new graph object, same node data
    with pytest.raises(ValueError, match="lost its per-sentence roots"):
        roots(copy)


# --- training -----------------------------------------------------------------------------------
def test_cli_train_entangle_runs_and_checkpoint_loads(tmp_path, data_dir, capsys):
    from strae_graph.cli import main
    from strae_graph.embed.parse import load_model

    run = tmp_path / "ent"
    rc = main(["train", "--corpus", str(CORPUS), "--out", str(run), "--max-sentences", "400",
               "--dev-sentences", "50", "--batch-size", "64", "--structure", "balanced",
               "--objective", "both", "--entangle", "--no-progress",
               "--min-count", "1"])  # fmt: skip
    assert rc == 0
    assert "of the plain nodes" in capsys.readouterr().err
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["entangle"] is True
    lines = (run / "metrics.jsonl").read_text().splitlines()
    epochs = [json.loads(x) for x in lines if "dev_loss" in x]
    assert 0.3 < epochs[0]["node_ratio"] < 1.0
    model, vocab = load_model(run)
    assert len(vocab) == model.config.vocab_size


def test_self_structure_with_entangle_trains(tmp_path, data_dir):
    from parsers.api import train
    from strae_graph.model.self_strae import merge, self_forward
    from strae_graph.training.config import TrainConfig

    cfg = TrainConfig(corpus=str(CORPUS), out=str(tmp_path / "self"), structure="self",
                      entangle=True, max_sentences=150, dev_sentences=20, batch_size=50,
                      min_count=1, progress=False, objective="ce")  # fmt: skip
    res = train(cfg, log=lambda s: None)
    assert res.steps == 3 and res.last_dev_loss == res.last_dev_loss  # finite
    # eval mode: the reused up embeddings are the entangled up pass exactly
    model = make_model(vocab_size=6).double()
    sents = [[1, 2, 1, 2], [1, 2], [3, 1, 2, 4], [1, 2, 1, 2]]
    step = self_forward(model, sents, entangle=True)
    g = step.graph
    assert is_entangled(g) and g.num_nodes() < sum(2 * len(s) - 1 for s in sents)
    torch.testing.assert_close(step.output.up.view(-1, 10, 10), model.up(g), rtol=0, atol=1e-12)
    assert len(merge(model, sents).trees) == 4


def test_entangle_under_torchrun_is_a_clear_error(tmp_path, monkeypatch):
    from parsers.api import train
    from strae_graph.training.config import TrainConfig

    monkeypatch.setenv("WORLD_SIZE", "2")
    cfg = TrainConfig(corpus=str(CORPUS), out=str(tmp_path / "d"), entangle=True, progress=False)
    with pytest.raises(ValueError, match="--entangle does not run under torchrun"):
        train(cfg, log=lambda s: None)


def test_the_default_turns_entangle_off_under_torchrun(tmp_path, monkeypatch, capsys):
    """The recipe entangles; under torchrun `strae train` without --entangle
    leaves it off and says so, and an explicit --entangle stays (then refused)."""
    from strae_graph.cli import _train_config, build_parser

    argv = ["train", "--corpus", str(CORPUS), "--out", str(tmp_path / "d")]
    assert _train_config(build_parser().parse_args(argv)).entangle is True
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert _train_config(build_parser().parse_args(argv)).entangle is False
    assert "entangled trees are off" in capsys.readouterr().err
    assert _train_config(build_parser().parse_args([*argv, "--entangle"])).entangle is True
