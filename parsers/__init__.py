"""Sources of sentence structure.

Every source turns tokenised sentences (the leaves, decided by
``strae_graph.corpus.tokenize``) into binary :class:`strae_graph.tree.Tree`
objects over exactly those tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

from parsers.heuristics import HEURISTICS, balanced, left_branching, random_tree, right_branching
from strae_graph.tree import Tree

__all__ = [
    "HEURISTICS",
    "STRUCTURES",
    "balanced",
    "left_branching",
    "parse_sentences",
    "random_tree",
    "right_branching",
]

#: every structure name ``parse_sentences`` knows
STRUCTURES: tuple[str, ...] = tuple(HEURISTICS)


def parse_sentences(
    sentences: Sequence[Sequence[str]], structure: str, *, seed: int = 0, **options: object
) -> list[Tree]:
    """The tree of every sentence under ``structure``.

    sentences: token lists; the trees have exactly these leaves, in order.
    ``random`` trees are seeded per sentence (``seed`` and the sentence's index).
    """
    import random

    if structure not in STRUCTURES:
        raise ValueError(f"unknown structure {structure!r}; choose one of {', '.join(STRUCTURES)}")
    if options:
        raise TypeError(f"structure {structure!r} takes no options {sorted(options)}")
    if structure == "random":
        return [
            random_tree(s, random.Random(seed * 1_000_003 + i)) for i, s in enumerate(sentences)
        ]
    make = HEURISTICS[structure]
    return [make(s) for s in sentences]
