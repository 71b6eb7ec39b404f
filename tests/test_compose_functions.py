"""Banyan's diagonal compose / decompose (``--compose diagonal``) and channel
shapes other than 10 x 10, each against an independent reference: hand
computations, the formulas written out from the raw parameters, the plain
recursive passes of tests/test_model.py, gradcheck, and tiny end-to-end runs.
"""

import json
import math
import random

import numpy as np
import pytest
import torch

from benchmarks.plain_model import PlainFrontierModel
from parsers.api import load_embedder, train
from strae_graph import StrAE, StrAEConfig, Vocabulary, batch_trees, roots
from strae_graph.cli import build_parser, main
from strae_graph.embed.load import load_run
from strae_graph.embed.parse import parse_with_model
from strae_graph.graph.batch import Frontiers
from strae_graph.model.functions import DiagonalCompose, DiagonalDecompose
from strae_graph.model.self_strae import merge, self_forward
from strae_graph.training.checkpoint import CheckpointError, save_checkpoint
from strae_graph.training.config import TrainConfig
from strae_graph.trees.tree import Tree
from tests.conftest import CORPUS, random_tree_shapes
from tests.test_model import make_model, reference_passes, token_ids
from tests.tiny_runs import tiny_config, tiny_run

LN3 = math.log(3.0)  # sigmoid(ln 3) = 3/4, sigmoid(-ln 3) = 1/4, sigmoid(0) = 1/2
DIAGONAL_NAMES = [
    "compose.gate_left", "compose.gate_right", "compose.bias",
    "decompose.gate_left", "decompose.gate_right", "decompose.bias_left", "decompose.bias_right",
]  # fmt: skip


def formulas(model: StrAE):
    """(compose, decompose) on one node's (K, U) tensors, written out from the
    model's raw parameters (SPEC.md), independently of the library's modules.
    Eval mode only (no dropout)."""
    p = dict(model.named_parameters())
    u = model.config.channel_size
    act = {"none": lambda x: x, "tanh": torch.tanh, "relu": torch.relu}[model.config.activation]
    if model.config.compose == "diagonal":
        a_l, a_r, b = (p[f"compose.{n}"] for n in ("gate_left", "gate_right", "bias"))
        c_l, c_r = p["decompose.gate_left"], p["decompose.gate_right"]
        b_l, b_r = p["decompose.bias_left"], p["decompose.bias_right"]

        def compose(left, right):
            return act(torch.sigmoid(a_l) * left + torch.sigmoid(a_r) * right + b)

        def decompose(parent):
            return act(torch.sigmoid(c_l) * parent + b_l), act(torch.sigmoid(c_r) * parent + b_r)

    else:
        wc, bc = p["compose.linear.weight"], p["compose.linear.bias"]
        wd, bd = p["decompose.linear.weight"], p["decompose.linear.bias"]

        def compose(left, right):
            return act(torch.cat([left, right], dim=-1) @ wc.T + bc)

        def decompose(parent):
            out = act(parent @ wd.T + bd)
            return out[..., :u], out[..., u:]

    return compose, decompose


# --- parameters ------------------------------------------------------------------
@pytest.mark.parametrize("u", [1, 2, 10, 20])
def test_parameter_counts(u):
    diag = StrAE(StrAEConfig(vocab_size=7, channels=3, channel_size=u, compose="diagonal"))
    assert diag.non_embedding_parameters() == 7 * u
    names = [n for n, _ in diag.named_parameters() if n != "embedding.weight"]
    assert names == DIAGONAL_NAMES
    assert all(p.shape == (u,) for n, p in diag.named_parameters() if n in DIAGONAL_NAMES)
    linear = StrAE(StrAEConfig(vocab_size=7, channels=3, channel_size=u))
    assert linear.non_embedding_parameters() == 4 * u * u + 3 * u
    # the embedding table is K x U per row either way
    assert diag.embedding.weight.shape == linear.embedding.weight.shape == (7, 3 * u)


