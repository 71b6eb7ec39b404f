"""The options that change only how fast training runs: ``--threads`` (fixed or
``auto``, strae_graph.training.threads), ``--prefetch`` (batches built ahead or in the
step), and the vectorised batch building; and ``strae bench --sample``.
Each must leave the numbers exactly as they were."""

import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from parsers.heuristics import HEURISTICS
from strae_graph.bench.cases import load_slice
from strae_graph.bench.config import BenchConfig
from strae_graph.cli import main
from strae_graph.graph.batch import _batch_arrays
from strae_graph.training import threads as th
from strae_graph.training.checkpoint import load_checkpoint
from strae_graph.training.prefetch import Prefetcher
from strae_graph.training.threads import ThreadGovernor, parse_threads, threads_for
from tests.conftest import CORPUS, ROOT, random_tree_shapes
from tests.tiny_runs import assert_same_model_and_optimizer, tiny_run


def test_parse_threads():
    assert parse_threads("auto") == "auto" and parse_threads(None) is None
    assert parse_threads("3") == 3 and parse_threads(2) == 2
    for bad in ("0", "-1", "1.5", "two", " 2x"):
        with pytest.raises(ValueError, match="threads must be 'auto' or a positive integer"):
            parse_threads(bad)


def test_threads_for_leaves_busy_cores_alone():
    assert threads_for(2, 0.0) == 2 and threads_for(2, 0.2) == 2  # quiet: every core
    assert threads_for(2, 0.3) == 1 and threads_for(2, 1.0) == 1  # a niced stream, a busy job
    assert threads_for(2, 6.0) == 1 and threads_for(4, 1.0) == 3 and threads_for(8, 2.6) == 5


def test_proc_readings_on_linux():
    wait = th.run_queue_wait()
    busy = th.others_running(samples=2, seconds=0.01)
    assert wait is not None and wait >= 0 and busy is not None and busy >= 0


def test_governor_drops_a_thread_when_crowded_and_tries_again_later(monkeypatch):
    logs: list[str] = []
    monkeypatch.setattr(th, "others_running", lambda: 0.0)
    monkeypatch.setattr(th, "usable_cores", lambda: 2)
    gov = ThreadGovernor("auto", logs.append)
    try:
        assert gov.threads == 2 == torch.get_num_threads()
        gov._decide(0.5, now=100.0)  # waited half the time: one fewer
        assert gov.threads == 1 == torch.get_num_threads()
        gov._decide(0.0, now=100.0 + th.PROBE_SECONDS / 2)  # quiet, but too soon to try
        assert gov.threads == 1
        gov._decide(0.0, now=100.0 + th.PROBE_SECONDS)  # quiet long enough: try 2 again
        assert gov.threads == 2
        gov._decide(0.4, now=300.0)  # the try did not pay: back to 1, wait twice as long
        assert gov.threads == 1 and gov.probe_after == 2 * th.PROBE_SECONDS
    finally:
        gov.restore()
    assert "2 -> 1 threads" in logs[1] and "1 -> 2 threads" in logs[2]


def test_thread_count_changes_the_run_at_most_by_rounding(tmp_path):
    """A fixed thread count trains the same model bit for bit; 1 and 2 threads (and
    ``auto``, which may change the count mid-run) differ at most by float rounding:
    on CPUs whose MKL/oneDNN kernels split a product's reduction by thread (e.g. an
    AVX-512 Xeon) the sums are added in another order; on others (an AVX2 one) they
    were bit-identical."""
    runs = {t: tiny_run(tmp_path / str(t), threads=t, max_steps=3) for t in (1, 2, "auto")}
    again = tiny_run(tmp_path / "2again", threads=2, max_steps=3)
    states = {t: load_checkpoint(r / "last.pt") for t, r in runs.items()}
    assert_same_model_and_optimizer(states[2], load_checkpoint(again / "last.pt"))
    assert (again / "metrics.jsonl").read_text() == (runs[2] / "metrics.jsonl").read_text()
    losses = {t: [json.loads(x)["loss"] for x in (r / "metrics.jsonl").open() if '"loss"' in x]
              for t, r in runs.items()}  # fmt: skip
    for t in (2, "auto"):
        for k, v in states[1]["model"].items():
            torch.testing.assert_close(states[t]["model"][k], v, rtol=1e-4, atol=1e-6)
        assert losses[t] and len(losses[t]) == len(losses[1])
        assert losses[t] == pytest.approx(losses[1], rel=1e-5)


