"""Loaders for the evaluation sets in the shared data folder (see its SOURCES.md).

Three shapes of data:
  :class:`WordPairs`      word similarity: ``word1, word2, score``
  :class:`SentencePairs`  sentence similarity: ``sentence1, sentence2, score``
  :class:`LabelledSet`    classification: one sentence (or a pair) and a label

The readers accept any file in the standard layouts, so users can evaluate on
their own sets (``strae eval --wordsim FILE --sts FILE``); a malformed row is a
:class:`strae_graph.data.corpus.DataError` naming the file and line.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from strae_graph.data.corpus import DATA_DIR, DataError, read_lines


@dataclass
class WordPairs:
    """word1, word2: (n,) words; scores: (n,) human similarity."""

    name: str
    word1: list[str]
    word2: list[str]
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


@dataclass
class SentencePairs:
    """sentence1, sentence2: (n,) raw sentences; scores: (n,) human similarity."""

    name: str
    sentence1: list[str]
    sentence2: list[str]
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


@dataclass
class LabelledSet:
    """One split of a classification task: ``text2`` is None for single sentences.

    labels: (n,) int class ids; ``classes[i]`` names class ``i``.
    """

    name: str
    text1: list[str]
    text2: list[str] | None
    labels: np.ndarray
    classes: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def _rows(path: Path, delimiter: str = "\t") -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank line, read with no quoting."""
    lines = read_lines(path)
    out = []
    reader = csv.reader(lines, delimiter=delimiter, quoting=csv.QUOTE_NONE)
    try:
        for i, fields in enumerate(reader, 1):
            if any(f.strip() for f in fields):
                out.append((i, fields))
    except csv.Error as e:  # e.g. a field over csv's size limit
        raise DataError(f"{path}, line {reader.line_num}: {e}") from None
    return out


