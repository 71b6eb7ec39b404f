"""The remaining bad inputs of issue 16, each on real files through the real
command line: one line ``strae COMMAND: error: WHERE: PROBLEM``, exit 2, no
traceback, nothing half-written left behind.  (Signals: tests/test_interrupt.py.)"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest

from eval.data import load_sts, load_wordsim
from eval.evaluate import MIN_COVERED_PAIRS
from eval.metrics import similarity_score
from parsers.api import train_config
from strae_graph.cli import main
from strae_graph.data.corpus import DataError
from strae_graph.training.checkpoint import CheckpointError, _sentences, load_checkpoint
from strae_graph.util.jsonsafe import dumps
from tests.conftest import DATA, ROOT
from tests.test_reliability import WORDS, summary, train_args, write_corpus


def one_line_error(err: str, command: str, *phrases: str) -> None:
    """One error line on stderr (beside status lines such as ``strae train: ...``)."""
    assert "Traceback" not in err, err
    lines = [x for x in err.splitlines() if ": error: " in x]
    assert len(lines) == 1 and lines[0].startswith(f"strae {command}: error: "), err
    for p in phrases:
        assert p in lines[0], err


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished tiny run (13-word vocabulary) and its corpus."""
    base = tmp_path_factory.mktemp("bad-input")
    corpus = write_corpus(base / "c.txt")
    assert main(train_args(corpus, base / "run", "--epochs", "1")) == 0
    return base / "run"


