"""The one registry of sentence structures: every name, what it needs, how it parses.

=========  =========  ==========================================================
name       kind       trees
=========  =========  ==========================================================
balanced   heuristic  split every span at its midpoint (parsers.heuristics: the
                      four heuristics are its HEURISTICS table)
right      heuristic  right-branching
left       heuristic  left-branching
random     heuristic  random bracketing, seeded per sentence
spacy      parser     spaCy dependency parse -> binary tree (parsers.dependency)
benepar    parser     benepar: the best binary tree under its span scores
                      (binarize=chart, parsers.chart_tree), or its constituency
                      parse binarised right / left (default model:
                      parsers.benepar_parser.resolve_benepar_model)
self       model      induced by a trained Self-StrAE (strae_graph.model.self_strae)
gold       gold       a treebank's own trees (parsers.gold): never parsed, they
                      come with their sentences in a `strae parse` dataset
=========  =========  ==========================================================

Every other module asks this one: ``strae train``/``compare``/``parse``/
``bench`` take their choices from it, :func:`parse_sentences` dispatches
through it, and the core is handed a parse built on it
(:func:`parsers.tree_cache.parse_cached`, :mod:`parsers.api`).  A new structure
source is one :class:`Structure` entry here.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from parsers.heuristics import HEURISTICS, random_tree
from strae_graph.trees.source import SELF
from strae_graph.trees.tree import Tree

#: a treebank's own trees, trained on from a `strae parse` dataset
GOLD = "gold"
KINDS = ("heuristic", "parser", "model", "gold")
#: (sentences, *, seed, first_index, **options) -> trees
SourceParse = Callable[..., list[Tree]]


@dataclass(frozen=True)
class Structure:
    """One structure source: ``parse`` is None for ``gold`` (its trees are read,
    not parsed); ``model`` structures need ``model=RUN_DIR``."""

    name: str
    kind: str
    parse: SourceParse | None
    summary: str
    #: parser structures: what decides their trees besides the input (package and
    #: model versions, or the model file's hash) under the given parser options;
    #: part of the tree cache's key
    identity: Callable[[dict[str, Any]], dict[str, str | None]] | None = None
    #: the options ``identity`` covers: trees parsed with no others may be cached
    cached_options: tuple[str, ...] = ()
    #: options whose default changed, so every run, model directory and dataset
    #: records them explicitly: name -> (today's default, the default that a
    #: record without the option was made under); see :func:`recorded_options`
    recorded: Callable[[], dict[str, tuple[Any, Any]]] | None = None

    @property
    def needs_model(self) -> bool:
        return self.kind == "model"


def random_seed(seed: int, index: int) -> int:
    """The seed of sentence ``index``'s random tree under run seed ``seed``."""
    return seed * 1_000_003 + index


def _shape(make: Callable[[Sequence[str]], Tree]) -> SourceParse:
    def parse(
        sentences: Sequence[Sequence[str]], seed: int = 0, first_index: int = 0
    ) -> list[Tree]:
        return [make(s) for s in sentences]

    return parse


def _random(sentences: Sequence[Sequence[str]], seed: int = 0, first_index: int = 0) -> list[Tree]:
    return [
        random_tree(s, random.Random(random_seed(seed, first_index + i)))
        for i, s in enumerate(sentences)
    ]


def _spacy(
    sentences: Sequence[Sequence[str]], seed: int = 0, first_index: int = 0, **options: Any
) -> list[Tree]:
    from parsers.spacy_parser import spacy_trees

    return spacy_trees(sentences, **options)


def _benepar(
    sentences: Sequence[Sequence[str]], seed: int = 0, first_index: int = 0, **options: Any
) -> list[Tree]:
    from parsers.benepar_parser import benepar_trees

    return benepar_trees(sentences, **options)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _spacy_identity(options: dict[str, Any]) -> dict[str, str | None]:
    from parsers.spacy_parser import DEFAULT_SPACY_MODEL

    model = str(options.get("model", DEFAULT_SPACY_MODEL))
    return {"spacy": _version("spacy"), "model": model, "model_version": _version(model)}


def _benepar_identity(options: dict[str, Any]) -> dict[str, str | None]:
    """The resolved model (the default when none is given) by its file's hash,
    the binarisation (chart trees are not the right-binarised parses) and a
    precision other than fp32 (its trees may differ)."""
    from parsers.benepar_parser import DEFAULT_BINARIZE, benepar_model_identity

    precision = str(options.get("precision", "fp32"))
    return {
        "benepar": _version("benepar"),
        "model": benepar_model_identity(options.get("model")),
        "binarize": str(options.get("binarize", DEFAULT_BINARIZE)),
        **({"precision": precision} if precision != "fp32" else {}),
    }


def _benepar_recorded() -> dict[str, tuple[Any, Any]]:
    from parsers.benepar_parser import DEFAULT_BINARIZE, LEGACY_BINARIZE

    return {"binarize": (DEFAULT_BINARIZE, LEGACY_BINARIZE)}


def _self(
    sentences: Sequence[Sequence[str]],
    seed: int = 0,
    first_index: int = 0,
    model: Any = None,
    fingerprint: str | None = None,
    **options: Any,
) -> list[Tree]:
    """``fingerprint`` is only part of a cache key (the checkpoint's hash)."""
    from strae_graph.embed.parse import parse_with_model

    if model is None:
        raise ValueError(
            f"structure {SELF!r} is induced by a trained Self-StrAE: give its run "
            "directory (--model RUN_DIR, or model=RUN_DIR)"
        )
    return parse_with_model(model, sentences, **options)


