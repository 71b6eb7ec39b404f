"""`strae eval` and `strae compare` on tiny runs trained in seconds."""

import json

import numpy as np
import pytest

from eval import compare as compare_mod
from eval.compare import run_study
from eval.encoders import MeanOfLeaves, StrAERoot
from eval.evaluate import EvalConfig, eval_sts, evaluate
from eval.runs import evaluate_run
from eval.study import StudyConfig
from parsers.api import load_embedder
from strae_graph.cli import main
from tests.conftest import CORPUS
from tests.tiny_runs import tiny_run

FAST = EvalConfig(tasks=("ws353", "stsb", "wnli"), probe_seeds=(0, 1), progress=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir):
    return tiny_run(tmp_path_factory.mktemp("evalrun") / "run", structure="right", objective="ce")


def test_evaluate_run_reports_scores_and_coverage(run):
    res = evaluate_run(run, FAST, log=lambda s: None)
    assert set(res.systems) == {"strae", "mean-leaves"}
    assert res.structure == res.trained_structure == "right" and res.objective == "ce"
    by = {r.task: r for r in res.systems["strae"]}
    ws = by["ws353"]
    assert ws.n == 353 and 0 < ws.coverage < 1  # a 300-sentence vocabulary misses words
    assert ws.details["n_covered"] == round(ws.coverage * 353)
    assert by["stsb"].n == 1379 and by["stsb"].coverage == 1.0  # <unk> leaves still compose
    assert 0 < by["stsb"].details["unknown_token_rate"] < 1
    wnli = by["wnli"]
    assert wnli.n == 71 and len(wnli.details["accuracies"]) == 2 and wnli.std is not None
    # word similarity uses the same leaves for both systems
    mean_ws = {r.task: r for r in res.systems["mean-leaves"]}["ws353"]
    assert mean_ws.details["spearman_all"] == ws.details["spearman_all"]
    table = res.table()
    assert "| ws353 | spearman | 353 |" in table and "cov" in table
    # the JSON round-trips
    path = run / "e.json"
    res.save(path)
    assert json.loads(path.read_text())["systems"]["strae"][0]["task"] == "ws353"


def test_eval_uses_the_embedding_api(run):
    emb = load_embedder(run)
    enc = StrAERoot(emb, name="strae")
    from eval.data import load_named_sts

    pairs = load_named_sts("stsb")
    pairs.sentence1, pairs.sentence2 = pairs.sentence1[:50], pairs.sentence2[:50]
    pairs.scores = pairs.scores[:50]
    r = eval_sts(enc, pairs)
    a, b = emb.embed_sentences(pairs.sentence1), emb.embed_sentences(pairs.sentence2)
    a, b = a.astype(np.float64), b.astype(np.float64)
    # same float64 operation order as eval.metrics.cosine_rows: a right-branching
    # model gives near-tied cosines, whose ranks flip at the last bit
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    from scipy.stats import spearmanr

    assert r.score == pytest.approx(spearmanr(cos, pairs.scores).statistic)
    # structure override: left-branching trees give different sentence vectors
    left = StrAERoot(emb, structure="left").embed_sentences(pairs.sentence1[:3])
    assert not np.allclose(left, a[:3], atol=1e-6)
    # mean of leaves = mean of the known words' leaf embeddings
    m = MeanOfLeaves(emb).embed_sentences(["the the ,"])
    the, comma = emb.embed_words(["the", ","])
    np.testing.assert_allclose(m[0], (2 * the + comma) / 3, atol=1e-6)
    assert np.isnan(MeanOfLeaves(emb).embed_sentences(["qwertyzzz"])).all()


def test_cli_eval_with_user_files(run, tmp_path, capsys):
    ws = tmp_path / "my_ws.txt"
    ws.write_text("the\tof\t3\nthe\ta\t1\nand\tin\t2\nqwertyzzz\tthe\t0\n")
    sts = tmp_path / "my_sts.tsv"
    sts.write_text("4\tThe dog runs.\tA dog runs.\n1\tThe cat.\tIn 1990 it was.\n"
                   "2.5\tA man.\tThe man.\n")  # fmt: skip
    out = tmp_path / "r.json"
    rc = main(["eval", str(run), "--wordsim", str(ws), "--sts", str(sts), "--json", str(out),
               "--no-progress", "--structure", "balanced"])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    # 3 covered pairs: below the minimum for a score (eval.evaluate.MIN_COVERED_PAIRS)
    assert "| my_ws | spearman | 4 |" in text and "too few pairs: 3" in text and "my_sts" in text
    data = json.loads(out.read_text())
    assert data["structure"] == "balanced" and data["trained_structure"] == "right"
    tasks = [r["task"] for r in data["systems"]["strae"]]
    assert tasks == ["my_ws", "my_sts"]  # only the user's files when they are given
    assert main(["eval", str(run), "--wordsim", str(tmp_path / "nope.txt")]) == 2
    assert "nope.txt: no such file" in capsys.readouterr().err


