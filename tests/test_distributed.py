"""Data-parallel training (2 processes under torchrun) equals single-process
training with the same global batch, for every objective, and with streamed
data (each process reads only its share of every window).

Dropout is set to 0: each process draws its own dropout masks, so with
dropout the two runs differ by design (strae_graph.training.distributed)."""

import gzip
import itertools
import json
import os
import subprocess
import sys

import pytest
import torch

from parsers.api import train
from strae_graph.training.checkpoint import load_checkpoint
from strae_graph.training.config import TrainConfig
from tests.conftest import CORPUS, ROOT

# 33 sentences, batch 16: global batches of 16, 16 and 1 (the last leaves rank 1 empty)
COMMON = dict(
    corpus=str(CORPUS),
    max_sentences=33,
    dev_sentences=8,
    batch_size=16,
    epochs=2,
    min_count=1,
    max_vocab=3000,
    structure="random",
    dropout=0.0,
    input_dropout=0.0,
    lr=1e-3,
    entangle=False,  # refused under torchrun (each process would entangle only its shard)
    progress=False,
    log_every=1,
)
ATOL = 5e-5
# streamed: windows of one global batch (16, 16 and 1 sentences), so each process
# reads its share of three windows an epoch
STREAMED = {**COMMON, "stream": True, "order_buffer": 1, "order_block": 4}


def two_and_one(root, common, objectives):
    """``common`` trained by 2 processes under torchrun into ROOT/two/OBJECTIVE
    and by 1 process into ROOT/one/OBJECTIVE."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    worker = str(ROOT / "tests" / "dist_worker.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", worker, str(root / "two"), json.dumps(common), json.dumps(objectives)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for objective in objectives:
        train(TrainConfig(**common, objective=objective, out=str(root / "one" / objective)),
              log=lambda *_: None)  # fmt: skip
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
    return two_and_one(tmp_path_factory.mktemp("dist"), COMMON, ["contrastive", "ce", "both"])


@pytest.fixture(scope="module")
def streamed_runs(tmp_path_factory, data_dir):
    """On the first 60 lines of the corpus (a stream converts the whole file once)."""
    root = tmp_path_factory.mktemp("dist-stream")
    with gzip.open(CORPUS, "rb") as f:
        (root / "slice.txt").write_bytes(b"".join(itertools.islice(f, 60)))
    return two_and_one(root, {**STREAMED, "corpus": str(root / "slice.txt")}, ["both"])


@pytest.mark.parametrize("objective", ["contrastive", "ce", "both"])
def test_two_processes_equal_one(runs, objective):
    assert_two_equal_one(runs, objective)


def test_two_processes_equal_one_on_streamed_data(streamed_runs):
    assert_two_equal_one(streamed_runs, "both")
    record = json.loads((streamed_runs / "two" / "both" / "config.json").read_text())["train"]
    assert (record["stream"], record["order"]) == (True, "bucketed")


def assert_two_equal_one(runs, objective):
    one = load_checkpoint(runs / "one" / objective / "last.pt")
    two = load_checkpoint(runs / "two" / objective / "last.pt")
    assert one["step"] == two["step"] == 6
    # float summation order differs; Adam magnifies it for near-zero gradients
    for name, p in one["model"].items():
        torch.testing.assert_close(two["model"][name], p, rtol=1e-4, atol=ATOL, msg=name)
    # the logged global losses agree step by step, and only rank 0 wrote them
    lines_one = (runs / "one" / objective / "metrics.jsonl").read_text().splitlines()
    lines_two = (runs / "two" / objective / "metrics.jsonl").read_text().splitlines()
    assert len(lines_one) == len(lines_two) == 6 + 2
    for a, b in zip(lines_one, lines_two):
        ra, rb = json.loads(a), json.loads(b)
        key = "loss" if "loss" in ra else "dev_loss"
        assert rb[key] == pytest.approx(ra[key], rel=1e-4), (ra, rb)


@pytest.mark.parametrize("objective", ["contrastive", "ce", "both"])
def test_parameters_moved_far_beyond_the_tolerance(runs, objective):
    from strae_graph.model.config import StrAEConfig
    from strae_graph.model.strae import StrAE

    state = load_checkpoint(runs / "one" / objective / "last.pt")
    last = state["model"]
    torch.manual_seed(0)
    init = StrAE(StrAEConfig(**state["model_config"])).state_dict()
    names = [n for n in last if n.startswith(("compose.", "decompose."))]
    assert len(names) >= 2
    for name in names:
        assert (init[name] - last[name]).abs().max() > 50 * ATOL, name


def test_collectives_keep_their_work_handles(tmp_path):
    """Every collective's work handle stays referenced here after it finished, so
    a gloo worker thread never drops the last reference (and frees tensors that
    need the GIL) while the interpreter is finalizing: the rare exit abort
    "terminate called without an active exception" of the two-process run."""
    import torch.distributed as dist

    from strae_graph.training import distributed

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)  # fmt: skip
    try:
        ctx = distributed.DistContext(rank=0, world=2)  # collectives on a one-process group
        distributed._KEPT.clear()
        assert ctx.from_main(2.5) == 2.5 and ctx.total(3) == 3.0
        assert ctx.agree_signal(None) is None
        model = torch.nn.Linear(3, 2)
        ctx.broadcast_parameters(model)
        model(torch.ones(4, 3)).sum().backward()
        ctx.sync_gradients(model)
        x = torch.ones(2, 3, requires_grad=True)
        distributed._GatherRows.apply(x, [2], 0).sum().backward()  # the gather, world 1
        # from_main, total, agree_signal, 2 parameters, gradients, gather, its backward
        assert len(distributed._KEPT) == 8
        assert all(w.is_completed() for w in distributed._KEPT)
    finally:
        dist.destroy_process_group()
        distributed._KEPT.clear()


def test_each_process_takes_its_machines_gpu(monkeypatch):
    """Under torchrun with --device cuda, process LOCAL_RANK k of a machine uses
    GPU k (NCCL and "cuda" tensors then go there), not all of them GPU 0; an
    explicit cuda:N or the CPU is left as given.  (No GPU here: the calls are
    recorded, the process group is not joined.)"""
    from strae_graph.training import distributed

    chosen: list[int] = []
    backends: list[str] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(
        distributed.dist, "init_process_group", lambda backend: backends.append(backend)
    )
    monkeypatch.setattr(distributed.dist, "get_rank", lambda: 5)
    monkeypatch.setattr(distributed.dist, "get_world_size", lambda: 8)
    monkeypatch.setattr(distributed.atexit, "register", lambda f: None)
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("LOCAL_RANK", "1")
    ctx = distributed.DistContext.setup("cuda")
    assert (ctx.rank, ctx.world) == (5, 8) and chosen == [1] and backends == ["nccl"]
    distributed.DistContext.setup("cuda:0")
    distributed.DistContext.setup("cpu")
    assert chosen == [1] and backends == ["nccl", "nccl", "gloo"]
