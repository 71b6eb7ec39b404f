"""A learning-rate schedule that spans the budget (strae_graph.training.lr_horizon):
``--max-steps`` when shorter than the epochs (exact), the epochs otherwise, and
under ``--minutes`` an estimate from the first steps' rate (here on a fake
clock: one step takes 0.5 s of training time, nothing sleeps), fixed once made
and kept in checkpoints, so that an interrupted and resumed run has the
learning rates and losses of an uninterrupted one."""

from __future__ import annotations

import pytest

from parsers.api import train
from strae_graph.training.budget import TrainClock
from strae_graph.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from strae_graph.training.config import TrainConfig
from strae_graph.training.loop import Trainer
from strae_graph.training.lr_horizon import Horizon, observe
from strae_graph.training.lr_schedule import lr_factor
from tests.test_levers import assert_same_final_state, metrics, quiet, step_lines
from tests.test_reliability import tiny_cfg, write_corpus
from tests.tiny_runs import stop_after

LR, R = 0.01, 0.2  # peak rate, min_lr_ratio
LINEAR = dict(lr=LR, lr_decay="linear", min_lr_ratio=R)


def lrs(run) -> list[float]:
    return [m["lr"] for m in step_lines(run)]


def horizon_lines(run) -> list[dict]:
    return [m for m in metrics(run) if "lr_horizon" in m]


# --- exact: --max-steps and the epochs -----------------------------------------------------
def test_the_decay_spans_max_steps_when_shorter_than_the_epochs(tmp_path):
    train(tiny_cfg(tmp_path, max_steps=7, **LINEAR), log=quiet)  # 2 epochs x 5 batches = 10
    f = lr_factor(0, "linear", R, 7)
    assert lrs(tmp_path / "run") == pytest.approx([LR * f(k) for k in range(7)])
    assert lrs(tmp_path / "run")[-1] == pytest.approx(R * LR)  # the last step: r x lr
    (line,) = horizon_lines(tmp_path / "run")
    assert line["step"] == 0 and line["lr_horizon"] == 7 and line["lr_decay_start"] == 0
    assert line["lr_horizon_how"] == "--max-steps 7, shorter than 2 epochs x 5 batches"


def test_the_decay_spans_the_epochs_when_they_are_shorter(tmp_path):
    res = train(tiny_cfg(tmp_path, max_steps=30, warmup_steps=2, **LINEAR), log=quiet)
    assert res.steps == 10 and not res.stopped_on_budget
    f = lr_factor(2, "linear", R, 10)
    assert lrs(tmp_path / "run") == pytest.approx([LR * f(k) for k in range(10)])
    assert lrs(tmp_path / "run")[-1] == pytest.approx(R * LR)
    (line,) = horizon_lines(tmp_path / "run")
    assert (line["lr_horizon"], line["lr_decay_start"]) == (10, 2)
    assert line["lr_horizon_how"] == "2 epochs x 5 batches, not longer than --max-steps 30"


def test_an_interrupted_max_steps_run_resumes_to_the_same_rates_and_losses(tmp_path, monkeypatch):
    kw = dict(max_steps=8, epochs=3, warmup_steps=2, objective="both", **LINEAR)
    corpus = write_corpus(tmp_path / "c.txt")
    train(tiny_cfg(tmp_path / "a", corpus=corpus, **kw), log=quiet)
    stop_after(monkeypatch, 3)
    part = train(tiny_cfg(tmp_path / "b", corpus=corpus, **kw), log=quiet)
    assert part.interrupted and part.steps == 3
    monkeypatch.undo()
    lines: list[str] = []
    rest = train(tiny_cfg(tmp_path / "b", corpus=corpus, **kw), resume=True, log=lines.append)
    assert rest.steps == 8 and rest.stopped_on_budget
    assert_same_final_state(tmp_path / "a" / "run", tmp_path / "b" / "run")
    assert step_lines(tmp_path / "a" / "run") == step_lines(tmp_path / "b" / "run")
    assert lrs(tmp_path / "b" / "run")[-1] == pytest.approx(R * LR)
    assert any(x.startswith("lr schedule: warm-up 2 steps, then linear decay to 0.2 x lr over "
                            "steps 3-8 (--max-steps 8, shorter than 3 epochs x 5 batches); "
                            "kept from last.pt") for x in lines), lines  # fmt: skip
    for change in ({"max_steps": 9}, {"epochs": 4}):  # the decay's length is fixed
        with pytest.raises(CheckpointError, match="cannot change on resume"):
            train(tiny_cfg(tmp_path / "b", corpus=corpus, **{**kw, **change}), resume=True)


