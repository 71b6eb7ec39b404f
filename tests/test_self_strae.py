import json
import random

import pytest
import torch
import torch.nn.functional as F

from parsers.api import train
from parsers.structures import structure_names
from strae_graph.cli import main
from strae_graph.embed.parse import parse_with_model
from strae_graph.graph.batch import batch_trees, roots
from strae_graph.model.config import StrAEConfig
from strae_graph.model.self_strae import induce_trees, merge, self_forward
from strae_graph.model.strae import StrAE
from strae_graph.training.config import preset_config
from strae_graph.trees.tree import Tree
from tests.conftest import CORPUS


def summing_model(vectors: list[list[float]]) -> StrAE:
    """K = 1 channel; token i + 1 has vectors[i]; Compose(l, r) = l + r; no dropout."""
    u = len(vectors[0])
    m = StrAE(StrAEConfig(vocab_size=len(vectors) + 1, channels=1, channel_size=u,
                          dropout=0.0, input_dropout=0.0))  # fmt: skip
    with torch.no_grad():
        m.embedding.weight[1:] = torch.tensor(vectors)
        m.compose.linear.weight.copy_(torch.cat([torch.eye(u), torch.eye(u)], dim=1))
        m.compose.linear.bias.zero_()
    return m.eval()


def random_model(seed: int = 0, **kw) -> StrAE:
    torch.manual_seed(seed)
    return StrAE(StrAEConfig(vocab_size=40, channels=3, channel_size=4, **kw)).eval()


def random_batch(seed: int, n: int = 25, max_len: int = 18) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(40) for _ in range(rng.choice([1, 2, 3, rng.randint(4, max_len)]))]
            for _ in range(n)]  # fmt: skip


def reference_greedy(model: StrAE, ids: list[int]) -> Tree:
    """One sentence, plain Python lists: the obvious implementation of SPEC.md."""
    c = model.config
    nodes = [model.embedding.weight[i].view(c.channels, c.channel_size) for i in ids]
    node_ids = list(range(len(ids)))
    children = []
    while len(nodes) > 1:
        cos = [F.cosine_similarity(nodes[j].flatten(), nodes[j + 1].flatten(), dim=0).item()
               for j in range(len(nodes) - 1)]  # fmt: skip
        j = max(range(len(cos)), key=lambda i: (cos[i], -i))  # leftmost of the best
        parent = model.compose(nodes[j][None], nodes[j + 1][None])[0]
        children.append((node_ids[j], node_ids[j + 1]))
        nodes[j : j + 2] = [parent]
        node_ids[j : j + 2] = [len(ids) + len(children) - 1]
    return Tree(tuple(str(i) for i in ids), tuple(children)).canonical()


E1, E2, E3, E4 = ([float(i == j) for j in range(4)] for i in range(4))


def test_hand_made_embeddings_give_the_expected_tree():
    # a = e1, b = e2, c = e2 + .1 e3, d = e3, e = e4 + .5 e3 (compose = sum):
    # cos(b, c) is largest -> (b c); then cos(d, e) = .447 beats cos(bc, d) = .05 -> (d e);
    # then cos(bc, de) = .04 beats cos(a, bc) = 0 -> (bc de); then (a bcde).
    vecs = [E1, E2, [0, 1, 0.1, 0], E3, [0, 0, 0.5, 1]]
    model = summing_model(vecs)
    [tree] = induce_trees(model, [[1, 2, 3, 4, 5]], [list("abcde")])
    assert tree == Tree.from_brackets("(a ((b c) (d e)))", labelled=False)
    # x = e1, y = e1 + e2, z = e2 + 2 e4: (x y) first, then cos(xy, z) vs nothing else -> root
    vecs2 = [E1, [1, 1, 0, 0], [0, 1, 0, 2]]
    [t2] = induce_trees(summing_model(vecs2), [[1, 2, 3]], [list("xyz")])
    assert t2 == Tree.from_brackets("((x y) z)", labelled=False)
    # z close to y instead: (x (y z))
    vecs3 = [E1, [0.2, 1, 0, 0], [0, 1, 0.1, 0]]
    [t3] = induce_trees(summing_model(vecs3), [[1, 2, 3]], [list("xyz")])
    assert t3 == Tree.from_brackets("(x (y z))", labelled=False)


