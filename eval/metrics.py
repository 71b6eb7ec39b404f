"""Similarity metrics with explicit coverage.

A pair is *covered* when both of its embeddings are real (no NaN; see the
unknown-word policy of :mod:`strae_graph.embed.embedder`) and non-zero.  Uncovered
pairs are never silently dropped: every score carries ``n_pairs``,
``n_covered`` and ``coverage``, and ``spearman_all`` scores the full set with
uncovered pairs given cosine 0 (no evidence of similarity).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import spearmanr


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of (n, E) arrays: (n,); NaN where either row has a NaN or
    is all zeros."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"cosine_rows needs two (n, E) arrays of one shape: {a.shape}, {b.shape}")
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (a * b).sum(axis=1) / (na * nb)
    cos[(na == 0) | (nb == 0)] = np.nan
    return cos


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (ties get average ranks); NaN for fewer than 2
    points or a constant input."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"spearman: {len(x)} vs {len(y)} values")
    if spearman_problem(x, y):
        return float("nan")
    return float(spearmanr(x, y).statistic)


def spearman_problem(x: np.ndarray, y: np.ndarray) -> str | None:
    """Why :func:`spearman` of predictions ``x`` and gold ``y`` is NaN (None: it is not)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2:
        return f"{len(x)} pair(s), a correlation needs 2"
    if np.all(x == x[0]):
        return "every covered pair has the same cosine"
    if np.all(y == y[0]):
        return "every covered pair has the same gold score"
    return None


@dataclass
class SimilarityScore:
    """Spearman between predicted and gold similarity, with coverage."""

    spearman: float  # over covered pairs
    spearman_all: float  # over all pairs, uncovered ones at cosine 0
    n_pairs: int
    n_covered: int
    why_nan: str | None = None  # why ``spearman`` is NaN

    @property
    def coverage(self) -> float:
        return self.n_covered / self.n_pairs if self.n_pairs else float("nan")

    def to_dict(self) -> dict:
        return {**asdict(self), "coverage": self.coverage}


def similarity_score(a: np.ndarray, b: np.ndarray, gold: np.ndarray) -> SimilarityScore:
    """Score embeddings a, b: (n, E) (NaN rows = not embedded) against gold (n,)."""
    gold = np.asarray(gold, dtype=np.float64)
    cos = cosine_rows(a, b)
    if len(cos) != len(gold):
        raise ValueError(f"{len(cos)} pairs but {len(gold)} gold scores")
    covered = ~np.isnan(cos)
    return SimilarityScore(
        spearman=spearman(cos[covered], gold[covered]),
        spearman_all=spearman(np.where(covered, cos, 0.0), gold),
        n_pairs=len(gold),
        n_covered=int(covered.sum()),
        why_nan=spearman_problem(cos[covered], gold[covered]),
    )


def mean_std(values: list[float] | np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value), NaN-free
    input expected."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
