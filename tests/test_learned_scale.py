"""The learned logit scale (--learn-temperature): the blocked loss's gradient
with respect to a tensor scale, the clamp to [1, 100], the model parameter,
training, checkpoints and loading."""

from __future__ import annotations

import json
import math
import threading

import pytest
import torch
import torch.nn.functional as F

from parsers.api import load_embedder, train
from strae_graph import StrAE, StrAEConfig, batch_trees
from strae_graph.embed.load import load_run
from strae_graph.model.config import SCALE_RANGE
from strae_graph.model.losses import (
    contrastive_loss,
    contrastive_loss_dense,
    contrastive_loss_shard,
)
from strae_graph.training.checkpoint import load_checkpoint, save_checkpoint
from strae_graph.training.config import TrainConfig
from tests.test_reliability import tiny_cfg


def _tensors(n=41, e=7, seed=0):
    torch.manual_seed(seed)
    up = torch.randn(n, e, dtype=torch.float64, requires_grad=True)
    down = torch.randn(n, e, dtype=torch.float64, requires_grad=True)
    return up, down


@pytest.mark.parametrize("value", [1.2214, 7.0, 60.0])  # 60: the running-maximum path
@pytest.mark.parametrize("cache", [0, 1 << 30])  # recompute in backward / keep the matrix
@pytest.mark.parametrize("block", [5, 4096])
def test_tensor_scale_value_and_gradients_equal_dense(value, cache, block):
    up, down = _tensors(seed=block)
    scale = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    dense = contrastive_loss_dense(up, down, scale)
    want = torch.autograd.grad(dense, (up, down, scale))
    got_loss = contrastive_loss(up, down, scale, block, cache_bytes=cache)
    got = torch.autograd.grad(got_loss, (up, down, scale))
    torch.testing.assert_close(got_loss, dense)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
    assert got[2].shape == scale.shape and float(got[2]) != 0.0


