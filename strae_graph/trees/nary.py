"""N-ary trees: the generic form that bracket strings, ``nltk.Tree`` objects and
parsers give (labels kept, any number of children), and the two documented
steps that make one binary (see :mod:`strae_graph.trees.tree`).

A generic tree is ``(label, [children])`` for a constituent and a ``str`` for a
token.  :meth:`strae_graph.trees.tree.Tree.from_brackets` and
:meth:`~strae_graph.trees.tree.Tree.from_nltk` are :func:`parse_brackets` /
:func:`nltk_to_generic` followed by :func:`binarize_generic`.
"""

from __future__ import annotations

import re
from typing import Literal, Union

from strae_graph.trees.errors import TreeError

Binarize = Literal["right", "left"]
#: nested pairs of tokens, e.g. ``("the", ("big", "dog"))`` (:meth:`Tree.to_nested`)
Nested = Union[str, tuple["Nested", "Nested"]]  # noqa: UP007 (runtime alias)
Generic = Union[str, tuple[str, list["Generic"]]]  # noqa: UP007 (runtime alias)

_TOKEN_RE = re.compile(r"\(|\)|[^\s()]+")


# --- bracket strings and nltk trees -----------------------------------------------------
def parse_brackets(text: str, labelled: bool) -> Generic:
    """A bracket string as a generic n-ary tree (labels kept when ``labelled``;
    traces not yet removed).  Raises :class:`TreeError` naming the character
    offset on malformed input."""
    stack: list[tuple[str, list[Generic], int]] = []
    result: Generic | None = None
    after_open = False
    for m in _TOKEN_RE.finditer(text):
        tok = m.group()
        if result is not None:
            raise TreeError(f"text after the end of the tree at character {m.start()}")
        if tok == "(":
            stack.append(("", [], m.start()))
            after_open = True
            continue
        if tok == ")":
            if not stack:
                raise TreeError(f"unbalanced ')' at character {m.start()}")
            label, kids, start = stack.pop()
            if not kids:
                raise TreeError(f"empty node at character {start}")
            node: Generic = (label, kids)
            if stack:
                stack[-1][1].append(node)
            else:
                result = node
        elif not stack:
            raise TreeError(f"token {tok!r} outside any bracket at character {m.start()}")
        elif labelled and after_open:
            label, kids, start = stack[-1]
            stack[-1] = (tok, kids, start)
        else:
            stack[-1][1].append(tok)
        after_open = False
    if stack:
        raise TreeError(f"unbalanced '(' at character {stack[-1][2]} (missing ')')")
    if result is None:
        raise TreeError("no tree found (empty string)")
    return result


def nltk_to_generic(tree: object) -> Generic:
    """An ``nltk.Tree`` (or a plain token) as a generic n-ary tree, labels kept."""
    if isinstance(tree, str):
        return tree
    label = tree.label() if hasattr(tree, "label") else ""
    return (str(label), [nltk_to_generic(k) for k in tree])  # type: ignore[union-attr]


# --- binary ----------------------------------------------------------------------------
def nested_to_generic(nested: Nested) -> Generic:
    if isinstance(nested, str):
        return nested
    if not (isinstance(nested, tuple) and len(nested) == 2):
        raise TreeError(f"not a binary node: {nested!r}")
    return ("", [nested_to_generic(nested[0]), nested_to_generic(nested[1])])


def strip_empty(node: Generic) -> Generic | None:
    """Remove -NONE- traces and constituents left empty by their removal
    (iterative: bracket strings may nest deeper than Python's recursion limit)."""
    if isinstance(node, str):
        return node
    done: dict[int, Generic | None] = {}
    stack: list[tuple[Generic, bool]] = [(node, False)]
    while stack:
        item, expanded = stack.pop()
        if isinstance(item, str):
            continue
        label, kids = item
        if label == "-NONE-":
            done[id(item)] = None
        elif not expanded:
            stack.append((item, True))
            stack.extend((k, False) for k in kids if not isinstance(k, str))
        else:
            kept = [k if isinstance(k, str) else done[id(k)] for k in kids]
            kept = [k for k in kept if k is not None]
            done[id(item)] = (label, kept) if kept else None
    return done[id(node)]


def binarize_generic(
    node: Generic, binarize: Binarize
) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    """The (tokens, children) of the binary tree of a generic n-ary tree (see
    :class:`strae_graph.trees.tree.Tree` for the numbering): traces removed
    (:func:`strip_empty`), unary chains collapsed, n-ary nodes binarised
    ``binarize``; labels dropped."""
    if binarize not in ("right", "left"):
        raise TreeError(f"binarize must be 'right' or 'left', got {binarize!r}")
    stripped = strip_empty(node)
    if stripped is None:
        raise TreeError("the tree has no tokens (only empty elements)")
    tokens: list[str] = []
    children: list[tuple[int, int]] = []

    # iterative post-order over the generic tree, building binary nodes
    stack: list[tuple[Generic, list[int] | None]] = [(stripped, None)]
    results: list[int] = []
    while stack:
        item, acc = stack.pop()
        if isinstance(item, str):
            results.append(len(tokens))
            tokens.append(item)
            continue
        _, kids = item
        if acc is None:
            stack.append((item, []))
            for k in reversed(kids):
                stack.append((k, None))
            results.append(-1)  # marker
            continue
        # pop the results of this node's kids back to the marker
        ids: list[int] = []
        while results[-1] != -1:
            ids.append(results.pop())
        results.pop()
        ids.reverse()
        results.append(_binarize_ids(ids, children, binarize))

    # internal ids were allocated provisionally as -(k+2); renumber to n + k
    n = len(tokens)

    def real(i: int) -> int:
        return i if i >= 0 else n + (-i - 2)

    return tuple(tokens), tuple((real(a), real(b)) for a, b in children)


def _binarize_ids(ids: list[int], children: list[tuple[int, int]], how: Binarize) -> int:
    """Combine child ids into one binary subtree; unary nodes collapse."""
    if len(ids) == 1:
        return ids[0]

    def new(a: int, b: int) -> int:
        children.append((a, b))
        return -(len(children) - 1) - 2

    if how == "right":
        acc = ids[-1]
        for i in reversed(ids[:-1]):
            acc = new(i, acc)
    else:
        acc = ids[0]
        for i in ids[1:]:
            acc = new(acc, i)
    return acc
