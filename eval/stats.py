"""Paired uncertainty for structure contrasts (``strae compare``).

Runs of two structures A and B with the same seed share the initialisation
seed and the data order, so they are compared in pairs.  Two intervals:

* :func:`seed_bootstrap`: the per-seed differences ``d_s = score(A, s) -
  score(B, s)``, resampled over seeds.  With 3 seeds it has at most 10
  distinct resamples: coarse, and blind to the noise of the test set.
* :func:`item_bootstrap` (preferred): the evaluation items (word pairs,
  sentence pairs, dev examples) are resampled; on each resample both systems'
  scores are recomputed on the *same* items, for every seed, and the statistic
  is the mean over seeds of the difference.  This is the paired bootstrap of
  NLP system comparisons (Berg-Kirkpatrick et al., 2012), averaged over seeds.

Both return the observed mean difference and a percentile interval; resamples
come from ``numpy.random.default_rng(seed)``, so results are reproducible.
Resamples on which a score is undefined (a Spearman of a constant sample) are
dropped and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95


@dataclass
class PairedDifference:
    """mean(A - B) over seeds, with a ``level`` percentile bootstrap interval."""

    mean: float
    lo: float
    hi: float
    n_seeds: int
    n_items: int | None  # None for the seed bootstrap
    resamples: int  # valid resamples used
    dropped: int = 0  # resamples with an undefined score
    method: str = "items"  # "items" | "seeds"
    level: float = DEFAULT_LEVEL

    def to_dict(self) -> dict:
        return asdict(self)

    def cell(self) -> str:
        """``+0.012 [-0.004, +0.027]``."""
        if self.mean != self.mean:
            return "-"
        return f"{self.mean:+.3f} [{self.lo:+.3f}, {self.hi:+.3f}]"


def _interval(stats: np.ndarray, level: float) -> tuple[float, float]:
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(stats, [tail, 100 - tail])
    return float(lo), float(hi)


def bootstrap_indices(n: int, resamples: int, seed: int = 0) -> np.ndarray:
    """(resamples, n) indices drawn with replacement from ``range(n)``."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def seed_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    indices: np.ndarray | None = None,
) -> PairedDifference:
    """Paired bootstrap over seeds: ``a[s]`` and ``b[s]`` are the scores of the
    two structures under seed ``s``; the differences are resampled.  ``indices``
    (resamples, S) replaces the random draws (tests enumerate them)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"seed_bootstrap needs two equal-length score lists: {a.shape}, {b.shape}")
    d = a - b
    keep = ~np.isnan(d)
    d = d[keep]
    if len(d) == 0:
        return PairedDifference(float("nan"), float("nan"), float("nan"), 0, None, 0, 0, "seeds")
    idx = bootstrap_indices(len(d), resamples, seed) if indices is None else np.asarray(indices)
    means = d[idx].mean(axis=1)
    lo, hi = _interval(means, level)
    return PairedDifference(float(d.mean()), lo, hi, len(d), None, len(means), 0, "seeds", level)


# --- per-item scores -----------------------------------------------------------
def resample_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(R, n) how often each item occurs in each resample ``idx`` (R, m)."""
    idx = np.asarray(idx)
    r = len(idx)
    flat = (idx + n * np.arange(r)[:, None]).ravel()
    return np.bincount(flat, minlength=r * n).reshape(r, n).astype(np.float64)


def _weighted_ranks(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties averaged) of ``values`` (n,) within each
    multiset given by ``counts`` (R, n) (item j taken counts[r, j] times): (R, n).
    One sort of the values serves every resample."""
    order = np.argsort(values, kind="stable")
    sv = values[order]
    starts = np.flatnonzero(np.r_[True, sv[1:] != sv[:-1]])
    group_of_sorted = np.cumsum(np.r_[True, sv[1:] != sv[:-1]]) - 1
    group = np.empty(len(values), dtype=np.int64)
    group[order] = group_of_sorted
    g = np.add.reduceat(counts[:, order], starts, axis=1)  # (R, groups)
    rank = np.cumsum(g, axis=1) - g + (g + 1) / 2
    return rank[:, group]


def weighted_spearman(pred: np.ndarray, gold: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Spearman of ``pred`` (n,) with ``gold`` (n,) on every resample given by
    ``counts`` (R, n), as if each resample's items were listed with repeats
    (what ``scipy.stats.spearmanr(pred[idx], gold[idx])`` gives); NaN for a
    constant resample."""
    rp, rg = _weighted_ranks(pred, counts), _weighted_ranks(gold, counts)
    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rp -= (counts * rp).sum(axis=1, keepdims=True) / total
        rg -= (counts * rg).sum(axis=1, keepdims=True) / total
        num = (counts * rp * rg).sum(axis=1)
        den = np.sqrt((counts * rp * rp).sum(axis=1) * (counts * rg * rg).sum(axis=1))
        rho = num / den
    rho[~(den > 1e-12 * np.maximum(1.0, np.abs(num)))] = np.nan
    return rho


