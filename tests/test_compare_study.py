"""`strae compare` (issue 14): every structure strae train takes, gold datasets,
--minutes and the recipe's presets, paired contrasts, parse F1, refused resumes."""

import csv
import json

import numpy as np
import pytest

from eval.runs import load_items
from eval.study import StudyConfig
from eval.study_specs import parse_spec
from parsers.parsed_corpus import parse_corpus
from strae_graph.cli import main
from tests.conftest import CORPUS, PTB


@pytest.fixture(scope="module")
def gold_dataset(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("gold") / "ptb-gold"
    parse_corpus(PTB, "gold", out, max_sentences=200, progress=False, log=lambda s: None)
    return out


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _compare(out, gold_dataset, *extra):
    return main(["compare", "--out", str(out), "--structures", "self", "balanced",
                 f"gold={gold_dataset}", "--objectives", "ce", "--seeds", "0", "1",
                 "--corpus", str(CORPUS), "--max-sentences", "150", "--dev-sentences", "20",
                 "--batch-size", "50", "--min-count", "1", "--minutes", "0.05",
                 "--eval-structure", "gold=balanced", "--tasks", "ws353", "wnli",
                 "--probe-seeds", "0", "--probe-max-train", "200", "--resamples", "200",
                 "--no-progress", *extra])  # fmt: skip


def test_compare_self_gold_minutes_contrasts_f1(tmp_path, gold_dataset, capsys):
    out = tmp_path / "study"
    assert _compare(out, gold_dataset, "--checkpoint-every", "2") == 0
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == [f"{s}-ce-s{k}" for s in ("balanced", "gold", "self") for k in (0, 1)]
    for name in runs:  # --minutes and the recipe reach every run
        saved = json.loads((out / "runs" / name / "train_result.json").read_text())["train_config"]
        assert saved["minutes"] == 0.05 and saved["batch_size"] == 50
        assert saved["checkpoint_every"] == 2
        assert saved["preset"] == "default"
        assert saved["structure"] == name.split("-")[0]
        assert (out / "runs" / name / "eval_items.npz").exists()
    gold_cfg = json.loads((out / "runs" / "gold-ce-s0" / "train_result.json").read_text())
    assert gold_cfg["train_config"]["corpus"] == str(gold_dataset)  # trained on the gold trees
    items = load_items(out / "runs" / "self-ce-s0" / "eval_items.npz")
    assert items[("strae", "ws353")]["cos"].shape == (353,)
    assert items[("strae", "wnli")]["correct"].shape == (1, 71)
    for name in ("results.csv", "summary.csv", "contrasts.csv", "results.md", "results.png",
                 "f1_vs_score.png", "parse_f1.json"):  # fmt: skip
        assert (out / name).exists(), name

    summary = read_csv(out / "summary.csv")
    f1 = {r["structure"]: float(r["parse_f1"]) for r in summary if r["system"] == "strae"}
    assert f1["gold"] == 1.0 and 0 < f1["balanced"] < 1 and 0 <= f1["self"] < 1
    # the contrasts: self - balanced by default (both present); mean = the seeds' mean difference
    rows = read_csv(out / "results.csv")
    score = {(r["structure"], r["seed"], r["task"]): float(r["score"])
             for r in rows if r["system"] == "strae"}  # fmt: skip
    con = read_csv(out / "contrasts.csv")
    assert {(c["a"], c["b"]) for c in con} == {("self", "balanced")}
    by_task = {c["task"]: c for c in con}
    assert "ws353" in by_task  # n/a scores here (a 200-sentence vocabulary covers < 30 pairs)
    for task in ("wnli",):
        c = by_task[task]
        want = np.mean([score[("self", s, task)] - score[("balanced", s, task)] for s in "01"])
        assert float(c["mean"]) == pytest.approx(want, abs=1e-9)
        assert c["method"] == "items" and float(c["lo"]) <= float(c["mean"]) <= float(c["hi"])
    md = (out / "results.md").read_text()
    assert "| strae gold / ce | 100.0 |" in md and "| self − balanced / ce |" in md
    # how much each run trained under the budget: steps x batch = sentences seen
    steps = [json.loads((out / "runs" / f"gold-ce-s{k}" / "train_result.json").read_text())
             ["result"]["steps"] for k in (0, 1)]  # fmt: skip
    assert "| structure / objective | seeds | steps | sentences seen |" in md
    assert f"| gold / ce | 2 | {np.mean(steps):,.0f} ± " in md
    assert f"| {np.mean(steps) * 50:,.0f} ± " in md
    capsys.readouterr()

    # resuming (--checkpoint-every is not part of the recipe): nothing trained again;
    # F1 comes from the cache
    assert _compare(out, gold_dataset) == 0
    assert '"trained": 0' in capsys.readouterr().out
    # a different budget is refused, for minutes and steps as for epochs
    for change in (["--minutes", "0.1"], ["--epochs", "2"], ["--max-steps", "3"]):
        assert _compare(out, gold_dataset, *change) == 2, change
        err = capsys.readouterr().err
        assert "different configuration" in err and change[0][2:].replace("-", "_") in err


def test_study_recipe_comes_from_the_presets():
    cfg = StudyConfig(out="x", structures=("balanced",), objectives=("contrastive", "ce"),
                      seeds=(0,), preset="paper", train={"batch_size": 64},
                      lr={"ce": 5e-3})  # fmt: skip
    spec = parse_spec("balanced", "x")
    con = cfg.train_config(spec, "contrastive", 0)
    ce = cfg.train_config(spec, "ce", 0)
    assert con.epochs == 15 and con.log_scale == 0.2 and con.preset == "paper"  # the paper's
    assert con.batch_size == 64 and con.lr is None and ce.lr == 5e-3
    assert (
        StudyConfig(out="x", structures=("self", "spacy"), seeds=(0,))
        .train_config(parse_spec("self", "x"), "contrastive", 0)
        .structure
        == "self"
    )
    with pytest.raises(ValueError, match="unknown structure"):
        StudyConfig(out="x", structures=("nope",))
    with pytest.raises(ValueError, match="neither a `strae parse` dataset"):
        parse_spec("gold=/no/such/file", "x")
    with pytest.raises(ValueError, match="no benepar model"):
        parse_spec("benepar=/no/such/model.pt", "x")
    b = parse_spec(f"benepar-mine={PTB}", "x")  # any existing path stands for a model here
    assert b.structure == "benepar" and b.options == {"model": str(PTB)} and b.needs_build


def test_compare_cli_passes_preset_options(tmp_path, monkeypatch):
    import eval.compare

    seen = {}

    def fake_run_study(cfg, log=print):
        seen["cfg"] = cfg
        raise KeyboardInterrupt

    monkeypatch.setattr(eval.compare, "run_study", fake_run_study)
    rc = main(["compare", "--out", str(tmp_path / "s"), "--structures", "self", "spacy",
               "--preset", "paper", "--compose", "diagonal", "--lr-contrastive", "3e-4",
               "--minutes", "2", "--max-steps", "40", "--contrast", "self:spacy",
               "--no-progress"])  # fmt: skip
    assert rc == 130
    cfg = seen["cfg"]
    run = cfg.train_config(parse_spec("self", cfg.out), "contrastive", 1)
    # a budget without --epochs decides alone: no epoch limit (not the preset's 15)
    assert run.compose == "diagonal" and run.epochs is None and run.lr == 3e-4 and run.minutes == 2
    assert run.max_steps == 40
    assert cfg.contrasts == (("self", "spacy"),) and cfg.structures == ("self", "spacy")
    assert cfg.objectives == ("contrastive",)  # the paper preset's objective
    assert main(["compare", "--out", str(tmp_path / "t"), "--no-progress"]) == 130
    assert seen["cfg"].objectives == ("both",)  # the default recipe's


def test_benepar_model_datasets_parse_the_lines_of_the_runs_slice(tmp_path):
    from eval.study_specs import lines_for

    corpus = tmp_path / "c.txt"
    corpus.write_text("a b\n\nc d e f\ng\nh i\n")
    # a run with max_length 3 reads "a b" (line 1) and "g" (line 4): the dataset needs
    # the first 3 non-empty lines (1, 3, 4), the too-long line 3 included
    assert lines_for(str(corpus), 2, 3) == 3
    assert lines_for(str(corpus), 2, None) == 2 and lines_for(str(corpus), None, 3) is None
