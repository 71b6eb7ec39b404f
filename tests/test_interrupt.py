"""Real `python -m strae_graph train` processes killed mid-training (SIGKILL,
SIGTERM, SIGINT, a double SIGINT) and resumed: the final model, optimiser and
metrics file equal those of an uninterrupted run, bit for bit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from strae_graph.training.checkpoint import load_checkpoint
from tests.conftest import CORPUS, ROOT
from tests.tiny_runs import assert_same_model_and_optimizer

EPOCHS, BATCHES = 2, 40  # 2 epochs x 40 batches of 8 = 80 steps
EVERY = 5  # --checkpoint-every


def command(run: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "strae_graph", "train", "--corpus", str(CORPUS),
            "--out", str(run), "--max-sentences", str(BATCHES * 8), "--dev-sentences", "40",
            "--batch-size", "8", "--epochs", str(EPOCHS), "--structure", "random",
            "--objective", "both", "--min-count", "2", "--log-every", "1",
            "--checkpoint-every", str(EVERY), "--no-progress", "--seed", "3", *extra]  # fmt: skip


def run_to_end(run: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command(run, *extra), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip


def steps_logged(run: Path) -> int:
    path = run / "metrics.jsonl"
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if '"loss"' in line)


def start_and_kill(run: Path, sig: int, after_steps: int, twice: bool = False):
    """Start training, wait until ``after_steps`` steps are logged, send ``sig``;
    returns (return code, steps logged when the signal was sent, stdout + stderr)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command(run), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while steps_logged(run) < after_steps:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "training did not start in time"
        time.sleep(0.005)
    at = steps_logged(run)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(sig)
    if twice:
        time.sleep(0.01)
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, at, out + err


def final_state(run: Path) -> dict:
    return load_checkpoint(run / "last.pt")


def assert_same_run(a: Path, b: Path) -> None:
    sa, sb = final_state(a), final_state(b)
    assert sa["step"] == sb["step"] == EPOCHS * BATCHES
    assert_same_model_and_optimizer(sa, sb)
    assert (a / "metrics.jsonl").read_bytes() == (b / "metrics.jsonl").read_bytes()
    assert (a / "best.pt").exists() and (b / "best.pt").exists()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir) -> Path:
    run = tmp_path_factory.mktemp("reference") / "run"
    res = run_to_end(run)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout[res.stdout.index("{") :])
    assert summary["steps"] == EPOCHS * BATCHES
    return run


@pytest.mark.slow
def test_same_command_and_seed_give_identical_metrics(reference, tmp_path):
    again = tmp_path / "again"
    assert run_to_end(again).returncode == 0
    assert (again / "metrics.jsonl").read_bytes() == (reference / "metrics.jsonl").read_bytes()
    cfg = json.loads((again / "config.json").read_text())
    assert {"torch", "dgl", "strae_graph"} <= set(cfg["environment"])
    assert len(cfg["data"]["corpus_sha256"]) == 64


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killed_run_resumes_to_the_uninterrupted_result(reference, tmp_path, sig):
    run = tmp_path / "run"
    rc, at, err = start_and_kill(run, sig, after_steps=BATCHES + 7)  # in the second epoch
    saved = final_state(run)
    if sig == signal.SIGKILL:
        assert rc == -signal.SIGKILL
        # at most the steps since the last checkpoint are lost
        assert saved["step"] >= at - EVERY and saved["step"] % EVERY == 0
    else:
        assert rc == 130, err
        assert f"{signal.Signals(sig).name}: saved" in err
        assert saved["step"] >= at  # the interrupt checkpoint holds every finished step
    assert saved["step"] < EPOCHS * BATCHES
    res = run_to_end(run, "--resume")
    assert res.returncode == 0, res.stderr
    assert f"resumed from {run / 'last.pt'}" in res.stderr  # status lines: stderr
    assert_same_run(reference, run)


def start(run: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(command(run), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def wait_for_steps(proc: subprocess.Popen, run: Path, steps: int) -> int:
    deadline = time.monotonic() + 300
    while steps_logged(run) < steps:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "training did not start in time"
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    return steps_logged(run)


@pytest.mark.slow
def test_double_ctrl_c_leaves_a_valid_checkpoint(reference, tmp_path):
    """Deterministic: the second Ctrl-C is sent once the process says that it
    is saving (the line it prints before the checkpoint write), so it lands in
    the save or after it; either way the checkpoint is whole and the process
    ends with 130, one line, no traceback."""
    run = tmp_path / "run"
    proc = start(run)
    at = wait_for_steps(proc, run, 12)
    proc.send_signal(signal.SIGINT)
    seen = []
    for line in proc.stderr:  # the marker: printed (flushed) just before the save
        seen.append(line)
        if "SIGINT: saving" in line:
            break
    else:
        pytest.fail(f"no 'SIGINT: saving' line: {''.join(seen)}")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    err = "".join(seen) + err
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err and "Traceback" not in out
    # saved: by the first Ctrl-C's save, which the second one waited for
    assert "SIGINT: saved" in err or "after saving" in err, out + err
    assert "no checkpoint was written" not in err
    assert final_state(run)["step"] >= at  # loads: whole and verified
    res = run_to_end(run, "--resume")
    assert res.returncode == 0, res.stderr
    assert_same_run(reference, run)


@pytest.mark.slow
def test_two_ctrl_c_at_once_say_which_checkpoint_stands(reference, tmp_path):
    """Two SIGINTs back to back: the run either saves first or stops at once
    and says so (naming the checkpoint that stands); never a traceback."""
    run = tmp_path / "run"
    proc = start(run)
    wait_for_steps(proc, run, 12)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    said = ["SIGINT: saved", "after saving", "stands", "no checkpoint was written"]
    assert any(s in out + err for s in said), out + err
    if "stands" in err:  # stopped at once: the checkpoint every 5 steps is what is left
        assert err.strip().splitlines()[-1].startswith("strae train: interrupted: stopped at once")
    res = run_to_end(run, "--resume")
    assert res.returncode == 0, res.stderr
    assert_same_run(reference, run)


@pytest.mark.slow
def test_the_summary_after_an_interrupt_is_strict_json(tmp_path):
    """Stopped before the first dev evaluation: the dev losses are null (not
    NaN / Infinity, which standard JSON readers reject), and it says why."""
    run = tmp_path / "run"
    proc = start(run)
    wait_for_steps(proc, run, 3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err

    def strict(name: str):
        raise ValueError(f"non-standard JSON constant {name}")

    summary = json.loads(out[out.index("{\n") :], parse_constant=strict)
    assert summary["interrupted"] is True
    assert summary["best_dev_loss"] is None and summary["last_dev_loss"] is None
    assert "no dev evaluation" in summary["null_because"]["best_dev_loss"]


@pytest.mark.slow
def test_restart_without_resume_is_refused(reference, tmp_path):
    res = run_to_end(reference)
    assert res.returncode == 2
    assert "already holds a run" in res.stderr and "--resume" in res.stderr
