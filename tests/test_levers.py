"""Training levers: the learning-rate schedule, --init-range, the time budget
(--minutes), the learning curve (--eval-every-minutes) and presets."""

from __future__ import annotations

import json
import math
import random
import re

import numpy as np
import pytest
import torch

import strae_graph.training.state as train_state_module
from parsers.api import train
from parsers.tree_cache import parse_cached
from strae_graph import StrAE, StrAEConfig
from strae_graph.cli import _train_config, build_parser, main
from strae_graph.embed.load import load_run
from strae_graph.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from strae_graph.training.config import TrainConfig, preset_config
from strae_graph.training.lr_schedule import lr_factor, make_scheduler, restore_scheduler
from strae_graph.training.presets import DEFAULT, PAPER, PRESET_KEYS
from tests.conftest import CORPUS
from tests.test_reliability import tiny_cfg, train_args, write_corpus
from tests.tiny_runs import assert_same_model_and_optimizer


def quiet(s: str) -> None:
    pass


def metrics(run) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def step_lines(run) -> list[dict]:
    return [m for m in metrics(run) if "loss" in m]


def assert_same_final_state(a, b) -> None:
    sa, sb = load_checkpoint(a / "last.pt"), load_checkpoint(b / "last.pt")
    assert sa["step"] == sb["step"]
    assert_same_model_and_optimizer(sa, sb)
    assert sa["scheduler"] == sb["scheduler"]


# --- learning-rate schedule ------------------------------------------------------------
def test_lr_factor_warmup_then_decay():
    f = lr_factor(4, "none", 0.0, 20)
    assert [f(k) for k in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    lin = lr_factor(2, "linear", 0.1, 12)  # 10 decay steps after the warm-up
    assert [lin(0), lin(1)] == [0.5, 1.0]
    assert lin(2) == pytest.approx(1 - 0.9 * 0.1) and lin(11) == pytest.approx(0.1)
    cos = lr_factor(0, "cosine", 0.2, 10)
    values = [cos(k) for k in range(10)]
    assert all(a > b for a, b in zip(values, values[1:])) and values[-1] == pytest.approx(0.2)
    assert cos(4) == pytest.approx(0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert cos(50) == pytest.approx(0.2)  # past the horizon (e.g. more epochs): stays at r


def test_restore_scheduler_without_state_fast_forwards():
    p = torch.nn.Parameter(torch.zeros(1))
    cfg = TrainConfig(warmup_steps=3, lr_decay="cosine", min_lr_ratio=0.1, epochs=2, lr=0.5)
    a = make_scheduler(torch.optim.SGD([p], lr=0.5), cfg, 5)
    for _ in range(6):
        a.optimizer.step()
        a.step()
    b = make_scheduler(torch.optim.SGD([p], lr=0.5), cfg, 5)
    restore_scheduler(b, None, 6)  # a checkpoint from before schedules existed
    assert b.get_last_lr() == a.get_last_lr() and b.last_epoch == a.last_epoch
    assert b.optimizer.param_groups[0]["lr"] == a.optimizer.param_groups[0]["lr"]


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"lr_decay": "step"}, "lr_decay must be one of none, linear, cosine"),
        ({"warmup_steps": -1}, "warmup_steps must be at least 0"),
        ({"min_lr_ratio": 1.5}, r"min_lr_ratio must lie in \[0, 1\]"),
        ({"min_lr_ratio": float("nan")}, r"min_lr_ratio must lie in \[0, 1\]"),
        ({"init_range": 0.0}, "init_range must be a positive number"),
        ({"minutes": -1.0}, "minutes must be a positive number of minutes"),
        ({"minutes": 0.0}, "minutes must be a positive number of minutes"),
        ({"eval_every_minutes": float("inf")}, "eval_every_minutes must be a positive"),
        ({"preset": "fast"}, "unknown preset 'fast'"),
    ],
)
def test_bad_lever_settings(kw, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kw)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--min-lr-ratio", "2"], r"min_lr_ratio must lie in \[0, 1\]"),
        (["--minutes", "-3"], "minutes must be a positive number of minutes"),
        (["--eval-every-minutes", "0"], "eval_every_minutes must be a positive number"),
        (["--curve-tasks", "simlex"], "--curve-tasks needs --eval-every-minutes"),
        (["--init-range", "-0.1"], "init_range must be a positive number"),
        (["--learn-temperature", "--temperature", "4"], r"must lie in \[1, 100\]"),
    ],
)
def test_bad_levers_on_the_command_line(tmp_path, capsys, flags, message):
    rc = main(train_args(write_corpus(tmp_path / "c.txt"), tmp_path / "r", *flags))
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert err.startswith("strae train: error: ")
    assert re.search(message, err), err