def test_banyan_and_paper_sizes():
    banyan = StrAE(StrAEConfig(vocab_size=50, channels=128, channel_size=2, compose="diagonal"))
    assert banyan.non_embedding_parameters() == 14
    assert banyan.config.embedding_size == 256
    assert StrAE(StrAEConfig(vocab_size=50)).non_embedding_parameters() == 430
    assert StrAEConfig(vocab_size=50).compose == "linear"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_initialisation(seed):
    torch.manual_seed(seed)
    m = StrAE(StrAEConfig(vocab_size=5, channels=4, channel_size=16, compose="diagonal"))
    lo, hi = 1 / (1 + math.exp(-0.6)), 1 / (1 + math.exp(-0.9))  # 0.6457, 0.7109
    p = dict(m.named_parameters())
    for name in ("compose.gate_left", "compose.gate_right", "decompose.gate_left",
                 "decompose.gate_right"):  # fmt: skip
        s = torch.sigmoid(p[name].detach())
        assert float(s.min()) >= lo and float(s.max()) <= hi, name
        assert float(s.std()) > 0, name  # drawn, not constant
    for name in ("compose.bias", "decompose.bias_left", "decompose.bias_right"):
        assert torch.equal(p[name].detach(), torch.zeros(16)), name
    assert m.compose.dropout.p == m.decompose.dropout.p == 0.1


# --- values ----------------------------------------------------------------------------
def hand_model(activation: str = "none", dropout: float = 0.1):
    comp = DiagonalCompose(2, dropout, activation).double()
    decomp = DiagonalDecompose(2, dropout, activation).double()
    d = torch.float64
    with torch.no_grad():
        comp.gate_left.copy_(torch.tensor([0.0, LN3], dtype=d))  # sigmoid: 1/2, 3/4
        comp.gate_right.copy_(torch.tensor([LN3, -LN3], dtype=d))  # 3/4, 1/4
        comp.bias.copy_(torch.tensor([0.1, -0.2], dtype=d))
        decomp.gate_left.copy_(torch.tensor([LN3, 0.0], dtype=d))  # 3/4, 1/2
        decomp.gate_right.copy_(torch.tensor([-LN3, LN3], dtype=d))  # 1/4, 3/4
        decomp.bias_left.copy_(torch.tensor([1.0, 0.0], dtype=d))
        decomp.bias_right.copy_(torch.tensor([0.0, -1.0], dtype=d))
    return comp.eval(), decomp.eval()


LEFT = [[[1.0, 2.0], [-4.0, 8.0]]]  # n = 1 node, K = 2 channels, U = 2
RIGHT = [[[4.0, -4.0], [2.0, 0.0]]]
# channel 0: [1/2 * 1 + 3/4 * 4 + 0.1, 3/4 * 2 + 1/4 * -4 - 0.2]
# channel 1: [1/2 * -4 + 3/4 * 2 + 0.1, 3/4 * 8 + 1/4 * 0 - 0.2]
PARENT = [[[3.6, 0.3], [-0.4, 5.8]]]
DOWN_IN = [[[4.0, 8.0], [-2.0, 0.4]]]
# left  = [3/4, 1/2] * p + [1, 0]:  [[4, 4], [-0.5, 0.2]]
# right = [1/4, 3/4] * p + [0, -1]: [[1, 5], [-0.5, -0.7]]
DOWN_OUT = [[[[4.0, 4.0], [-0.5, 0.2]], [[1.0, 5.0], [-0.5, -0.7]]]]


@pytest.mark.parametrize("activation", ["none", "tanh"])
def test_diagonal_values_by_hand(activation):
    comp, decomp = hand_model(activation)
    act = torch.tanh if activation == "tanh" else (lambda x: x)
    t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    torch.testing.assert_close(comp(t(LEFT), t(RIGHT)), act(t(PARENT)), rtol=0, atol=1e-14)
    out = decomp(t(DOWN_IN))
    assert out.shape == (1, 2, 2, 2)
    torch.testing.assert_close(out, act(t(DOWN_OUT)), rtol=0, atol=1e-14)
    # many nodes: every node (and channel) by the same rule
    x = torch.randn(6, 3, 2, dtype=torch.float64)
    y = torch.randn(6, 3, 2, dtype=torch.float64)
    torch.testing.assert_close(comp(x, y)[4], comp(x[4:5], y[4:5])[0])
    torch.testing.assert_close(decomp(x)[2:4], decomp(x[2:4]))