def test_hand_made_tree_is_the_same_inside_a_padded_batch():
    vecs = [E1, E2, [0, 1, 0.1, 0], E3, [0, 0, 0.5, 1]]
    model = summing_model(vecs)
    batch = [[3], [1, 2, 3, 4, 5, 1, 2], [1, 2, 3, 4, 5], [4, 5]]
    trees = induce_trees(model, batch)
    assert trees[2] == Tree.from_brackets("(1 ((2 3) (4 5)))", labelled=False)
    assert trees[0] == Tree(("3",), ())
    assert trees[3] == Tree.from_brackets("(4 5)", labelled=False)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batched_equals_per_sentence_and_reference(seed):
    model = random_model(seed)
    batch = random_batch(seed)
    together = merge(model, batch)
    offset = 0
    with torch.no_grad():
        for ids, tree in zip(batch, together.trees):
            alone = merge(model, [ids])
            assert alone.trees == [tree]
            assert tree == reference_greedy(model, ids)
            n = 2 * len(ids) - 1
            torch.testing.assert_close(together.up[offset : offset + n], alone.up)
            offset += n


def test_lengths_one_and_two():
    model = random_model()
    res = merge(model, [[5], [7, 9], [3]], [["a"], ["b", "c"], ["d"]])
    assert [t.to_brackets() for t in res.trees] == ["(a)", "(b c)", "(d)"]
    emb = model.embedding.weight.view(-1, 3, 4)
    torch.testing.assert_close(res.up[0], emb[5])
    torch.testing.assert_close(res.up[1:3], emb[[7, 9]])
    torch.testing.assert_close(res.up[3], model.compose(emb[7][None], emb[9][None])[0])
    torch.testing.assert_close(res.up[4], emb[3])
    # a batch of only one-token sentences: no merge step at all
    only = merge(model, [[1], [2]])
    assert [t.n_leaves for t in only.trees] == [1, 1] and only.up.shape == (2, 3, 4)


def test_bad_input_is_a_clear_error():
    model = random_model()
    with pytest.raises(ValueError, match="sentence 1 is empty"):
        merge(model, [[1], []])
    with pytest.raises(ValueError, match="zero sentences"):
        merge(model, [])
    with pytest.raises(ValueError, match="sentence 0 has 2 tokens but 1 ids"):
        merge(model, [[1]], [["a", "b"]])


@pytest.mark.parametrize("activation", ["none", "tanh"])
def test_reused_up_equals_up_pass_on_the_graph(activation):
    model = random_model(3, activation=activation)
    batch = random_batch(3, n=40, max_len=30)
    res = merge(model, batch)
    g = batch_trees(res.trees, batch)
    torch.testing.assert_close(res.up, model.up(g), atol=1e-6, rtol=1e-5)


def test_gradients_flow_through_composition_like_the_graph_up_pass():
    model = random_model(4)
    batch = random_batch(4, n=12)
    res = merge(model, batch)
    g = batch_trees(res.trees, batch)
    weights = torch.randn(res.up.shape, generator=torch.Generator().manual_seed(0))
    (res.up * weights).sum().backward()
    from_merge = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    (model.up(g) * weights).sum().backward()
    for k, p in model.named_parameters():
        if p.grad is None:
            assert k not in from_merge
            continue
        torch.testing.assert_close(from_merge[k], p.grad, atol=1e-5, rtol=1e-4)
    used = sorted({i for s in batch for i in s})
    assert bool((from_merge["embedding.weight"][used].abs().sum(1) > 0).all())
    assert from_merge["compose.linear.weight"].abs().sum() > 0
    # roots' gradient reaches a leaf only through compositions
    model.zero_grad()
    up = merge(model, [[1, 2, 3, 4]]).up
    up[-1].sum().backward()
    assert bool((model.embedding.weight.grad[[1, 2, 3, 4]].abs().sum(1) > 0).all())


