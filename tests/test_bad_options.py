"""Options and inputs that were accepted silently or ended in a traceback
(issue 25, part B), each through the real command line in its own process
(``python -m strae_graph ...``) on a small slice of the shipped corpus: one
line ``strae COMMAND: error: ...`` naming the option or the file (and line),
exit status 2, nothing created; or, where the input is usable, the right
result with the problem counted."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pytest

from tests.conftest import CORPUS, DATA, ROOT

WS353 = DATA / "wordsim" / "EN-WS-353-ALL.txt"


def strae(*argv, cwd=ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "strae_graph", *map(str, argv)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def one_line_error(res: subprocess.CompletedProcess, command: str, *phrases: str) -> str:
    """The one error line of a failed command, checked to hold every phrase."""
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr, res.stderr
    lines = [x for x in res.stderr.splitlines() if x.startswith(f"strae {command}: error: ")]
    assert len(lines) == 1, res.stderr
    for p in phrases:
        assert p in lines[0], lines[0]
    return lines[0]


def in_process(capsys, *argv) -> subprocess.CompletedProcess:
    """``strae ARGV`` run by :func:`strae_graph.cli.main` in this process: for the
    variants of a case whose first form runs in its own process."""
    from strae_graph.cli import main

    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse
        rc = e.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(argv, rc, out.out, out.err)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The first 200 lines of the shipped corpus."""
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        lines = [next(f) for _ in range(200)]
    path = tmp_path_factory.mktemp("slice") / "c.txt"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def train_argv(corpus, out, *extra):
    return ["train", "--corpus", corpus, "--out", out, "--max-sentences", "0",
            "--dev-sentences", "20", "--batch-size", "32", "--min-count", "1",
            "--structure", "balanced", "--no-progress", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    res = strae(*train_argv(corpus, out, "--epochs", "1"))
    assert res.returncode == 0, res.stderr[-2000:]
    return out


# --- options accepted silently, or ending in a traceback --------------------------------------
TRAIN_OPTIONS = [  # (options, phrase, in its own process)
    (["--temperature", "nan"], "--temperature: temperature must be a positive finite number", 1),
    (["--log-scale", "nan", "--on-nan", "skip"], "--log-scale: log_scale must be a finite", 1),
    (["--dropout", "2"], "--dropout: dropout must lie in [0, 1), got 2.0", 1),
    (["--temperature", "inf"], "--temperature: temperature must be a positive finite number", 0),
    (["--temperature", "1e-320"], "--temperature: temperature 1e-320 is too small", 0),
    (["--log-scale=-inf"], "--log-scale: log_scale must be a finite number, got -inf", 0),
    (["--log-scale", "1000"], "--log-scale: log_scale 1000.0 gives the logit scale", 0),
    (["--input-dropout", "nan"], "--input-dropout: input_dropout must lie in [0, 1), got nan", 0),
    (["--dropout=-0.1"], "--dropout: dropout must lie in [0, 1), got -0.1", 0),
    (["--max-sentences", "-3"], "--max-sentences: max_sentences must be positive", 0),
    (["--lr", "1e38"], "--lr: lr must be a positive number of at most 10 (Adam", 1),
    (["--lr", "inf"], "--lr: lr must be a positive number of at most 10", 0),
    (["--lr", "nan"], "--lr: lr must be a positive number of at most 10", 0),
    (["--lr", "10.5"], "--lr: lr must be a positive number of at most 10", 0),
    (["--lr", "0"], "--lr: lr must be a positive number of at most 10", 0),
    (["--ce-weight", "1.5"], "--ce-weight: ce_weight must lie in [0, 1], got 1.5", 0),
    (["--ce-weight", "nan"], "--ce-weight: ce_weight must lie in [0, 1], got nan", 0),
    (
        ["--ce-weight", "0.3", "--objective", "contrastive"],
        "--ce-weight: ce_weight weighs the two terms of objective both",
        0,
    ),
]


@pytest.mark.parametrize("extra, phrase, own_process", TRAIN_OPTIONS)
def test_a_bad_training_option_is_named_before_anything_is_made(
    corpus, tmp_path, capsys, extra, phrase, own_process
):
    argv = train_argv(corpus, tmp_path / "new" / "r", *extra)
    res = strae(*argv) if own_process else in_process(capsys, *argv)
    one_line_error(res, "train", phrase)
    assert not (tmp_path / "new").exists()  # no run directory, no config.json with NaN


@pytest.mark.parametrize(
    "extra, phrase",
    [
        (["--temperature", "nan"], "--temperature: temperature must be a positive finite"),
        (["--dropout", "2"], "--dropout: dropout must lie in [0, 1), got 2.0"),
        (["--seeds", "0", "-1"], "--seeds: seeds must be at least 0, got 0 -1"),
        (["--resamples", "0"], "--resamples: resamples must be at least 1, got 0"),
        (["--lr-ce", "nan"], "--lr-ce: lr_ce must be a positive number of at most 10"),
    ],
)
def test_compare_names_a_bad_option_before_the_study_starts(corpus, tmp_path, capsys, extra,
                                                            phrase):  # fmt: skip
    argv = ["compare", "--out", tmp_path / "study", "--corpus", corpus, "--max-sentences", "50",
            "--objectives", "contrastive", "ce", "--no-progress", *extra]  # fmt: skip
    one_line_error(in_process(capsys, *argv), "compare", phrase)
    assert not (tmp_path / "study").exists()


def test_the_largest_learning_rate_trains_or_stops_with_the_on_nan_message(corpus, tmp_path):
    """--lr 10 (the bound) is accepted; where it drives the gradients past float32
    (linear compose with relu, here at step 2) the run stops with the --on-nan
    message and a checkpoint to resume from, never a traceback from Adam."""
    out = tmp_path / "r"
    res = strae(*train_argv(corpus, out, "--lr", "10", "--epochs", "1", "--compose", "linear",
                            "--activation", "relu"))  # fmt: skip
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith("strae train: error: gradient norm is inf at epoch 1, batch 2"), line
    assert "adding --on-nan skip to skip the batch (or lower --lr)" in line
    assert (out / "last.pt").is_file()


def test_a_model_too_large_for_memory_names_k_and_u(corpus, tmp_path):
    res = strae(*train_argv(corpus, tmp_path / "new" / "r", "-K", "100000", "-U", "100000"))
    line = one_line_error(
        res,
        "train",
        "-K/-U (channels x channel_size = 100,000 x 100,000)",
        "needs about",
        "of memory available",
    )
    assert " PB " in line or " TB " in line
    assert not (tmp_path / "new").exists()


def test_parse_max_sentences_negative_is_refused_and_zero_means_all(corpus, tmp_path, capsys):
    out = tmp_path / "p"
    argv = ["parse", corpus, "--structure", "balanced", "--out", out, "--no-progress"]
    res = in_process(capsys, *argv, "--max-sentences", "-3")
    one_line_error(res, "parse", "--max-sentences must be at least 0 (0: all), got -3")
    assert not out.exists() and not (tmp_path / "p.partial").exists()
    res = strae(*argv, "--max-sentences", "0")
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout[res.stdout.index("{") :])["sentences"] == 200  # all, as in train
    again = in_process(capsys, *argv)
    assert "is up to date" in again.stderr  # 0 and no limit are the same dataset


