"""Dependency parses -> binary constituency trees.

A dependency parse gives every token a head (a root is its own head).  It is
turned into a binary tree over exactly the same tokens as follows.

1. **Projectivisation by lifting.**  A binary constituency tree needs every
   head's subtree to be a contiguous span.  Any arc ``h -> d`` that crosses a
   token which is not a descendant of ``h`` is *lifted*: ``d`` is re-attached
   to ``h``'s head (or becomes a root), repeated until no arc crosses.
2. **Attachment order** (``attach="right-first"``, the default): a head first
   combines with its right dependents, nearest first, then with its left
   dependents, nearest first.  For ``she gave him a book`` (head ``gave``,
   left dependent ``she``, right dependents ``him``, ``book``) this gives
   ``(she ((gave him) (a book)))``: complements bind before the subject, the
   X-bar / VP-style reading.  ``attach="left-first"`` takes the left
   dependents first instead: ``(((she gave) him) (a book))``.
3. **Several roots** (spaCy may split one line into several sentences): the
   root subtrees are combined right-branching, ``(s1 (s2 s3))``, the same way
   n-ary nodes of bracketed trees are binarised by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from strae_graph.trees.errors import TreeError
from strae_graph.trees.tree import Tree

Attach = Literal["right-first", "left-first"]
ATTACH_ORDERS: tuple[str, ...] = ("right-first", "left-first")


def projectivize(heads: Sequence[int]) -> list[int]:
    """Lift non-projective arcs until every subtree is a contiguous span.

    heads: ``heads[i]`` is the index of token i's head, ``i`` itself for a root.
    Returns new heads (same convention) with every arc projective.
    """
    h = [int(x) for x in heads]
    n = len(h)
    for i, x in enumerate(h):
        if not 0 <= x < n:
            raise TreeError(f"token {i}: head {x} is outside the sentence (0..{n - 1})")
    while True:
        changed = False
        for d in range(n):
            head = h[d]
            if head == d:
                continue
            lo, hi = (head, d) if head < d else (d, head)
            for k in range(lo + 1, hi):
                # is k a descendant of head?
                a, steps = k, 0
                while a != head and h[a] != a and steps <= n:
                    a, steps = h[a], steps + 1
                if a != head:
                    h[d] = h[head] if h[head] != head else d  # lift (or make a root)
                    changed = True
                    break
        if not changed:
            return h


def _check_acyclic(h: list[int]) -> None:
    n = len(h)
    for i in range(n):
        a, steps = i, 0
        while h[a] != a:
            a, steps = h[a], steps + 1
            if steps > n:
                raise TreeError(f"the dependency heads contain a cycle through token {i}")


def tree_from_heads(
    tokens: Sequence[str], heads: Sequence[int], attach: Attach = "right-first"
) -> Tree:
    """The binary tree of a dependency parse (see the module docstring).

    tokens: the n leaves; heads: n head indices (a root points to itself).
    """
    n = len(tokens)
    if len(heads) != n:
        raise TreeError(f"{n} tokens but {len(heads)} heads")
    if attach not in ATTACH_ORDERS:
        raise ValueError(f"attach must be one of {', '.join(ATTACH_ORDERS)}, got {attach!r}")
    if n == 0:
        raise TreeError("a tree needs at least one token")
    h = [int(x) for x in heads]
    for i, x in enumerate(h):
        if not 0 <= x < n:
            raise TreeError(f"token {i}: head {x} is outside the sentence (0..{n - 1})")
    _check_acyclic(h)
    h = projectivize(h)
    left: list[list[int]] = [[] for _ in range(n)]
    right: list[list[int]] = [[] for _ in range(n)]
    roots: list[int] = []
    for d in range(n):  # increasing d: right deps come out nearest first
        if h[d] == d:
            roots.append(d)
        elif d < h[d]:
            left[h[d]].append(d)
        else:
            right[h[d]].append(d)
    for lst in left:
        lst.reverse()  # nearest first

    children: list[tuple[int, int]] = []

    def new(a: int, b: int) -> int:
        children.append((a, b))
        return n + len(children) - 1

    # iterative post-order: a node's dependents are built before the node
    built: dict[int, int] = {}
    order: list[int] = []
    stack = list(reversed(roots))
    while stack:
        v = stack.pop()
        order.append(v)
        stack.extend(left[v])
        stack.extend(right[v])
    for v in reversed(order):  # dependents before heads
        acc = v
        if attach == "right-first":
            for r in right[v]:
                acc = new(acc, built[r])
            for lft in left[v]:
                acc = new(built[lft], acc)
        else:
            for lft in left[v]:
                acc = new(built[lft], acc)
            for r in right[v]:
                acc = new(acc, built[r])
        built[v] = acc
    acc = built[roots[-1]]
    for r in reversed(roots[:-1]):
        acc = new(built[r], acc)
    tree = Tree(tuple(tokens), tuple(children))
    if not tree.is_projective():  # cannot happen after projectivize; guard the invariant
        raise TreeError("dependency conversion produced a non-contiguous tree")
    return tree.canonical()