def test_metrics_log_the_scheduled_learning_rate(tmp_path):
    cfg = tiny_cfg(tmp_path, lr=0.01, warmup_steps=3, lr_decay="linear", min_lr_ratio=0.2)
    train(cfg, log=quiet)
    f = lr_factor(3, "linear", 0.2, 10)  # 2 epochs x 5 batches
    lrs = [m["lr"] for m in step_lines(tmp_path / "run")]
    assert lrs == pytest.approx([0.01 * f(k) for k in range(10)])
    assert lrs[-1] == pytest.approx(0.002) and "scale" not in step_lines(tmp_path / "run")[0]


def test_resume_with_a_schedule_is_exact(tmp_path):
    """Stopped on the time budget after one step (inside the warm-up), resumed
    without a budget: the same model, optimiser, scheduler and metrics as an
    uninterrupted run."""
    kw = dict(warmup_steps=3, lr_decay="cosine", min_lr_ratio=0.1, lr=0.01, objective="both")
    corpus = write_corpus(tmp_path / "c.txt")
    train(tiny_cfg(tmp_path / "a", corpus=corpus, **kw), log=quiet)
    part = train(tiny_cfg(tmp_path / "b", corpus=corpus, minutes=1e-9, **kw), log=quiet)
    assert part.stopped_on_budget and part.steps == 1
    rest = train(tiny_cfg(tmp_path / "b", corpus=corpus, **kw), resume=True, log=quiet)
    assert rest.steps == 10 and not rest.stopped_on_budget
    assert_same_final_state(tmp_path / "a" / "run", tmp_path / "b" / "run")
    assert step_lines(tmp_path / "a" / "run") == step_lines(tmp_path / "b" / "run")


def test_resume_refuses_other_schedule_settings(tmp_path):
    cfg = tiny_cfg(tmp_path, epochs=1, lr_decay="linear")
    train(cfg, log=quiet)
    for change, message in [({"epochs": 2}, "epochs: saved 1, now 2; with --lr-decay linear"),
                            ({"warmup_steps": 5}, "warmup_steps: saved 0, now 5"),
                            ({"init_range": 0.05}, "init_range: saved 0.1, now 0.05")]:  # fmt: skip
        with pytest.raises(CheckpointError, match=message):
            train(TrainConfig(**{**cfg.__dict__, **change}), resume=True, log=quiet)


def test_init_range(tmp_path):
    m = StrAE(StrAEConfig(vocab_size=500, init_range=0.01))
    w = m.embedding.weight.detach()
    assert float(w.abs().max()) <= 0.01 and float(w.std()) > 0.004
    args = build_parser().parse_args(["train", "--init-range", "0.03"])
    assert _train_config(args).init_range == 0.03


# --- time budget -------------------------------------------------------------------------
def test_budget_stops_early_with_a_loadable_checkpoint(tmp_path):
    res = train(tiny_cfg(tmp_path, minutes=1e-9, epochs=3), log=quiet)
    run = tmp_path / "run"
    assert res.stopped_on_budget and res.steps == 1 and res.epochs_done == 0
    assert res.minutes_trained > 0 and not res.interrupted
    state = load_checkpoint(run / "last.pt")
    assert state["step"] == 1 and state["next_batch"] == 1 and state["train_seconds"] > 0
    assert load_run(run).path.name == "best.pt"
    assert metrics(run)[-1]["stopped_on_budget"] is True and "dev_loss" in metrics(run)[-1]


def test_resume_continues_the_stored_budget(tmp_path, monkeypatch):
    cfg = tiny_cfg(tmp_path, minutes=1e-9)
    train(cfg, log=quiet)
    again = train(cfg, resume=True, log=quiet)  # the stored time already exceeds the budget
    assert again.stopped_on_budget and again.steps == 1
    # 0.1 ms of a 1-minute budget left: the resumed run starts (the budget is not
    # spent at its first check) and stops after its first step.  The checks are
    # counted rather than timed, so a loaded machine cannot change the outcome.
    last = tmp_path / "run" / "last.pt"
    state = load_checkpoint(last)
    state["train_seconds"] = 60.0 - 1e-4
    save_checkpoint(state, last)
    checks: list[float] = []

    def spent_after_first_check(clock, minutes):
        checks.append(clock.minutes())
        return minutes is not None and len(checks) > 1

    monkeypatch.setattr(train_state_module, "budget_spent", spent_after_first_check)
    one_more = train(TrainConfig(**{**cfg.__dict__, "minutes": 1.0}), resume=True, log=quiet)
    monkeypatch.undo()
    assert checks[0] >= 1.0 - 1e-4 / 60  # the clock continued from the stored time
    assert one_more.stopped_on_budget and one_more.steps == 2
    assert one_more.minutes_trained >= 1.0
    done = train(TrainConfig(**{**cfg.__dict__, "minutes": None}), resume=True, log=quiet)
    assert done.steps == 10 and not done.stopped_on_budget