@pytest.mark.parametrize("objective", ["contrastive", "ce", "both"])
def test_self_forward_trains_every_part(objective):
    model = random_model(5, objective=objective).train()
    batch = random_batch(5, n=10)
    step = self_forward(model, batch)
    assert torch.isfinite(step.output.loss)
    step.output.loss.backward()
    for name in ("embedding.weight", "compose.linear.weight", "decompose.linear.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    assert step.graph.num_nodes() == sum(2 * len(s) - 1 for s in batch)


def test_induced_trees_have_parser_invariants():
    model = random_model(6)
    batch = random_batch(6, n=30, max_len=40)
    words = [[f"w{i}" for i in s] for s in batch]
    trees = induce_trees(model, batch, words)
    for tree, w in zip(trees, words):
        assert list(tree.tokens) == w  # leaves in order
        assert tree.is_projective()
        assert tree == tree.canonical()
        if tree.n_leaves > 1:  # a bare token is not a bracket string
            assert Tree.from_brackets(tree.to_brackets(), labelled=False) == tree
    g = batch_trees(trees, batch)
    assert len(roots(g)) == len(batch)
    assert int(g.ndata["is_leaf"].sum()) == sum(len(s) for s in batch)
    assert g.num_edges("up") == g.num_edges("down") == 2 * sum(len(s) - 1 for s in batch)
    # induction does not change the model's mode
    assert not model.training
    model.train()
    induce_trees(model, batch[:3])
    assert model.training


def test_self_is_a_training_structure_not_a_parser():
    from parsers import STRUCTURES

    assert "self" in structure_names() and "self" not in STRUCTURES


def test_training_with_self_structure_lowers_the_loss(tmp_path, data_dir):
    # ce falls fastest; the contrastive objective is exercised by the CLI test and
    # its (slower) fall is measured in README.md
    # (the paper's model and ce learning rate, as Self-StrAE was published)
    cfg = preset_config("paper", corpus=str(CORPUS), out=str(tmp_path / "run"), structure="self",
                        objective="ce", max_sentences=400, dev_sentences=50, batch_size=16,
                        epochs=2, min_count=2, log_every=1, progress=False)  # fmt: skip
    res = train(cfg, log=lambda s: None)
    assert res.steps == 50
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    metrics = [json.loads(line) for line in lines]
    steps = [m["loss"] for m in metrics if "loss" in m]
    first, last = sum(steps[:10]) / 10, sum(steps[-10:]) / 10
    assert last < first - 0.3, (first, last)
    dev = [m["dev_loss"] for m in metrics if "dev_loss" in m]
    assert len(dev) == 2 and dev[1] < dev[0]


@pytest.mark.parametrize("objective", ["contrastive", "both"])
def test_cli_train_self_and_parse_with_model(tmp_path, data_dir, objective, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--corpus", str(CORPUS), "--out", str(run), "--max-sentences", "120",
               "--dev-sentences", "20", "--batch-size", "32", "--structure", "self",
               "--objective", objective, "--no-progress", "--min-count", "1"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["structure"] == "self"
    sentences = [["the", "cat", "sat", "on", "the", "mat", "."], ["hello"], ["a", "b"],
                 ["an", "unseenword", "here", "and", "there"]]  # fmt: skip
    trees = parse_with_model(run, sentences)
    assert [list(t.tokens) for t in trees] == sentences
    assert parse_with_model(run, sentences, batch_size=1) == trees
    with pytest.raises(ValueError, match="sentence 1 is empty"):
        parse_with_model(run, [["a"], []])
    # the parse command writes the induced trees as a dataset that training reads
    text = tmp_path / "s.txt"
    text.write_text("The cat sat on the mat.\nHello\nAn unseenword here and there\n")
    out = tmp_path / "parsed"
    assert main(["parse", str(text), "--structure", "self", "--model", str(run),
                 "--out", str(out)]) == 0  # fmt: skip
    from parsers.parsed_corpus import iter_parsed_trees

    got = [t for _, t in iter_parsed_trees(out)]
    assert got == parse_with_model(run, [list(t.tokens) for t in got])
    assert main(["parse", str(text), "--structure", "self", "--out", str(tmp_path / "x")]) == 2
    assert "needs --model RUN_DIR" in capsys.readouterr().err
