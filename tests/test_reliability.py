"""Bad input of every kind gets a clear error naming the file, line and problem
(or is skipped and counted); checkpoints from elsewhere, corrupted or
truncated ones are refused; NaN guards; signals during checkpoint writes."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal

import pytest
import torch

from parsers.api import train, train_config
from strae_graph.cli import main
from strae_graph.data.bracket_files import iter_bracket_file
from strae_graph.data.corpus import DataError, read_sentences
from strae_graph.embed.load import load_run
from strae_graph.model.strae import StrAE
from strae_graph.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    run_lock,
    save_checkpoint,
)
from strae_graph.training.config import TrainConfig
from strae_graph.training.interrupt import StopRequest
from strae_graph.trees.errors import TreeError

WORDS = [
    "the",
    "cat",
    "dog",
    "sat",
    "ran",
    "on",
    "a",
    "mat",
    "big",
    "small",
    "red",
    "house",
    "tree",
]


def write_corpus(path, n=80, bad: dict[int, bytes] | None = None, gz=False):
    """``n`` good sentences; ``bad`` maps 1-based line numbers to replacement bytes."""
    lines = [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(3 + i % 5)).encode()
             for i in range(n)]  # fmt: skip
    for lineno, raw in (bad or {}).items():
        lines[lineno - 1] = raw
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def train_args(corpus, out, *extra):
    return ["train", "--corpus", str(corpus), "--out", str(out), "--max-sentences", "0",
            "--dev-sentences", "10", "--batch-size", "16", "--min-count", "1",
            "--no-progress", "--checkpoint-every", "2", *extra]  # fmt: skip


def summary(out: str) -> dict:
    return json.loads(out[out.index("{\n") :])


def tiny_cfg(tmp_path, **kw) -> TrainConfig:
    corpus = kw.pop("corpus", None) or write_corpus(tmp_path / "c.txt")
    base = dict(corpus=str(corpus), out=str(tmp_path / "run"), max_sentences=None,
                dev_sentences=10, batch_size=16, min_count=1, progress=False, log_every=1,
                epochs=2)  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


# --- corpus lines --------------------------------------------------------------------
BAD_LINES = [
    (b"", "line 3: empty line", "empty_lines"),
    (b"   \t  ", "line 3: whitespace-only line", "empty_lines"),
    (b"the cat \xff\xfe sat", "line 3: not valid UTF-8 (byte 8", "undecodable_lines"),
    (b" ".join([b"cat"] * 30), "line 3: sentence of 30 tokens is longer than the maximum 20",
     "too_long_lines"),
]  # fmt: skip


@pytest.mark.parametrize("raw, message, counter", BAD_LINES)
@pytest.mark.parametrize("gz", [False, True])
def test_bad_line_raises_naming_file_and_line(tmp_path, capsys, raw, message, counter, gz):
    corpus = write_corpus(tmp_path / ("c.txt.gz" if gz else "c.txt"), bad={3: raw}, gz=gz)
    rc = main(train_args(corpus, tmp_path / "r", "--on-error", "raise", "--max-length", "20"))
    err = capsys.readouterr().err
    assert rc == 2
    error = [line for line in err.splitlines() if ": error: " in line]  # beside status lines
    assert len(error) == 1 and error[0].startswith(f"strae train: error: {corpus}, {message}"), err
    assert "--on-error skip" in err and "Traceback" not in err


def test_bad_lines_are_skipped_and_counted(tmp_path, capsys):
    bad = {3: b"", 5: b"   ", 9: b"\xc3\x28 x", 11: b" ".join([b"cat"] * 30), 12: b"\x80"}
    corpus = write_corpus(tmp_path / "c.txt", bad=bad)
    rc = main(train_args(corpus, tmp_path / "r", "--max-length", "20", "--epochs", "1"))
    out, err = capsys.readouterr()
    assert rc == 0
    skipped = summary(out)["skipped"]
    assert skipped["empty_lines"] == 2 and skipped["undecodable_lines"] == 2
    assert skipped["too_long_lines"] == 1
    assert "skipped lines: 2 empty, 1 too long, 2 undecodable" in err
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["data"]["read"]["kept"] == 75


def test_unknown_tokens_are_counted(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "c.txt", bad={78: b"zebra zebra cat", 79: b"gnu the cat"})
    rc = main(train_args(corpus, tmp_path / "r", "--epochs", "1", "--dev-sentences", "3"))
    assert rc == 0
    skipped = summary(capsys.readouterr().out)["skipped"]
    assert skipped["unknown_tokens_dev"] == 3  # zebra x2, gnu: never in the training part
    assert skipped["unknown_tokens_train"] == 0


def _file(name: str, data: bytes):
    def make(p):
        (p / name).write_bytes(data)
        return p / name

    return make


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing.txt", "missing.txt: no such file"),
        (lambda p: p, "is a directory, expected a text file"),
        (_file("x.gz", b"\x1f\x8b not gzip after all\n"), "x.gz, after line 0: file is corrupt"),
        (_file("t.gz", gzip.compress(os.urandom(3000))[:900]), "file is corrupt or truncated"),
        (_file("e.txt", b""), "0 usable sentence(s)"),
        (_file("w.txt", b"\n  \n\t\n"), "(read 3 lines: 3 empty"),
    ],
)
def test_missing_unreadable_or_corrupt_corpus(tmp_path, capsys, make, message):
    corpus = make(tmp_path)
    rc = main(train_args(corpus, tmp_path / "r"))
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err, err


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    corpus = write_corpus(tmp_path / "c.txt", gz=True)
    assert len(list(read_sentences(corpus))) == 80


def test_bracket_file_errors_name_file_and_line(tmp_path):
    path = tmp_path / "trees.txt"
    path.write_text("(S (NP a) (VP b))\n\n(S (NP a) (VP b)\n")
    with pytest.raises(TreeError, match=r"trees.txt, line 3: unbalanced '\(' at character 0"):
        list(iter_bracket_file(str(path)))
    path.write_text("(S a b)\n(S ())\n")
    with pytest.raises(TreeError, match=r"line 2: empty node at character 3"):
        list(iter_bracket_file(str(path)))
    path.write_bytes(b"(S a b)\n(S \xff b)\n")
    with pytest.raises(DataError, match=r"trees.txt, line 2: not valid UTF-8"):
        list(iter_bracket_file(str(path)))


# --- names and settings ----------------------------------------------------------------
@pytest.mark.parametrize(
    "kw, message",
    [
        ({"structure": "bogus"}, "unknown structure 'bogus'; choose one of balanced"),
        ({"objective": "mse"}, "unknown objective 'mse'; choose one of contrastive"),
        ({"on_error": "ignore"}, "on_error must be one of skip, raise"),
        ({"on_nan": "ignore"}, "on_nan must be one of stop, skip"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"lr": float("nan")}, "lr must be a positive number"),
        ({"device": "cuda:0"} if not torch.cuda.is_available() else {"device": "tpu"}, "device"),
    ],
)
def test_bad_settings_are_value_errors(kw, message):
    with pytest.raises(ValueError, match=message):
        train_config(**kw)


def test_unknown_names_on_the_command_line(tmp_path, capsys):
    for flag, value in [("--structure", "bogus"), ("--objective", "mse")]:
        with pytest.raises(SystemExit) as e:
            main(["train", flag, value])
        assert e.value.code == 2
        assert f"invalid choice: '{value}'" in capsys.readouterr().err


def test_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(train_args(write_corpus(tmp_path / "c.txt"), tmp_path / "f")) == 2
    assert "exists and is not a directory" in capsys.readouterr().err


# --- checkpoints -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two finished tiny runs with different vocabularies."""
    base = tmp_path_factory.mktemp("runs")
    a = tiny_cfg(base / "a", corpus=write_corpus(base / "a.txt"), epochs=1)
    b = tiny_cfg(base / "b", corpus=write_corpus(base / "b.txt", n=60), epochs=1, max_vocab=8)
    for cfg in (a, b):
        os.makedirs(cfg.out, exist_ok=True)
        train(cfg, log=lambda s: None)
    return a, b


