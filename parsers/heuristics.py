"""Heuristic binary trees over a token sequence: balanced (the core's own shape,
:mod:`strae_graph.trees.shapes`), right-, left-branching, random."""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Sequence

from strae_graph.trees.shapes import balanced
from strae_graph.trees.tree import Tree


def right_branching(tokens: Sequence[str]) -> Tree:
    """``(a (b (c d)))``."""
    n = len(tokens)
    children: list[tuple[int, int]] = []
    acc = n - 1
    for i in range(n - 2, -1, -1):
        children.append((i, acc))
        acc = n + len(children) - 1
    return Tree(tuple(tokens), tuple(children))


def left_branching(tokens: Sequence[str]) -> Tree:
    """``(((a b) c) d)``."""
    n = len(tokens)
    children: list[tuple[int, int]] = []
    acc = 0
    for i in range(1, n):
        children.append((acc, i))
        acc = n + len(children) - 1
    return Tree(tuple(tokens), tuple(children))


def random_tree(tokens: Sequence[str], seed: int | _random.Random = 0) -> Tree:
    """A random binary bracketing: repeatedly merge a uniformly chosen adjacent
    pair of the frontier.  Deterministic for a given seed (int or Random)."""
    rng = seed if isinstance(seed, _random.Random) else _random.Random(seed)
    n = len(tokens)
    frontier = list(range(n))
    children: list[tuple[int, int]] = []
    while len(frontier) > 1:
        i = rng.randrange(len(frontier) - 1)
        children.append((frontier[i], frontier[i + 1]))
        frontier[i : i + 2] = [n + len(children) - 1]
    return Tree(tuple(tokens), tuple(children)).canonical()


HEURISTICS: dict[str, Callable[..., Tree]] = {
    "balanced": balanced,
    "right": right_branching,
    "left": left_branching,
    "random": random_tree,
}
