"""The best binary tree under a chart parser's span scores (``--binarize chart``).

A chart parser such as benepar's ChartParser scores every span of a sentence:
``scores[i, j, label]`` for the words ``i .. j`` (inclusive), label 0 the null
label (score 0).  Instead of binarising the parser's n-ary tree, take the
binary tree whose spans score highest: the weight of a span is its best
non-null label's raw score (:func:`span_weights`; no floor at zero, so a span
the parser dislikes costs), and CKY (:func:`cky`) over every binary tree of
the sentence maximises the sum of its spans' weights.  Every tree has the same
one-word spans and the same whole-sentence span, so only the others decide.

The CKY is vectorised per span length: the totals of every start and split
point of one length are one sum of two slices, then one argmax; O(n^3)
arithmetic in O(n) numpy calls.  Ties are broken deterministically towards
the **smallest split point** (the shortest left child, numpy's first maximum),
so equal weights give the right-branching tree ``(a (b (c d)))``, the shape of
``--binarize right``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from strae_graph.trees.errors import TreeError
from strae_graph.trees.tree import Tree

#: ``--binarize chart``: the best binary tree under a parser's span scores
CHART = "chart"
#: every ``--binarize`` value; bracketed sources (gold files) take the last two
BINARIZE_CHOICES = (CHART, "right", "left")


def check_binarize(binarize: str, structure: str) -> None:
    """ValueError unless ``binarize`` is a known value that ``structure`` can
    apply: ``chart`` needs a parser's span scores, so only benepar takes it."""
    if binarize not in BINARIZE_CHOICES:
        raise ValueError(
            f"--binarize {binarize!r}: unknown; choose one of {', '.join(BINARIZE_CHOICES)}"
        )
    if binarize == CHART and structure != "benepar":
        raise ValueError(
            f"--binarize chart: {structure} trees have no span scores (chart binarisation "
            "picks the best binary tree under a parser's span scores, benepar's); use "
            "--binarize right or left"
        )


def span_weights(scores: np.ndarray) -> np.ndarray:
    """``(n, n)`` float64 span weights from ``(n, n, L)`` label scores: the best
    non-null label's score of each span ``i .. j`` (inclusive end; only
    ``i <= j`` is used)."""
    if scores.ndim != 3 or scores.shape[0] != scores.shape[1] or scores.shape[2] < 2:
        raise ValueError(f"span scores must have shape (n, n, labels >= 2), got {scores.shape}")
    return scores[..., 1:].max(axis=-1).astype(np.float64)


def cky(weights: np.ndarray) -> tuple[float, np.ndarray]:
    """CKY over all binary trees of ``n`` words: ``(best total, split table)``.

    weights: ``(n, n)``, ``weights[i, j]`` the weight of words ``i .. j``
    inclusive.  The total is the highest sum of span weights over a binary
    tree's spans of two words or more (the whole sentence included).
    ``split[length, start]`` is where the best tree over words ``start ..
    start+length-1`` splits: its left child covers ``start .. split-1`` (the
    smallest such point among equal totals)."""
    n = weights.shape[0]
    if weights.shape != (n, n):
        raise ValueError(f"span weights must be square, got shape {weights.shape}")
    # best totals twice, by (length, start) and by (length, end), so that the
    # left and the right children of every split of one length are both slices
    by_start = np.zeros((n + 1, n + 1))
    by_end = np.zeros((n + 1, n + 1))
    split = np.zeros((n + 1, n + 1), dtype=np.int64)
    offsets = np.arange(1, n + 1)
    for length in range(2, n + 1):
        m = n - length + 1  # spans of this length; row s - 1 below: a left child of s words
        totals = by_start[1:length, :m] + by_end[length - 1 : 0 : -1, length:]
        k = totals.argmax(axis=0)  # the first maximum: the shortest left child
        best = totals.max(axis=0) + np.diagonal(weights, length - 1)
        by_start[length, :m] = best
        by_end[length, length:] = best
        split[length, :m] = offsets[:m] + k
    return float(by_start[n, 0]), split


def tree_from_splits(tokens: Sequence[str], split: np.ndarray) -> Tree:
    """The binary tree over ``tokens`` whose span ``(i, k)`` splits at
    ``split[k - i, i]`` (:func:`cky`'s table; post-order node ids, left to
    right; no recursion, so any length)."""
    n = len(tokens)
    children: list[tuple[int, int]] = []
    node: dict[tuple[int, int], int] = {(i, i + 1): i for i in range(n)}
    stack: list[tuple[int, int, bool]] = [(0, n, False)]
    while stack:
        i, k, expanded = stack.pop()
        if k - i < 2:
            continue
        m = int(split[k - i, i])
        if expanded:
            children.append((node[i, m], node[m, k]))
            node[i, k] = n + len(children) - 1
        else:
            stack += [(i, k, True), (m, k, False), (i, m, False)]
    return Tree(tuple(tokens), tuple(children))


def chart_tree(tokens: Sequence[str], scores: np.ndarray, i: int = 0) -> Tree:
    """The highest-scoring binary tree over ``tokens`` under span ``scores``
    (``(n, n, L)``, as benepar's ChartParser gives them; see the module
    docstring); ``i`` is the sentence's index for the error message."""
    if scores.shape[:2] != (len(tokens), len(tokens)):
        raise TreeError(f"sentence {i}: span scores of shape {scores.shape} for {len(tokens)} "
                        "tokens")  # fmt: skip
    return best_tree(tokens, span_weights(scores), i)


def best_tree(tokens: Sequence[str], weights: np.ndarray, i: int = 0) -> Tree:
    """The binary tree over ``tokens`` whose spans weigh most in total under
    ``(n, n)`` span ``weights`` (:func:`span_weights`, :func:`cky`)."""
    n = len(tokens)
    if weights.shape != (n, n):
        raise TreeError(f"sentence {i}: span weights of shape {weights.shape} for {n} tokens")
    return tree_from_splits(tokens, cky(weights)[1])