def test_load_run_returns_a_working_model(two_runs):
    a, _ = two_runs
    run = load_run(a.out)
    assert run.path.name == "best.pt" and isinstance(run.model, StrAE)
    assert not run.model.training and len(run.vocab) == run.model_config.vocab_size


def test_checkpoint_from_another_run_is_refused(two_runs, tmp_path):
    a, b = two_runs
    mixed = tmp_path / "mixed"
    shutil.copytree(a.out, mixed)
    shutil.copy(os.path.join(b.out, "best.pt"), mixed / "best.pt")
    with pytest.raises(CheckpointError, match="vocabulary differs from .*vocab.json"):
        load_run(mixed)
    with pytest.raises(CheckpointError, match="trained with another vocabulary"):
        load_run(os.path.join(b.out, "best.pt"), expect_vocab=load_run(a.out).vocab)


def test_weights_that_do_not_fit_the_configuration(two_runs, tmp_path):
    a, _ = two_runs
    state = load_checkpoint(os.path.join(a.out, "best.pt"))
    state["model_config"]["channel_size"] = 5  # E = 50, weights are E = 100
    save_checkpoint(state, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match=r"embedding.weight has shape \(\d+, 100\) in the"):
        load_run(tmp_path / "x.pt")
    state["model_config"]["colour"] = "blue"
    save_checkpoint(state, tmp_path / "y.pt")
    with pytest.raises(CheckpointError, match="unusable model configuration"):
        load_run(tmp_path / "y.pt")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[: len(b) // 2], "cannot read checkpoint"),
        (lambda b: b[:100] + bytes([b[100] ^ 4]) + b[101:], "corrupted checkpoint"),
        (lambda b: b[: len(b) // 2] + b"\0" * 64 + b[len(b) // 2 + 64 :], "corrupted checkpoint"),
        (lambda b: b"", "empty file"),
        (lambda b: b"PK\x03\x04 not really a zip", "cannot read checkpoint"),
    ],
)
def test_corrupted_or_truncated_checkpoint(two_runs, tmp_path, capsys, damage, message):
    a, _ = two_runs
    run = tmp_path / "run"
    shutil.copytree(a.out, run)
    last = run / "last.pt"
    last.write_bytes(damage(last.read_bytes()))
    with pytest.raises(CheckpointError, match=message):
        load_run(last)
    cfg = TrainConfig(**{**a.__dict__, "out": str(run), "epochs": 2})
    with pytest.raises(CheckpointError, match=f"{last}: .*{message}"):
        train(cfg, resume=True, log=lambda s: None)
    assert main(["verify", str(run)]) == 2
    out = capsys.readouterr().out
    assert "best.pt: OK (SHA-256 verified)" in out and f"{last}: FAILED" in out


def test_resume_refuses_another_configuration_or_changed_corpus(two_runs, tmp_path):
    a, _ = two_runs
    run = tmp_path / "run"
    shutil.copytree(a.out, run)
    with pytest.raises(CheckpointError, match="channels: saved 10, now 4"):
        train(TrainConfig(**{**a.__dict__, "out": str(run), "channels": 4}), resume=True)
    corpus = tmp_path / "copy.txt"
    shutil.copy(a.corpus, corpus)
    state = load_checkpoint(run / "last.pt")
    state["train_config"]["corpus"] = str(corpus)
    save_checkpoint(state, run / "last.pt")
    with corpus.open("a") as f:
        f.write("one more line\n")
    with pytest.raises(CheckpointError, match="has changed since this checkpoint"):
        train(TrainConfig(**{**a.__dict__, "out": str(run), "corpus": str(corpus), "epochs": 2}),
              resume=True)  # fmt: skip


def test_resume_without_any_checkpoint(tmp_path):
    cfg = tiny_cfg(tmp_path)
    with pytest.raises(CheckpointError, match="no run directory"):
        train(cfg, resume=True)
    os.makedirs(cfg.out)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        train(cfg, resume=True)


def test_one_writer_per_run_directory(tmp_path):
    cfg = tiny_cfg(tmp_path)
    os.makedirs(cfg.out)
    with run_lock(cfg.out), pytest.raises(CheckpointError, match="another process is training"):
        train(cfg)


def test_restart_over_a_run_needs_resume_or_overwrite(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "c.txt")
    args = train_args(corpus, tmp_path / "r", "--epochs", "1")
    assert main(args) == 0
    assert main(args) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


# --- numerical guards --------------------------------------------------------------------
def poison(monkeypatch, word_id: int) -> None:
    """Make the loss NaN on every batch that contains the word ``word_id``."""
    forward = StrAE.forward

    def patched(self, g, frontiers=None):
        out = forward(self, g, frontiers)
        if bool((g.ndata["token"][g.ndata["is_leaf"]] == word_id).any()):
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(StrAE, "forward", patched)


def test_nan_loss_stops_keeps_a_good_checkpoint_and_resume_can_skip(tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path / "c.txt", bad={40: b"poison pill here"})
    skip_all = tiny_cfg(tmp_path / "s", corpus=corpus, on_nan="skip")
    poison(monkeypatch, _word_id(skip_all, "poison"))
    res = train(skip_all, log=lambda s: None)
    assert res.skipped["nan_batches"] == 2  # one poisoned batch per epoch
    lines = (tmp_path / "s" / "run" / "metrics.jsonl").read_text().splitlines()
    assert sum('"skipped": "loss is nan"' in line for line in lines) == 2

    stop = tiny_cfg(tmp_path / "t", corpus=corpus)
    with pytest.raises(FloatingPointError, match=r"loss is nan at epoch 1, batch \d+ of 5"):
        train(stop, log=lambda s: None)
    saved = load_checkpoint(tmp_path / "t" / "run" / "last.pt")
    assert all(torch.isfinite(v).all() for v in saved["model"].values())
    resumed = train(TrainConfig(**{**stop.__dict__, "on_nan": "skip"}), resume=True,
                    log=lambda s: None)  # fmt: skip
    assert resumed.steps == res.steps
    # stopping at the bad batch and resuming with --on-nan skip equals skipping from the start
    a = load_checkpoint(tmp_path / "s" / "run" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "t" / "run" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def _word_id(cfg: TrainConfig, word: str) -> int:
    from parsers.tree_cache import parse_cached
    from strae_graph.training.data import load_training_data

    return load_training_data(cfg, parse=parse_cached).vocab.stoi[word]


def test_nan_on_the_command_line(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "c.txt")
    args = train_args(corpus, tmp_path / "r", "--temperature", "1e-45", "--epochs", "1")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "loss is nan at epoch 1, batch 1 of 5 (step 1); no update was made" in err
    assert "--on-nan skip" in err and "Traceback" not in err
    assert main([*args, "--resume", "--on-nan", "skip"]) == 0
    assert summary(capsys.readouterr().out)["skipped"]["nan_batches"] == 5


# --- signals -----------------------------------------------------------------------------
def test_second_ctrl_c_waits_for_the_checkpoint_write():
    done = []
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where the test runner ignores Ctrl-C
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested and stop.name == "SIGINT"
        with pytest.raises(KeyboardInterrupt), stop.deferred():
            os.kill(os.getpid(), signal.SIGINT)  # held until the block ends
            done.append("checkpoint written")
        assert done == ["checkpoint written"]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # outside a write: at once
    assert signal.getsignal(signal.SIGINT) is before  # restored