REGISTRY: dict[str, Structure] = {
    s.name: s
    for s in (
        *(
            Structure(name, "heuristic", _random if name == "random" else _shape(make), "heuristic")
            for name, make in HEURISTICS.items()
        ),
        Structure("spacy", "parser", _spacy, "spaCy dependency parse, binarised", _spacy_identity,
                  cached_options=("model",)),  # fmt: skip
        Structure(
            "benepar",
            "parser",
            _benepar,
            "benepar: best binary tree under its span scores (or its parse, binarised)",
            _benepar_identity,
            cached_options=("model", "binarize", "precision"),
            recorded=_benepar_recorded,
        ),
        Structure(SELF, "model", _self, "induced by a trained Self-StrAE (model=RUN_DIR)"),
        Structure(GOLD, "gold", None, "a treebank's own trees, from a `strae parse` dataset"),
    )
}

#: why ``gold`` trees cannot be made for new sentences (training and embedding say it)
GOLD_ONLY = (
    "structure 'gold': gold trees come only with a treebank's own sentences (make a dataset "
    "with `strae parse TREES --structure gold --out DIR`, then train with --corpus DIR); to "
    "parse other sentences, e.g. for a run trained on gold trees, give another structure "
    "(--structure balanced, benepar, ...)"
)


def get_structure(name: str) -> Structure:
    """The registry entry of ``name``; ValueError naming every known one otherwise."""
    entry = REGISTRY.get(name) if isinstance(name, str) else None
    if entry is None:
        raise ValueError(f"unknown structure {name!r}; choose one of {', '.join(REGISTRY)}")
    return entry


def names(*kinds: str) -> tuple[str, ...]:
    """The registered names of the given kinds (all of them when none is given)."""
    return tuple(n for n, s in REGISTRY.items() if not kinds or s.kind in kinds)


def structure_names() -> list[str]:
    """What ``strae train --structure`` takes: every structure except ``gold``
    (whose trees come with a dataset as ``--corpus``)."""
    return [n for n, s in REGISTRY.items() if s.parse is not None]


def options_to_record(structure: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of ``options`` with every option whose default changed (the
    entry's ``recorded``) made explicit at today's default: what a new run, model
    directory or `strae parse` dataset records, so that reading it back never
    depends on a default."""
    return _with_defaults(structure, options, today=True)


def recorded_options(structure: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """The parser options a run, model directory or dataset recorded for
    ``structure``, read back: an option it does not record takes the default it
    was made under, not today's.  benepar: a record without ``binarize`` was made
    before ``--binarize chart`` became its default, so its trees were binarised
    ``right``, and they stay so (a model trained on right-binarised trees embeds
    right-binarised trees)."""
    return _with_defaults(structure, options, today=False)


def _with_defaults(structure: str, options: dict[str, Any] | None, today: bool) -> dict[str, Any]:
    """A copy of ``options`` with each of the entry's ``recorded`` options that is
    missing set to today's default (``today``) or to the one before it."""
    out = dict(options or {})
    entry = REGISTRY.get(structure)
    for name, (now, before) in (entry.recorded() if entry and entry.recorded else {}).items():
        out.setdefault(name, now if today else before)
    return out


def parse_sentences(
    sentences: Sequence[Sequence[str]],
    structure: str,
    *,
    seed: int = 0,
    first_index: int = 0,
    **options: object,
) -> list[Tree]:
    """The tree of every sentence under ``structure``.

    sentences: token lists; the trees have exactly these leaves, in order.
    ``random`` trees are seeded per sentence (``seed`` and the sentence's index,
    counted from ``first_index`` so that a corpus parsed in chunks gets the same
    trees as one parsed whole).  ``options`` go to the parser (see
    :mod:`parsers`); heuristics take none.
    """
    entry = get_structure(structure)
    if entry.parse is None:
        raise ValueError(GOLD_ONLY)
    if entry.kind == "heuristic" and options:
        raise TypeError(f"structure {structure!r} takes no options {sorted(options)}")
    return entry.parse(sentences, seed=seed, first_index=first_index, **options)


def check_streamable(structure: str, corpus: str) -> None:
    """ValueError unless streamed training (:mod:`strae_graph.data.stream`) can build
    the trees of ``structure`` over ``corpus`` window by window: a ``strae parse``
    dataset, ``self``, or a heuristic; a parser's trees come from a dataset."""
    from strae_graph.data.parsed import is_parsed_corpus

    if is_parsed_corpus(corpus) or structure == SELF:
        return
    if get_structure(structure).kind != "heuristic":
        raise ValueError(
            f"structure {structure!r} runs a parser: stream a parsed dataset instead "
            f"(`strae parse CORPUS --structure {structure} --out DIR`, then --corpus DIR)"
        )


def check_training_structure(structure: str, corpus: str) -> None:
    """ValueError unless a run on ``corpus`` can get trees of ``structure``: a
    `strae parse` dataset brings its own (its structure is recorded), otherwise
    the name must be registered and parseable (not ``gold``)."""
    from strae_graph.data.parsed import is_parsed_corpus

    if is_parsed_corpus(corpus):
        return
    if get_structure(structure).parse is None:
        raise ValueError(GOLD_ONLY)
