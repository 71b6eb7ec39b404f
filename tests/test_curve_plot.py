"""strae curve: learning curves from curve.jsonl files."""

import json
import math

import pytest

from eval.curve_plot import parse_reference, read_curve
from strae_graph.cli import main


def write_curve(run, lines):
    run.mkdir(parents=True)
    (run / "curve.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return run


def test_read_curve_keeps_tasks_aligned(tmp_path):
    run = write_curve(tmp_path / "r", [
        {"minutes": 0.5, "step": 3, "tokens": 90, "simlex": 0.1, "stsb": None},
        {"minutes": 1.0, "step": 6, "tokens": 180, "simlex": 0.2, "stsb": 0.3},
        {"minutes": 1.5, "step": 9, "tokens": 270, "stsb": 0.4},
    ])  # fmt: skip
    c = read_curve(run)
    assert c.label == "r" and c.minutes == [0.5, 1.0, 1.5]
    assert c.scores["simlex"][:2] == [0.1, 0.2] and math.isnan(c.scores["simlex"][2])
    assert math.isnan(c.scores["stsb"][0]) and c.scores["stsb"][1:] == [0.3, 0.4]
    assert set(c.scores) == {"simlex", "stsb"}  # minutes/step/tokens are not scores


def test_reference_parsing():
    assert parse_reference("w2v=simlex:0.235,stsb:0.198") == (
        "w2v",
        {"simlex": 0.235, "stsb": 0.198},
    )
    for bad in ("w2v", "=simlex:1", "w2v=simlex", "w2v=simlex:x"):
        with pytest.raises(ValueError, match="LABEL=TASK:VALUE"):
            parse_reference(bad)


def test_strae_curve_writes_a_png(tmp_path, capsys):
    a = write_curve(tmp_path / "a", [{"minutes": 1, "simlex": 0.1}, {"minutes": 2, "simlex": 0.2}])
    b = write_curve(tmp_path / "b", [{"minutes": 1, "simlex": 0.0}])
    out = tmp_path / "c.png"
    assert main(["curve", str(a), f"paper={b}", "--out", str(out),
                 "--reference", "w2v=simlex:0.235"]) == 0  # fmt: skip
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "a: 2 points, last at 2.0 min: {'simlex': 0.2}" in printed
    assert "paper: 1 points" in printed


def test_strae_curve_errors_name_the_problem(tmp_path, capsys):
    run = tmp_path / "norun"
    run.mkdir()
    assert main(["curve", str(run), "--out", str(tmp_path / "x.png")]) == 2
    assert (
        "no learning curve (train the run with --eval-every-minutes X)" in capsys.readouterr().err
    )
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "curve.jsonl").write_text('{"minutes": 1}\nnot json\n')
    assert main(["curve", str(bad), "--out", str(tmp_path / "x.png")]) == 2
    assert "curve.jsonl, line 2: not a curve line" in capsys.readouterr().err
    good = write_curve(tmp_path / "g", [{"minutes": 1, "simlex": 0.1}])
    assert main(["curve", str(good), "--out", str(tmp_path / "missing" / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["curve", str(good), "--out", str(tmp_path / "x.png"), "--tasks", "stsb"]) == 2
    assert "no curve has the task(s) stsb" in capsys.readouterr().err
