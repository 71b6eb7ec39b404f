"""The structures of a ``strae compare`` study, as the command line names them.

A structure entry is one of

* ``NAME``: any structure ``strae train --structure`` takes (``balanced``,
  ``right``, ``left``, ``random``, ``spacy``, ``benepar`` with its default
  model, ``self``); the runs train on the study's ``--corpus``;
* ``LABEL=DATASET``: a dataset directory written by ``strae parse`` (gold
  trees, a benepar model of one's own, ...); the runs train on its trees
  (the dataset replaces ``--corpus`` for them) and are called LABEL;
* ``gold=TREES``: a bracketed tree file (e.g. the PTB sample), turned into a
  dataset under ``OUT/parsed/gold`` as ``strae parse --structure gold`` would;
* ``benepar=MODEL`` (or ``benepar-TAG=MODEL``): a benepar model path (e.g. from
  ``strae benepar-train``); the study's corpus slice is parsed with it into
  ``OUT/parsed/LABEL`` and the runs train on that.

Evaluation sentences are parsed with the structure the runs trained on, with
the same parser options (a benepar model path included).  Gold trees exist only
for treebank sentences: a gold run's test sentences are parsed with
``--eval-structure gold=SPEC`` (default ``spacy``).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parsers.parsed_corpus import parse_corpus
from parsers.structures import GOLD, recorded_options, structure_names
from strae_graph.data.corpus import read_sentences
from strae_graph.data.parsed import is_parsed_corpus, read_meta

#: how the evaluation parses new sentences for a run trained on gold trees
DEFAULT_GOLD_EVAL = "spacy"
_LABEL = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclass(frozen=True)
class StructureSpec:
    """One structure of a study."""

    label: str  # names its runs (runs/LABEL-OBJECTIVE-sSEED) and its rows
    structure: str  # what the parsers call it (a dataset's own structure)
    dataset: str | None = None  # a `strae parse` dataset the runs train on
    build_from: str | None = None  # a tree file / benepar model to build ``dataset`` from
    options: dict[str, Any] = field(default_factory=dict)  # parser options (benepar model)

    @property
    def needs_build(self) -> bool:
        return self.build_from is not None


def parse_spec(text: str, out: str | Path) -> StructureSpec:
    """The :class:`StructureSpec` of one ``--structures`` entry (see the module
    docstring); ValueError with the accepted forms otherwise."""
    names = structure_names()
    if "=" not in text:
        if text not in names:
            raise ValueError(
                f"unknown structure {text!r}; a study takes {', '.join(names)}, "
                "LABEL=DATASET (a `strae parse` dataset), gold=TREE_FILE or benepar=MODEL_PATH"
            )
        return StructureSpec(text, text)
    label, path = text.split("=", 1)
    if not _LABEL.match(label):
        raise ValueError(f"structure label {label!r}: use letters, digits and _ . + - only")
    if is_parsed_corpus(path):
        meta = read_meta(path)
        opts = {k: v for k, v in (meta.get("options") or {}).items() if k != "fingerprint"}
        opts = recorded_options(meta["structure"], opts)  # an older dataset: the defaults of then
        return StructureSpec(label, meta["structure"], dataset=str(path), options=opts)
    base = label.split("-", 1)[0]
    parsed = str(Path(out) / "parsed" / label)
    if base == GOLD:
        if not Path(path).is_file():
            raise ValueError(f"{text}: {path} is neither a `strae parse` dataset nor a tree file")
        return StructureSpec(label, GOLD, dataset=parsed, build_from=str(path))
    if base == "benepar":
        if not Path(path).exists():
            raise ValueError(f"{text}: no benepar model (or `strae parse` dataset) at {path}")
        return StructureSpec(label, "benepar", dataset=parsed, build_from=str(path),
                             options={"model": str(path)})  # fmt: skip
    raise ValueError(
        f"{text}: {path} is not a `strae parse` dataset (a directory with strae_parse.json); "
        "only gold=TREE_FILE and benepar=MODEL_PATH are built by the study itself"
    )


def eval_parse(spec: StructureSpec, eval_structures: dict[str, str]) -> tuple[str, dict]:
    """(structure, parser options) the evaluation parses test sentences with for
    runs of ``spec``; ``eval_structures``: LABEL -> NAME or benepar=MODEL
    (``--eval-structure``)."""
    given = eval_structures.get(spec.label)
    if given is None and spec.structure == GOLD:
        given = eval_structures.get(GOLD, DEFAULT_GOLD_EVAL)
    if given is None:
        return spec.structure, dict(spec.options)
    if "=" in given:
        name, model = given.split("=", 1)
        if name != "benepar":
            raise ValueError(
                f"--eval-structure {spec.label}={given}: only benepar=MODEL takes a path"
            )
        return "benepar", {"model": model}
    return given, {}


def parse_eval_structures(items: list[str]) -> dict[str, str]:
    """``--eval-structure LABEL=SPEC`` entries as a dict."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--eval-structure {item!r}: give LABEL=STRUCTURE")
        label, spec = item.split("=", 1)
        out[label] = spec
    return out


def lines_for(corpus: str, sentences: int | None, max_length: int | None) -> int | None:
    """How many non-empty lines of ``corpus`` hold its first ``sentences``
    sentences of at most ``max_length`` tokens (what a run reads): a dataset
    parsed from that many lines gives a run the same slice as the text does."""
    if sentences is None:
        return None
    last = max((line for line, _ in read_sentences(corpus, sentences, max_length)), default=0)
    lines = itertools.takewhile(lambda x: x[0] <= last, read_sentences(corpus))
    return sum(1 for _ in lines) if last else sentences


def build_dataset(
    spec: StructureSpec,
    corpus: str,
    sentences: int | None,
    max_length: int | None = None,
    progress: bool = True,
    log=print,
) -> None:
    """Write ``spec.dataset`` (gold trees, or the corpus slice parsed with a benepar
    model: the lines that give a run its ``sentences`` sentences) unless an
    identical one is there (``parse_corpus`` checks)."""
    if not spec.needs_build:
        return
    if spec.structure == GOLD:
        src, opts, n = spec.build_from, {}, sentences
    else:
        src, opts = corpus, {"model": spec.build_from}
        n = lines_for(corpus, sentences, max_length)
    res = parse_corpus(src, spec.structure, spec.dataset, options=opts, max_sentences=n,
                       progress=progress, log=log)  # fmt: skip
    if not res.reused:
        log(f"parsed {res.sentences} sentences ({spec.label}) -> {spec.dataset}")