def test_a_checkpoint_from_before_budget_aware_schedules_keeps_its_old_horizon(
    tmp_path, monkeypatch
):
    """No ``lr_horizon`` in the checkpoint: its decay spanned the epochs (10 steps)
    even with a shorter --max-steps, and the resumed steps follow that."""
    cfg = tiny_cfg(tmp_path, max_steps=4, **LINEAR)
    with monkeypatch.context() as m:
        stop_after(m, 2)
        train(cfg, log=quiet)
    last = tmp_path / "run" / "last.pt"
    save_checkpoint({k: v for k, v in load_checkpoint(last).items() if k != "lr_horizon"}, last)
    train(cfg, resume=True, log=quiet)
    new, old = lr_factor(0, "linear", R, 4), lr_factor(0, "linear", R, 10)
    assert lrs(tmp_path / "run") == pytest.approx([LR * new(0), LR * new(1), LR * old(2),
                                                   LR * old(3)])  # fmt: skip


# --- --minutes: the estimate -----------------------------------------------------------
def budget_cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": None, "minutes": 1.0, "lr_decay": "cosine", **kw})


def estimate(cfg: TrainConfig, seconds_per_step: float, batches_per_epoch: int = 10**6):
    """Observe steps 1, 2, ... at ``seconds_per_step`` each until the horizon is fixed."""
    h = Horizon(start=cfg.warmup_steps)
    f = lr_factor(cfg.warmup_steps, cfg.lr_decay, cfg.min_lr_ratio, h)
    for step in range(1, 10_000):
        assert h.total is None and f(step - 1) == min(1.0, step / max(1, cfg.warmup_steps))
        if observe(h, cfg, batches_per_epoch, step, lambda s=step: s * seconds_per_step):
            return h, step
    raise AssertionError("never estimated")


def test_the_minutes_estimate_on_a_fake_clock():
    # steps 6-55 timed (4 steps/s); after step 55, 1186.25 s are left: 4745 more steps
    h, at = estimate(budget_cfg(minutes=20.0, warmup_steps=3), 0.25)
    assert (at, h.total, h.start) == (55, 55 + 4745, 55) and h.window is None
    assert h.how == ("estimated after step 55: 50 steps in 12.5 s of training (4 steps/s) x "
                     "19.77 of --minutes 20 left = 4,800 steps in all")  # fmt: skip
    # a 1-minute budget: the window ends once it spans 2% of it (1.2 s: 5 steps)
    h, at = estimate(budget_cfg(), 0.25)
    assert (at, h.total) == (10, 240)
    # capped by --max-steps, and by the epochs
    assert estimate(budget_cfg(max_steps=100), 0.25)[0].total == 100
    h, _ = estimate(budget_cfg(epochs=2), 0.25, batches_per_epoch=60)
    assert h.total == 120 and h.how.endswith("capped by 2 epochs x 60 batches")
    # 10 s a step in a 60-minute budget: the window ends once it spans 2% (72 s) of it
    h, at = estimate(budget_cfg(minutes=60.0), 10.0)
    assert (at, h.total) == (13, 360)
    # a warm-up longer than the window: the decay starts after it
    assert estimate(budget_cfg(minutes=20.0, warmup_steps=100), 0.25)[0].start == 100


def use_fake_clock(mp: pytest.MonkeyPatch) -> None:
    """Training time = 0.5 s per optimiser step (``mp.undo()`` restores the clock)."""
    t = [0.0]
    mp.setattr(TrainClock, "now", staticmethod(lambda: t[0]))
    real = Trainer._update

    def update(self, *a, **kw):
        t[0] += 0.5
        return real(self, *a, **kw)

    mp.setattr(Trainer, "_update", update)