@pytest.mark.parametrize("value", ["0", "-5", "100000"])
def test_parse_eval_held_out_out_of_range(capsys, value):
    argv = ["parse-eval", "--structures", "balanced", "--held-out", value]
    res = strae(*argv) if value == "0" else in_process(capsys, *argv)
    if value == "100000":
        phrase = "ptb_sample_combined.mrg.oneline.txt.gz: --held-out 100000 asks for more than"
    else:
        phrase = f"--held-out must be at least 1 (the last N trees), got {value}"
    one_line_error(res, "parse-eval", phrase)


EVAL_CASES = [  # (options, phrase, in its own process)
    (["--probe-max-train", "-5"], "--probe-max-train: probe_max_train must be at least 0", 1),
    (["--probe-seeds", "1", "-1"], "--probe-seeds: probe_seeds must be one or more seeds", 1),
    (["--sts", WS353], "EN-WS-353-ALL.txt: every 'sentence' is a single word: a word-pair", 1),
    (["--embed-batch-size", "0"], "argument --embed-batch-size: must be at least 1, got 0", 0),
]


@pytest.mark.parametrize("extra, phrase, own_process", EVAL_CASES)
def test_eval_options_and_files_are_checked_before_the_run_is_loaded(
    tmp_path, capsys, extra, phrase, own_process
):
    argv = ["eval", tmp_path / "no-run", "--tasks", "sst2", *extra]
    one_line_error(strae(*argv) if own_process else in_process(capsys, *argv), "eval", phrase)


@pytest.mark.parametrize("device", ["nope", "cuda:99"])
def test_eval_and_embed_name_a_bad_device(run, tmp_path, capsys, device):
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("the case is a machine without a CUDA GPU")
    src = tmp_path / "s.txt"
    src.write_text("the cat sat .\n")
    for argv in (["eval", run, "--tasks", "ws353"],
                 ["embed", run, "--input", src, "--out", tmp_path / "e.npy"]):  # fmt: skip
        res = in_process(capsys, *argv, "--device", device)
        one_line_error(res, argv[0], f"device {device!r}")


def test_bench_threads_zero_is_refused():
    res = strae("bench", "--threads", "0", "--json", "")
    one_line_error(res, "bench", "--threads: threads must be at least 1")


def test_bench_json_in_a_missing_folder_is_refused_and_not_created(tmp_path):
    target = tmp_path / "nonexistent" / "b.json"
    res = strae("bench", "--json", target)
    one_line_error(res, "bench", f"{target}: directory {target.parent} does not exist")
    assert not target.parent.exists()