@pytest.mark.parametrize(
    "flag, value, field, message",
    [("--minutes", 1e-9, "minutes", "stopped on the time budget"),
     ("--max-steps", 3, "max_steps", "stopped on the step budget: 3 of --max-steps 3 steps")],
)  # fmt: skip
def test_budget_on_the_command_line(tmp_path, capsys, flag, value, field, message):
    args = train_args(write_corpus(tmp_path / "c.txt"), tmp_path / "r", flag, str(value))
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert message in err
    assert '"stopped_on_budget": true' in out
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["train"][field] == value


# --- learning curve ------------------------------------------------------------------------
def hostile_eval(model, vocab, step, minutes):
    """Draws from every random generator and leaves the model in train mode."""
    assert not model.training and not torch.is_grad_enabled()
    torch.rand(3), np.random.rand(3), random.random()
    model.train()
    return {"score": float(step), "minutes_seen": minutes}


def test_learning_curve_does_not_change_training(tmp_path):
    corpus = write_corpus(tmp_path / "c.txt")
    kw = dict(corpus=corpus, checkpoint_every=3)  # dropout is on: RNG matters
    train(tiny_cfg(tmp_path / "a", **kw), log=quiet)
    curved = tiny_cfg(tmp_path / "b", eval_every_minutes=1e-9, **kw)
    train(curved, log=quiet, on_eval=hostile_eval)
    a, b = tmp_path / "a" / "run", tmp_path / "b" / "run"
    assert_same_final_state(a, b)
    assert step_lines(a) == step_lines(b)
    curve = [json.loads(x) for x in (b / "curve.jsonl").read_text().splitlines()]
    assert [c["step"] for c in curve] == list(range(1, 11))  # every step; the end is step 10
    assert curve[-1]["tokens"] == 2 * sum(len(t) for t in _train_tokens(curved))
    assert all(c["minutes"] >= p["minutes"] for p, c in zip(curve, curve[1:]))
    assert all(set(c) == {"minutes", "step", "tokens", "score", "minutes_seen"} for c in curve)
    with pytest.raises(ValueError, match="needs an on_eval callback"):
        train(curved, log=quiet)


def _train_tokens(cfg):
    from strae_graph.training.data import load_training_data

    return [t.tokens for t in load_training_data(cfg, parse=parse_cached).train]


def test_learning_curve_resume_cuts_lines_after_the_checkpoint(tmp_path):
    cfg = tiny_cfg(tmp_path, eval_every_minutes=1e-9, minutes=1e-9)
    train(cfg, log=quiet, on_eval=hostile_eval)
    curve = tmp_path / "run" / "curve.jsonl"
    assert [json.loads(x)["step"] for x in curve.read_text().splitlines()] == [1]
    with curve.open("a") as f:  # a line written after the checkpoint, then killed
        f.write('{"step": 99}\n')
    rest = TrainConfig(**{**cfg.__dict__, "minutes": None})
    train(rest, resume=True, log=quiet, on_eval=hostile_eval)
    assert [json.loads(x)["step"] for x in curve.read_text().splitlines()] == list(range(1, 11))


def test_learning_curve_on_the_command_line_matches_strae_eval(tmp_path, data_dir):
    from eval.evaluate import EvalConfig
    from eval.runs import evaluate_run

    run = tmp_path / "r"
    args = ["train", "--corpus", str(CORPUS), "--out", str(run), "--max-sentences", "300",
            "--dev-sentences", "40", "--min-count", "1", "--no-progress", "--preset", "paper",
            "--epochs", "1", "--batch-size", "100", "--eval-every-minutes", "10",
            "--curve-tasks", "simlex", "stsb"]  # fmt: skip
    assert main(args) == 0
    curve = [json.loads(x) for x in (run / "curve.jsonl").read_text().splitlines()]
    assert len(curve) == 1 and curve[0]["step"] == 3  # only the end: 10 minutes never pass
    record = json.loads((run / "config.json").read_text())["train"]
    assert record["preset"] == "paper" and record["eval_every_minutes"] == 10
    assert record["curve_tasks"] == ["simlex", "stsb"] and record["log_scale"] == 0.2
    ev = evaluate_run(run, EvalConfig(tasks=("simlex", "stsb"), progress=False),
                      checkpoint="last", mean_baseline=False)  # fmt: skip
    for r in ev.systems["strae"]:
        if r.details.get("why_na", "").startswith("too few pairs"):
            # strae eval shows n/a below 30 covered pairs; the curve keeps the raw Spearman
            assert r.task in curve[0], r.task
        else:
            assert curve[0][r.task] == pytest.approx(r.score, abs=1e-6, nan_ok=True), r.task


