"""The evaluation protocol (SPEC.md): word similarity, sentence similarity and
classification probes, run on any :class:`eval.encoders.Encoder`.

Task names: ``simlex``, ``ws353``, ``ws353-sim``, ``ws353-rel`` (Spearman of
cosine of word embeddings), ``stsb``, ``sick-r`` and the development sets
``stsb-dev``, ``sick-trial`` (Spearman of cosine of sentence embeddings),
``sst2``, ``rte``, ``wnli`` (dev accuracy of a probe trained on train; pairs
use [u; v; |u - v|; u * v]).  Extra word- or sentence-similarity files are
tasks named after the file.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from eval.data import (
    DEV_TASKS,
    PROBE_SETS,
    STS_FILES,
    WORDSIM_FILES,
    LabelledSet,
    SentencePairs,
    WordPairs,
    load_glue,
    load_named_sts,
    load_named_wordsim,
    load_sts,
    load_wordsim,
)
from eval.encoders import Encoder
from eval.metrics import SimilarityScore, cosine_rows, similarity_score
from eval.probe import ProbeConfig, pair_features, run_probe
from strae_graph.util.progress import progress

#: a similarity score over fewer covered pairs is shown as n/a (too few pairs: N):
#: a Spearman over a handful of pairs says nothing (3 pairs give 0.5 or 1.0)
MIN_COVERED_PAIRS = 30

#: the named tasks, from the tables of :mod:`eval.data` (a new task goes there)
WORDSIM_TASKS: tuple[str, ...] = tuple(WORDSIM_FILES)
STS_TASKS: tuple[str, ...] = tuple(STS_FILES)
PROBE_TASKS: dict[str, str] = dict(PROBE_SETS)
ALL_TASKS: tuple[str, ...] = (*WORDSIM_TASKS, *STS_TASKS, *PROBE_TASKS)
#: what runs when no task is named: every task but the development sets (eval.data.DEV_TASKS)
DEFAULT_TASKS: tuple[str, ...] = tuple(t for t in ALL_TASKS if t not in DEV_TASKS)


@dataclass
class EvalConfig:
    """Which tasks, on which files, with which probe settings."""

    tasks: tuple[str, ...] = DEFAULT_TASKS
    wordsim_files: tuple[str, ...] = ()  # extra word-similarity files
    sts_files: tuple[str, ...] = ()  # extra sentence-similarity files
    data_dir: str | None = None  # None: strae_graph.data.corpus.DATA_DIR
    probe_seeds: tuple[int, ...] = (0, 1, 2)
    probe_max_train: int | None = 20_000  # SST-2 has 67k; None (or 0) = all
    progress: bool = True

    def __post_init__(self) -> None:
        unknown = [t for t in self.tasks if t not in ALL_TASKS]
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}; choose from {', '.join(ALL_TASKS)}")
        if not self.probe_seeds or min(self.probe_seeds) < 0:
            raise ValueError(f"probe_seeds must be one or more seeds of at least 0, "
                             f"got {' '.join(map(str, self.probe_seeds)) or 'none'}")  # fmt: skip
        if self.probe_max_train is not None and self.probe_max_train < 0:
            raise ValueError(
                f"probe_max_train must be at least 0 (0: all), got {self.probe_max_train}"
            )
        self.probe_max_train = self.probe_max_train or None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TaskResult:
    """One task's score for one encoder.

    score: Spearman (similarity) or mean dev accuracy (probes); std: spread over
    probe seeds (None for similarity); coverage: share of pairs (or examples)
    embedded; details: everything else (per-seed accuracies, spearman_all, ...).
    """

    task: str
    kind: str  # "wordsim" | "sts" | "probe"
    metric: str  # "spearman" | "accuracy"
    score: float
    std: float | None
    n: int
    coverage: float
    details: dict = field(default_factory=dict)
    #: per-item arrays for paired statistics (eval.stats), not in to_dict: "cos"
    #: and "gold" (n,) for similarity tasks, "correct" (probe seeds, n_dev) for probes
    items: dict[str, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        del d["items"]
        return d


def _word_vectors(encoder: Encoder, pairs: WordPairs) -> tuple[np.ndarray, np.ndarray]:
    return encoder.embed_words(pairs.word1), encoder.embed_words(pairs.word2)


def wordsim_score(encoder: Encoder, pairs: WordPairs) -> SimilarityScore:
    """Spearman of the cosine of the word pairs' embeddings (no minimum of pairs)."""
    a, b = _word_vectors(encoder, pairs)
    return similarity_score(a, b, pairs.scores)


def _similarity_result(
    name: str, kind: str, s: SimilarityScore, items: dict[str, np.ndarray], **details
) -> TaskResult:
    """A word/sentence similarity result: n/a, with the reason in
    ``details["why_na"]``, below :data:`MIN_COVERED_PAIRS` covered pairs or
    when the Spearman is undefined."""
    score, why = s.spearman, s.why_nan
    if s.n_covered < MIN_COVERED_PAIRS:
        score, why = float("nan"), f"too few pairs: {s.n_covered}"
    extra = {"why_na": why} if score != score else {}
    return TaskResult(name, kind, "spearman", score, None, s.n_pairs, s.coverage,
                      {"spearman_all": s.spearman_all, "n_covered": s.n_covered, **details,
                       **extra}, items)  # fmt: skip


def eval_wordsim(encoder: Encoder, pairs: WordPairs) -> TaskResult:
    a, b = _word_vectors(encoder, pairs)
    s = similarity_score(a, b, pairs.scores)
    return _similarity_result(pairs.name, "wordsim", s, _similarity_items(a, b, pairs.scores))