def test_dropout_applies_to_the_outputs_in_training_only():
    comp, decomp = hand_model(dropout=0.5)
    t = lambda x: torch.tensor(x, dtype=torch.float64).expand(200, 2, 2)  # noqa: E731
    comp.train()
    decomp.train()
    torch.manual_seed(0)
    got, want = comp(t(LEFT), t(RIGHT)), t(PARENT)
    kept = got != 0
    assert 0.3 < float(kept.double().mean()) < 0.7
    torch.testing.assert_close(got[kept], 2 * want[kept])  # inverted dropout: kept / (1 - p)
    down = decomp(t(DOWN_IN))
    want_d = torch.tensor(DOWN_OUT, dtype=torch.float64).expand(200, 2, 2, 2)
    kept = down != 0
    assert 0.3 < float(kept.double().mean()) < 0.7
    torch.testing.assert_close(down[kept], 2 * want_d[kept])


# --- the passes against the recursive reference -------------------------------------
SHAPES = [
    ("diagonal", 10, 10, "none"),
    ("diagonal", 10, 10, "tanh"),
    ("diagonal", 128, 2, "none"),
    ("diagonal", 5, 20, "tanh"),
    ("diagonal", 16, 16, "none"),
    ("linear", 128, 2, "none"),
    ("linear", 5, 20, "tanh"),
    ("linear", 16, 16, "none"),
]


