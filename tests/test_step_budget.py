"""The step budget (``--max-steps``): a run stops cleanly after N optimiser
steps, resumes to the rest bit for bit, and every structure of a study sees
the same sentences (equal data, where ``--minutes`` gives equal time)."""

from __future__ import annotations

import json
import re

import pytest

from parsers.api import train
from strae_graph.cli import main
from strae_graph.embed.load import load_run
from strae_graph.training.checkpoint import load_checkpoint
from strae_graph.training.config import TrainConfig
from tests.test_levers import assert_same_final_state, metrics, quiet, step_lines
from tests.test_reliability import tiny_cfg, train_args, write_corpus


@pytest.mark.parametrize("bad", [0, -3])
def test_bad_step_budget(bad):
    with pytest.raises(ValueError, match="max_steps must be a positive number of steps"):
        TrainConfig(max_steps=bad)


def test_bad_step_budget_on_the_command_line(tmp_path, capsys):
    rc = main(train_args(write_corpus(tmp_path / "c.txt"), tmp_path / "r", "--max-steps", "0"))
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert re.search("max_steps must be a positive number of steps", err), err


def test_stops_mid_epoch_and_resumes_bit_for_bit(tmp_path):
    """2 epochs x 5 batches; a budget of 7 steps stops in epoch 2 (dev loss,
    checkpoint); the same budget again takes no step; without it the run
    finishes exactly as an uninterrupted one."""
    corpus = write_corpus(tmp_path / "c.txt")
    whole = train(tiny_cfg(tmp_path / "a", corpus=corpus), log=quiet)
    assert whole.steps == 10 and not whole.stopped_on_budget
    part = train(tiny_cfg(tmp_path / "b", corpus=corpus, max_steps=7), log=quiet)
    run = tmp_path / "b" / "run"
    assert part.stopped_on_budget and part.steps == 7 and part.epochs_done == 1
    state = load_checkpoint(run / "last.pt")
    assert state["step"] == 7 and state["next_batch"] == 2
    assert metrics(run)[-1]["stopped_on_budget"] is True and "dev_loss" in metrics(run)[-1]
    assert load_run(run).path.name in ("best.pt", "last.pt")
    again = train(tiny_cfg(tmp_path / "b", corpus=corpus, max_steps=7), resume=True, log=quiet)
    assert again.stopped_on_budget and again.steps == 7
    rest = train(tiny_cfg(tmp_path / "b", corpus=corpus), resume=True, log=quiet)
    assert rest.steps == 10 and not rest.stopped_on_budget
    assert load_checkpoint(run / "last.pt")["step"] == 10
    assert_same_final_state(tmp_path / "a" / "run", run)
    assert step_lines(run) == step_lines(tmp_path / "a" / "run")


@pytest.mark.parametrize("budget, epochs_done, stopped", [(5, 1, True), (10, 2, False)])
def test_budget_on_an_epoch_boundary(tmp_path, budget, epochs_done, stopped):
    res = train(tiny_cfg(tmp_path, max_steps=budget), log=quiet)
    assert res.steps == budget and res.epochs_done == epochs_done
    assert res.stopped_on_budget is stopped


def test_every_structure_sees_the_same_sentences(tmp_path):
    """Under the step budget two structures train on the same batches: the same
    tokens per step (trees differ, sentences do not)."""
    corpus = write_corpus(tmp_path / "c.txt")
    tokens = {}
    for structure in ("balanced", "right"):
        out = tmp_path / structure
        train(tiny_cfg(out, corpus=corpus, structure=structure, max_steps=6), log=quiet)
        timing = (out / "run" / "timing.jsonl").read_text().splitlines()
        tokens[structure] = [json.loads(x)["tokens"] for x in timing]
    assert len(tokens["balanced"]) == 6 and len(set(tokens["balanced"])) > 1
    assert tokens["balanced"] == tokens["right"]


def test_the_study_report_says_what_the_budget_compares():
    from eval.compare_tables import training_markdown

    def row(structure, seed, steps):
        return {"structure": structure, "objective": "both", "seed": seed, "steps": steps,
                "sentences": steps * 128, "tokens_per_s": 1e4, "minutes": 1.0}  # fmt: skip

    equal = training_markdown([row(s, k, 40) for s in ("balanced", "right") for k in (0, 1)])
    assert "compare equal data" in equal and "| right / both | 2 | 40 ± 0 | 5,120 ± 0 |" in equal
    timed = training_markdown([row("balanced", 0, 40), row("right", 0, 25)])
    assert "compare equal training time, not equal data" in timed