MINUTES = dict(epochs=None, minutes=0.25, objective="both", **LINEAR)  # 15 s: 30 steps


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted --minutes run on the fake clock: (its directory, its log)."""
    out = tmp_path_factory.mktemp("reference")
    lines: list[str] = []
    mp = pytest.MonkeyPatch()
    use_fake_clock(mp)
    try:
        res = train(tiny_cfg(out, **MINUTES), log=lines.append)
    finally:
        mp.undo()
    assert res.steps == 30 and res.stopped_on_budget
    return out / "run", lines


def test_a_minutes_run_anneals_by_its_end(reference):
    """The window opens after step 5 and closes after step 7, once it spans 2% of
    the 15 s (2 steps/s); 11.5 s are left: 23 more steps.  The run ends on its
    budget at step 30 with the rate at r x lr."""
    run, lines = reference
    expected = [LR] * 7 + [LR * (1 - (1 - R) * j / 23) for j in range(1, 24)]
    assert lrs(run) == pytest.approx(expected)
    (line,) = horizon_lines(run)
    assert (line["step"], line["lr_horizon"], line["lr_decay_start"]) == (7, 30, 7)
    status = (
        "lr schedule: linear decay to 0.2 x lr over steps 8-30 (estimated after step 7: "
        "2 steps in 1.0 s of training (2 steps/s) x 0.19 of --minutes 0.25 left = 30 steps in all)"
    )
    assert lines.count(status) == 1, lines


@pytest.mark.parametrize("at", [6, 12])  # inside the open window; after the estimate
def test_an_interrupted_minutes_run_resumes_to_the_same_rates_and_losses(
    reference, tmp_path, monkeypatch, at
):
    use_fake_clock(monkeypatch)
    with monkeypatch.context() as m:
        stop_after(m, at)
        part = train(tiny_cfg(tmp_path, **MINUTES), log=quiet)
    assert part.interrupted and part.steps == at
    stored = load_checkpoint(tmp_path / "run" / "last.pt")["lr_horizon"]
    assert stored["total"] == (None if at < 7 else 30)
    assert stored["window"] == ([5, 2.5] if at < 7 else None)
    rest = train(tiny_cfg(tmp_path, **MINUTES), resume=True, log=quiet)
    assert rest.steps == 30 and rest.stopped_on_budget
    run = tmp_path / "run"
    assert_same_final_state(reference[0], run)
    assert step_lines(reference[0]) == step_lines(run)
    assert horizon_lines(reference[0]) == horizon_lines(run)
    if at < 7:
        return
    # resumed again with 3 more seconds (6 steps): the horizon stays 30, never re-estimated
    more = TrainConfig(**{**tiny_cfg(tmp_path, **MINUTES).__dict__, "minutes": 0.3})
    assert train(more, resume=True, log=quiet).steps == 36
    assert load_checkpoint(run / "last.pt")["lr_horizon"]["total"] == 30
    assert lrs(run)[29:] == pytest.approx([R * LR] * 7)


def test_compare_passes_the_budget_and_schedule_to_every_run(tmp_path):
    """``strae compare`` shares the recipe's options: each run gets them unchanged."""
    from strae_graph.cli import build_parser
    from strae_graph.cli.cmd_compare import _study_config

    args = build_parser().parse_args(
        ["compare", "--out", str(tmp_path / "study"), "--minutes", "5", "--max-steps", "900",
         "--lr-decay", "cosine", "--warmup-steps", "10", "--min-lr-ratio", "0.1"]
    )  # fmt: skip
    study = _study_config(args)
    for spec in study.specs():
        cfg = study.train_config(spec, study.objectives[0], study.seeds[0])
        assert (cfg.lr_decay, cfg.warmup_steps, cfg.min_lr_ratio) == ("cosine", 10, 0.1)
        assert (cfg.minutes, cfg.max_steps, cfg.epochs) == (5.0, 900, None)
