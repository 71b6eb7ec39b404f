"""Issue 25, part A, on real files through real ``python -m strae_graph``
processes: no command deletes what it did not create, nothing in a run
directory runs code or is written through a link, a run's files are checked
against its checkpoints (hashes), a fresh run never sits beside an old one's
files, a checkpoint of another run is refused, and a budget without --epochs
governs."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from strae_graph.training.checkpoint import load_checkpoint, save_checkpoint
from tests.conftest import ROOT
from tests.test_bad_input import one_line_error
from tests.test_reliability import summary, train_args, write_corpus


def strae(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "strae_graph", *map(str, args)], cwd=cwd or ROOT,
                          env=env, capture_output=True, text=True, timeout=600)  # fmt: skip


def refused(res: subprocess.CompletedProcess, command: str, *phrases: str) -> None:
    assert res.returncode == 2, res.stdout + res.stderr
    one_line_error(res.stderr, command, *phrases)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished tiny runs on one corpus: A (batch 16, two epochs: a best.pt
    from epoch 2) and B (batch 8), and the corpus."""
    base = tmp_path_factory.mktemp("runs")
    corpus = write_corpus(base / "c.txt")
    for name, extra in (("a", ("--epochs", "2")), ("b", ("--batch-size", "8"))):
        res = strae(*train_args(corpus, base / name, *extra))
        assert res.returncode == 0, res.stderr
    return base / "a", base / "b", corpus


def copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


# --- 1. no command deletes what it did not create --------------------------------------
@pytest.fixture()
def folder(tmp_path):
    """A user's folder: a file and a sub-folder."""
    d = tmp_path / "mine"
    (d / "sub").mkdir(parents=True)
    (d / "notes.txt").write_text("my notes\n")
    (d / "sub" / "data.csv").write_text("1,2\n")
    return d


def test_parse_train_and_compare_refuse_a_folder_of_other_files(folder, tmp_path):
    corpus = write_corpus(tmp_path / "c.txt")
    before = tree(tmp_path)
    refused(strae("parse", corpus, "--structure", "balanced", "--out", folder, "--no-progress"),
            "parse", str(folder), "not empty (notes.txt, sub/)", "nothing was changed")  # fmt: skip
    refused(strae(*train_args(corpus, folder), "--overwrite"), "train", "not empty")
    res = strae("compare", "--corpus", corpus, "--out", folder, "--structures", "balanced",
                "--seeds", "0", "--no-progress")  # fmt: skip
    refused(res, "compare", "not a strae compare study")
    # in the folder itself, as `--out .`
    refused(strae("parse", corpus, "--structure", "balanced", "--out", ".", "--no-progress",
                  cwd=folder), "parse", "not empty")  # fmt: skip
    refused(strae(*train_args(corpus, "."), cwd=folder), "train", "not empty")
    assert tree(tmp_path) == before  # nothing deleted, nothing added (no mine.partial/)
    empty = tmp_path / "empty"
    empty.mkdir()
    refused(strae("parse", corpus, "--structure", "balanced", "--out", ".", "--no-progress",
                  cwd=empty), "parse", "is the current directory")  # fmt: skip


def test_parse_out_an_existing_file(tmp_path):
    corpus = write_corpus(tmp_path / "c.txt")
    (tmp_path / "f").write_text("keep\n")
    res = strae("parse", corpus, "--structure", "balanced", "--out", tmp_path / "f",
                "--no-progress")  # fmt: skip
    refused(res, "parse", "f: exists and is not a directory")
    assert sorted(os.listdir(tmp_path)) == ["c.txt", "f"]  # no f.partial/, no f.tmp
    assert (tmp_path / "f").read_text() == "keep\n"


