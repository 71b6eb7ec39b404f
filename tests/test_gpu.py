"""The CUDA code paths on a real GPU (``pytest -m gpu``; ``scripts/gpu_check.sh``
runs them).  Without a CUDA GPU, or with a DGL built without CUDA, every test
here is skipped with the reason; the rest of the suite never needs a GPU.

What they check: a batch's graph, blocks and schedule on the GPU; one step's
loss and gradients on the GPU equal the CPU's within float tolerance (dropout
0: the two devices draw different masks); bf16 on the GPU within the CPU
tests' tolerances of fp32; ``strae train --device cuda`` and its resume."""

import json
import random

import pytest
import torch

from parsers.api import train
from parsers.heuristics import HEURISTICS
from strae_graph import batch_trees
from strae_graph.graph.batch import Frontiers
from strae_graph.model.config import StrAEConfig
from strae_graph.model.strae import StrAE
from tests.test_precision import _assert_close_to_fp32, _pair
from tests.tiny_runs import tiny_config


def dgl_cuda_problem() -> str | None:
    """Why the GPU tests cannot run here (None: they can)."""
    if not torch.cuda.is_available():
        return "no CUDA GPU (torch.cuda.is_available() is False)"
    from strae_graph.util.dgl import dgl

    try:
        dgl.graph(([0], [1])).to("cuda")
    except Exception as e:  # DGLError: "Device API cuda is not enabled"
        return f"DGL {dgl.__version__} has no CUDA support ({str(e).splitlines()[0]})"
    return None


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(dgl_cuda_problem() is not None, reason=str(dgl_cuda_problem())),
]


def _batch(n=48, seed=0):
    rng = random.Random(seed)
    kinds = ("balanced", "right", "left")
    trees = [HEURISTICS[kinds[i % 3]]([f"w{rng.randrange(30)}" for _ in range(rng.randint(1, 25))])
             for i in range(n)]  # fmt: skip
    ids = [[int(t[1:]) + 1 for t in tree.tokens] for tree in trees]
    return trees, ids


@pytest.mark.parametrize("entangle", [False, True])
def test_batch_lives_on_the_gpu(entangle):
    trees, ids = _batch()
    g = batch_trees(trees, ids, "cuda", entangle)
    sch = Frontiers.of(g).schedule
    assert g.device.type == "cuda" and g.ndata["token"].is_cuda
    for level in [*sch.up_levels, *sch.down_levels]:
        assert level.block.device.type == "cuda"
    for t in (sch.leaf_order, sch.up_rows, sch.root_order, sch.down_rows, *sch.up_nodes):
        assert t.is_cuda


@pytest.mark.parametrize("objective", ["contrastive", "ce", "both"])
@pytest.mark.parametrize("entangle", [False, True])
def test_step_on_gpu_equals_cpu(objective, entangle):
    trees, ids = _batch()
    torch.manual_seed(0)
    cfg = StrAEConfig(vocab_size=40, objective=objective, compose="diagonal", dropout=0.0,
                      input_dropout=0.0, temperature=0.1)  # fmt: skip
    cpu = StrAE(cfg)
    gpu = StrAE(cfg).cuda()
    gpu.load_state_dict(cpu.state_dict())
    outs = []
    for model, device in ((cpu, "cpu"), (gpu, "cuda")):
        out = model(batch_trees(trees, ids, device, entangle))
        out.loss.backward()
        outs.append((out, {k: p.grad.cpu() for k, p in model.named_parameters()}))
    (a, ga), (b, gb) = outs
    torch.testing.assert_close(b.loss.cpu(), a.loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(b.up.cpu(), a.up, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(b.down.cpu(), a.down, rtol=1e-5, atol=1e-6)
    for k in ga:
        torch.testing.assert_close(gb[k], ga[k], rtol=1e-4, atol=1e-6)


def test_bf16_on_gpu_within_the_stated_tolerance():
    from strae_graph.model.cross_entropy import linear_cross_entropy
    from strae_graph.model.losses import contrastive_loss

    up, down = (x.detach().cuda().requires_grad_() for x in _pair())
    _assert_close_to_fp32(lambda u, d, p: contrastive_loss(u, d, 10.0, precision=p), (up, down))
    h = (0.3 * torch.randn(400, 100, device="cuda")).requires_grad_()
    w = (0.1 * torch.randn(3000, 100, device="cuda")).requires_grad_()
    t = torch.randint(0, 3000, (400,), device="cuda")
    _assert_close_to_fp32(lambda h, w, p: linear_cross_entropy(h, w, t, precision=p), (h, w))


def _losses(run) -> list[float]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(x)["loss"] for x in lines if '"loss"' in x]


def test_train_on_gpu_matches_cpu_and_resumes(tmp_path):
    kw = dict(max_steps=4, dropout=0.0, input_dropout=0.0)
    runs = {}
    for device in ("cpu", "cuda"):
        runs[device] = tmp_path / device
        train(tiny_config(runs[device], device=device, **kw), log=lambda s: None)
    torch.testing.assert_close(_losses(runs["cuda"]), _losses(runs["cpu"]), rtol=1e-4, atol=0)
    # 2 steps, then --resume to 4: the same losses as 4 steps at once (float tolerance:
    # the GPU's scatter-adds may sum in another order)
    half = tmp_path / "half"
    train(tiny_config(half, device="cuda", **{**kw, "max_steps": 2}), log=lambda s: None)
    train(tiny_config(half, device="cuda", **kw), resume=True, log=lambda s: None)
    torch.testing.assert_close(_losses(half), _losses(runs["cuda"]), rtol=1e-5, atol=0)
