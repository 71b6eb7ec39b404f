"""``--precision bf16``: the losses' big products on operands rounded to bf16,
float32 results, the rest in float32.  The loss within a stated tolerance of
fp32, gradients finite and close, the ways of making the products (oneDNN's
bf16 mode, rounded float32 operands) agreeing within float32 rounding, the
blocked cross-entropy equal to the unblocked, the option reaching the loss from
the command line, recorded in config.json and refused on --resume when changed."""

import json

import pytest
import torch
import torch.nn.functional as F

from parsers.api import train
from strae_graph.cli import main
from strae_graph.model import precision
from strae_graph.model.cross_entropy import linear_cross_entropy
from strae_graph.model.losses import contrastive_loss, contrastive_loss_shard
from strae_graph.model.precision import PRECISIONS, Products, rounded, support_note
from strae_graph.training.checkpoint import CheckpointError
from tests.conftest import CORPUS
from tests.tiny_runs import tiny_config, tiny_run

#: stated tolerances (README, "Performance"): the loss within 0.1% (relative),
#: the gradients within 2% in norm and pointing the same way (cosine > 0.999),
#: for a contrastive loss about 1 (mid-training) and the cross-entropy at any stage
LOSS_RTOL, GRAD_RTOL, GRAD_COS = 1e-3, 2e-2, 0.999


def _loss_and_grads(fn, xs, precision):
    loss = fn(*xs, precision)
    return loss.detach(), torch.autograd.grad(loss, xs)


def _assert_close_to_fp32(fn, xs):
    want, want_g = _loss_and_grads(fn, xs, "fp32")
    got, got_g = _loss_and_grads(fn, xs, "bf16")
    assert not torch.equal(got, want)  # the products did change precision
    assert abs(float(got - want)) <= LOSS_RTOL * abs(float(want)), (float(got), float(want))
    for g, w in zip(got_g, want_g):
        assert g.dtype == torch.float32 and torch.isfinite(g).all()
        assert float((g - w).norm() / w.norm()) < GRAD_RTOL
        assert float(F.cosine_similarity(g.flatten(), w.flatten(), dim=0)) > GRAD_COS


def _pair(n=600, e=100, noise=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    up = torch.randn(n, e, generator=g)
    down = up + noise * torch.randn(n, e, generator=g)
    return up.requires_grad_(), down.requires_grad_()


@pytest.mark.parametrize("scale", [10.0, 60.0])  # fixed shift / running maximum
@pytest.mark.parametrize("cache", [None, 0])  # keep S for backward / recompute it
def test_bf16_contrastive_close_to_fp32(scale, cache):
    noise = 1.0 if scale == 10.0 else 3.0  # a loss of about 1 at both scales
    _assert_close_to_fp32(
        lambda u, d, p: contrastive_loss(u, d, scale, 256, cache, precision=p), _pair(noise=noise)
    )


def test_bf16_contrastive_learned_scale_and_shards():
    up, down = _pair(n=200)
    log_scale = torch.tensor(2.0, requires_grad=True)  # scale e^2
    _assert_close_to_fp32(
        lambda u, d, s, p: contrastive_loss(u, d, s.exp(), precision=p), (up, down, log_scale)
    )
    # the data-parallel shard path takes the same argument
    u, d = F.normalize(up.detach(), dim=-1), F.normalize(down.detach(), dim=-1)
    full = contrastive_loss_shard(u, d, 0, 5.0, lambda t, op: None, precision="bf16")
    assert torch.equal(full, contrastive_loss(up.detach(), down.detach(), 5.0, precision="bf16"))


@pytest.mark.parametrize("bias", [False, True])  # tied Lambda / untied with a bias
def test_bf16_cross_entropy_close_to_fp32(bias):
    g = torch.Generator().manual_seed(1)
    h = (0.3 * torch.randn(400, 100, generator=g)).requires_grad_()
    w = (0.1 * torch.randn(3000, 100, generator=g)).requires_grad_()
    b = (0.1 * torch.randn(3000, generator=g)).requires_grad_() if bias else None
    t = torch.randint(0, 3000, (400,), generator=g)
    xs = (h, w, b) if bias else (h, w)

    def loss(h, w, *rest):
        *b, p = rest
        return linear_cross_entropy(h, w, t, b[0] if b else None, precision=p)

    _assert_close_to_fp32(loss, xs)
    with torch.no_grad():  # the dev loss's blocked path
        want = linear_cross_entropy(h, w, t, b, precision="fp32")
        got = linear_cross_entropy(h, w, t, b, precision="bf16")
    assert abs(float(got - want)) <= LOSS_RTOL * float(want)


def test_precision_names_and_note():
    assert PRECISIONS == ("fp32", "bf16")
    assert Products.of("fp32").mode == "fp32" and not Products.of("fp32").low
    mode = Products.of("bf16", "cpu").mode
    assert mode == ("onednn" if precision.onednn_bf16_works() else "round")
    assert support_note("fp32", "cpu") is None
    note = support_note("bf16", "cpu")
    assert (note is None) == (mode == "onednn")
    assert note is None or "rounded to bf16: the same numbers" in note
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16"):
        Products.of("fp16")


def _modes() -> list[str]:
    return ["round", "onednn"] if precision.onednn_bf16_works() else ["round"]


@pytest.mark.parametrize("mode", ["fp32", "round", "onednn"])
def test_products_round_the_operands_not_the_result(mode):
    if mode not in ["fp32", *_modes()]:
        pytest.skip("this CPU's oneDNN has no bf16 matrix instructions")
    g = torch.Generator().manual_seed(2)
    a, b, c = (torch.randn(*s, generator=g) for s in ((70, 90), (90, 80), (80,)))
    how = Products(mode)
    x, y = how.operand(a), how.operand(b)
    exact = torch.mm(how.exact(a).double(), how.exact(b).double())
    assert torch.equal(how.exact(a), a) != how.low
    for got, want in [
        (how.mm(x, y), exact),
        (how.addmm(c, x, y, alpha=0.5), c.double() + 0.5 * exact),
        (how.add_mm_(c[None].repeat(70, 1), x, y), c.double() + exact),
    ]:
        assert got.dtype == torch.float32
        torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)
    if how.low:  # a float32 result, not one rounded to bf16
        r = how.mm(x, y)
        assert not torch.equal(r, rounded(r))