def test_prefetch_depth_does_not_change_the_run(tmp_path):
    a = tiny_run(tmp_path / "a", prefetch=0, max_steps=3)
    b = tiny_run(tmp_path / "b", prefetch=2, max_steps=3)
    assert_same_model_and_optimizer(load_checkpoint(a / "last.pt"), load_checkpoint(b / "last.pt"))
    assert (a / "metrics.jsonl").read_text() == (b / "metrics.jsonl").read_text()


def test_prefetch_depth_zero_builds_in_the_callers_thread():
    import threading

    built = []
    ahead = Prefetcher(lambda k: built.append((k, threading.current_thread().name)) or k * k,
                       range(4), depth=0)  # fmt: skip
    assert ahead._thread is None and built == []
    assert [ahead.get(k) for k in (0, 1, 3)] == [0, 1, 9]
    assert built == [(k, threading.current_thread().name) for k in (0, 1, 3)]
    ahead.close()


def test_bad_speed_options_are_one_line_errors(tmp_path, capsys):
    base = ["train", "--corpus", str(CORPUS), "--max-sentences", "300", "--out",
            str(tmp_path / "r"), "--no-progress"]  # fmt: skip
    assert main([*base, "--threads", "0"]) == 2
    assert "--threads: threads must be 'auto' or a positive integer, got '0'" in (
        capsys.readouterr().err
    )
    assert main([*base, "--prefetch", "-1"]) == 2
    assert "--prefetch: prefetch must be at least 0" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_batch_arrays_match_the_trees():
    """The vectorised heights, depths, edges and tokens of a batch are each
    tree's own (Tree.heights / depths / children), offset tree by tree."""
    rng = random.Random(5)
    trees = random_tree_shapes(rng, 60, max_len=40)
    trees += [HEURISTICS[k]([f"w{i}" for i in range(n)]) for k in ("right", "left") for n in
              (1, 2, 57)]  # fmt: skip
    ids = [[rng.randrange(50) for _ in t.tokens] for t in trees]
    src, dst, pos, token, leaf, root, height, depth, n_nodes = _batch_arrays(trees, ids)
    off = 0
    for t, i in zip(trees, ids):
        n = t.n_nodes
        assert height[off : off + n].tolist() == t.heights()
        assert depth[off : off + n].tolist() == t.depths()
        assert token[off : off + t.n_leaves].tolist() == i
        assert leaf[off : off + n].tolist() == [k < t.n_leaves for k in range(n)]
        assert root[off : off + n].tolist() == [k == n - 1 for k in range(n)]
        off += n
    assert n_nodes.tolist() == [t.n_nodes for t in trees]
    edges = np.concatenate([np.asarray(t.children, dtype=np.int64).reshape(-1) + o for t, o in
                            zip(trees, np.cumsum(n_nodes) - n_nodes)])  # fmt: skip
    assert src.tolist() == edges.tolist() and pos.tolist() == [0, 1] * (len(src) // 2)
    assert (height[dst] > height[src]).all() and (depth[src] == depth[dst] + 1).all()
    one, three = HEURISTICS["balanced"](["a"]), HEURISTICS["balanced"](["a", "b", "c"])
    with pytest.raises(ValueError, match="tree 1 has 3 leaves but 2 token ids"):
        _batch_arrays([one, three], [[1], [1, 2]])


def test_bench_shuffled_sample_draws_like_training():
    cfg = dict(corpus=str(CORPUS), steps=1, warmup=0, batch_size=8, vocab_sentences=200)
    head, _ = load_slice(BenchConfig(**cfg))
    shuffled, vocab = load_slice(BenchConfig(**cfg, sample="shuffled"))
    everything, _ = load_slice(BenchConfig(**{**cfg, "batch_size": 200}))
    assert head == everything[:8] and len(shuffled) == 8 and shuffled != head
    assert all(s in everything for s in shuffled) and len(vocab) > 100
    again, _ = load_slice(BenchConfig(**cfg, sample="shuffled"))
    assert again == shuffled  # seeded
    assert json.dumps(shuffled)  # plain token lists


def test_gpu_check_without_a_gpu_says_so_and_exits_0(tmp_path):
    """scripts/gpu_check.sh on a machine without a CUDA GPU: one line, exit 0, nothing run."""
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is here: scripts/gpu_check.sh runs for real")
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_OUT": str(tmp_path / "out")}
    res = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("gpu_check: no CUDA GPU here")
    assert len(res.stdout.splitlines()) == 1 and not (tmp_path / "out").exists()