def truncated_gzip(path):
    rng = np.random.default_rng(0)
    text = "".join(" ".join(rng.choice(WORDS, 8)) + f" {i} .\n" for i in range(2000))
    data = gzip.compress(text.encode())
    path.write_bytes(data[: len(data) // 2])
    return path


def strict_json(text: str):
    def refuse(name: str):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


# --- 1. one reader for every user file ----------------------------------------------
@pytest.mark.parametrize("command", ["embed", "parse", "eval-sts", "eval-wordsim", "train"])
def test_a_truncated_gzip_is_one_line_in_every_command(run, tmp_path, capsys, command):
    bad = truncated_gzip(tmp_path / "t.gz")
    out = tmp_path / "out"
    argv = {
        "embed": ["embed", str(run), "--input", str(bad), "--out", str(tmp_path / "q.npy")],
        "parse": ["parse", str(bad), "--structure", "balanced", "--out", str(out),
                  "--no-progress"],
        "eval-sts": ["eval", str(run), "--sts", str(bad), "--no-progress"],
        "eval-wordsim": ["eval", str(run), "--wordsim", str(bad), "--no-progress"],
        "train": train_args(bad, out),
    }[command]  # fmt: skip
    assert main(argv) == 2
    one_line_error(capsys.readouterr().err, argv[0], str(bad), "file is corrupt or truncated")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.gz"]  # no q.npy, out/, out.partial/


def test_the_issue_command_in_a_real_process(run, tmp_path):
    bad = truncated_gzip(tmp_path / "t.gz")
    res = subprocess.run([sys.executable, "-m", "strae_graph", "parse", str(bad), "--structure",
                          "balanced", "--out", str(tmp_path / "ptb"), "--no-progress"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 2
    one_line_error(res.stderr, "parse", "file is corrupt or truncated")
    assert not (tmp_path / "ptb.partial").exists() and not (tmp_path / "ptb").exists()


# --- 2. gold trees train like any parsed dataset ----------------------------------------
def test_training_on_a_gold_tree_dataset(tmp_path, capsys):
    ptb = tmp_path / "ptb"
    zip_path = DATA / "trees" / "nltk_treebank_sample.zip"
    assert main(["parse", str(zip_path), "--structure", "gold", "--out", str(ptb),
                 "--max-sentences", "60", "--no-progress"]) == 0  # fmt: skip
    capsys.readouterr()
    args = ["train", "--corpus", str(ptb), "--out", str(tmp_path / "r"), "--epochs", "1",
            "--dev-sentences", "6", "--batch-size", "27", "--min-count", "1",
            "--no-progress"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    out, err = capsys.readouterr()
    assert "strae train: gold trees" in err and summary(out)["train_sentences"] == 54
    record = json.loads((tmp_path / "r" / "config.json").read_text())
    assert record["train"]["structure"] == "gold"
    # new sentences have no gold trees: say so, and how to choose a structure
    assert main(["eval", str(tmp_path / "r"), "--tasks", "stsb", "--no-progress"]) == 2
    one_line_error(capsys.readouterr().err, "eval", "trained on gold trees", "--structure")
    # 'gold' without a gold dataset is still refused, saying how to make one
    with pytest.raises(ValueError, match="strae parse TREES --structure gold"):
        train_config(corpus=str(write_corpus(tmp_path / "c.txt")), structure="gold")


# --- 3. honest evaluation output ------------------------------------------------------
def wordsim_file(path, covered: int, total: int = 40):
    """``covered`` pairs of vocabulary words (of the tiny run), the rest unknown."""
    rows = [f"{WORDS[i % 13]}\t{WORDS[(i * 5 + 1) % 13]}\t{(i * 7) % 10}" for i in range(covered)]
    rows += [f"zzunknown{i}\tqqunknown{i}\t{i % 10}" for i in range(total - covered)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_too_few_covered_pairs_is_na_with_the_reason(run, tmp_path, capsys):
    few, enough = wordsim_file(tmp_path / "few.txt", 3), wordsim_file(tmp_path / "ok.txt", 35)
    out_json = tmp_path / "e.json"
    argv = ["eval", str(run), "--wordsim", str(few), "--wordsim", str(enough), "--json",
            str(out_json), "--no-mean-baseline", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "| few | spearman | 40 | n/a (too few pairs: 3) |" in table
    assert f"N < {MIN_COVERED_PAIRS} pairs covered" in table
    ok_row = next(x for x in table.splitlines() if x.startswith("| ok |"))
    assert "n/a" not in ok_row and "(cov 88%)" in ok_row
    saved = strict_json(out_json.read_text())  # null, never NaN
    few_result = saved["systems"]["strae"][0]
    assert few_result["score"] is None and few_result["details"]["why_na"] == "too few pairs: 3"
    assert "systems.strae[0].score" in saved["null_because"]


def test_an_undefined_correlation_says_why():
    a = np.ones((40, 4))
    s = similarity_score(a, a, np.arange(40.0))
    assert s.why_nan == "every covered pair has the same cosine"
    b = np.random.default_rng(0).normal(size=(40, 4))
    why = similarity_score(a, b, np.ones(40)).why_nan
    assert why == "every covered pair has the same gold score"


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_nan_or_inf_scores_are_refused_with_file_and_line(run, tmp_path, capsys, value):
    ws = tmp_path / "ws.txt"
    ws.write_text(f"cat\tdog\t3\nmat\ttree\t{value}\n")
    with pytest.raises(DataError, match=f"ws.txt, line 2: score '{value}' is not a finite"):
        load_wordsim(ws)
    sts = tmp_path / "sts.txt"
    sts.write_text(f"1.0\tthe cat\tthe dog\n{value}\tthe mat\ta tree\n")
    with pytest.raises(DataError, match=f"sts.txt, line 2: score '{value}' is not a finite"):
        load_sts(sts)
    assert main(["eval", str(run), "--sts", str(sts), "--no-progress"]) == 2
    one_line_error(capsys.readouterr().err, "eval", "sts.txt, line 2")


def test_strict_json_writes_null_and_says_why():
    text = dumps({"a": float("nan"), "b": [1.0, float("inf")]}, why=lambda p, v: f"{p} was {v}")
    d = strict_json(text)
    assert d["a"] is None and d["b"] == [1.0, None]
    assert d["null_because"] == {"a": "a was nan", "b[1]": "b[1] was inf"}


# --- 5. a binary file ---------------------------------------------------------------------
def binary_corpus(path):
    rng = np.random.default_rng(0)
    good = [" ".join(WORDS[(i + j) % 13] for j in range(5)).encode() for i in range(40)]
    bad = [b"\xff\xfe" + rng.integers(128, 256, 20, dtype=np.uint8).tobytes() for _ in range(60)]
    path.write_bytes(b"\n".join(good + bad) + b"\n")
    return path


def test_a_mostly_binary_corpus_stops_unless_skip_is_asked_for(tmp_path, capsys):
    corpus = binary_corpus(tmp_path / "blob")
    assert main(train_args(corpus, tmp_path / "r", "--epochs", "1")) == 2
    one_line_error(capsys.readouterr().err, "train", "60 of 100 lines are not valid UTF-8",
                   "--on-error skip")  # fmt: skip
    assert not (tmp_path / "r").exists()
    assert main(train_args(corpus, tmp_path / "r", "--epochs", "1", "--on-error", "skip")) == 0
    assert summary(capsys.readouterr().out)["skipped"]["undecodable_lines"] == 60
    if os.path.isfile("/bin/ls"):  # the issue's example
        assert main(train_args("/bin/ls", tmp_path / "ls", "--epochs", "1")) == 2
        one_line_error(capsys.readouterr().err, "train", "/bin/ls: ", "a binary file?")


# --- 6. --resume knows the corpus by its content --------------------------------------------
def test_resume_compares_the_corpus_by_content(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path / "c.txt")
    assert main(train_args("c.txt", "r", "--epochs", "1")) == 0
    capsys.readouterr()
    # the same file, given as an absolute path
    assert main(train_args(tmp_path / "c.txt", "r", "--epochs", "2", "--resume")) == 0
    assert "moved" not in capsys.readouterr().err
    # the file moved: resumed, and said
    (tmp_path / "elsewhere").mkdir()
    shutil.move(tmp_path / "c.txt", tmp_path / "elsewhere" / "c.txt")
    assert main(train_args("elsewhere/c.txt", "r", "--epochs", "3", "--resume")) == 0
    assert "note: the corpus moved" in capsys.readouterr().err
    # other content under the old name: refused
    write_corpus(tmp_path / "c.txt", n=70)
    assert main(train_args("c.txt", "r", "--epochs", "4", "--resume")) == 2
    one_line_error(capsys.readouterr().err, "train", "SHA-256 differs")


# --- 7. smaller ones ------------------------------------------------------------------------
def test_a_bad_option_names_it_and_creates_nothing(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "c.txt")
    assert main(train_args(corpus, tmp_path / "r", "--seed", "-1")) == 2
    one_line_error(capsys.readouterr().err, "train", "--seed: seed must be at least 0, got -1")
    assert not (tmp_path / "r").exists()
    # an error found only once reading starts: the run directory made for it goes too
    assert main(train_args(tmp_path / "missing.txt", tmp_path / "new" / "r")) == 2
    one_line_error(capsys.readouterr().err, "train", "missing.txt: no such file")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("command", ["embed", "export", "draw", "eval-json", "parse-eval-json"])
def test_an_output_file_in_a_missing_directory_is_refused(run, tmp_path, capsys, command):
    corpus = write_corpus(tmp_path / "c.txt", n=5)
    target = tmp_path / "nodir" / "x.out"
    argv = {
        "embed": ["embed", str(run), "--input", str(corpus), "--out", str(target)],
        "export": ["export", str(run), "--out", str(target)],
        "draw": ["draw", "the cat sat", "--structure", "balanced", "--out", str(target)],
        "eval-json": ["eval", str(run), "--tasks", "ws353", "--json", str(target)],
        "parse-eval-json": ["parse-eval", "--structures", "balanced", "--json", str(target)],
    }[command]
    assert main(argv) == 2
    one_line_error(capsys.readouterr().err, argv[0], "nodir does not exist")
    assert not (tmp_path / "nodir").exists()


def test_run_files_follow_the_umask(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "c.txt")
    old = os.umask(0o027)
    try:
        assert main(train_args(corpus, tmp_path / "r", "--epochs", "1")) == 0
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "r").iterdir()}
    assert {"last.pt", "best.pt", "config.json", "vocab.json", "metrics.jsonl"} <= set(modes)
    assert set(modes.values()) == {0o640}, modes


def test_parse_eval_with_a_missing_benepar_model_is_an_error(tmp_path, capsys):
    argv = ["parse-eval", "--structures", "benepar", "--benepar-model", str(tmp_path / "no.pt")]
    assert main(argv) == 2
    one_line_error(capsys.readouterr().err, "parse-eval", "benepar: not evaluated", "no.pt")


def test_eval_sts_given_a_directory(run, tmp_path, capsys):
    assert main(["eval", str(run), "--sts", str(tmp_path)]) == 2
    one_line_error(capsys.readouterr().err, "eval", "is a directory, expected a text file")


def test_the_truncated_checkpoint_message_ends_with_a_whole_sentence(run, tmp_path):
    last = tmp_path / "last.pt"
    data = (run / "last.pt").read_bytes()
    last.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(last)
    assert "cannot read checkpoint (truncated, or not a checkpoint: no integrity" in str(e.value)
    # torch's long messages are cut after a whole sentence, never in the middle of one
    miniz = (
        "PytorchStreamReader failed reading zip archive: failed finding central directory. "
        "This is an internal miniz error. If you are seeing this error, there is a high "
        "likelihood that your checkpoint file is corrupted or was saved incorrectly."
    )
    assert _sentences(miniz) == miniz[: miniz.index(" If you")]