# --- presets -------------------------------------------------------------------------------
def preset_values(cfg: TrainConfig) -> dict:
    return {k: getattr(cfg, k) for k in PRESET_KEYS}


def test_default_preset_is_the_trainconfig_defaults():
    assert preset_values(TrainConfig()) == DEFAULT
    assert preset_values(_train_config(build_parser().parse_args(["train"]))) == DEFAULT
    assert TrainConfig().preset == "default"


def test_paper_preset():
    cfg = _train_config(build_parser().parse_args(["train", "--preset", "paper"]))
    assert preset_values(cfg) == PAPER and cfg.preset == "paper"
    assert (cfg.objective, cfg.learning_rate, cfg.batch_size, cfg.epochs) == (
        "contrastive", 1e-4, 512, 15)  # fmt: skip
    assert (cfg.log_scale, cfg.temperature, cfg.warmup_steps, cfg.lr_decay) == (
        0.2, None, 0, "none")  # fmt: skip
    assert (cfg.init_range, cfg.dropout, cfg.input_dropout) == (0.1, 0.1, 0.2)
    assert (cfg.channels, cfg.channel_size, cfg.activation, cfg.tied) == (10, 10, "none", True)
    ce = _train_config(build_parser().parse_args(["train", "--preset", "paper", "--objective",
                                                  "ce"]))  # fmt: skip
    assert ce.learning_rate == 1e-3 and ce.epochs == 15


def test_explicit_options_beat_the_preset():
    argv = ["train", "--preset", "paper", "--epochs", "2", "--temperature", "0.5", "--untied",
            "--learn-temperature", "--lr-decay", "cosine", "--batch-size", "64"]  # fmt: skip
    cfg = _train_config(build_parser().parse_args(argv))
    assert (cfg.epochs, cfg.temperature, cfg.log_scale) == (2, 0.5, None)  # both conventions
    assert (cfg.tied, cfg.learn_temperature, cfg.lr_decay, cfg.batch_size) == (
        False, True, "cosine", 64)  # fmt: skip
    assert cfg.dropout == PAPER["dropout"] and cfg.preset == "paper"
    lib = preset_config("paper", epochs=3, out="x", log_scale=0.5)
    assert (lib.epochs, lib.log_scale, lib.out, lib.preset) == (3, 0.5, "x", "paper")
    with pytest.raises(ValueError, match="unknown preset"):
        preset_config("fast")


@pytest.mark.parametrize("structure", ["random", "self"])
def test_curve_evaluator_equals_embedder_and_caches(tmp_path, data_dir, structure):
    """In memory, on a small copy of the data: the same scores as the Embedder
    path of `strae eval`, twice in a row (cached trees and graphs)."""
    from eval.curve import CurveEvaluator
    from eval.data import load_named_sts
    from eval.metrics import similarity_score
    from strae_graph import Embedder, Vocabulary

    (tmp_path / "sts" / "stsbenchmark").mkdir(parents=True)
    (tmp_path / "wordsim").mkdir()
    lines = (data_dir / "sts" / "stsbenchmark" / "sts-test.csv").read_text().splitlines()
    (tmp_path / "sts" / "stsbenchmark" / "sts-test.csv").write_text("\n".join(lines[:60]) + "\n")
    simlex = (data_dir / "wordsim" / "SimLex-999.txt").read_text().splitlines()
    (tmp_path / "wordsim" / "SimLex-999.txt").write_text("\n".join(simlex[:80]) + "\n")
    pairs = load_named_sts("stsb", tmp_path)
    from eval.data import load_named_wordsim

    words = sorted({w.lower() for s in pairs.sentence1 + pairs.sentence2 for w in s.split()})
    wp = load_named_wordsim("simlex", tmp_path)
    known = sorted(set(words[::2]) | {w.lower() for w in wp.word1 + wp.word2})
    vocab = Vocabulary(["<unk>", *known])  # half the sentence words unknown
    torch.manual_seed(0)
    model = StrAE(StrAEConfig(vocab_size=len(vocab))).eval()
    ev = CurveEvaluator(["simlex", "stsb"], structure=structure, seed=3, data_dir=str(tmp_path),
                        batch_size=7).load()  # fmt: skip
    first, second = ev(model, vocab), ev(model, vocab)
    assert first == second and set(first) == {"simlex", "stsb"}
    if structure == "random":  # the Embedder's own path (self trees need a run directory)
        emb = Embedder(model, vocab, structure=structure, seed=3, parse=parse_cached)
        a, b = emb.embed_sentences(pairs.sentence1), emb.embed_sentences(pairs.sentence2)
        assert first["stsb"] == pytest.approx(similarity_score(a, b, pairs.scores).spearman)
    assert math.isfinite(first["stsb"]) and math.isfinite(first["simlex"])
    with pytest.raises(ValueError, match="learning-curve tasks must be some of"):
        CurveEvaluator(["sst2"])