def test_parse_overwrite_replaces_only_its_own_dataset(tmp_path):
    corpus = write_corpus(tmp_path / "c.txt")
    out = tmp_path / "ds"
    (tmp_path / "ds.tmp").mkdir()  # a user's folder by the name the old code used and removed
    (tmp_path / "ds.tmp" / "keep.txt").write_text("x")
    parse = ["parse", corpus, "--out", out, "--no-progress", "--structure"]
    assert strae(*parse, "balanced").returncode == 0
    refused(strae(*parse, "right"), "parse", "another input or other options", "--overwrite")
    assert json.loads((out / "strae_parse.json").read_text())["structure"] == "balanced"
    res = strae(*parse, "right", "--overwrite")
    assert res.returncode == 0, res.stderr
    assert json.loads((out / "strae_parse.json").read_text())["structure"] == "right"
    (out / "mine.txt").write_text("mine")
    refused(strae(*parse, "left", "--overwrite"), "parse", "did not write (mine.txt)")
    assert (out / "mine.txt").read_text() == "mine"
    assert (tmp_path / "ds.tmp" / "keep.txt").read_text() == "x"
    (out / "mine.txt").unlink()
    (tmp_path / "ds.partial").mkdir()  # not ours: no fingerprint, a user's file
    (tmp_path / "ds.partial" / "x.txt").write_text("x")
    refused(strae(*parse, "left", "--overwrite"), "parse", "ds.partial")
    assert (tmp_path / "ds.partial" / "x.txt").exists()
    hidden = [n for n in os.listdir(tmp_path) if n.startswith(".")]
    assert hidden == []  # no temporary folder left by the finished writes


def test_overwrite_removes_the_old_runs_files_first(runs, tmp_path, capsys, monkeypatch):
    from strae_graph.training import loop
    from tests.test_bad_options import in_process

    run_a, _, corpus = runs
    run = copy_run(run_a, tmp_path / "run")
    old_best = tmp_path / "old-best.pt"
    shutil.copy(run / "best.pt", old_best)
    (run / "notes.txt").write_text("mine")
    (run / "baselines").mkdir()
    (run / "baselines" / "word2vec-d100-s0.npz").write_bytes(b"old cache")
    # the new run's loss at batch 2 is made NaN (an absurd --lr is refused before a run
    # starts): it stops having written last.pt only
    real, calls = loop.forward_backward, []

    def nan_at_batch_2(*a, **kw):
        output, bad = real(*a, **kw)
        calls.append(1)
        return output, "loss is nan" if len(calls) == 2 else bad

    monkeypatch.setattr(loop, "forward_backward", nan_at_batch_2)
    res = in_process(capsys, *train_args(corpus, run), "--overwrite")
    monkeypatch.undo()
    refused(res, "train", "loss is nan at epoch 1, batch 2")
    assert not (run / "best.pt").exists() and not (run / "baselines").exists()
    assert (run / "notes.txt").read_text() == "mine"  # not a run's file: kept
    assert strae("verify", run).returncode == 0
    shutil.copy(old_best, run / "best.pt")  # a mixture of two runs: never OK
    res = strae("verify", run)
    assert res.returncode == 2 and "best.pt: FAILED" in res.stdout, res.stdout
    assert "comes from another run" in res.stdout


