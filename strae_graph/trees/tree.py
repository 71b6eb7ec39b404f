"""Binary trees over tokenised sentences.

A :class:`Tree` over ``n`` tokens has ``2n - 1`` nodes.  Nodes ``0 .. n-1`` are
the leaves in sentence order; nodes ``n .. 2n-2`` are internal, listed in
post-order (each internal node comes after both of its children), so the root
is always the last node.  ``children[i]`` is the ``(left, right)`` pair of node
``n + i``.

Bracketed and nltk trees are turned into binary trees by two documented steps:

* unary chains are collapsed (a node with one child is replaced by that child;
  a pre-terminal ``(NN dog)`` becomes the leaf ``dog``);
* n-ary nodes are binarised, ``"right"`` (default) as ``(a (b (c d)))`` or
  ``"left"`` as ``(((a b) c) d)``.

Labels are dropped: StrAE uses only the shape of the tree.

Parsing and writing bracket strings, ``nltk.Tree`` input and bracket files live
in :mod:`strae_graph.trees.brackets`; drawing in :mod:`strae_graph.trees.draw`.  The
methods :meth:`Tree.from_brackets`, :meth:`Tree.from_nltk`, :meth:`Tree.to_brackets`
and :meth:`Tree.draw` call them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Union

if TYPE_CHECKING:
    import networkx as nx

Binarize = Literal["right", "left"]
Nested = Union[str, tuple["Nested", "Nested"]]  # noqa: UP007 (runtime alias)


class TreeError(ValueError):
    """A tree or bracket string that cannot become a binary tree over its tokens."""


@dataclass(frozen=True)
class Tree:
    """A binary tree over ``tokens``; see the module docstring for node ids."""

    tokens: tuple[str, ...]
    children: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        n = len(self.tokens)
        if n == 0:
            raise TreeError("a tree needs at least one token")
        if len(self.children) != n - 1:
            raise TreeError(f"{n} tokens need {n - 1} internal nodes, got {len(self.children)}")
        used = [False] * (2 * n - 1)
        for i, (left, right) in enumerate(self.children):
            node = n + i
            for child in (left, right):
                if not 0 <= child < node:
                    raise TreeError(f"node {node}: child {child} must come before it (post-order)")
                if used[child]:
                    raise TreeError(f"node {child} has two parents")
                used[child] = True
        # n - 1 internal nodes with 2 distinct children each use 2n - 2 nodes:
        # every node but the root, so the tree is connected.

    # -- basic properties -------------------------------------------------
    @property
    def n_leaves(self) -> int:
        return len(self.tokens)

    @property
    def n_nodes(self) -> int:
        return 2 * len(self.tokens) - 1

    @property
    def root(self) -> int:
        return self.n_nodes - 1

    def parents(self) -> list[int]:
        """Parent of every node; the root's parent is -1."""
        parent = [-1] * self.n_nodes
        for i, (left, right) in enumerate(self.children):
            parent[left] = parent[right] = self.n_leaves + i
        return parent

    def positions(self) -> list[int]:
        """0 if a node is its parent's left child, 1 if right; 0 for the root."""
        pos = [0] * self.n_nodes
        for _, right in self.children:
            pos[right] = 1
        return pos

    def heights(self) -> list[int]:
        """Leaves 0; an internal node is 1 + the larger height of its children."""
        h = [0] * self.n_nodes
        n = self.n_leaves
        for i, (left, right) in enumerate(self.children):
            h[n + i] = 1 + max(h[left], h[right])
        return h

    def depths(self) -> list[int]:
        """Root 0; a child is 1 + its parent's depth."""
        d = [0] * self.n_nodes
        n = self.n_leaves
        for i in range(len(self.children) - 1, -1, -1):
            left, right = self.children[i]
            d[left] = d[right] = d[n + i] + 1
        return d

    def spans(self) -> list[tuple[int, int]]:
        """Half-open token span ``(start, end)`` of every node."""
        n = self.n_leaves
        span = [(i, i + 1) for i in range(n)] + [(0, 0)] * (n - 1)
        for i, (left, right) in enumerate(self.children):
            span[n + i] = (span[left][0], span[right][1])
        return span

    def is_projective(self) -> bool:
        """True when every node covers a contiguous span, left child first."""
        n = self.n_leaves
        span = [(i, i + 1) for i in range(n)] + [(0, 0)] * (n - 1)
        for i, (left, right) in enumerate(self.children):
            if span[left][1] != span[right][0]:
                return False
            span[n + i] = (span[left][0], span[right][1])
        return True

    def canonical(self) -> Tree:
        """The same tree with internal nodes renumbered in left-to-right
        post-order (the order :meth:`from_brackets` produces), so that two
        trees of the same shape compare equal."""
        n = self.n_leaves
        if n == 1:
            return self
        new_children: list[tuple[int, int]] = []
        new_id: dict[int, int] = {i: i for i in range(n)}
        stack: list[tuple[int, bool]] = [(self.root, False)]
        while stack:
            v, done = stack.pop()
            if v < n:
                continue
            left, right = self.children[v - n]
            if done:
                new_children.append((new_id[left], new_id[right]))
                new_id[v] = n + len(new_children) - 1
            else:
                stack += [(v, True), (right, False), (left, False)]
        return Tree(self.tokens, tuple(new_children))

    @property
    def height(self) -> int:
        return self.heights()[-1]

    # -- conversions --------------------------------------------------------
    def to_nested(self) -> Nested:
        """The tree as nested pairs of tokens, e.g. ``("the", ("big", "dog"))``."""
        built: list[Nested] = list(self.tokens)
        for left, right in self.children:
            built.append((built[left], built[right]))
        return built[-1]

    def to_brackets(self) -> str:
        """Unlabelled bracket string, e.g. ``(the (big dog))``; inverse of
        from_brackets(labelled=False).  A one-token tree is ``(word)``."""
        from strae_graph.trees.brackets import tree_to_brackets

        return tree_to_brackets(self)

    def to_networkx(self) -> nx.DiGraph:
        """A networkx DiGraph with edges parent -> child.

        Node attributes: ``token`` (leaves), ``position`` (0 left / 1 right),
        ``span``, ``is_leaf``, ``is_root``.
        """
        import networkx as nx

        g = nx.DiGraph()
        pos = self.positions()
        spans = self.spans()
        for v in range(self.n_nodes):
            g.add_node(
                v,
                token=self.tokens[v] if v < self.n_leaves else None,
                position=pos[v],
                span=spans[v],
                is_leaf=v < self.n_leaves,
                is_root=v == self.root,
            )
        for i, (left, right) in enumerate(self.children):
            g.add_edge(self.n_leaves + i, left, position=0)
            g.add_edge(self.n_leaves + i, right, position=1)
        return g

    def draw(self, path: str, title: str | None = None) -> None:
        """Draw the tree as a PNG: leaves at the bottom in sentence order, root on top."""
        from strae_graph.trees.draw import draw_tree

        draw_tree(self, path, title=title)

    # -- constructors -------------------------------------------------------
    @classmethod
    def from_nested(cls, nested: Nested) -> Tree:
        """Build from nested pairs of strings (the inverse of :meth:`to_nested`)."""
        return tree_from_generic(_nested_to_generic(nested), "right")

    @classmethod
    def from_brackets(cls, text: str, binarize: Binarize = "right", labelled: bool = True) -> Tree:
        """Parse a bracket string into a binary tree.

        ``labelled=True`` (PTB, SST, benepar output): the first token after
        ``(`` is the node's label, e.g. ``(S (NP (DT the) (NN dog)) (VP (VBZ
        barks)))``, the PTB wrapper ``( (S ...))`` or SST ``(3 (2 the) (2
        dog))``.  ``labelled=False``: every token is a word, e.g. ``(the (big
        dog))`` as written by :meth:`to_brackets`.  Empty elements (``-NONE-``
        traces) are removed.  Raises :class:`TreeError` naming the character
        offset on malformed input.
        """
        from strae_graph.trees.brackets import tree_from_brackets

        return tree_from_brackets(text, binarize, labelled)

    @classmethod
    def from_nltk(cls, tree: object, binarize: Binarize = "right") -> Tree:
        """Convert an ``nltk.Tree`` (labels dropped, traces removed)."""
        from strae_graph.trees.brackets import tree_from_nltk

        return tree_from_nltk(tree, binarize)

    @classmethod
    def from_spans(cls, tokens: Sequence[str], children: Sequence[tuple[int, int]]) -> Tree:
        return cls(tuple(tokens), tuple((int(a), int(b)) for a, b in children))


# --- generic n-ary trees -------------------------------------------------------
# A generic tree is (label, [children]) for constituents and a str for a token:
# what strae_graph.trees.brackets parses bracket strings and nltk trees into.
Generic = Union[str, tuple[str, list["Generic"]]]  # noqa: UP007 (runtime alias)


def _nested_to_generic(nested: Nested) -> Generic:
    if isinstance(nested, str):
        return nested
    if not (isinstance(nested, tuple) and len(nested) == 2):
        raise TreeError(f"not a binary node: {nested!r}")
    return ("", [_nested_to_generic(nested[0]), _nested_to_generic(nested[1])])


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


def tree_from_generic(node: Generic, binarize: Binarize) -> Tree:
    """The binary tree of a generic n-ary tree: traces removed
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

    fixed = tuple((real(a), real(b)) for a, b in children)
    return Tree(tuple(tokens), fixed)


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