# --- bad bytes in a corpus ------------------------------------------------------------------
def test_nul_bytes_never_become_a_vocabulary_entry(corpus, tmp_path, capsys):
    text = corpus.read_text(encoding="utf-8").splitlines()
    text[3] = "the \x00\x00 cat sat ."
    text[7] = "\x00" + text[7]
    nul = tmp_path / "nul.txt"
    nul.write_text("\n".join(text) + "\n", encoding="utf-8")
    res = strae(*train_argv(nul, tmp_path / "r", "--epochs", "1"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "0 too long, 2 undecodable" in res.stderr  # skipped and counted (a status line)
    assert json.loads(res.stdout[res.stdout.index("{") :])["skipped"]["undecodable_lines"] == 2
    vocab = json.loads((tmp_path / "r" / "vocab.json").read_text(encoding="utf-8"))
    assert not any("\x00" in w for w in vocab)
    strict = in_process(capsys, *train_argv(nul, tmp_path / "r2", "--on-error", "raise"))
    one_line_error(strict, "train", f"{nul}, line 4: not text: it holds a NUL byte at character 5")


def test_a_cr_only_file_is_named_as_such(corpus, tmp_path, capsys):
    cr = tmp_path / "mac.txt"
    cr.write_bytes(corpus.read_bytes().replace(b"\n", b"\r"))
    res = strae(*train_argv(cr, tmp_path / "r"))
    one_line_error(res, "train", f"{cr}: the file uses CR-only line endings")
    res = in_process(capsys, "eval", tmp_path / "no-run", "--wordsim", cr)
    one_line_error(res, "eval", f"{cr}: the file uses CR-only line endings")


def test_embed_reports_unknown_words(run, tmp_path):
    src = tmp_path / "unknown.txt"
    src.write_text("qzxv wvvq plorb\nzzyzx frumious\n", encoding="utf-8")
    res = strae("embed", run, "--input", src, "--out", tmp_path / "u.npy")
    assert res.returncode == 0, res.stderr[-2000:]
    note = "unknown tokens: 5 of 5, embedded as <unk> (warning: every token is unknown"
    assert note in res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["unknown_tokens"] == summary["tokens"] == 5


# --- files whose content is not what a command expects --------------------------------------
CURVE_LINES = [  # (the second line of curve.jsonl, phrase, in its own process)
    (b'{"minutes": 1.5, "simlex": {"a": 1}}', """the score of 'simlex' is {"a": 1}, not a""", 1),
    (b'{"minutes": 1.5, "simlex": "abc"}', """the score of 'simlex' is "abc", not a number""", 0),
    (b"[1, 2]", "expected a JSON object, got list", 0),
    (b'{"minutes": 1e999}', "'minutes' is inf, not a number of minutes", 0),
]


@pytest.mark.parametrize("line, phrase, own_process", CURVE_LINES)
def test_curve_with_an_unexpected_shape_names_the_file_and_line(
    tmp_path, capsys, line, phrase, own_process
):
    curve = tmp_path / "run" / "curve.jsonl"
    curve.parent.mkdir()
    curve.write_bytes(b'{"minutes": 0.5, "step": 3, "simlex": 0.1}\n' + line + b"\n")
    argv = ["curve", curve.parent, "--out", tmp_path / "c.png"]
    res = strae(*argv) if own_process else in_process(capsys, *argv)
    one_line_error(res, "curve", f"{curve}, line 2: not a curve line ({phrase}")
    assert not (tmp_path / "c.png").exists()


def test_parse_eval_names_the_file_and_line_of_a_bad_tree(tmp_path):
    trees = tmp_path / "trees.txt"
    good = "(S (NP (DT the) (NN cat)) (VP (VBD sat)))"
    trees.write_text(f"{good}\n{good}\n(S (NP the cat) (VP sat)\n{good}\n")
    res = strae("parse-eval", "--structures", "balanced", "--trees", trees, "--held-out", "4")
    one_line_error(res, "parse-eval", f"{trees}, line 3: unbalanced '('")


@pytest.mark.parametrize("compose", ["linear", "diagonal"])
@pytest.mark.parametrize("tied, learn", [(True, False), (False, True)])
def test_the_memory_check_counts_the_parameters_the_model_has(compose, tied, learn, monkeypatch):
    from strae_graph.model import memory as model_memory
    from strae_graph.model.config import StrAEConfig
    from strae_graph.model.strae import StrAE

    cfg = StrAEConfig(vocab_size=37, channels=3, channel_size=5, compose=compose, tied=tied,
                      learn_temperature=learn, temperature=0.1)  # fmt: skip
    n = sum(p.numel() for p in StrAE(cfg).parameters())
    assert model_memory.parameter_count(cfg) == n
    monkeypatch.setattr(model_memory, "available_memory", lambda: 16 * n - 1)
    model_memory.check_model_memory(cfg)  # the weights alone fit
    with pytest.raises(ValueError, match=r"^-K/-U \(channels x channel_size = 3 x 5\)"):
        model_memory.check_model_memory(cfg, training=True)  # with gradients and Adam: not
