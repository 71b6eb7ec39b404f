"""eval.stats: the paired bootstraps against hand-worked examples and a brute-force
enumeration of every resample."""

import itertools

import numpy as np
import pytest
from scipy.stats import spearmanr

from eval.stats import (
    accuracy_bootstrap,
    bootstrap_indices,
    seed_bootstrap,
    similarity_bootstrap,
    spearman_on,
)


def all_resamples(n):
    return np.array(list(itertools.product(range(n), repeat=n)))


def test_seed_bootstrap_by_hand():
    # d = a - b = [1, 3]; the four resamples of two seeds have means 1, 2, 2, 3
    r = seed_bootstrap([2.0, 5.0], [1.0, 2.0], indices=all_resamples(2))
    assert r.mean == 2.0 and r.n_seeds == 2 and r.resamples == 4 and r.method == "seeds"
    # numpy's linear percentile of [1, 2, 2, 3]: 1 + 0.075 * 1 and 2 + 0.925 * 1
    assert r.lo == pytest.approx(1.075) and r.hi == pytest.approx(2.925)
    # random draws: seeded, inside the support
    a = seed_bootstrap([2.0, 5.0], [1.0, 2.0], resamples=2000, seed=3)
    b = seed_bootstrap([2.0, 5.0], [1.0, 2.0], resamples=2000, seed=3)
    assert a == b and a.lo == 1.0 and a.hi == 3.0 and a.cell() == "+2.000 [+1.000, +3.000]"
    with pytest.raises(ValueError):
        seed_bootstrap([1.0], [1.0, 2.0])


def test_spearman_on_resamples_by_hand():
    gold = np.array([1.0, 2.0, 3.0])
    a = np.array([1.0, 2.0, 3.0])  # perfect ranking: 1
    b = np.array([1.0, 3.0, 2.0])  # rank differences 0, 1, 1: 1 - 6 * 2 / (3 * 8) = 0.5
    idx = np.array([[0, 1, 2], [0, 0, 1], [0, 0, 0], [2, 1, 1]])
    got_a = spearman_on(a, gold, idx)
    got_b = spearman_on(b, gold, idx)
    np.testing.assert_allclose(got_a[[0, 1, 3]], [1.0, 1.0, 1.0])
    # b on items 0, 0, 1: [1, 1, 3] against [1, 1, 2]: same order, 1; on 2, 1, 1: [2, 3, 3]
    # against [3, 2, 2]: reversed, -1
    np.testing.assert_allclose(got_b[[0, 1, 3]], [0.5, 1.0, -1.0])
    assert np.isnan(got_a[2]) and np.isnan(got_b[2])  # one item repeated: undefined


def test_similarity_bootstrap_equals_brute_force_enumeration():
    gold = np.array([1.0, 2.0, 3.0, 4.0, 4.0])
    cos_a = [np.array([0.1, 0.3, 0.2, 0.9, 0.5]), np.array([0.2, 0.1, 0.4, 0.8, np.nan])]
    cos_b = [np.array([0.5, 0.1, 0.3, 0.2, 0.4]), np.array([0.3, 0.3, 0.1, 0.6, 0.7])]
    idx = all_resamples(5)  # 3125 resamples: every one, each once

    def score(c, rows):
        keep = rows[~np.isnan(c[rows])]
        x, y = c[keep], gold[keep]
        if len(keep) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
            return np.nan
        return spearmanr(x, y).statistic

    brute = np.array([np.mean([score(ca, row) - score(cb, row) for ca, cb in zip(cos_a, cos_b)])
                      for row in idx])  # fmt: skip
    valid = brute[~np.isnan(brute)]
    r = similarity_bootstrap(cos_a, cos_b, gold, indices=idx)
    full = np.arange(5)
    observed = np.mean([score(ca, full) - score(cb, full) for ca, cb in zip(cos_a, cos_b)])
    assert r.mean == pytest.approx(observed)
    assert r.resamples == len(valid) and r.dropped == len(brute) - len(valid) > 0
    assert r.lo == pytest.approx(np.percentile(valid, 2.5))
    assert r.hi == pytest.approx(np.percentile(valid, 97.5))
    assert r.n_seeds == 2 and r.n_items == 5 and r.method == "items"
    # Monte Carlo draws approach the enumeration
    mc = similarity_bootstrap(cos_a, cos_b, gold, resamples=2000, seed=0)
    assert mc.mean == r.mean and abs(mc.lo - r.lo) < 0.15 and abs(mc.hi - r.hi) < 0.15


def test_accuracy_bootstrap_by_hand_and_brute_force():
    # one probe seed: A right on items 0, 1, 3 (0.75), B on 0, 3 (0.5): difference 0.25
    ca = [np.array([[1, 1, 0, 1]], dtype=bool)]
    cb = [np.array([[1, 0, 0, 1]], dtype=bool)]
    idx = all_resamples(4)
    r = accuracy_bootstrap(ca, cb, indices=idx)
    assert r.mean == pytest.approx(0.25)
    # the difference is the share of item 1 in the resample: k/4 with k ~ Binomial(4, 1/4)
    brute = np.array([(row == 1).mean() for row in idx])
    assert r.lo == pytest.approx(np.percentile(brute, 2.5))
    assert r.hi == pytest.approx(np.percentile(brute, 97.5))
    assert r.dropped == 0 and r.resamples == 256


def test_bootstrap_indices_are_seeded():
    a, b = bootstrap_indices(7, 10, seed=1), bootstrap_indices(7, 10, seed=1)
    assert a.shape == (10, 7) and (a == b).all() and a.min() >= 0 and a.max() < 7
    assert not (a == bootstrap_indices(7, 10, seed=2)).all()


def test_contrasts_are_na_where_a_score_is_na(tmp_path):
    """A task scored n/a (too few covered pairs) gives no paired difference: on
    every seed -> an n/a row and cell; on one seed -> that seed is left out."""
    from eval.compare_report import contrast_markdown, contrasts

    nan = float("nan")
    scores = {("spacy", "simlex"): [nan, nan], ("balanced", "simlex"): [0.2, 0.3],
              ("spacy", "stsb"): [0.5, nan], ("balanced", "stsb"): [0.4, 0.1]}  # fmt: skip
    rows = [{"system": "strae", "structure": st, "objective": "contrastive", "task": t,
             "seed": seed, "score": v, "metric": "spearman", "run_dir": str(tmp_path / "none")}
            for (st, t), vs in scores.items() for seed, v in enumerate(vs)]  # fmt: skip
    out = {c["task"]: c for c in contrasts(rows, [("spacy", "balanced")], resamples=50)}
    assert out["simlex"]["method"] == "n/a" and out["simlex"]["mean"] != out["simlex"]["mean"]
    assert out["stsb"]["n_seeds"] == 1 and out["stsb"]["mean"] == pytest.approx(0.1)
    table = contrast_markdown(list(out.values()))
    assert "| spacy − balanced / contrastive | n/a | +0.100" in table
