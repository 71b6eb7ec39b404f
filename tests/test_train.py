import json
import subprocess
import sys

import pytest
import torch

from parsers.api import train
from strae_graph.cli import main
from strae_graph.training.checkpoint import CheckpointError, load_checkpoint
from strae_graph.training.config import TrainConfig
from tests.conftest import CORPUS, ROOT


def small_config(tmp_path, **kw) -> TrainConfig:
    base = dict(corpus=str(CORPUS), out=str(tmp_path / "run"), max_sentences=1600,
                dev_sentences=200, batch_size=16, epochs=2, min_count=2, log_every=1,
                progress=False)  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def read_metrics(run):
    return [json.loads(line) for line in open(run / "metrics.jsonl")]


@pytest.mark.parametrize("objective, lr", [("contrastive", 1e-3), ("ce", None), ("both", None)])
def test_loss_falls_on_real_corpus(tmp_path, data_dir, objective, lr):
    cfg = small_config(tmp_path, objective=objective, lr=lr, structure="balanced")
    res = train(cfg, log=lambda s: None)
    assert res.steps == 200  # 2 epochs x 100 batches of 16
    steps = [m for m in read_metrics(tmp_path / "run") if "loss" in m]
    first = sum(m["loss"] for m in steps[:20]) / 20
    last = sum(m["loss"] for m in steps[-20:]) / 20
    assert last < first - 0.2, (first, last)  # in nats; chance level is about log(N) or log(V)
    epochs = [m for m in read_metrics(tmp_path / "run") if "dev_loss" in m]
    assert len(epochs) == 2 and epochs[1]["dev_loss"] < epochs[0]["dev_loss"]
    assert (tmp_path / "run" / "best.pt").exists()


def test_resume_continues_and_matches_uninterrupted(tmp_path, data_dir):
    full = small_config(tmp_path / "a", structure="right", epochs=2, max_sentences=320)
    train(full, log=lambda s: None)
    part = small_config(tmp_path / "b", structure="right", epochs=1, max_sentences=320)
    train(part, log=lambda s: None)
    with pytest.raises(CheckpointError, match="different configuration"):
        train(small_config(tmp_path / "b", structure="left", epochs=2, max_sentences=320),
              resume=True, log=lambda s: None)  # fmt: skip
    cont = small_config(tmp_path / "b", structure="right", epochs=2, max_sentences=320)
    res = train(cont, resume=True, log=lambda s: None)
    assert res.steps == 40
    a = load_checkpoint(tmp_path / "a" / "run" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "b" / "run" / "last.pt")["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert read_metrics(tmp_path / "a" / "run") == read_metrics(tmp_path / "b" / "run")


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    p = tmp_path / "last.pt"
    p.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(p)


def test_cli_help_and_errors(tmp_path, capsys):
    assert main([]) == 0
    assert "train" in capsys.readouterr().out
    rc = main(["train", "--corpus", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "r"),
               "--no-progress"])  # fmt: skip
    assert rc == 2
    assert "missing.txt: no such file" in capsys.readouterr().err


def test_module_entry_point_prints_help():
    out = subprocess.run([sys.executable, "-m", "strae_graph"], capture_output=True, text=True,
                         cwd=ROOT, check=True)  # fmt: skip
    assert "usage: strae" in out.stdout


def test_cli_train_writes_run_dir(tmp_path, data_dir, capsys):
    run = tmp_path / "cli"
    rc = main(["train", "--corpus", str(CORPUS), "--out", str(run), "--max-sentences", "300",
               "--dev-sentences", "50", "--batch-size", "64", "--structure", "random",
               "--objective", "ce", "--no-progress", "--min-count", "1"])  # fmt: skip
    assert rc == 0
    for name in ("config.json", "vocab.json", "last.pt", "best.pt", "metrics.jsonl"):
        assert (run / name).exists(), name
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["structure"] == "random" and len(cfg["data"]["corpus_sha256"]) == 64
    assert cfg["environment"]["dgl"] == "2.1.0"
