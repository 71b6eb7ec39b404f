"""Evaluation building blocks: loaders against the real files, metrics against
hand-computed cases, probe determinism."""

import math

import numpy as np
import pytest

from eval.data import (
    load_glue,
    load_named_sts,
    load_named_wordsim,
    load_sts,
    load_wordsim,
)
from eval.metrics import cosine_rows, mean_std, similarity_score, spearman
from eval.probe import ProbeConfig, pair_features, run_probe
from strae_graph.data.corpus import DataError


# --- loaders vs SOURCES.md -------------------------------------------------------
@pytest.mark.parametrize(
    "name, rows", [("simlex", 999), ("ws353", 353), ("ws353-sim", 203), ("ws353-rel", 252)]
)
def test_wordsim_row_counts(data_dir, name, rows):
    d = load_named_wordsim(name, data_dir)
    assert len(d) == len(d.word1) == len(d.word2) == rows
    assert d.scores.min() >= 0 and d.scores.max() <= 10


def test_simlex_columns(data_dir):
    d = load_named_wordsim("simlex", data_dir)
    assert (d.word1[0], d.word2[0], d.scores[0]) == ("old", "new", 1.58)  # SimLex999 column
    same = load_wordsim(data_dir / "wordsim" / "EN-SIMLEX-999.txt")  # the 3-column copy
    assert len(same) == 999 and sorted(same.scores) == sorted(d.scores)
    combined = load_wordsim(data_dir / "wordsim" / "wordsim353_combined.csv")  # CSV + header
    assert len(combined) == 353


@pytest.mark.parametrize("name, rows", [("stsb", 1379), ("sick-r", 4906)])
def test_sts_row_counts(data_dir, name, rows):
    d = load_named_sts(name, data_dir)
    assert len(d) == len(d.sentence1) == len(d.sentence2) == rows
    assert all(d.sentence1) and all(d.sentence2)


def test_sts_other_splits(data_dir):
    assert len(load_sts(data_dir / "sts" / "stsbenchmark" / "sts-train.csv")) == 5749
    assert len(load_sts(data_dir / "sts" / "stsbenchmark" / "sts-dev.csv")) == 1500
    sick = data_dir / "sts" / "SICK.txt"
    assert len(load_sts(sick)) == 9840
    assert len(load_sts(sick, split="TRAIN")) == 4439
    assert len(load_sts(sick, split="TRIAL")) == 495


@pytest.mark.parametrize(
    "task, split, rows, ones",
    [("SST-2", "train", 67349, 37569), ("SST-2", "dev", 872, 444),
     ("RTE", "train", 2490, 1241), ("RTE", "dev", 277, 131),
     ("WNLI", "train", 635, 312), ("WNLI", "dev", 71, 31)],
)  # fmt: skip
def test_glue_row_counts(data_dir, task, split, rows, ones):
    d = load_glue(task, split, data_dir)
    assert len(d) == len(d.text1) == rows
    assert (d.text2 is None) == (task == "SST-2")
    assert int(d.labels.sum()) == ones  # label balance as in SOURCES.md
    if task == "RTE":
        assert d.classes == ["entailment", "not_entailment"]


def test_glue_rejects_test_split(data_dir):
    with pytest.raises(ValueError, match="no labels"):
        load_glue("RTE", "test", data_dir)


def test_user_formats(tmp_path):
    f = tmp_path / "mine.txt"
    f.write_text("a b 1\nc d 2.5\n")
    d = load_wordsim(f)
    assert d.name == "mine" and d.word2 == ["b", "d"] and d.scores.tolist() == [1.0, 2.5]
    f.write_text("w1\tw2\tscore\nx\ty\t3\n\n")
    assert load_wordsim(f).word1 == ["x"]
    f.write_text("x\ty\t1\nz\tw\tlots\n")
    with pytest.raises(DataError, match=r"mine.txt, line 2: score 'lots'"):
        load_wordsim(f)
    f.write_text("w1\tw2\tscore\n")
    with pytest.raises(DataError, match="no word pairs"):
        load_wordsim(f)
    s = tmp_path / "sts.tsv"
    s.write_text('4.5\tA "quoted" dog.\tA dog.\n1\tx\ty\n')
    d = load_sts(s)
    assert d.sentence1[0] == 'A "quoted" dog.' and d.scores.tolist() == [4.5, 1.0]
    s.write_text("s1\ts2\tscore\nA dog.\tA cat.\t2\n")
    assert load_sts(s).scores.tolist() == [2.0]
    s.write_text("1\tonly two\n")
    with pytest.raises(DataError, match="line 1"):
        load_sts(s)