def _similarity_items(a: np.ndarray, b: np.ndarray, gold) -> dict[str, np.ndarray]:
    return {"cos": cosine_rows(a, b), "gold": np.asarray(gold, dtype=np.float64)}


def _unknown_rate(encoder: Encoder, sentences: Sequence[str]) -> float | None:
    f = getattr(encoder, "unknown_token_rate", None)
    return None if f is None else f(sentences)


def eval_sts(encoder: Encoder, pairs: SentencePairs) -> TaskResult:
    a = encoder.embed_sentences(pairs.sentence1)
    b = encoder.embed_sentences(pairs.sentence2)
    s = similarity_score(a, b, pairs.scores)
    unk = _unknown_rate(encoder, pairs.sentence1 + pairs.sentence2)
    items = _similarity_items(a, b, pairs.scores)
    return _similarity_result(pairs.name, "sts", s, items, unknown_token_rate=unk)


def _features(encoder: Encoder, data: LabelledSet) -> np.ndarray:
    u = encoder.embed_sentences(data.text1)
    if data.text2 is None:
        return u
    return pair_features(u, encoder.embed_sentences(data.text2))


def eval_probe(
    encoder: Encoder, name: str, train: LabelledSet, dev: LabelledSet, cfg: ProbeConfig
) -> TaskResult:
    if cfg.max_train is not None and cfg.max_train < len(train):
        # embed only the examples some seed will use
        perms = [np.random.default_rng(s).permutation(len(train)) for s in cfg.seeds]
        used = sorted({int(i) for p in perms for i in p[: cfg.max_train]})
        sub = LabelledSet(
            train.name,
            [train.text1[i] for i in used],
            None if train.text2 is None else [train.text2[i] for i in used],
            train.labels[used],
            train.classes,
        )
        x_sub = _features(encoder, sub)
        x_train = np.zeros((len(train), x_sub.shape[1]), dtype=x_sub.dtype)
        x_train[used] = x_sub
    else:
        x_train = _features(encoder, train)
    x_dev = _features(encoder, dev)
    r = run_probe(x_train, train.labels, x_dev, dev.labels, cfg)
    coverage = 1.0 - r.n_dev_missing / r.n_dev if r.n_dev else float("nan")
    return TaskResult(
        name,
        "probe",
        "accuracy",
        r.mean,
        r.std,
        r.n_dev,
        coverage,
        {
            "accuracies": r.accuracies,
            "chosen_C": r.chosen_C,
            "n_train": r.n_train,
            "n_train_missing": r.n_train_missing,
            "n_dev_missing": r.n_dev_missing,
            "majority": r.majority,
        },
        {"correct": np.stack(r.correct).astype(np.bool_)} if r.correct else None,
    )


def evaluate(encoder: Encoder, cfg: EvalConfig | None = None) -> list[TaskResult]:
    """Every task of ``cfg`` (named tasks, then the extra files) for one encoder."""
    cfg = cfg or EvalConfig()
    probe_cfg = ProbeConfig(seeds=tuple(cfg.probe_seeds), max_train=cfg.probe_max_train)
    jobs: list[tuple[str, object]] = [(t, None) for t in cfg.tasks]
    jobs += [("wordsim-file", f) for f in cfg.wordsim_files]
    jobs += [("sts-file", f) for f in cfg.sts_files]
    results = []
    bar = progress(
        jobs, desc=f"eval {encoder.name}", unit="task", disable=not cfg.progress, leave=False
    )
    for task, path in bar:
        bar.set_postfix_str(str(path or task))
        t0 = time.perf_counter()
        if task in WORDSIM_TASKS:
            r = eval_wordsim(encoder, load_named_wordsim(task, cfg.data_dir))
        elif task in STS_TASKS:
            r = eval_sts(encoder, load_named_sts(task, cfg.data_dir))
        elif task in PROBE_TASKS:
            glue = PROBE_TASKS[task]
            r = eval_probe(
                encoder,
                task,
                load_glue(glue, "train", cfg.data_dir),
                load_glue(glue, "dev", cfg.data_dir),
                probe_cfg,
            )
        elif task == "wordsim-file":
            r = eval_wordsim(encoder, load_wordsim(path, name=Path(str(path)).stem))
        else:
            r = eval_sts(encoder, load_sts(path, name=Path(str(path)).stem))
        r.details["seconds"] = round(time.perf_counter() - t0, 2)
        results.append(r)
    return results


def format_cell(r: TaskResult | None) -> str:
    """``0.312``, ``0.312 (cov 95%)``, ``0.781 ± 0.004``, ``n/a (too few pairs: 3)``."""
    if r is None:
        return "-"
    if r.score is None or r.score != r.score:  # NaN (null once read back from JSON)
        why = r.details.get("why_na")
        return f"n/a ({why})" if why else "n/a"
    s = f"{r.score:.3f}"
    if r.std is not None:
        s += f" ± {r.std:.3f}"
    if r.coverage < 0.9995:
        s += f" (cov {100 * r.coverage:.0f}%)"
    return s


def results_table(systems: dict[str, list[TaskResult]]) -> str:
    """Markdown table: one row per task, one column per system."""
    names = list(systems)
    tasks: list[str] = []
    for rs in systems.values():
        tasks += [r.task for r in rs if r.task not in tasks]
    by = {n: {r.task: r for r in rs} for n, rs in systems.items()}
    metric = {r.task: r.metric for rs in systems.values() for r in rs}
    lines = [
        "| task | metric | n | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for t in tasks:
        n = next(by[s][t].n for s in names if t in by[s])
        cells = [format_cell(by[s].get(t)) for s in names]
        lines.append(f"| {t} | {metric[t]} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