def test_word2vec_baseline_on_the_same_slice(run, tmp_path):
    pytest.importorskip("gensim")
    res = evaluate_run(run, EvalConfig(tasks=("ws353",), progress=False), word2vec=True,
                       mean_baseline=False, log=lambda s: None)  # fmt: skip
    assert set(res.systems) == {"strae", "word2vec"}
    kv_files = list((run / "baselines").glob("word2vec-*.npz"))
    assert len(kv_files) == 1
    w2v = res.systems["word2vec"][0]
    assert w2v.n == 353 and 0 < w2v.coverage < 1
    again = evaluate_run(run, EvalConfig(tasks=("ws353",), progress=False), word2vec=True,
                         mean_baseline=False, log=lambda s: None)  # fmt: skip
    same = again.systems["word2vec"][0].details["spearman_all"] == w2v.details["spearman_all"]
    assert same  # cached, seeded


def test_word2vec_skipped_cleanly_without_gensim(run, monkeypatch):
    import eval.runs

    monkeypatch.setattr(eval.runs, "gensim_available", lambda: False)
    logs = []
    res = evaluate_run(run, EvalConfig(tasks=("ws353",), progress=False), word2vec=True,
                       log=logs.append)  # fmt: skip
    assert "word2vec" not in res.systems and "gensim" in res.skipped["word2vec"]
    assert any("skipped" in line for line in logs)


def test_compare_writes_tables_and_resumes(tmp_path, data_dir, monkeypatch):
    train_cfg = dict(corpus=str(CORPUS), max_sentences=150, dev_sentences=20, batch_size=50,
                     epochs=1, min_count=1, log_every=1)  # fmt: skip
    cfg = StudyConfig(out=str(tmp_path / "study"), structures=("balanced", "right"),
                      objectives=("ce",), seeds=(0, 1), train=train_cfg,
                      eval=EvalConfig(tasks=("stsb", "wnli"), probe_seeds=(0,),
                                      progress=False))  # fmt: skip
    calls = []
    real_train = compare_mod.train

    def counting_train(c, resume=False, log=print):
        calls.append((c.structure, c.seed, resume))
        return real_train(c, resume=resume, log=lambda s: None)

    study = run_study(cfg, log=lambda s: None, train_fn=counting_train)
    assert len(calls) == 4 and study.trained == 4 and study.reused == 0
    out = tmp_path / "study"
    for name in ("results.csv", "summary.csv", "results.md", "results.png", "study.json"):
        assert (out / name).exists(), name
    assert len(study.rows) == 4 * 2 * 2  # runs x systems x tasks
    md = (out / "results.md").read_text()
    assert "| strae balanced / ce |" in md and "| mean-leaves right / ce |" in md and "±" in md
    summary = {(r["system"], r["structure"], r["task"]): r for r in study.summary}
    r = summary[("strae", "balanced", "stsb")]
    key = ("strae", "balanced", "stsb")
    seeds = [x["score"] for x in study.rows if (x["system"], x["structure"], x["task"]) == key]
    assert r["seeds"] == 2 and r["mean"] == pytest.approx(np.mean(seeds))
    assert r["std"] == pytest.approx(np.std(seeds, ddof=1))

    # resume: nothing is trained or evaluated again, results are identical
    def no_training(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(compare_mod, "evaluate_run", no_training)
    again = run_study(cfg, log=lambda s: None, train_fn=no_training)
    assert again.trained == 0 and again.reused == 4 and again.rows == study.rows
    monkeypatch.undo()

    # an interrupted run (checkpoint but no marker) continues from its checkpoint
    (out / "runs" / "right-ce-s1" / "train_result.json").unlink()
    calls.clear()
    third = run_study(cfg, log=lambda s: None, train_fn=counting_train)
    assert calls == [("right", 1, True)] and third.trained == 1 and third.reused == 3

    # a changed budget is refused, not silently mixed in
    cfg.train = {**train_cfg, "max_sentences": 160}
    with pytest.raises(Exception, match="different configuration"):
        run_study(cfg, log=lambda s: None, train_fn=counting_train)


def test_evaluate_rejects_unknown_tasks():
    with pytest.raises(ValueError, match="unknown task"):
        EvalConfig(tasks=("nope",))
    with pytest.raises(ValueError, match="unknown structure"):
        StudyConfig(out="x", structures=("nope",))
    assert evaluate  # the public entry point exists