# --- metrics, by hand ----------------------------------------------------------------
def test_spearman_hand_computed():
    # ranks (1,2,3,4) vs (1,3,2,4): 1 - 6 * 2 / (4 * 15) = 0.8
    assert spearman([10, 20, 30, 40], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # ties: x ranks (1.5, 1.5, 3), y ranks (1, 2, 3); centred (-.5, -.5, 1) and (-1, 0, 1):
    # Pearson of ranks = 1.5 / sqrt(1.5 * 2)
    assert spearman([5, 5, 7], [1, 2, 3]) == pytest.approx(1.5 / math.sqrt(3.0))
    assert math.isnan(spearman([1], [2])) and math.isnan(spearman([1, 1], [1, 2]))


def test_cosine_rows_hand_computed():
    a = np.array([[1.0, 0], [0, 1], [1, 1], [0, 0], [np.nan, 1]])
    b = np.array([[1.0, 0], [1, 0], [1, 0], [1, 0], [1, 1]])
    cos = cosine_rows(a, b)
    np.testing.assert_allclose(cos[:3], [1.0, 0.0, 1 / math.sqrt(2)])
    assert np.isnan(cos[3]) and np.isnan(cos[4])  # zero vector and NaN row: not covered


def test_similarity_score_counts_uncovered_pairs():
    a = np.array([[1.0, 0], [0, 1], [1, 1], [np.nan, np.nan]])
    b = np.array([[1.0, 0], [1, 0], [1, 0], [1, 0]])
    s = similarity_score(a, b, np.array([3.0, 1, 2, 4]))
    assert (s.n_pairs, s.n_covered, s.coverage) == (4, 3, 0.75)
    assert s.spearman == pytest.approx(1.0)  # cos (1, 0, .71) vs gold (3, 1, 2)
    # all four pairs, the uncovered one at cosine 0: cos ranks (4, 1.5, 3, 1.5) vs (3, 1, 2, 4)
    assert s.spearman_all == pytest.approx(0.5 / math.sqrt(4.5 * 5))
    assert s.to_dict()["coverage"] == 0.75


def test_mean_std():
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert mean_std([0.5]) == (0.5, 0.0)


# --- probes ----------------------------------------------------------------------
def test_pair_features_hand_computed():
    u, v = np.array([[1.0, -2]]), np.array([[3.0, 1]])
    assert pair_features(u, v).tolist() == [[1, -2, 3, 1, 2, 3, 3, -2]]


def _toy(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    y = (x[:, 0] + 0.8 * rng.normal(size=n) > 0).astype(int)
    return x, y


def test_probe_is_deterministic_under_a_seed():
    xt, yt = _toy(400, 0)
    xd, yd = _toy(100, 1)
    cfg = ProbeConfig(seeds=(0, 1, 2), max_train=300)
    a = run_probe(xt, yt, xd, yd, cfg)
    b = run_probe(xt, yt, xd, yd, cfg)
    assert a.accuracies == b.accuracies and a.chosen_C == b.chosen_C
    assert len(a.accuracies) == 3 and 0.6 < a.mean <= 1.0
    assert a.mean == pytest.approx(np.mean(a.accuracies))
    assert a.n_train == 300 and a.n_dev == 100
    c = run_probe(xt, yt, xd, yd, ProbeConfig(seeds=(5, 6, 7), max_train=300))
    assert c.accuracies != a.accuracies  # the seed changes the sample / model selection


def test_probe_separable_and_missing_rows():
    x = np.array([[-2.0], [-1], [1], [2]] * 10)
    y = np.array([0, 0, 1, 1] * 10)
    xd = np.array([[-3.0], [3], [np.nan]])
    r = run_probe(x, y, xd, np.array([0, 1, 1]), ProbeConfig(seeds=(0,)))
    assert r.n_dev_missing == 1 and r.n_dev == 3  # missing row kept in the denominator
    assert r.accuracies[0] in (2 / 3, 1.0)
    with pytest.raises(ValueError, match="two classes"):
        run_probe(x, np.zeros(40, dtype=int), xd, np.array([0, 1, 1]))
