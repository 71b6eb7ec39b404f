"""The fast paths: contrastive loss variants (fixed shift, kept matrix,
row shards), per-frontier passes on deep trees, the batch prefetcher.
Correctness only; speed is measured by ``strae bench``."""

import threading

import pytest
import torch
import torch.nn.functional as F

from strae_graph import batch_trees
from strae_graph.model.losses import (
    contrastive_loss,
    contrastive_loss_dense,
    contrastive_loss_shard,
)
from strae_graph.training.prefetch import Prefetcher
from strae_graph.trees.tree import Tree
from tests.test_model import make_model, reference_passes


def _grads(loss_fn, up, down):
    loss = loss_fn(up, down)
    return (loss, *torch.autograd.grad(loss, (up, down)))


@pytest.mark.parametrize("scale", [1.2214, 5.0, 60.0])  # 60: running-maximum path
@pytest.mark.parametrize("cache", [0, 1 << 30])  # recompute in backward / keep the matrix
@pytest.mark.parametrize("block", [7, 4096])
def test_contrastive_variants_equal_dense(scale, cache, block):
    torch.manual_seed(int(scale) + block)
    up = torch.randn(97, 12, dtype=torch.float64, requires_grad=True)
    down = torch.randn(97, 12, dtype=torch.float64, requires_grad=True)
    want = _grads(lambda u, d: contrastive_loss_dense(u, d, scale), up, down)
    got = _grads(lambda u, d: contrastive_loss(u, d, scale, block, cache_bytes=cache), up, down)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


def test_kept_matrix_with_two_graphs_alive():
    # forward A, forward B, backward A, backward B: the reusable buffer must not mix them
    torch.manual_seed(3)
    xs = [torch.randn(40, 8, requires_grad=True) for _ in range(4)]
    la = contrastive_loss(xs[0], xs[1], 1.5)
    lb = contrastive_loss(xs[2], xs[3], 1.5)
    ga = torch.autograd.grad(la, xs[:2])
    gb = torch.autograd.grad(lb, xs[2:])
    for loss, grads, (u, d) in ((la, ga, xs[:2]), (lb, gb, xs[2:])):
        dense = contrastive_loss_dense(u, d, 1.5)
        torch.testing.assert_close(loss, dense)
        for a, b in zip(grads, torch.autograd.grad(dense, (u, d))):
            torch.testing.assert_close(a, b)
    # and again, now reusing the buffer
    torch.testing.assert_close(contrastive_loss(xs[0], xs[1], 1.5), la)


@pytest.mark.parametrize("scale", [1.2214, 60.0])
@pytest.mark.parametrize("sizes", [(30, 25), (0, 41), (41, 1)])
def test_row_shards_sum_to_the_global_loss(scale, sizes):
    """Two 'processes' as threads: shares and gradients sum to the dense ones."""
    torch.manual_seed(sum(sizes))
    n = sum(sizes)
    up = F.normalize(torch.randn(n, 10, dtype=torch.float64), dim=-1)
    down = F.normalize(torch.randn(n, 10, dtype=torch.float64), dim=-1)
    barrier = threading.Barrier(2)
    slots: dict[int, torch.Tensor] = {}
    results: dict[int, tuple] = {}

    def reduce_for(rank):
        def reduce(t, op):
            slots[rank] = t.clone()
            barrier.wait()
            other = slots[1 - rank]
            t.copy_(t + other if op == "sum" else torch.maximum(t, other))
            barrier.wait()

        return reduce

    def worker(rank):
        start = sizes[0] if rank else 0
        u = up[start : start + sizes[rank]].clone().requires_grad_()
        d = down.clone().requires_grad_()
        share = contrastive_loss_shard(u, d, start, scale, reduce_for(rank), block_size=8)
        share.backward()
        results[rank] = (share.detach(), u.grad, d.grad)

    threads = [threading.Thread(target=worker, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    u_all = up.clone().requires_grad_()
    d_all = down.clone().requires_grad_()
    logits = scale * u_all @ d_all.T  # the shards take unit vectors: no normalisation here
    target = torch.arange(n)
    dense = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    dense.backward()
    torch.testing.assert_close(results[0][0] + results[1][0], dense.detach())
    torch.testing.assert_close(torch.cat([results[0][1], results[1][1]]), u_all.grad)
    torch.testing.assert_close(results[0][2] + results[1][2], d_all.grad)


@pytest.mark.parametrize("shape", ["right", "left"])
def test_deep_trees_equal_recursive_reference(shape):
    from parsers.heuristics import HEURISTICS

    trees = [HEURISTICS[shape]([f"w{i % 20}" for i in range(n)]) for n in (150, 3, 77, 1)]
    trees.append(Tree.from_brackets("((a b) (c (d e)))", labelled=False))
    ids = [[int(t[1:]) if t[1:].isdigit() else 1 for t in tree.tokens] for tree in trees]
    model = make_model()
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


def test_prefetcher_in_order_out_of_order_and_errors():
    made = []

    def make(k):
        made.append(k)
        if k == 4:
            raise ValueError("bad batch 4")
        return k * 10

    with Prefetcher(make, range(6), depth=2) as p:
        assert [p.get(k) for k in (0, 1, 2)] == [0, 10, 20]
        assert p.get(5) == 50  # skipping ahead works
        assert p.get(1) == 10  # a key already consumed is built on the spot
    with Prefetcher(make, range(6)) as p, pytest.raises(ValueError, match="bad batch 4"):
        for k in range(6):
            p.get(k)


def test_bench_command_writes_json_and_plain_matches(tmp_path, data_dir):
    import json

    from strae_graph.cli import main

    out = tmp_path / "bench.json"
    args = ["bench", "--batch-size", "4", "--steps", "1", "--warmup", "0", "--structures",
            "right", "--objectives", "both", "--vocab-sentences", "50", "--json", str(out),
            "--no-progress", "--settings", "paper", "default"]  # fmt: skip
    assert main(args) == 0
    rec = json.loads(out.read_text())
    r, d = rec["results"]
    assert r["structure"] == "right" and r["objective"] == "both" and r["batch_size"] == 4
    assert r["tokens_per_s"] > 0 and r["floor_s"] > 0 and r["peak_rss_mb"] > 0
    assert sum(r["share"].values()) == pytest.approx(1.0)
    assert (r["setting"], r["compose"], r["entangle"]) == ("paper", "linear", False)
    assert r["plain_max_abs_diff"] < 1e-5  # the plain-PyTorch loop computes the same model
    # the default recipe: diagonal functions on entangled batches (no plain reference)
    assert (d["setting"], d["compose"], d["entangle"]) == ("default", "diagonal", True)
    assert d["nodes"] <= r["nodes"] and d["tokens"] == r["tokens"] and d["tokens_per_s"] > 0
    assert d["plain_step_s"] is None
