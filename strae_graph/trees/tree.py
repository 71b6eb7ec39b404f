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

Parsing bracket strings and ``nltk.Tree`` input into the generic n-ary form, and
the binarisation, live in :mod:`strae_graph.trees.nary`; drawing in
:mod:`strae_graph.trees.draw` (which names the Tree type for type checking only);
bracket files are read by :mod:`strae_graph.data.bracket_files`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from strae_graph.trees.draw import draw_tree
from strae_graph.trees.errors import TreeError
from strae_graph.trees.nary import (
    Binarize,
    Generic,
    Nested,
    binarize_generic,
    nested_to_generic,
    nltk_to_generic,
    parse_brackets,
)

if TYPE_CHECKING:
    import networkx as nx


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
        out = [_escape(t) for t in self.tokens]
        if len(out) == 1:
            return f"({out[0]})"
        for left, right in self.children:
            out.append(f"({out[left]} {out[right]})")
        return out[-1]

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
        draw_tree(self, path, title=title)

    # -- constructors -------------------------------------------------------
    @classmethod
    def from_nested(cls, nested: Nested) -> Tree:
        """Build from nested pairs of strings (the inverse of :meth:`to_nested`)."""
        return tree_from_generic(nested_to_generic(nested), "right")

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
        return tree_from_generic(parse_brackets(text, labelled), binarize)

    @classmethod
    def from_nltk(cls, tree: object, binarize: Binarize = "right") -> Tree:
        """Convert an ``nltk.Tree`` (labels dropped, traces removed)."""
        return tree_from_generic(nltk_to_generic(tree), binarize)

    @classmethod
    def from_spans(cls, tokens: Sequence[str], children: Sequence[tuple[int, int]]) -> Tree:
        return cls(tuple(tokens), tuple((int(a), int(b)) for a, b in children))


def tree_from_generic(node: Generic, binarize: Binarize) -> Tree:
    """The binary tree of a generic n-ary tree (:func:`strae_graph.trees.nary.binarize_generic`)."""
    return Tree(*binarize_generic(node, binarize))


def _escape(token: str) -> str:
    return token.replace("(", "-LRB-").replace(")", "-RRB-") if token else token