@pytest.mark.parametrize(("compose", "k", "u", "activation"), SHAPES)
def test_dgl_passes_equal_recursive_reference(compose, k, u, activation):
    rng = random.Random(k * 100 + u)
    trees = random_tree_shapes(rng, 20, max_len=30)
    ids = token_ids(trees)
    model = make_model(compose=compose, channels=k, channel_size=u, activation=activation)
    model = model.double()
    g = batch_trees(trees, ids)
    with torch.no_grad():
        up = model.up(g)
        down = model.down(g, up)
        assert up.shape == down.shape == (g.num_nodes(), k, u)
        comp, decomp = formulas(model)
        offset = 0
        for tree, tid in zip(trees, ids):
            ref_up, ref_down = reference_passes(model, tree, tid, comp, decomp)
            sl = slice(offset, offset + tree.n_nodes)
            torch.testing.assert_close(up[sl], ref_up, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(down[sl], ref_down, rtol=1e-12, atol=1e-12)
            offset += tree.n_nodes
        # the whole forward pass: (N, E) rows, E = K * U
        out = model(g)
        assert out.up.shape == (g.num_nodes(), k * u)
        torch.testing.assert_close(out.up, up.reshape(g.num_nodes(), -1))


@pytest.mark.parametrize(("k", "u"), [(10, 10), (128, 2), (5, 20)])
def test_gradients_equal_recursive_reference(k, u):
    rng = random.Random(11)
    trees = random_tree_shapes(rng, 10, max_len=20)
    ids = token_ids(trees)
    model = make_model(compose="diagonal", channels=k, channel_size=u).double()
    g = batch_trees(trees, ids)
    gen = torch.Generator().manual_seed(0)
    wu = torch.randn(g.num_nodes(), k, u, generator=gen, dtype=torch.float64)
    wd = torch.randn(g.num_nodes(), k, u, generator=gen, dtype=torch.float64)
    up = model.up(g)
    ((model.down(g, up) * wd).sum() + (up * wu).sum()).backward()
    got = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    comp, decomp = formulas(model)
    refs = [reference_passes(model, t, i, comp, decomp) for t, i in zip(trees, ids)]
    ref_up = torch.cat([r[0] for r in refs])
    ref_down = torch.cat([r[1] for r in refs])
    ((ref_down * wd).sum() + (ref_up * wu).sum()).backward()
    for n, p in model.named_parameters():
        assert p.grad.abs().sum() > 0, n
        torch.testing.assert_close(got[n], p.grad, rtol=1e-10, atol=1e-10, msg=n)


# --- gradcheck -----------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["none", "tanh"])
def test_gradcheck_diagonal_functions(activation):
    torch.manual_seed(0)
    comp = DiagonalCompose(3, 0.1, activation).double().eval()
    decomp = DiagonalDecompose(3, 0.1, activation).double().eval()
    left, right = (torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True) for _ in "lr")
    parent = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    names_c = [n for n, _ in comp.named_parameters()]
    names_d = [n for n, _ in decomp.named_parameters()]
    pc = tuple(p.detach().clone().requires_grad_(True) for p in comp.parameters())
    pd = tuple(p.detach().clone().requires_grad_(True) for p in decomp.parameters())

    def f_comp(lft, rgt, *params):
        return torch.func.functional_call(comp, dict(zip(names_c, params)), (lft, rgt))

    def f_decomp(par, *params):
        return torch.func.functional_call(decomp, dict(zip(names_d, params)), (par,))

    assert torch.autograd.gradcheck(f_comp, (left, right, *pc), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradcheck(f_decomp, (parent, *pd), eps=1e-6, atol=1e-7)


def test_gradcheck_of_dgl_passes_with_diagonal_functions():
    trees = [Tree.from_brackets("((a b) (c (d e)))", labelled=False), Tree(("a",), ()),
             Tree.from_brackets("(a (b c))", labelled=False)]  # fmt: skip
    model = make_model(vocab_size=6, compose="diagonal", channels=3, channel_size=2).double()
    g = batch_trees(trees, [[1, 2, 3, 4, 5], [1], [3, 4, 5]])
    fr = Frontiers.of(g)
    names = ["embedding.weight", *DIAGONAL_NAMES]
    params = dict(model.named_parameters())

    def fn_(*ps):
        out = torch.func.functional_call(model, dict(zip(names, ps)), args=(g, fr), strict=False)
        return out.up.sum() + (out.down**2).sum()

    inputs = tuple(params[n].detach().clone().requires_grad_(True) for n in names)
    assert torch.autograd.gradcheck(fn_, inputs, eps=1e-6, atol=1e-6)


# --- Self-StrAE, the bench's plain-PyTorch model -------------------------------------------
@pytest.mark.parametrize(("compose", "k", "u"), [("diagonal", 128, 2), ("diagonal", 5, 20),
                                                 ("linear", 128, 2)])  # fmt: skip
def test_self_strae_merge_equals_up_pass(compose, k, u):
    model = make_model(vocab_size=30, compose=compose, channels=k, channel_size=u)
    rng = random.Random(4)
    batch = [[rng.randrange(30) for _ in range(rng.choice([1, 2, rng.randint(3, 20)]))]
             for _ in range(20)]  # fmt: skip
    with torch.no_grad():
        res = merge(model, batch)
        g = batch_trees(res.trees, batch)
        torch.testing.assert_close(res.up, model.up(g), atol=1e-6, rtol=1e-5)
    model.train()
    step = self_forward(model, batch)
    step.output.loss.backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and bool(torch.isfinite(p.grad).all()), n
        assert p.grad.abs().sum() > 0, n


@pytest.mark.parametrize(("k", "u"), [(10, 10), (128, 2)])
def test_bench_plain_model_equals_library_with_diagonal(k, u):
    rng = random.Random(8)
    trees = random_tree_shapes(rng, 15, max_len=25)
    ids = token_ids(trees)
    model = make_model(compose="diagonal", channels=k, channel_size=u)
    g = batch_trees(trees, ids)
    plain = PlainFrontierModel(trees, ids)
    with torch.no_grad():
        up = model.up(g)
        torch.testing.assert_close(plain.up(model), up, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(plain.down(model, up), model.down(g, up), atol=1e-6, rtol=1e-5)


# --- checkpoints -------------------------------------------------------------------------------
def save_run(run, model: StrAE, vocab: Vocabulary, model_config: dict | None = None) -> None:
    run.mkdir(parents=True, exist_ok=True)
    cfg = model.config.to_dict() if model_config is None else model_config
    state = {"format": 1, "model": model.state_dict(), "model_config": cfg, "vocab": vocab.itos}
    save_checkpoint(state, run / "best.pt")
    (run / "vocab.json").write_text(vocab.to_json())
    (run / "config.json").write_text(json.dumps({"model": cfg, "train": {"structure": "right"}}))


VOCAB = Vocabulary(["<unk>", *(f"w{i}" for i in range(1, 20))])


@pytest.mark.parametrize(("k", "u"), [(128, 2), (5, 20), (10, 10)])
def test_checkpoint_round_trip_diagonal(tmp_path, k, u):
    model = make_model(compose="diagonal", channels=k, channel_size=u)
    save_run(tmp_path / "run", model, VOCAB)
    run = load_run(tmp_path / "run")
    assert run.model_config.compose == "diagonal"
    assert run.model.non_embedding_parameters() == 7 * u
    for name, p in model.state_dict().items():
        assert torch.equal(run.model.state_dict()[name], p), name
    trees = random_tree_shapes(random.Random(2), 12)
    g = batch_trees(trees, token_ids(trees))
    with torch.no_grad():
        a, b = model(g), run.model(g)
    assert torch.equal(a.up, b.up) and torch.equal(a.down, b.down)
    emb = load_embedder(tmp_path / "run")
    assert emb.embedding_size == k * u
    sents = [list(t.tokens) for t in trees]
    got = emb.embed_sentences(sents)
    trees_r = emb.parse(sents)
    g_r = batch_trees(trees_r, [VOCAB.encode(t.tokens) for t in trees_r])
    with torch.no_grad():
        want = model.up(g_r).reshape(g_r.num_nodes(), -1)[roots(g_r)].numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_checkpoint_of_the_other_kind_is_refused(tmp_path):
    model = make_model(compose="diagonal")
    wrong = {**model.config.to_dict(), "compose": "linear"}
    save_run(tmp_path / "run", model, VOCAB, wrong)
    with pytest.raises(CheckpointError, match="missing compose.linear.weight"):
        load_run(tmp_path / "run")


def test_runs_from_before_the_option_load_as_linear(tmp_path):
    model = make_model()
    old = {k: v for k, v in model.config.to_dict().items() if k != "compose"}
    save_run(tmp_path / "run", model, VOCAB, old)
    run = load_run(tmp_path / "run")
    assert run.model_config.compose == "linear"
    assert torch.equal(run.model.compose.linear.weight, model.compose.linear.weight)
    assert load_embedder(tmp_path / "run").model.config.compose == "linear"
    # but a config.json that disagrees with the checkpoint is still caught
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    record["model"]["compose"] = "diagonal"
    (tmp_path / "run" / "config.json").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="compose"):
        load_run(tmp_path / "run")


# --- configuration and command line ----------------------------------------------------------
def test_unknown_compose_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown compose function 'banyan'; choose one of "
                       "linear, diagonal"):  # fmt: skip
        StrAEConfig(vocab_size=3, compose="banyan")
    with pytest.raises(ValueError, match="unknown compose function 'banyan'"):
        TrainConfig(compose="banyan", out=str(tmp_path / "x"))
    capsys.readouterr()
    rc = main(["train", "--compose", "banyan", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.strip().splitlines() == [
        "strae train: error: unknown compose function 'banyan'; choose one of linear, diagonal"
    ]
    assert not (tmp_path / "run").exists()


def test_help_lists_the_compose_choices(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--compose {linear,diagonal}" in capsys.readouterr().out
    # strae bench builds its models with the option too
    assert build_parser().parse_args(["bench", "--compose", "diagonal"]).compose == "diagonal"


# --- tiny end-to-end runs ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def banyan_run(tmp_path_factory, data_dir):
    """E = 256 as 128 channels of 2, diagonal functions, CE objective (Banyan's shape)."""
    out = tmp_path_factory.mktemp("diag") / "run"
    return tiny_run(out, compose="diagonal", channels=128, channel_size=2, objective="ce",
                    structure="right")  # fmt: skip


def test_run_records_and_loads_the_option(banyan_run):
    record = json.loads((banyan_run / "config.json").read_text())
    assert record["train"]["compose"] == record["model"]["compose"] == "diagonal"
    assert (record["model"]["channels"], record["model"]["channel_size"]) == (128, 2)
    run = load_run(banyan_run)
    assert run.model.non_embedding_parameters() == 14
    assert run.model_config.embedding_size == 256
    # training moved the diagonal parameters (the biases start at zero)
    for name in ("compose.bias", "decompose.bias_left", "decompose.bias_right"):
        assert float(run.model.state_dict()[name].abs().max()) > 1e-4, name
    assert main(["verify", str(banyan_run)]) == 0


def test_run_embeds_and_exports(banyan_run, tmp_path, capsys):
    emb = load_embedder(banyan_run)
    sents = ["The dog barks at the postman.", "Wikipedia is a free online encyclopedia.", "Hi"]
    got = emb.embed_sentences(sents)
    assert got.shape == (3, 256) and np.isfinite(got).all()
    trees = emb.parse(sents)
    g = batch_trees(trees, [emb.vocab.encode(t.tokens) for t in trees])
    run = load_run(banyan_run)
    with torch.no_grad():
        want = run.model(g).up[roots(g)].numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    nodes = emb.embed_nodes(sents[0])
    assert nodes.up.shape == nodes.down.shape == (2 * len(nodes.tree.tokens) - 1, 256)
    words, mask = emb.embed_words(["the", "qwertyzzz"], return_mask=True)
    assert words.shape == (2, 256) and mask.tolist() == [True, False]
    # the command line: strae embed, strae export
    text = tmp_path / "s.txt"
    text.write_text("\n".join(sents) + "\n\n")
    assert main(["embed", str(banyan_run), "--input", str(text), "--out",
                 str(tmp_path / "e.npy")]) == 0  # fmt: skip
    arr = np.load(tmp_path / "e.npy")
    assert arr.shape == (4, 256)
    np.testing.assert_allclose(arr[:3], got, rtol=0, atol=1e-6)
    assert np.isnan(arr[3]).all()
    assert main(["export", str(banyan_run), "--out", str(tmp_path / "w.txt")]) == 0
    with open(tmp_path / "w.txt") as f:
        head = f.readline().split()
        first = f.readline().split()
    assert head == [str(len(emb.vocab) - 1), "256"] and len(first) == 257
    capsys.readouterr()


def test_resume_with_another_compose_is_refused(banyan_run):
    cfg = tiny_config(banyan_run, compose="linear", channels=128, channel_size=2, objective="ce",
                      structure="right")  # fmt: skip
    with pytest.raises(CheckpointError, match="compose: saved 'diagonal', now 'linear'"):
        train(cfg, resume=True, log=lambda s: None)


def test_self_strae_run_with_diagonal_square_channels(tmp_path, data_dir, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--corpus", str(CORPUS), "--out", str(run), "--max-sentences", "120",
               "--dev-sentences", "20", "--batch-size", "32", "--structure", "self",
               "--objective", "both", "--compose", "diagonal", "-K", "16", "-U", "16",
               "--no-progress", "--min-count", "1"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    record = json.loads((run / "config.json").read_text())
    assert record["model"]["compose"] == "diagonal"
    loaded = load_run(run)
    assert loaded.model.non_embedding_parameters() == 7 * 16
    sentences = [["the", "cat", "sat", "on", "the", "mat", "."], ["hello"], ["a", "b"]]
    trees = parse_with_model(run, sentences)
    assert [list(t.tokens) for t in trees] == sentences
    emb = load_embedder(run)
    got = emb.embed_trees(trees)
    assert got.shape == (3, 256) and np.isfinite(got).all()
    # sentences of a Self-StrAE run are parsed by the run's own model
    assert emb.parse(sentences) == trees
    np.testing.assert_array_equal(emb.embed_sentences(sentences), got)
    text = tmp_path / "s.txt"
    text.write_text("\n".join(" ".join(s) for s in sentences) + "\n")
    capsys.readouterr()
    assert main(["embed", str(run), "--input", str(text), "--out", str(tmp_path / "e.npy")]) == 0
    assert np.load(tmp_path / "e.npy").shape == (3, 256)
