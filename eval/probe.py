"""Classification probes on frozen embeddings.

For each seed: (optionally) a seeded sample of at most ``max_train`` training
examples; a seeded 10% of it held out to choose the L2 strength ``C`` of a
scikit-learn ``LogisticRegression`` (features standardised on the training
part); the probe refitted with that ``C`` on the whole sample and scored on
dev.  The seed therefore changes the sample and the model selection; the
spread over seeds is what the tables report.

Rows that could not be embedded (NaN) become zero features and are counted
(``n_train_missing``, ``n_dev_missing``); they stay in the accuracy's
denominator.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from eval.metrics import mean_std


def pair_features(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """[u; v; |u - v|; u * v]: (n, E), (n, E) -> (n, 4E)."""
    return np.concatenate([u, v, np.abs(u - v), u * v], axis=1)


@dataclass
class ProbeConfig:
    seeds: tuple[int, ...] = (0, 1, 2)
    Cs: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
    held_out: float = 0.1
    max_train: int | None = None  # None: the whole training split
    max_iter: int = 1000


@dataclass
class ProbeResult:
    accuracies: list[float]
    chosen_C: list[float]
    n_train: int
    n_dev: int
    n_train_missing: int
    n_dev_missing: int
    majority: float  # dev accuracy of always predicting the commonest training class
    correct: list[np.ndarray] = field(default_factory=list)  # per seed: (n_dev,) bool
    mean: float = field(init=False)
    std: float = field(init=False)

    def __post_init__(self) -> None:
        self.mean, self.std = mean_std(self.accuracies)


def _fit(x: np.ndarray, y: np.ndarray, C: float, cfg: ProbeConfig, seed: int):
    scaler = StandardScaler().fit(x)
    clf = LogisticRegression(C=C, max_iter=cfg.max_iter, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(scaler.transform(x), y)
    return scaler, clf


def run_probe(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_dev: np.ndarray,
    y_dev: np.ndarray,
    cfg: ProbeConfig | None = None,
) -> ProbeResult:
    """Train on (x_train (n, F), y_train (n,)), report dev accuracy per seed."""
    cfg = cfg or ProbeConfig()
    if len(x_train) != len(y_train) or len(x_dev) != len(y_dev):
        raise ValueError("features and labels differ in length")
    if len(np.unique(y_train)) < 2:
        raise ValueError("the probe needs at least two classes in the training labels")
    miss_train = np.isnan(x_train).any(axis=1)
    miss_dev = np.isnan(x_dev).any(axis=1)
    x_train = np.nan_to_num(x_train, nan=0.0)
    x_dev = np.nan_to_num(x_dev, nan=0.0)
    accuracies, chosen, correct = [], [], []
    for seed in cfg.seeds:
        rng = np.random.default_rng(seed)
        idx = rng.permutation(len(y_train))
        if cfg.max_train is not None:
            idx = idx[: cfg.max_train]
        n_val = max(1, int(round(cfg.held_out * len(idx))))
        val, fit = idx[:n_val], idx[n_val:]
        best_C, best_acc = cfg.Cs[0], -1.0
        if len(cfg.Cs) > 1 and len(np.unique(y_train[fit])) > 1:
            for C in cfg.Cs:
                scaler, clf = _fit(x_train[fit], y_train[fit], C, cfg, seed)
                acc = float((clf.predict(scaler.transform(x_train[val])) == y_train[val]).mean())
                if acc > best_acc:
                    best_C, best_acc = C, acc
        scaler, clf = _fit(x_train[idx], y_train[idx], best_C, cfg, seed)
        hit = clf.predict(scaler.transform(x_dev)) == y_dev
        correct.append(hit)
        accuracies.append(float(hit.mean()))
        chosen.append(best_C)
    counts = np.bincount(y_train)
    return ProbeResult(
        accuracies=accuracies,
        chosen_C=chosen,
        n_train=len(y_train) if cfg.max_train is None else min(cfg.max_train, len(y_train)),
        n_dev=len(y_dev),
        n_train_missing=int(miss_train.sum()),
        n_dev_missing=int(miss_dev.sum()),
        majority=float((y_dev == counts.argmax()).mean()),
        correct=correct,
    )