def _bf16_losses() -> list:
    """Loss and gradients of both losses in bf16 on fixed inputs."""
    up, down = _pair(n=300)
    g = torch.Generator().manual_seed(4)
    h = (0.3 * torch.randn(200, 100, generator=g)).requires_grad_()
    w = (0.1 * torch.randn(3000, 100, generator=g)).requires_grad_()
    t = torch.randint(0, 3000, (200,), generator=g)
    return [
        _loss_and_grads(lambda u, d, p: contrastive_loss(u, d, 10.0, 128, precision=p),
                        (up, down), "bf16"),
        _loss_and_grads(lambda h, w, p: linear_cross_entropy(h, w, t, precision=p),
                        (h, w), "bf16"),
    ]  # fmt: skip


def test_the_ways_of_making_bf16_agree(monkeypatch):
    """oneDNN's bf16 mode (where this CPU has it) and the rounded float32 operands
    (any device): the same numbers up to float32 accumulation."""
    if "onednn" not in _modes():
        pytest.skip("this CPU's oneDNN has no bf16 matrix instructions")
    assert Products.of("bf16").mode == "onednn"
    got = _bf16_losses()
    monkeypatch.setattr(precision, "onednn_bf16_works", lambda: False)
    assert Products.of("bf16").mode == "round"
    for (loss, grads), (loss_r, grads_r) in zip(got, _bf16_losses()):
        torch.testing.assert_close(loss, loss_r, rtol=1e-5, atol=0)
        for a, b in zip(grads, grads_r):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("bias", [False, True])
def test_bf16_cross_entropy_blocked_equals_unblocked(bias):
    """The loss without gradients, made ``block_rows`` rows at a time, equals the
    loss of the fused whole-matrix forward within float32 rounding."""
    g = torch.Generator().manual_seed(5)
    h = (0.3 * torch.randn(90, 100, generator=g)).requires_grad_()
    w = (0.1 * torch.randn(2000, 100, generator=g)).requires_grad_()
    b = (0.1 * torch.randn(2000, generator=g)).requires_grad_() if bias else None
    t = torch.randint(0, 2000, (90,), generator=g)
    whole = linear_cross_entropy(h, w, t, b, precision="bf16").detach()
    fp32 = linear_cross_entropy(h, w, t, b).detach()
    assert not torch.equal(whole, fp32)
    with torch.no_grad():
        for rows in (90, 7, 1):
            got = linear_cross_entropy(h, w, t, b, block_rows=rows, precision="bf16")
            torch.testing.assert_close(got, whole, rtol=1e-6, atol=0)


def _first_loss(run) -> float:
    return json.loads((run / "metrics.jsonl").read_text().splitlines()[0])["loss"]


def test_option_reaches_the_loss_and_is_recorded(tmp_path):
    runs = {}
    for p in PRECISIONS:
        out = tmp_path / p
        args = ["train", "--corpus", str(CORPUS), "--max-sentences", "300",
                "--dev-sentences", "40", "--batch-size", "64", "--min-count", "1",
                "--max-steps", "2", "--log-every", "1", "--no-progress", "--threads", "1",
                "--out", str(out), "--precision", p]  # fmt: skip
        assert main(args) == 0
        runs[p] = out
        cfg = json.loads((out / "config.json").read_text())
        assert cfg["train"]["precision"] == p and cfg["model"]["precision"] == p
    a, b = _first_loss(runs["fp32"]), _first_loss(runs["bf16"])
    assert a != b and abs(a - b) <= LOSS_RTOL * a  # same model and batch, other products


def test_resume_refuses_another_precision(tmp_path):
    run = tiny_run(tmp_path / "r", max_steps=2)
    with pytest.raises(CheckpointError, match="precision: saved 'fp32', now 'bf16'"):
        train(tiny_config(run, max_steps=4, precision="bf16"), resume=True, log=lambda s: None)
