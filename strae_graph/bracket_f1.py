"""Unlabelled bracket (span) F1 of binary trees against gold constituency trees.

Gold spans come from the gold tree as written (n-ary, before any
binarisation), with ``-NONE-`` empty elements removed and unary chains
counted once.  Trivial spans (one token, and the whole sentence) are left out
on both sides, as is usual in unsupervised parsing.  Corpus F1 is computed
from spans pooled over all sentences (micro); sentence F1 is the mean of
per-sentence F1 over sentences that have at least one non-trivial gold or
predicted span.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from strae_graph.tree import Tree, TreeError, _parse_brackets, _strip_empty

Span = tuple[int, int]


@dataclass(frozen=True)
class GoldTree:
    """Leaves (lower-cased when read with ``lower=True``) and non-trivial spans."""

    tokens: tuple[str, ...]
    spans: frozenset[Span]


def gold_tree(text: str, lower: bool = True) -> GoldTree:
    """Parse one labelled bracket string (PTB style) into tokens and gold spans."""
    root = _strip_empty(_parse_brackets(text, labelled=True))
    if root is None:
        raise TreeError("the tree has no tokens (only empty elements)")
    tokens: list[str] = []
    spans: set[Span] = set()

    def walk(node) -> None:  # iterative would be longer; PTB depth is small
        if isinstance(node, str):
            tokens.append(node.lower() if lower else node)
            return
        start = len(tokens)
        for kid in node[1]:
            walk(kid)
        spans.add((start, len(tokens)))

    walk(root)
    n = len(tokens)
    return GoldTree(tuple(tokens), frozenset(s for s in spans if 1 < s[1] - s[0] < n))


def read_gold(path: str, lower: bool = True, limit: int | None = None) -> list[GoldTree]:
    """Gold trees from a one-tree-per-line file (a leading ``name<TAB>`` is ignored)."""
    from strae_graph.corpus import open_text

    out: list[GoldTree] = []
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if "\t" in line:
                line = line.split("\t", 1)[1]
            try:
                out.append(gold_tree(line, lower))
            except TreeError as e:
                raise TreeError(f"{path}, line {lineno}: {e}") from None
            if limit is not None and len(out) >= limit:
                break
    return out


def tree_spans(tree: Tree) -> frozenset[Span]:
    """Non-trivial spans of a binary tree (length > 1 and not the whole sentence)."""
    n = tree.n_leaves
    return frozenset(s for s in tree.spans()[n:] if s[1] - s[0] < n)


@dataclass(frozen=True)
class F1:
    precision: float
    recall: float
    f1: float  # corpus (micro) F1
    sentence_f1: float  # mean per-sentence F1
    sentences: int


def bracket_f1(predicted: Sequence[Tree], gold: Sequence[GoldTree]) -> F1:
    """Unlabelled span F1 of ``predicted`` trees against ``gold`` (same leaves)."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predicted trees but {len(gold)} gold trees")
    match = n_pred = n_gold = 0
    per_sentence: list[float] = []
    for i, (p, g) in enumerate(zip(predicted, gold)):
        if tuple(p.tokens) != g.tokens:
            raise ValueError(f"sentence {i}: predicted and gold leaves differ")
        ps = tree_spans(p)
        m = len(ps & g.spans)
        match, n_pred, n_gold = match + m, n_pred + len(ps), n_gold + len(g.spans)
        if ps or g.spans:
            per_sentence.append(2 * m / (len(ps) + len(g.spans)))
    prec = match / n_pred if n_pred else 0.0
    rec = match / n_gold if n_gold else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    mean = sum(per_sentence) / len(per_sentence) if per_sentence else 0.0
    return F1(prec, rec, f1, mean, len(gold))


def sentences_of(gold: Iterable[GoldTree]) -> list[list[str]]:
    return [list(g.tokens) for g in gold]
