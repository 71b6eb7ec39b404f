"""Syntactic trees from benepar (Berkeley Neural Parser) constituency parses.

benepar is given the project's tokens (``benepar.InputSentence(words=tokens)``).
Its binary trees (:func:`benepar_trees`) are, by default (``binarize="chart"``,
:data:`DEFAULT_BINARIZE`), the best binary trees under its ChartParser's span
scores (:func:`benepar_charts`, :mod:`parsers.chart_tree`); with
``binarize="right"`` or ``"left"`` its n-ary output (:func:`benepar_parses`)
becomes a binary tree by :meth:`Tree.from_nltk`: unary chains collapsed, n-ary
nodes binarised right or left.  On parse-eval's dev trees chart binarisation
scored unlabelled F1 74.1 against 71.8 for the right-binarised parse (README,
*Structure quality*).

Which model: ``model=NAME_OR_PATH`` when given (``--benepar-model``); otherwise
:func:`resolve_benepar_model` decides, the one place every caller asks (parse,
parse-eval, train/compare through the tree cache, draw, embed):
``benepar_en3`` when it is installed (found in an nltk_data folder), else the
model shipped inside the package, :data:`SHIPPED_MODEL` (see
``parsers/models/README.md``), with a one-line notice on stderr saying which.
:func:`benepar_model_identity` is what the caches key on: the model file's
SHA-256 (or the installed model's name).

Speed (:mod:`parsers.benepar_forward`): length-sorted batches of
:data:`BATCH_SIZE`, one torch thread per forward pass, for chart trees only the
span weights; ``precision`` (``--benepar-precision``) runs the encoder in bf16 or
int8 (:mod:`parsers.benepar_precision`; fp32 by default).

The pretrained models (``benepar_en3``, ...) are downloaded by
``benepar.download`` from a host that offline machines cannot reach; a named
model that is missing raises :class:`ParserError` at once with instructions.
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from parsers.benepar_forward import forward_batches
from parsers.benepar_precision import check_precision, note_once, quantized
from parsers.chart_tree import CHART, best_tree, chart_tree, check_binarize
from parsers.errors import ParserError, parser_input
from strae_graph.trees.errors import TreeError
from strae_graph.trees.nary import Binarize
from strae_graph.trees.tree import Tree

#: benepar's own pretrained English model (needs internet to install)
PRETRAINED_MODEL = "benepar_en3"
#: the model shipped with the package (parsers/models/README.md)
SHIPPED_MODEL = Path(__file__).resolve().parent / "models" / "benepar_ptb_char.pt"
#: how benepar's trees become binary unless ``binarize`` says otherwise: the best
#: binary tree under its span scores (measured better than binarising its parse)
DEFAULT_BINARIZE = CHART
#: sentences per forward pass (length-sorted): 32 took 10-15 % less CPU than 64 with the
#: same trees (the span scores' blocks stay in cache; README, *Measured speed*)
BATCH_SIZE = 32
#: the binarisation before chart became the default (commit 266763c, 2026-12-03):
#: what a run, model directory or dataset that records no ``binarize`` was made with
#: (:func:`parsers.structures.recorded_options`)
LEGACY_BINARIZE = "right"

MISSING_MODEL_HELP = (
    "benepar model {name!r} is not installed{why}. Install it on a machine with internet "
    "access with  python -c \"import benepar; benepar.download('{name}')\"  (it goes into "
    "nltk_data/models/), or pass a model path with --benepar-model PATH (for example one "
    "trained offline with  strae benepar-train --out PATH). Syntactic sources that work "
    "offline: --structure spacy (spaCy dependency parses, the default syntactic source) and "
    "--structure gold (bracketed tree files)."
)

_noticed: set[str] = set()


def pretrained_installed(name: str = PRETRAINED_MODEL) -> bool:
    """True when benepar would find the named model in an nltk_data folder."""
    import nltk.data

    try:
        nltk.data.find(f"models/{name}")
    except LookupError:
        return False
    return True


def resolve_benepar_model(model: str | os.PathLike[str] | None = None) -> str:
    """The model benepar parses with: ``model`` when given, else ``benepar_en3``
    when installed, else the shipped model (a one-line notice on stderr, once
    per process, says which default was taken)."""
    if model is not None:
        return str(model)
    if pretrained_installed():
        chosen, why = PRETRAINED_MODEL, "installed in nltk_data"
    else:
        chosen, why = str(SHIPPED_MODEL), f"{PRETRAINED_MODEL} is not installed"
    if chosen not in _noticed:
        _noticed.add(chosen)
        print(f"benepar: no --benepar-model given: using {chosen} ({why})", file=sys.stderr)
    return chosen


def benepar_model_identity(model: str | os.PathLike[str] | None = None) -> str:
    """What decides the trees besides the input: the resolved model file's
    SHA-256, or its name (an installed model, a directory)."""
    from strae_graph.util.fileio import file_sha256

    resolved = resolve_benepar_model(model)
    path = Path(resolved)
    return f"sha256:{file_sha256(path)}" if path.is_file() else resolved


def load_benepar(
    model: str | os.PathLike[str] | None = None,
    batch_size: int = BATCH_SIZE,
    precision: str = "fp32",
) -> Any:
    """A ``benepar.Parser`` for ``model`` (a name such as ``benepar_en3``, a path,
    or None for :func:`resolve_benepar_model`'s default); ``int8``: a copy with
    its encoder quantised (:mod:`parsers.benepar_precision`; CPU only)."""
    check_precision(precision)
    resolved = resolve_benepar_model(model)
    parser = _load(resolved, batch_size)
    device = parser._parser.device
    note_once(precision, device)
    if precision != "int8":
        return parser
    if device.type != "cpu":
        raise ValueError(f"--benepar-precision int8: dynamic quantisation runs on the CPU, and "
                         f"benepar put its model on {device}")  # fmt: skip
    return _quantized(resolved, batch_size)


@lru_cache(maxsize=2)
def _quantized(model: str, batch_size: int) -> Any:
    parser = copy.copy(_load(model, batch_size))
    parser._parser = quantized(parser._parser)
    return parser


@lru_cache(maxsize=4)
def _load(model: str, batch_size: int) -> Any:
    try:
        import benepar
    except ImportError as e:  # pragma: no cover - benepar is a declared dependency
        raise ParserError(f"benepar is not installed ({e}); pip install benepar==0.2.0") from None
    if model == str(SHIPPED_MODEL) and not SHIPPED_MODEL.is_file():
        raise ParserError(
            f"the benepar model shipped with strae-graph is missing ({SHIPPED_MODEL}) and "
            f"{PRETRAINED_MODEL} is not installed: reinstall the package, or pass a model "
            "with --benepar-model PATH"
        )
    looks_like_path = os.sep in model or model.endswith(".pt") or model.startswith(".")
    if looks_like_path and not os.path.exists(model):
        raise ParserError(
            MISSING_MODEL_HELP.format(name=model, why=f" (no file or directory at {model})")
        )
    try:
        return benepar.Parser(model, batch_size=batch_size)
    except LookupError:
        raise ParserError(
            MISSING_MODEL_HELP.format(name=model, why=" (not found in any nltk_data folder)")
        ) from None
    except (OSError, KeyError, RuntimeError, ValueError) as e:
        raise ParserError(f"benepar model {model!r} could not be loaded: {e}") from None


def benepar_parses(
    sentences: Sequence[Sequence[str]],
    *,
    model: str | os.PathLike[str] | None = None,
    parser_words: Sequence[Sequence[str]] | None = None,
    batch_size: int = BATCH_SIZE,
    precision: str = "fp32",
) -> list[Any]:
    """benepar's own n-ary parses (``nltk.Tree``, labelled, root ``TOP``) of
    ``sentences`` (or of ``parser_words``: token lists of the same lengths), as
    ``Parser.parse_sents`` makes them, in length-sorted batches
    (:func:`parsers.benepar_forward.forward_batches`), in input order."""
    words = parser_input(sentences, parser_words)
    parser = load_benepar(model, batch_size, precision)
    got = forward_batches(parser, words, batch_size, scores=None, nary=True, precision=precision)
    return [p for _, p in got]


def binary_tree(
    tokens: Sequence[str], parse: Any, binarize: Binarize = "right", i: int = 0
) -> Tree:
    """The binary tree of one benepar parse, with ``tokens`` as its leaves."""
    shape = Tree.from_nltk(parse, binarize=binarize)
    if shape.n_leaves != len(tokens):
        raise TreeError(
            f"sentence {i}: benepar returned {shape.n_leaves} leaves for {len(tokens)} tokens"
        )
    return Tree(tuple(tokens), shape.children)


def benepar_charts(
    sentences: Sequence[Sequence[str]],
    *,
    model: str | os.PathLike[str] | None = None,
    parser_words: Sequence[Sequence[str]] | None = None,
    batch_size: int = BATCH_SIZE,
    nary: bool = False,
    precision: str = "fp32",
) -> Iterator[tuple[np.ndarray, Any]]:
    """Per sentence, benepar's span scores ``(n, n, labels)`` (words ``i .. j``
    inclusive; label 0 the null label, score 0) and, with ``nary``, its n-ary
    parse decoded from the same forward pass exactly as ``parse_sents`` decodes
    it (else None).  One forward pass per length-sorted batch of ``batch_size``
    sentences (:func:`parsers.benepar_forward.forward_batches`), in input order."""
    words = parser_input(sentences, parser_words)
    parser = load_benepar(model, batch_size, precision)
    return forward_batches(parser, words, batch_size, nary=nary, precision=precision)


def benepar_trees_and_parses(
    sentences: Sequence[Sequence[str]],
    *,
    model: str | os.PathLike[str] | None = None,
    binarize: str = DEFAULT_BINARIZE,
    parser_words: Sequence[Sequence[str]] | None = None,
    batch_size: int = BATCH_SIZE,
    nary: bool = False,
    precision: str = "fp32",
) -> tuple[list[Tree], list[Any] | None]:
    """Binary trees over ``sentences`` and, with ``nary``, benepar's n-ary parses
    they come from (else None), from one forward pass per batch.

    binarize: ``chart`` (default) for the best binary tree under the parser's
    span scores (:mod:`parsers.chart_tree`), ``right`` / ``left`` to binarise
    its n-ary parse.  model, parser_words, precision: see :func:`benepar_trees`."""
    check_binarize(binarize, "benepar")
    run = {"model": model, "parser_words": parser_words, "batch_size": batch_size,
           "precision": precision}  # fmt: skip
    if binarize != CHART:
        parses = benepar_parses(sentences, **run)
        trees = [binary_tree(s, p, binarize, i) for i, (s, p) in enumerate(zip(sentences, parses))]
        return trees, parses if nary else None
    if not nary:  # the span weights suffice
        parser = load_benepar(model, batch_size, precision)
        words = parser_input(sentences, parser_words)
        got = forward_batches(parser, words, batch_size, scores="weights", precision=precision)
        return [best_tree(s, w, i) for i, (s, (w, _)) in enumerate(zip(sentences, got))], None
    trees, parses = [], []
    for i, (s, (scores, parse)) in enumerate(
        zip(sentences, benepar_charts(sentences, nary=nary, **run))
    ):
        trees.append(chart_tree(s, scores, i))
        parses.append(parse)
    return trees, parses


def benepar_trees(
    sentences: Sequence[Sequence[str]],
    *,
    model: str | os.PathLike[str] | None = None,
    binarize: str = DEFAULT_BINARIZE,
    parser_words: Sequence[Sequence[str]] | None = None,
    batch_size: int = BATCH_SIZE,
    precision: str = "fp32",
) -> list[Tree]:
    """Binary trees over ``sentences`` from benepar (see
    :func:`benepar_trees_and_parses` for ``binarize``).

    model: a name or path; None for the default (:func:`resolve_benepar_model`).
    parser_words: optional token lists the parser sees instead of the leaves
    (same lengths); the leaves stay ``sentences``.
    precision: the encoder's number format, ``fp32`` (default), ``bf16`` or
    ``int8`` (:mod:`parsers.benepar_precision`).
    """
    return benepar_trees_and_parses(
        sentences, model=model, binarize=binarize, parser_words=parser_words,
        batch_size=batch_size, precision=precision,
    )[0]  # fmt: skip