def spearman_on(cos: np.ndarray, gold: np.ndarray, idx: np.ndarray, chunk: int = 200) -> np.ndarray:
    """The similarity score (Spearman over covered pairs, as
    :func:`eval.metrics.similarity_score`) of ``cos`` (n,) against ``gold`` (n,)
    on every resample ``idx`` (R, n): (R,).  Pairs with a NaN cosine (not
    covered) are left out of each resample, as they are of the score."""
    cos, gold = np.asarray(cos, dtype=np.float64), np.asarray(gold, dtype=np.float64)
    covered = ~np.isnan(cos)
    pred = np.where(covered, cos, 0.0)
    out = []
    for start in range(0, len(idx), chunk):
        counts = resample_counts(idx[start : start + chunk], len(cos)) * covered
        out.append(weighted_spearman(pred, gold, counts))
    return np.concatenate(out) if out else np.zeros(0)


def accuracy_on(correct: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Accuracy of per-item correctness ``correct`` (P, n) (one row per probe
    seed; the score is the mean over them) on every resample ``idx`` (R, n)."""
    correct = np.asarray(correct, dtype=np.float64)
    if correct.ndim == 1:
        correct = correct[None]
    return correct[:, idx].mean(axis=2).mean(axis=0)


def item_bootstrap(
    score_a: Sequence[Callable[[np.ndarray], np.ndarray]],
    score_b: Sequence[Callable[[np.ndarray], np.ndarray]],
    n_items: int,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    indices: np.ndarray | None = None,
) -> PairedDifference:
    """Paired bootstrap over evaluation items, averaged over seeds.

    ``score_a[s](idx)`` / ``score_b[s](idx)``: the score of structure A / B under
    seed ``s`` on each resample of item indices ``idx`` (R, n_items) -> (R,);
    see :func:`spearman_on` and :func:`accuracy_on`.  Statistic per resample:
    ``mean_s (score_a[s] - score_b[s])`` on the same items; the point estimate
    is that statistic on the full test set.  ``indices`` replaces the random
    draws (tests enumerate them)."""
    if len(score_a) != len(score_b) or not score_a:
        raise ValueError("item_bootstrap needs the same number (>0) of seeds for A and B")
    full = np.arange(n_items)[None]
    observed = np.mean([fa(full)[0] - fb(full)[0] for fa, fb in zip(score_a, score_b)])
    idx = bootstrap_indices(n_items, resamples, seed) if indices is None else np.asarray(indices)
    diffs = np.mean([fa(idx) - fb(idx) for fa, fb in zip(score_a, score_b)], axis=0)
    valid = diffs[~np.isnan(diffs)]
    if len(valid) == 0:
        lo = hi = float("nan")
    else:
        lo, hi = _interval(valid, level)
    return PairedDifference(
        float(observed), lo, hi, len(score_a), n_items, len(valid),
        len(diffs) - len(valid), "items", level,
    )  # fmt: skip


def similarity_bootstrap(
    cos_a: Sequence[np.ndarray],
    cos_b: Sequence[np.ndarray],
    gold: np.ndarray,
    **kw,
) -> PairedDifference:
    """:func:`item_bootstrap` of Spearman scores: ``cos_a[s]``, ``cos_b[s]`` (n,)
    are the cosines of structure A / B under seed ``s`` for the pairs whose gold
    similarity is ``gold`` (n,)."""
    gold = np.asarray(gold, dtype=np.float64)
    fa = [lambda idx, c=c: spearman_on(c, gold, idx) for c in cos_a]
    fb = [lambda idx, c=c: spearman_on(c, gold, idx) for c in cos_b]
    return item_bootstrap(fa, fb, len(gold), **kw)


def accuracy_bootstrap(
    correct_a: Sequence[np.ndarray], correct_b: Sequence[np.ndarray], **kw
) -> PairedDifference:
    """:func:`item_bootstrap` of probe accuracies: ``correct_x[s]`` (P, n) is
    whether each dev example was classified correctly, per probe seed."""
    n = np.asarray(correct_a[0]).shape[-1]
    fa = [lambda idx, c=c: accuracy_on(c, idx) for c in correct_a]
    fb = [lambda idx, c=c: accuracy_on(c, idx) for c in correct_b]
    return item_bootstrap(fa, fb, n, **kw)