# --- 2. nothing in a run directory is unpickled ------------------------------------------
class Payload:
    """Unpickling this creates the file ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_word2vec_caches_are_never_unpickled(runs, tmp_path):
    pytest.importorskip("gensim")
    run = copy_run(runs[0], tmp_path / "run")
    marker = tmp_path / "PWNED"
    (run / "baselines").mkdir()
    for name in ("word2vec-d100-s0.kv", "word2vec-d100-s0.npz"):  # the old name and the new
        (run / "baselines" / name).write_bytes(pickle.dumps(Payload(marker)))
    ws = tmp_path / "ws.txt"
    ws.write_text("".join(f"{a}\t{b}\t{i}\n" for i, (a, b) in
                          enumerate([("cat", "dog"), ("the", "a"), ("sat", "ran")])))  # fmt: skip
    res = strae("eval", run, "--word2vec", "--wordsim", ws, "--no-progress")
    assert res.returncode == 0, res.stderr
    assert not marker.exists()
    assert "word2vec-d100-s0.kv: an old pickled cache, never loaded" in res.stderr
    assert "not a word-vector file" in res.stderr  # the crafted .npz: rebuilt, not loaded
    from eval.encoders import WordVectors

    assert WordVectors.load(run / "baselines" / "word2vec-d100-s0.npz").vector_size == 100


SAFE_LOADERS = (("torch.load(", "weights_only=True"), ("np.load(", "allow_pickle=False"))


def test_no_code_unpickles_a_file():
    """Every loader of the code base reads data only (a static check)."""
    bad = re.compile(r"pickle\.loads?\(|KeyedVectors\.load\(|joblib|allow_pickle=True|dill\.")
    for path in [*ROOT.glob("strae_graph/**/*.py"), *ROOT.glob("parsers/*.py"),
                 *ROOT.glob("eval/*.py")]:  # fmt: skip
        text = path.read_text()
        assert not bad.search(text), path
        for loader, safe in SAFE_LOADERS:
            for m in re.finditer(re.escape(loader), text):
                assert safe in text[m.start() : m.start() + 160], (path, loader)


# --- 3. a run's files are never written through a link -----------------------------------
@pytest.mark.parametrize("name", ["metrics.jsonl", "timing.jsonl", "curve.jsonl", ".lock"])
def test_resume_never_writes_through_a_link(runs, tmp_path, name):
    run = copy_run(runs[0], tmp_path / "run")
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n" * 100)
    (run / name).unlink(missing_ok=True)
    (run / name).symlink_to("../victim.txt")
    res = strae(*train_args(runs[2], run), "--resume", "--epochs", "3")
    refused(res, "train", f"{name}: a symbolic link", "never follows links")
    assert victim.read_bytes() == b"precious\n" * 100


# --- 4. tokenizer.json and the hashes -------------------------------------------------------
@pytest.fixture(scope="module")
def bpe_run(runs, tmp_path_factory):
    run = tmp_path_factory.mktemp("bpe") / "run"
    res = strae(*train_args(runs[2], run), "--vocab", "bpe", "--bpe-size", "60")
    assert res.returncode == 0, res.stderr
    files = json.loads((run / "config.json").read_text())["files"]
    assert set(files) == {"vocab.json", "tokenizer.json"}
    return run


def edit_tokenizer(run: Path, **parts) -> None:
    record = json.loads((run / "tokenizer.json").read_text())
    record.update(parts)
    (run / "tokenizer.json").write_text(json.dumps(record))


EVERY_WORD_THE = {"type": "Replace", "pattern": {"Regex": "^.*$"}, "content": "▁the"}
PANIC = {"type": "Split", "pattern": {"Regex": "(a|aa)+$"}, "behavior": "Isolated",
         "invert": False}  # fmt: skip


def test_an_edited_tokenizer_is_refused(bpe_run, tmp_path):
    run = copy_run(bpe_run, tmp_path / "run")
    edit_tokenizer(run, normalizer=EVERY_WORD_THE)
    res = strae("verify", run)
    assert res.returncode == 2 and "tokenizer.json: changed since the run was trained" in res.stdout
    words = tmp_path / "w.txt"
    words.write_text("cat\ndog\n")
    res = strae("embed", run, "--words", "--input", words, "--out", tmp_path / "w.npy")
    refused(res, "embed", "tokenizer.json: changed since the run was trained")


def as_old_run(run: Path) -> None:
    """What a run made before the hashes looks like: none in config.json or checkpoints."""
    record = json.loads((run / "config.json").read_text())
    del record["files"]
    (run / "config.json").write_text(json.dumps(record, indent=2))
    for name in ("best.pt", "last.pt"):
        state = load_checkpoint(run / name)
        del state["files"]
        save_checkpoint(state, run / name)


def test_an_old_run_loads_with_a_note_and_its_tokenizer_is_still_checked(bpe_run, tmp_path):
    run = copy_run(bpe_run, tmp_path / "run")
    as_old_run(run)
    res = strae("verify", run)
    assert res.returncode == 0, res.stdout
    assert "note: " in res.stdout and "made before strae recorded file hashes" in res.stdout
    for normalizer, pre in ((EVERY_WORD_THE, {"type": "WhitespaceSplit"}), (None, PANIC)):
        edit_tokenizer(run, normalizer=normalizer, pre_tokenizer=pre)
        res = strae("verify", run)
        assert res.returncode == 2 and "not a strae-graph tokenizer" in res.stdout, res.stdout
        assert "panicked" not in res.stderr and "Traceback" not in res.stderr


def test_a_tokenizer_panic_is_a_clear_error():
    from tokenizers import Regex, pre_tokenizers

    from strae_graph.data.subwords_file import SubwordError
    from strae_graph.data.subwords_train import _train_tokenizer

    tok = _train_tokenizer([["a", "aa", "b"]] * 20, 20)
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("(a|aa)+$"), behavior="isolated")
    from strae_graph.data.subwords import Subwords

    with pytest.raises(SubwordError, match="the tokenizer failed"):
        Subwords(tok).split(["a" * 40 + "b"])


# --- 6. resume and verify check the run's files against the checkpoint ---------------------
def swap_two_words(path: Path) -> None:
    words = json.loads(path.read_text())
    words[3], words[4] = words[4], words[3]
    path.write_text(json.dumps(words))


def edit_config(path: Path) -> None:
    path.write_text(path.read_text().replace('"channels": 10', '"channels": 20'))


EDITS = [("config.json", edit_config), ("vocab.json", lambda p: p.write_text("not json [")),
         ("vocab.json", swap_two_words)]  # fmt: skip


@pytest.mark.parametrize("name, edit", EDITS, ids=["channels", "not-json", "swapped"])
def test_resume_and_verify_refuse_edited_run_files(runs, tmp_path, name, edit):
    run = copy_run(runs[0], tmp_path / "run")
    edit(run / name)
    last = (run / "last.pt").read_bytes()
    res = strae(*train_args(runs[2], run), "--resume", "--epochs", "3")
    refused(res, "train", name)
    assert (run / "last.pt").read_bytes() == last  # refused before training
    res = strae("verify", run)
    assert res.returncode == 2 and res.stdout.count("FAILED") == 2, res.stdout


def test_verify_checks_what_resume_checks(runs, tmp_path):
    run_a, run_b, corpus = runs
    run = copy_run(run_a, tmp_path / "run")
    shutil.copy(run_b / "last.pt", run / "last.pt")  # batch size 8, not 16
    res = strae("verify", run)
    assert res.returncode == 2 and "last.pt: FAILED" in res.stdout and "batch_size" in res.stdout
    refused(strae(*train_args(corpus, run), "--resume", "--epochs", "3"), "train", "batch_size")


# --- 7. a checkpoint of another run is refused ----------------------------------------------
def test_eval_refuses_a_checkpoint_of_another_run(runs, tmp_path):
    run_a, run_b, _ = runs
    ws = tmp_path / "ws.txt"
    ws.write_text("cat\tdog\t1\n")
    res = strae("eval", run_a, "--checkpoint", run_b / "best.pt", "--wordsim", ws, "--no-progress")
    refused(res, "eval", "comes from another run")
    keep = tmp_path / "a" / "kept"
    keep.mkdir(parents=True)
    shutil.copy(run_a / "last.pt", keep / "step.pt")  # a copy of this run's own checkpoint
    res = strae("eval", run_a, "--checkpoint", keep / "step.pt", "--wordsim", ws, "--no-progress")
    assert res.returncode == 0, res.stderr


# --- 8. a budget without --epochs governs ---------------------------------------------------
def test_max_steps_without_epochs_trains_past_the_first_epoch(runs, tmp_path):
    corpus = runs[2]  # 70 training sentences: 5 batches of 16 per epoch
    res = strae(*train_args(corpus, tmp_path / "r"), "--max-steps", "12", "--lr-decay", "linear",
                "--min-lr-ratio", "0.1", "--log-every", "1")  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = summary(res.stdout)
    assert out["steps"] == 12 and out["epochs_done"] == 2 and out["stopped_on_budget"]
    assert "no --epochs: training until the budget is spent" in res.stderr  # a status line
    steps = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    last = [s for s in steps if "lr" in s][-1]
    assert last["step"] == 12 and last["lr"] == pytest.approx(3e-3 * 0.1)  # spans --max-steps
    assert "lr schedule: linear decay to 0.1 x lr over steps 1-12 (--max-steps 12)" in res.stderr
    # --minutes alone: the decay's length is estimated during the run (tests/test_lr_budget.py)
    res = strae(*train_args(corpus, tmp_path / "m"), "--minutes", "0.02", "--lr-decay", "linear")
    assert res.returncode == 0 and summary(res.stdout)["stopped_on_budget"], res.stderr
    assert "lr schedule: linear decay to 0 x lr by the end of --minutes 0.02" in res.stderr
