"""Evaluate a run directory: the StrAE itself and its baselines, one table."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eval.encoders import (
    MeanOfLeaves,
    StrAERoot,
    Word2VecEncoder,
    WordVectors,
    cached_word2vec,
    gensim_available,
    training_sentences,
)
from eval.evaluate import MIN_COVERED_PAIRS, EvalConfig, TaskResult, evaluate, results_table
from parsers.api import load_embedder
from strae_graph.embed.embedder import Embedder
from strae_graph.training.run_files import BASELINES
from strae_graph.util.fileio import atomic_open, atomic_write_text
from strae_graph.util.jsonsafe import NULL_KEY, dumps


def _null_reason(path: str, value: float) -> str | None:
    """Why a value of the evaluation JSON is null (strae_graph.util.jsonsafe)."""
    if path.endswith(".score"):
        return (f"no score ({value}): see this result's details.why_na (too few covered "
                f"pairs: fewer than {MIN_COVERED_PAIRS}, or an undefined correlation)")  # fmt: skip
    if path.endswith(".spearman_all"):
        return f"{value}: the Spearman over all pairs is undefined (constant values)"
    return None


@dataclass
class RunEvaluation:
    """Results of every system on every task for one run."""

    run_dir: str
    structure: str  # the structure sentences were parsed with
    trained_structure: str
    objective: str
    seed: int
    systems: dict[str, list[TaskResult]]
    skipped: dict[str, str] = field(default_factory=dict)  # system -> why
    eval_config: dict = field(default_factory=dict)
    wall_s: float = 0.0

    def table(self) -> str:
        return results_table(self.systems)

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "systems"}
        d["systems"] = {n: [r.to_dict() for r in rs] for n, rs in self.systems.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RunEvaluation:
        def result(r: dict) -> TaskResult:  # null scores (strict JSON) are NaN again
            r = {k: float("nan") if k in ("score", "coverage") and v is None else v
                 for k, v in r.items()}  # fmt: skip
            return TaskResult(**r)

        systems = {n: [result(r) for r in rs] for n, rs in d["systems"].items()}
        d = {k: v for k, v in d.items() if k != NULL_KEY}
        return cls(**{**d, "systems": systems})

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, dumps(self.to_dict(), why=_null_reason, indent=2))

    def save_items(self, path: str | os.PathLike[str]) -> int:
        """Write the per-item arrays of every result (cosines, gold scores, probe
        correctness; :attr:`TaskResult.items`) as one ``.npz``, keyed
        ``SYSTEM/TASK/NAME``; returns the number of arrays written."""
        arrays = {
            f"{system}/{r.task}/{name}": value
            for system, rs in self.systems.items()
            for r in rs
            for name, value in (r.items or {}).items()
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as f:
            np.savez_compressed(f, **arrays)
        return len(arrays)


def load_items(path: str | os.PathLike[str]) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """What :meth:`RunEvaluation.save_items` wrote: (system, task) -> {name: array}."""
    out: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            system, task, name = key.rsplit("/", 2)
            out.setdefault((system, task), {})[name] = z[key]
    return out


def word2vec_for_run(embedder: Embedder, log=print) -> WordVectors:
    """gensim word2vec on the run's own training slice (E-dimensional, the run's
    seed and min_count), cached in RUN_DIR/baselines/ (never as a pickle)."""
    run = embedder.run_dir
    record = json.loads((run / "config.json").read_text())["train"]
    dim, seed = embedder.embedding_size, int(record.get("seed", 0))
    cache = run / BASELINES / f"word2vec-d{dim}-s{seed}.npz"
    return cached_word2vec(cache, lambda: training_sentences(record), log, dim=dim, seed=seed,
                           min_count=int(record.get("min_count", 5)))  # fmt: skip


def evaluate_run(
    run_dir: str | os.PathLike[str],
    cfg: EvalConfig | None = None,
    structure: str | None = None,
    mean_baseline: bool = True,
    word2vec: bool = False,
    checkpoint: str = "best",
    device: str = "cpu",
    batch_size: int = 256,
    log=print,
    structure_options: dict | None = None,
) -> RunEvaluation:
    """Evaluate RUN_DIR's StrAE (sentences parsed with ``structure``, default the
    run's), the mean-of-leaves baseline and, when asked and gensim is present,
    word2vec trained on the same corpus slice.  ``structure_options``: parser
    options for ``structure`` (e.g. a benepar model path; see :class:`StrAERoot`)."""
    cfg = cfg or EvalConfig()
    t0 = time.perf_counter()
    emb = load_embedder(run_dir, device=device, checkpoint=checkpoint)
    record = json.loads((Path(run_dir) / "config.json").read_text())["train"]
    used = structure or emb.structure
    encoders = [
        StrAERoot(
            emb,
            structure=used,
            batch_size=batch_size,
            name="strae",
            progress=cfg.progress,
            options=structure_options,
        )  # fmt: skip
    ]
    if mean_baseline:
        encoders.append(MeanOfLeaves(emb))
    skipped = {}
    if word2vec:
        if gensim_available():
            encoders.append(Word2VecEncoder(word2vec_for_run(emb, log)))
        else:
            skipped["word2vec"] = "gensim is not installed (pip install 'strae-graph[word2vec]')"
            log(f"word2vec baseline skipped: {skipped['word2vec']}")
    systems = {e.name: evaluate(e, cfg) for e in encoders}
    return RunEvaluation(
        run_dir=str(run_dir),
        structure=used,
        trained_structure=emb.structure,
        objective=record.get("objective", "?"),
        seed=int(record.get("seed", 0)),
        systems=systems,
        skipped=skipped,
        eval_config=cfg.to_dict(),
        wall_s=round(time.perf_counter() - t0, 1),
    )