def test_tensor_scale_gradcheck():
    up, down = _tensors(n=9, e=4)
    for value in (2.0, 50.0):
        scale = torch.tensor(value, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(
            lambda a, b, s: contrastive_loss(a, b, s, block_size=4), (up, down, scale)
        )


def test_scale_gradient_alone_and_in_float32():
    up, down = _tensors()
    scale = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(contrastive_loss(up.detach(), down.detach(), scale), scale)
    (want,) = torch.autograd.grad(contrastive_loss_dense(up, down, scale), scale)
    torch.testing.assert_close(g, want)
    s32 = torch.tensor(3.0, requires_grad=True)  # a float32 parameter, float64 embeddings
    (g32,) = torch.autograd.grad(contrastive_loss(up, down, s32), s32)
    assert g32.dtype == torch.float32
    torch.testing.assert_close(g32, want.float())


@pytest.mark.parametrize("value", [1.5, 60.0])
def test_row_shards_scale_gradients_sum_to_the_global_one(value):
    """Two 'processes' as threads, as in test_perf_paths: the shares of the
    scale's gradient sum to the gradient of the global loss."""
    n, sizes = 45, (20, 25)
    up = F.normalize(torch.randn(n, 6, dtype=torch.float64), dim=-1)
    down = F.normalize(torch.randn(n, 6, dtype=torch.float64), dim=-1)
    barrier = threading.Barrier(2)
    slots: dict[int, torch.Tensor] = {}
    grads: dict[int, torch.Tensor] = {}

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
        scale = torch.tensor(value, dtype=torch.float64, requires_grad=True)
        u = up[start : start + sizes[rank]]
        share = contrastive_loss_shard(u, down, start, scale, reduce_for(rank), block_size=8)
        share.backward()
        grads[rank] = scale.grad

    threads = [threading.Thread(target=worker, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    scale = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    logits = scale * up @ down.T
    target = torch.arange(n)
    dense = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    dense.backward()
    torch.testing.assert_close(grads[0] + grads[1], scale.grad)


def _graph():
    from parsers.heuristics import HEURISTICS

    trees = [
        HEURISTICS["balanced"]([f"w{(i * 3 + j) % 17}" for j in range(3 + i)]) for i in range(6)
    ]
    return batch_trees(trees, [[int(t[1:]) + 1 for t in tr.tokens] for tr in trees])


@pytest.mark.parametrize("objective", ["contrastive", "both"])
def test_model_scale_is_a_clamped_parameter(objective):
    torch.manual_seed(0)
    m = StrAE(StrAEConfig(vocab_size=20, objective=objective, learn_temperature=True,
                          dropout=0.0, input_dropout=0.0))  # fmt: skip
    assert "log_logit_scale" in m.state_dict()
    assert m.scale_value() == pytest.approx(math.exp(0.2))  # the configured log scale
    g = _graph()
    lo, hi = SCALE_RANGE
    for start, expect, moves in [(math.log(200.0), hi, False), (math.log(0.5), lo, False),
                                 (math.log(5.0), 5.0, True)]:  # fmt: skip
        with torch.no_grad():
            m.log_logit_scale.fill_(start)
        assert m.scale_value() == pytest.approx(expect)
        m.zero_grad()
        m(g).loss.backward()
        grad = float(m.log_logit_scale.grad)
        assert (grad != 0.0) == moves, (start, grad)
    # the gradient inside the range is that of the dense formula on the same embeddings
    out = m(g)
    internal = slice(None) if objective == "contrastive" else ~g.ndata["is_leaf"]
    s = m.scale
    co = contrastive_loss_dense(out.up[internal], out.down[internal], s)
    (want,) = torch.autograd.grad(co, m.log_logit_scale, retain_graph=True)
    (got,) = torch.autograd.grad(contrastive_loss(out.up[internal], out.down[internal], s),
                                 m.log_logit_scale)  # fmt: skip
    torch.testing.assert_close(got, want)


def test_fixed_scale_models_are_unchanged():
    m = StrAE(StrAEConfig(vocab_size=20))
    assert "log_logit_scale" not in m.state_dict() and m.scale == pytest.approx(math.exp(0.2))
    assert m.scale_value() == m.scale


@pytest.mark.parametrize("kw", [{"temperature": 2.0}, {"temperature": 0.005}, {"log_scale": -1}])
def test_learned_scale_must_start_in_range(kw):
    with pytest.raises(ValueError, match=r"must lie in \[1, 100\]"):
        StrAEConfig(vocab_size=5, learn_temperature=True, **kw)
    with pytest.raises(ValueError, match=r"must lie in \[1, 100\]"):
        TrainConfig(learn_temperature=True, **{"temperature": None, **kw})
    StrAEConfig(vocab_size=5, learn_temperature=True, temperature=0.05)  # scale 20: fine


def test_train_config_takes_one_scale_setting():
    assert TrainConfig().temperature == 0.1 and TrainConfig().log_scale is None  # the recipe
    with pytest.raises(ValueError, match="are one setting.*set the other to None"):
        TrainConfig(log_scale=0.2)  # the default's temperature is still set
    assert TrainConfig(log_scale=0.2, temperature=None).log_scale == 0.2


def test_training_learns_the_scale_and_runs_load(tmp_path):
    cfg = tiny_cfg(tmp_path, learn_temperature=True, lr=1e-2, objective="both", epochs=1)
    train(cfg, log=lambda s: None)
    run = tmp_path / "run"
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    scales = [m["scale"] for m in lines if "loss" in m]
    assert len(scales) == 5 and len(set(scales)) == 5
    assert scales[-1] != pytest.approx(math.exp(0.2), abs=1e-3)
    state = load_checkpoint(run / "last.pt")
    assert math.exp(float(state["model"]["log_logit_scale"])) == pytest.approx(scales[-1])
    assert state["model_config"]["learn_temperature"] is True
    assert json.loads((run / "config.json").read_text())["train"]["learn_temperature"] is True
    loaded = load_run(run)
    assert loaded.model.scale_value() == pytest.approx(scales[-1])
    emb = load_embedder(run)
    assert emb.embed_sentences(["the cat sat"]).shape == (1, 100)
    more = train(TrainConfig(**{**cfg.__dict__, "epochs": 2}), resume=True, log=lambda s: None)
    assert more.steps == 10
    with pytest.raises(Exception, match="learn_temperature: saved True, now False"):
        train(TrainConfig(**{**cfg.__dict__, "epochs": 3, "learn_temperature": False}),
              resume=True, log=lambda s: None)  # fmt: skip


def test_runs_from_before_the_levers_still_load_and_resume(tmp_path):
    """A run directory written before learn_temperature, schedules and budgets
    existed: no such keys in config.json or the checkpoints."""
    cfg = tiny_cfg(tmp_path, epochs=1, temperature=None)  # the reference scale, as then
    train(cfg, log=lambda s: None)
    run = tmp_path / "run"
    new_model = {"learn_temperature"}
    new_train = {"init_range", "learn_temperature", "warmup_steps", "lr_decay", "min_lr_ratio",
                 "minutes", "eval_every_minutes", "curve_tasks", "preset"}  # fmt: skip
    new_state = {"scheduler", "train_seconds", "tokens_seen", "curve_bytes", "curve_step",
                 "files", "lr_horizon"}  # fmt: skip
    record = json.loads((run / "config.json").read_text())
    del record["files"]  # the file hashes (strae_graph.training.run_files) came later still
    record["model"] = {k: v for k, v in record["model"].items() if k not in new_model}
    record["train"] = {k: v for k, v in record["train"].items() if k not in new_train}
    (run / "config.json").write_text(json.dumps(record))
    for name in ("last.pt", "best.pt"):
        state = {k: v for k, v in load_checkpoint(run / name).items() if k not in new_state}
        state["model_config"] = record["model"]
        state["train_config"] = record["train"]
        save_checkpoint(state, run / name)
    assert load_run(run).model.scale_value() == pytest.approx(math.exp(0.2))
    assert load_embedder(run).embed_words(["the"]).shape == (1, 100)
    res = train(TrainConfig(**{**cfg.__dict__, "epochs": 2}), resume=True, log=lambda s: None)
    assert res.steps == 10
