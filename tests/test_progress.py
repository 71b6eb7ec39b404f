"""Output that suits where it goes: a bar on a terminal, otherwise a plain status line
at most every N seconds; status lines on stderr, the JSON summary alone on stdout."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from tqdm import tqdm

from strae_graph.util import progress as prog
from strae_graph.util.progress import StatusLines, duration, progress
from tests.conftest import CORPUS, ROOT
from tests.tiny_runs import tiny_config


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_status_lines_come_at_most_every_n_seconds():
    clock, out = FakeClock(), io.StringIO()
    bar = progress(total=2000, desc="epoch 1/1", unit="batch", stream=out, every=10.0, clock=clock)
    assert isinstance(bar, StatusLines)
    times = []
    for i in range(1000):  # 100 s of work, a batch every 0.1 s
        clock.now += 0.1
        bar.set_postfix({"step": f"{i + 1:,}", "loss": "5.0000", "tokens/s": "12,000"})
        before = out.getvalue().count("\n")
        bar.update(1)
        if out.getvalue().count("\n") > before:
            times.append(clock.now)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == len(times) and 9 <= len(lines) <= 10  # at most 100 s / 10 s
    assert all(b - a >= 10.0 - 1e-9 for a, b in zip(times, times[1:]))
    assert "\r" not in out.getvalue()
    first = lines[0]
    assert first.startswith("epoch 1/1: 100/2,000 batch (5%), step 100, loss 5.0000")
    assert "tokens/s 12,000" in first and "10 batch/s" in first and "ETA 3m10s" in first


def test_no_line_for_work_shorter_than_n_seconds_and_iteration():
    for items, expected in ((50, []), (70, ["eval: 60/70 it (86%), 2 it/s, ETA 5s"])):
        clock, out, seen = FakeClock(), io.StringIO(), []
        for x in progress(range(items), desc="eval", stream=out, every=30.0, clock=clock):
            clock.now += 0.5  # 25 s of work in all (no line), or 35 s (one line at 30 s)
            seen.append(x)
        assert seen == list(range(items))
        assert out.getvalue().splitlines() == expected


def test_a_terminal_gets_a_bar_and_no_progress_gets_nothing():
    assert isinstance(progress(total=3, stream=Terminal()), tqdm)
    quiet = io.StringIO()
    bar = progress(total=3, stream=quiet, disable=True, every=0.0)
    bar.update(3)
    bar.close()
    assert quiet.getvalue() == ""
    assert [duration(s) for s in (42, 185, 8040)] == ["42s", "3m05s", "2h14m"]


def test_training_writes_status_lines_not_a_bar(tmp_path, capsys, monkeypatch, data_dir):
    from parsers.api import train

    monkeypatch.setattr(prog, "STATUS_EVERY", 0.0)  # a line after every step
    train(tiny_config(tmp_path / "r", progress=True, max_steps=3), log=lambda s: None)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.startswith("epoch 1/1:")]
    assert out == "" and "\r" not in err
    assert len(lines) == 3, err
    assert lines[-1].startswith("epoch 1/1: 3/3 batch (100%), step 3, loss ")
    assert "tokens/s" in lines[-1] and "ETA 0s" in lines[-1]


def test_strae_train_stdout_is_the_json_summary_alone(tmp_path, data_dir):
    cmd = [sys.executable, "-m", "strae_graph", "train", "--corpus", str(CORPUS), "--out",
           str(tmp_path / "run"), "--max-sentences", "200", "--dev-sentences", "20",
           "--batch-size", "64", "--min-count", "1", "--max-steps", "2"]  # fmt: skip
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    tool = subprocess.run([sys.executable, "-m", "json.tool"], input=res.stdout,
                          capture_output=True, text=True)  # fmt: skip
    assert tool.returncode == 0, res.stdout
    assert json.loads(res.stdout)["steps"] == 2
    assert "strae train: balanced trees" in res.stderr and "data:" in res.stderr
    assert "\r" not in res.stderr and len(res.stderr.splitlines()) < 20, res.stderr
