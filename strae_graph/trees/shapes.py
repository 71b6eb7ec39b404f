"""The tree shape the core builds by itself: balanced.

A ``--vocab bpe`` run gives every word's pieces a balanced subtree
(:mod:`strae_graph.data.subwords`); the ``balanced`` structure of
:mod:`parsers.structures` is this same function.  Every other structure source
lives in :mod:`parsers`.
"""

from __future__ import annotations

from collections.abc import Sequence

from strae_graph.trees.tree import Tree


def balanced(tokens: Sequence[str]) -> Tree:
    """Split every span at its midpoint (left half gets the smaller share when odd):
    ``((a b) (c d))``, ``(a (b c))``."""
    n = len(tokens)
    children: list[tuple[int, int]] = []

    def build(lo: int, hi: int) -> int:
        if hi - lo == 1:
            return lo
        mid = lo + (hi - lo) // 2
        left = build(lo, mid)
        right = build(mid, hi)
        children.append((left, right))
        return n + len(children) - 1

    build(0, n)  # depth is log2(n): recursion is safe
    return Tree(tuple(tokens), tuple(children))
