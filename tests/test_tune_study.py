"""``strae compare --tune``: per-structure tuning on the development sets only
(eval.tune), its record and resume, and the dev tasks themselves."""

import csv
import json
from pathlib import Path

import pytest

import eval.evaluate
import eval.tune
from eval.compare import run_study
from eval.data import DEV_TASKS, load_named_sts
from eval.evaluate import EvalConfig, evaluate
from eval.study import StudyConfig
from strae_graph.cli import main
from tests.conftest import CORPUS

LR_A, LR_B = 1e-3, 2e-3
#: dev scores: balanced prefers A, right prefers B; the test sets prefer the other
DEV_PREF = {"balanced": {LR_A: 0.9, LR_B: 0.1}, "right": {LR_A: 0.2, LR_B: 0.8}}


def _study(out: Path, grid=None, steps=2) -> StudyConfig:
    train = dict(corpus=str(CORPUS), max_sentences=150, dev_sentences=20, batch_size=50,
                 min_count=1, log_every=1, max_steps=4)  # fmt: skip
    return StudyConfig(out=str(out), structures=("balanced", "right"), objectives=("ce",),
                       seeds=(0,), train=train, tune=grid or {"lr": [LR_A, LR_B]},
                       tune_steps=steps, parse_f1=False, mean_baseline=False,
                       eval=EvalConfig(tasks=("stsb",), progress=False))  # fmt: skip


def _run_lr(run: Path) -> float:
    return json.loads((Path(run) / "config.json").read_text())["train"]["lr"]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, data_dir):
    """A tuned tiny study, with every set loaded and every training recorded in order."""
    out = tmp_path_factory.mktemp("tune") / "study"
    events: list[tuple[str, str]] = []
    real_eval_run, real_load = eval.tune.evaluate_run, eval.evaluate.load_named_sts

    def loading(name, data_dir=None):
        events.append(("load", name))
        return real_load(name, data_dir)

    def scorer(run, cfg, **kw):  # the real dev evaluation, scores replaced by preference
        res = real_eval_run(run, cfg, **kw)
        structure = json.loads((Path(run) / "config.json").read_text())["train"]["structure"]
        pref = DEV_PREF[structure]
        for r in res.systems["strae"]:
            lr = _run_lr(run)
            r.score = pref[lr] if r.task in DEV_TASKS else 1.0 - pref[lr]  # a leak picks B
        return res

    from parsers.api import train

    def recording_train(c, resume=False, log=print):
        events.append(("train", c.out))
        return train(c, resume=resume, log=lambda s: None)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(eval.tune, "evaluate_run", scorer)
        mp.setattr(eval.evaluate, "load_named_sts", loading)
        study = run_study(_study(out), log=lambda s: None, train_fn=recording_train)
    return out, study, events


def test_choice_uses_dev_data_only(tuned):
    out, _, events = tuned
    first_run = next(i for i, (kind, p) in enumerate(events)
                     if kind == "train" and "/runs/" in p)  # fmt: skip
    tuning = events[:first_run]
    assert [p for k, p in tuning if k == "train"] == [
        str(out / "tune" / f"{s}-ce" / f"lr={lr}") for s in ("balanced", "right")
        for lr in (LR_A, LR_B)
    ]  # fmt: skip
    loaded = {p for k, p in tuning if k == "load"}
    assert loaded == set(DEV_TASKS)  # no test set was read while tuning
    assert ("load", "stsb") in events[first_run:]  # the study's own evaluation comes after
    # dev prefers A for balanced: chosen A although the test sets prefer B
    assert _run_lr(out / "runs" / "balanced-ce-s0") == LR_A


def test_chosen_setting_reaches_each_structures_runs(tuned):
    out, study, _ = tuned
    assert _run_lr(out / "runs" / "balanced-ce-s0") == LR_A
    assert _run_lr(out / "runs" / "right-ce-s0") == LR_B  # differs per structure
    for name in ("results.csv", "summary.csv"):
        with open(out / name, newline="") as f:
            rows = list(csv.DictReader(f))
        tuned_by = {r["structure"]: r["tuned"] for r in rows}
        assert tuned_by == {"balanced": f"lr={LR_A}", "right": f"lr={LR_B}"}
    md = (out / "results.md").read_text()
    assert "## Tuning" in md
    assert f"| balanced / ce | lr={LR_A} | 0.900 | 0.900 | 0.900 | **yes** |" in md
    assert f"| right / ce | lr={LR_A} | 0.200 | 0.200 | 0.200 |  |" in md
    saved = json.loads((out / "study.json").read_text())["tuning"]
    assert saved == {"grid": {"lr": [LR_A, LR_B]}, "steps": 2, "seed": 0}
    steps = json.loads((out / "tune" / "right-ce" / f"lr={LR_B}" / "train_result.json")
                       .read_text())["result"]["steps"]  # fmt: skip
    assert steps == 2  # tuning runs train --tune-steps


def test_resume_reuses_tuning_and_refuses_another_grid(tuned, monkeypatch):
    out, first, _ = tuned

    def no_work(*a, **k):
        raise AssertionError("a finished tuning run was trained or scored again")

    monkeypatch.setattr(eval.tune, "evaluate_run", no_work)
    again = run_study(_study(out), log=lambda s: None, train_fn=no_work)
    assert again.trained == 0 and again.rows == first.rows
    assert _run_lr(out / "runs" / "balanced-ce-s0") == LR_A  # the dev_eval.json scores kept
    for other in (_study(out, {"lr": [LR_A]}), _study(out, steps=3)):
        with pytest.raises(Exception, match="tuned differently") as e:
            run_study(other, log=lambda s: None, train_fn=no_work)
        assert "there" in str(e.value) and "--tune lr=" in str(e.value)


@pytest.mark.parametrize(
    "spec, message",
    [
        (["nope=1"], "'nope' is not a strae train option"),
        (["lr="], "lr=: no values"),
        (["lr=abc"], "not a valid value for --lr"),
        (["lr=-1"], "lr=-1.0: lr must be"),
        (["compose=zzz"], "unknown compose function"),
        (["seed=1,2"], "--tune seed: the study sets it itself"),
        (["max-steps=5"], "--tune max-steps: the study sets it itself"),
    ],
)
def test_bad_tune_specs_are_one_line_errors(tmp_path, capsys, spec, message):
    rc = main(["compare", "--out", str(tmp_path / "s"), "--max-steps", "8", "--no-progress",
               "--tune", *spec])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()


def test_tune_steps_needs_a_step_budget(tmp_path, capsys):
    assert main(["compare", "--out", str(tmp_path / "s"), "--minutes", "1", "--no-progress",
                 "--tune", "lr=1e-3"]) == 2  # fmt: skip
    assert "--tune-steps: give it" in capsys.readouterr().err


def test_dev_tasks_load_and_score(balanced_run):
    assert len(load_named_sts("stsb-dev")) == 1500
    assert len(load_named_sts("sick-trial")) == 495  # the SICK.txt rows marked TRIAL
    from eval.encoders import StrAERoot
    from parsers.api import load_embedder

    res = evaluate(StrAERoot(load_embedder(balanced_run)),
                   EvalConfig(tasks=DEV_TASKS, progress=False))  # fmt: skip
    assert [r.task for r in res] == list(DEV_TASKS)
    assert all(-1 <= r.score <= 1 and r.n in (1500, 495) for r in res)
    assert not set(DEV_TASKS) & set(EvalConfig().tasks)  # not run unless asked for
