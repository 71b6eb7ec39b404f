"""Trees to and from text: bracket strings, ``nltk.Tree`` and bracket files.

Parsing turns the input into a generic n-ary tree (:data:`strae_graph.trees.tree.Generic`),
which :func:`strae_graph.trees.tree.tree_from_generic` makes binary (traces removed, unary
chains collapsed, n-ary nodes binarised).  :meth:`Tree.from_brackets`,
:meth:`Tree.from_nltk` and :meth:`Tree.to_brackets` call the functions here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from strae_graph.data.corpus import iter_lines
from strae_graph.trees.tree import Binarize, Generic, Tree, TreeError, tree_from_generic

_TOKEN_RE = re.compile(r"\(|\)|[^\s()]+")


# --- bracket strings ------------------------------------------------------------
def _escape(token: str) -> str:
    return token.replace("(", "-LRB-").replace(")", "-RRB-") if token else token


def tree_to_brackets(tree: Tree) -> str:
    """Unlabelled bracket string, e.g. ``(the (big dog))``; inverse of
    ``tree_from_brackets(text, labelled=False)``.  A one-token tree is ``(word)``."""
    out = [_escape(t) for t in tree.tokens]
    if len(out) == 1:
        return f"({out[0]})"
    for left, right in tree.children:
        out.append(f"({out[left]} {out[right]})")
    return out[-1]


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


def tree_from_brackets(text: str, binarize: Binarize = "right", labelled: bool = True) -> Tree:
    """:meth:`Tree.from_brackets` (see there)."""
    return tree_from_generic(parse_brackets(text, labelled), binarize)


# --- nltk -----------------------------------------------------------------------------
def nltk_to_generic(tree: object) -> Generic:
    """An ``nltk.Tree`` (or a plain token) as a generic n-ary tree, labels kept."""
    if isinstance(tree, str):
        return tree
    label = tree.label() if hasattr(tree, "label") else ""
    return (str(label), [nltk_to_generic(k) for k in tree])  # type: ignore[union-attr]


def tree_from_nltk(tree: object, binarize: Binarize = "right") -> Tree:
    """:meth:`Tree.from_nltk` (see there)."""
    return tree_from_generic(nltk_to_generic(tree), binarize)


# --- bracket files ----------------------------------------------------------------------
def iter_bracket_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, str]]:
    """``(line number, bracket string)`` of a file with one bracketed tree per
    line (UTF-8, gzipped or not): surrounding whitespace is stripped, empty lines
    are skipped, and a leading ``name<TAB>`` column (as in the PTB sample) is
    dropped.  :class:`~strae_graph.data.corpus.DataError` for a missing, unreadable or
    undecodable file."""
    for lineno, line in iter_lines(path):
        line = line.strip()
        if not line:
            continue
        if "\t" in line:
            line = line.split("\t", 1)[1]
        yield lineno, line


def iter_bracket_file(path: str | os.PathLike[str], binarize: Binarize = "right") -> Iterator[Tree]:
    """Trees from a file with one bracketed tree per line (read as
    :func:`iter_bracket_lines` does); a malformed tree raises :class:`TreeError`
    naming the file and line."""
    for lineno, line in iter_bracket_lines(path):
        try:
            tree = tree_from_brackets(line, binarize=binarize)
        except TreeError as e:
            raise TreeError(f"{path}, line {lineno}: {e}") from None
        yield tree
