"""The fused token cross-entropy (strae_graph.model.cross_entropy.linear_cross_entropy) equals
F.cross_entropy over the materialised logits: loss and gradients, tied and
untied Lambda, mean and sum, with and without gradients, and in a model."""

import random

import pytest
import torch
import torch.nn.functional as F

from strae_graph import StrAE, StrAEConfig, batch_trees
from strae_graph.model import cross_entropy
from strae_graph.model.cross_entropy import linear_cross_entropy
from tests.conftest import random_tree_shapes


def _case(n=37, e=6, v=53, bias=False, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, e, generator=g, dtype=dtype).requires_grad_()
    w = torch.randn(v, e, generator=g, dtype=dtype).requires_grad_()
    b = torch.randn(v, generator=g, dtype=dtype).requires_grad_() if bias else None
    t = torch.randint(0, v, (n,), generator=g)
    return h, w, b, t


def _grads(loss, *xs):
    return torch.autograd.grad(loss, [x for x in xs if x is not None])


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("block_rows", [None, 1, 5, 1000])
def test_matches_unfused_loss_and_gradients(bias, reduction, block_rows):
    h, w, b, t = _case(bias=bias)
    logits = h @ w.T if b is None else h @ w.T + b
    ref = F.cross_entropy(logits, t, reduction=reduction)
    ref_g = _grads(ref, h, w, b)
    got = linear_cross_entropy(h, w, t, b, reduction, block_rows)
    got_g = _grads(got * 2.5, h, w, b)  # the incoming gradient is applied
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    for a, r in zip(got_g, ref_g):
        torch.testing.assert_close(a, 2.5 * r, rtol=1e-10, atol=1e-12)
    with torch.no_grad():  # the loss-only path, blocked
        nograd = linear_cross_entropy(h, w, t, b, reduction, block_rows)
    torch.testing.assert_close(nograd, ref.detach(), rtol=1e-12, atol=1e-12)


def test_float32_within_rounding_and_workspace_reuse():
    for n in (40, 7, 90):  # the reused buffer grows and shrinks
        h, w, _, t = _case(n=n, e=16, v=500, dtype=torch.float32, seed=n)
        ref = F.cross_entropy(h @ w.T, t)
        ref_g = _grads(ref, h, w)
        got = linear_cross_entropy(h, w, t)
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
        for a, r in zip(_grads(got, h, w), ref_g):
            torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-7)


def test_only_the_wanted_gradients():
    h, w, _, t = _case()
    h.requires_grad_(False)
    (gw,) = _grads(linear_cross_entropy(h, w, t), w)
    (ref,) = _grads(F.cross_entropy(h @ w.T, t), w)
    torch.testing.assert_close(gw, ref)


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("objective", ["ce", "both"])
def test_model_step_matches_unfused(tied, objective):
    rng = random.Random(3)
    trees = random_tree_shapes(rng, 6)
    ids = [[rng.randrange(0, 40) for _ in range(t.n_leaves)] for t in trees]  # some unknown (0)
    g = batch_trees(trees, ids)
    cfg = StrAEConfig(vocab_size=40, channels=2, channel_size=3, objective=objective, tied=tied,
                      dropout=0.0, input_dropout=0.0)  # fmt: skip
    torch.manual_seed(0)
    m = StrAE(cfg).double()

    def unfused(self, leaf_down, tokens):
        known = tokens != 0
        return F.cross_entropy(self.token_logits(leaf_down[known]), tokens[known])

    out = m(g)
    got = _grads(out.loss, *m.parameters())
    m.reconstruction_loss = unfused.__get__(m)
    ref_out = m(g)
    ref = _grads(ref_out.loss, *m.parameters())
    torch.testing.assert_close(out.loss, ref_out.loss, rtol=1e-12, atol=1e-12)
    for a, r in zip(got, ref):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_improbable_targets_loss_from_the_logits(dtype):
    """Targets whose softmax probability underflows (losses of hundreds): their
    rows' losses come from the log-sum-exp, finite and equal to unfused."""
    h, w, _, _ = _case(n=30, e=8, v=40, dtype=dtype, seed=3)
    h = ((40 if dtype == torch.float32 else 400) * h.detach()).requires_grad_()
    logits = (h @ w.T).detach()
    t = logits.argmin(dim=1)  # the least likely token of every row
    t[::2] = logits[::2].argmax(dim=1)  # and some likely ones
    ref = F.cross_entropy(h @ w.T, t)
    pt = torch.softmax(logits, 1).gather(1, t[:, None])
    assert (pt < cross_entropy.EXACT_PROBABILITY * torch.finfo(dtype).tiny).sum() >= 5
    got = linear_cross_entropy(h, w, t)
    assert torch.isfinite(got)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {}
    torch.testing.assert_close(got, ref, **tol)
    for a, r in zip(_grads(got, h, w), _grads(ref, h, w)):
        torch.testing.assert_close(a, r, **tol)


def test_bad_arguments():
    h, w, _, t = _case()
    with pytest.raises(ValueError):
        linear_cross_entropy(h, w, t, reduction="none")
    with pytest.raises(ValueError):
        linear_cross_entropy(h, w, t[:-1])


def test_empty_input_keeps_the_graph():
    """A data-parallel shard with no targets contributes 0 and can still backprop."""
    h = torch.zeros(0, 4, requires_grad=True)
    w = torch.randn(7, 4, requires_grad=True)
    loss = linear_cross_entropy(h, w, torch.zeros(0, dtype=torch.long), reduction="sum")
    assert loss.requires_grad and float(loss) == 0.0
    loss.backward()
    assert torch.equal(w.grad, torch.zeros_like(w))