def _float(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None


def _score(path: Path, lineno: int, s: str) -> float:
    v = _float(s)
    if v is None:
        raise DataError(f"{path}, line {lineno}: score {s!r} is not a number")
    if not math.isfinite(v):
        raise DataError(f"{path}, line {lineno}: score {s!r} is not a finite number")
    return v


# --- word similarity ------------------------------------------------------------
_WORD_SCORE_COLUMNS = ("simlex999", "score", "human (mean)", "similarity", "sim", "relatedness")


def load_wordsim(path: str | os.PathLike[str], name: str | None = None) -> WordPairs:
    """Word pairs from ``word1 word2 score`` files.

    Fields are split by tabs (else commas, else whitespace).  A first line whose
    third field is not a number is a header; the score column is then the one
    named ``SimLex999``, ``score``, ``Human (mean)``, ... (else the third).
    """
    path = Path(path)
    lines = [(i, ln) for i, ln in enumerate(read_lines(path), 1) if ln.strip()]
    if not lines:
        raise DataError(f"{path}: no word pairs")
    first = lines[0][1]
    delim = "\t" if "\t" in first else ("," if "," in first else None)

    def split(line: str) -> list[str]:
        return [f.strip() for f in (line.split(delim) if delim else line.split())]

    col = 2
    head = split(first)
    if len(head) >= 3 and _float(head[2]) is None:
        lower = [h.lower() for h in head]
        col = next((lower.index(c) for c in _WORD_SCORE_COLUMNS if c in lower), 2)
        lines = lines[1:]
        if not lines:
            raise DataError(f"{path}: no word pairs after the header")
    w1, w2, scores = [], [], []
    for i, line in lines:
        fields = split(line)
        if len(fields) <= max(col, 1):
            raise DataError(f"{path}, line {i}: expected word1, word2 and a score, got {line!r}")
        w1.append(fields[0])
        w2.append(fields[1])
        scores.append(_score(path, i, fields[col]))
    return WordPairs(name or path.stem, w1, w2, np.asarray(scores, dtype=np.float64))


# --- sentence similarity ----------------------------------------------------------
def load_sts(
    path: str | os.PathLike[str], name: str | None = None, split: str | None = None
) -> SentencePairs:
    """Sentence pairs with a similarity score, in any of three tab-separated layouts:

    * STS Benchmark: ``genre file years id score sentence1 sentence2 [...]``;
    * SICK: a header with ``sentence_A``, ``sentence_B``, ``relatedness_score``
      (``split`` keeps rows whose ``SemEval_set`` is that value, e.g. ``TEST``);
    * simple: ``score<TAB>sentence1<TAB>sentence2`` or
      ``sentence1<TAB>sentence2<TAB>score`` (an optional header is skipped).
    """
    path = Path(path)
    rows = _rows(path)
    if not rows:
        raise DataError(f"{path}: no sentence pairs")
    head = [h.strip() for h in rows[0][1]]
    s1, s2, scores = [], [], []
    if "sentence_A" in head and "relatedness_score" in head:
        ia, ib, isc = (head.index(c) for c in ("sentence_A", "sentence_B", "relatedness_score"))
        isplit = head.index("SemEval_set") if "SemEval_set" in head else None
        if split is not None and isplit is None:
            raise DataError(f"{path}: no SemEval_set column to select split {split!r}")
        for i, f in rows[1:]:
            if len(f) < len(head):
                raise DataError(f"{path}, line {i}: {len(f)} fields, the header has {len(head)}")
            if split is not None and f[isplit].strip() != split:
                continue
            s1.append(f[ia])
            s2.append(f[ib])
            scores.append(_score(path, i, f[isc]))
    elif len(head) >= 7 and _float(head[4]) is not None:  # STS Benchmark
        for i, f in rows:
            if len(f) < 7:
                raise DataError(f"{path}, line {i}: STS Benchmark rows have at least 7 fields")
            scores.append(_score(path, i, f[4]))
            s1.append(f[5])
            s2.append(f[6])
    else:
        if split is not None:
            raise DataError(f"{path}: split {split!r} given but the file has no split column")
        body = rows
        if len(head) == 3 and _float(head[0]) is None and _float(head[2]) is None:
            body = rows[1:]  # header
        for i, f in body:
            if len(f) != 3:
                raise DataError(
                    f"{path}, line {i}: expected score<TAB>sentence1<TAB>sentence2, "
                    f"got {len(f)} fields"
                )
            if _float(f[0]) is not None:
                scores.append(_score(path, i, f[0]))
                s1.append(f[1])
                s2.append(f[2])
            else:
                scores.append(_score(path, i, f[2]))
                s1.append(f[0])
                s2.append(f[1])
    if not scores:
        raise DataError(f"{path}: no sentence pairs" + (f" in split {split!r}" if split else ""))
    if all(len(x.split()) <= 1 for x in (*s1, *s2)):
        raise DataError(
            f"{path}: every 'sentence' is a single word: a word-pair file, not sentence pairs "
            "(give it to --wordsim)"
        )
    return SentencePairs(name or path.stem, s1, s2, np.asarray(scores, dtype=np.float64))


# --- GLUE classification ------------------------------------------------------------
#: columns (sentence columns, label column) of each GLUE task's train/dev files
_GLUE = {
    "SST-2": (("sentence",), "label"),
    "RTE": (("sentence1", "sentence2"), "label"),
    "WNLI": (("sentence1", "sentence2"), "label"),
}


def load_glue(task: str, split: str, data_dir: str | os.PathLike[str] | None = None) -> LabelledSet:
    """One labelled split (``train`` or ``dev``) of SST-2, RTE or WNLI in GLUE format."""
    if task not in _GLUE:
        raise ValueError(f"unknown GLUE task {task!r}; choose one of {', '.join(_GLUE)}")
    if split not in ("train", "dev"):
        raise ValueError(f"split must be 'train' or 'dev' (the test sets carry no labels): {split}")
    path = Path(data_dir or DATA_DIR) / "glue" / task / f"{split}.tsv"
    rows = _rows(path)
    if not rows:
        raise DataError(f"{path}: empty")
    head = [h.strip() for h in rows[0][1]]
    text_cols, label_col = _GLUE[task]
    missing = [c for c in (*text_cols, label_col) if c not in head]
    if missing:
        raise DataError(f"{path}: header lacks column(s) {missing}")
    idx = [head.index(c) for c in text_cols]
    il = head.index(label_col)
    texts: list[list[str]] = [[] for _ in text_cols]
    raw_labels = []
    for i, f in rows[1:]:
        if len(f) != len(head):
            raise DataError(f"{path}, line {i}: {len(f)} fields, the header has {len(head)}")
        for t, j in zip(texts, idx):
            t.append(f[j])
        raw_labels.append(f[il].strip())
    classes = sorted(set(raw_labels))
    lookup = {c: k for k, c in enumerate(classes)}
    labels = np.array([lookup[c] for c in raw_labels], dtype=np.int64)
    return LabelledSet(
        f"{task}/{split}", texts[0], texts[1] if len(texts) > 1 else None, labels, classes
    )


# --- the named sets of the evaluation protocol ----------------------------------------
# The one place a new named task goes: its file (word / sentence similarity), or its
# GLUE task (probes; with its columns in _GLUE above).  eval.evaluate takes the task
# names from these tables.
#: word-similarity tasks: name -> file in DATA_DIR/wordsim
WORDSIM_FILES: dict[str, str] = {
    "simlex": "SimLex-999.txt",
    "ws353": "EN-WS-353-ALL.txt",
    "ws353-sim": "EN-WS-353-SIM.txt",
    "ws353-rel": "EN-WS-353-REL.txt",
}
#: sentence-similarity tasks: name -> (file in DATA_DIR/sts, SICK ``SemEval_set`` or None)
STS_FILES: dict[str, tuple[str, str | None]] = {
    "stsb": ("stsbenchmark/sts-test.csv", None),
    "sick-r": ("SICK.txt", "TEST"),
    "stsb-dev": ("stsbenchmark/sts-dev.csv", None),
    "sick-trial": ("SICK.txt", "TRIAL"),
}
#: the development sets among them (``strae compare --tune`` chooses on these only;
#: not in the default task list, whose results the test tasks are)
DEV_TASKS: tuple[str, ...] = ("stsb-dev", "sick-trial")
#: classification probes: name -> GLUE task (train on its train split, score on dev)
PROBE_SETS: dict[str, str] = {"sst2": "SST-2", "rte": "RTE", "wnli": "WNLI"}


def wordsim_path(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    return Path(data_dir or DATA_DIR) / "wordsim" / WORDSIM_FILES[name]


def load_named_wordsim(name: str, data_dir: str | os.PathLike[str] | None = None) -> WordPairs:
    """``simlex`` (999 pairs), ``ws353`` (353), ``ws353-sim`` (203), ``ws353-rel`` (252)."""
    return load_wordsim(wordsim_path(name, data_dir), name=name)


def load_named_sts(name: str, data_dir: str | os.PathLike[str] | None = None) -> SentencePairs:
    """``stsb`` (STS Benchmark test, 1379 pairs), ``sick-r`` (SICK test, 4906 pairs),
    ``stsb-dev`` (STS Benchmark dev, 1500 pairs) or ``sick-trial`` (SICK trial, 495 pairs)."""
    if name not in STS_FILES:
        raise ValueError(f"unknown sentence-similarity set {name!r}")
    file, split = STS_FILES[name]
    return load_sts(Path(data_dir or DATA_DIR) / "sts" / file, name=name, split=split)
