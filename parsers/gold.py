"""Gold trees from bracketed files; their leaves come from the file.

Formats (chosen by the file name):

* ``*.zip``: the NLTK ``treebank`` sample (``treebank/combined/wsj_*.mrg``,
  several multi-line trees per file);
* anything else (optionally ``.gz``): one bracketed tree per line, with an
  optional ``name<TAB>`` first column: the PTB sample
  (``ptb_sample_combined.mrg.oneline.txt.gz``) and the SST trees
  (``sst/train.txt``, labels are sentiment classes).

Leaves are unescaped (``-LRB-`` -> ``(``, ``````/``''`` -> ``"``) and lower-cased
like :func:`strae_graph.data.corpus.tokenize` by default (``lowercase=False`` keeps
the case).  Trees are binarised as :meth:`Tree.from_brackets` does (traces
removed, unary chains collapsed, right binarisation by default).
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from parsers.chart_tree import check_binarize
from strae_graph.data.bracket_files import iter_bracket_lines
from strae_graph.data.corpus import DataError, check_input_file
from strae_graph.trees.errors import TreeError
from strae_graph.trees.nary import Binarize, Generic, nltk_to_generic, parse_brackets, strip_empty
from strae_graph.trees.tree import Tree

PTB_ESCAPES = {
    "-LRB-": "(", "-RRB-": ")", "-LCB-": "{", "-RCB-": "}", "-LSB-": "[", "-RSB-": "]",
    "``": '"', "''": '"',
}  # fmt: skip


def unescape(token: str) -> str:
    """A PTB token as plain text (``-LRB-`` -> ``(``)."""
    return PTB_ESCAPES.get(token, token)


def iter_bracket_strings(path: str | os.PathLike[str]) -> Iterator[tuple[int, str]]:
    """``(number, bracket string)`` for every tree in ``path``.  The number is
    the line for one-tree-per-line files (read by
    :func:`strae_graph.data.bracket_files.iter_bracket_lines`), the tree's position
    (1-based) in a zip."""
    p = check_input_file(path)
    if p.suffix == ".zip":
        yield from _iter_zip(p)
        return
    yield from iter_bracket_lines(p)


def tree_location(path: str | os.PathLike[str], number: int) -> str:
    """Where the tree numbered ``number`` by :func:`iter_bracket_strings` is:
    ``"FILE, line N"``, or ``"FILE, tree N"`` in a zip."""
    return f"{path}, {'tree' if Path(path).suffix == '.zip' else 'line'} {number}"


def _iter_zip(p: Path) -> Iterator[tuple[int, str]]:
    try:
        zf = zipfile.ZipFile(p)
    except zipfile.BadZipFile as e:
        raise DataError(f"{p}: not a zip file ({e})") from None
    with zf:
        names = sorted(n for n in zf.namelist() if re.search(r"combined/.*\.mrg$", n))
        if not names:
            raise DataError(f"{p}: no treebank/combined/*.mrg files (expected the NLTK treebank)")
        k = 0
        for name in names:
            text = zf.read(name).decode("utf-8", errors="replace")
            for tree in _split_trees(text, f"{p}:{name}"):
                k += 1
                yield k, tree


def _split_trees(text: str, where: str) -> Iterator[str]:
    """Top-level bracketed expressions of ``text``."""
    depth, start = 0, None
    for i, ch in enumerate(text):
        if ch == "(":
            if depth == 0:
                start = i
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise DataError(f"{where}: unbalanced ')' at character {i}")
            if depth == 0 and start is not None:
                yield " ".join(text[start : i + 1].split())
    if depth != 0:
        raise DataError(f"{where}: unbalanced '(' at the end of the file")


def _clean_leaves(tree: Tree, lowercase: bool) -> Tree:
    toks = tuple(unescape(t).lower() if lowercase else unescape(t) for t in tree.tokens)
    return Tree(toks, tree.children)


def iter_gold_trees(
    path: str | os.PathLike[str], binarize: Binarize = "right", lowercase: bool = True
) -> Iterator[tuple[int, Tree]]:
    """``(number, binary tree)`` for every tree in ``path`` (see the module docstring)."""
    check_binarize(binarize, "gold")  # chart: bracketed trees have no span scores
    for k, text in iter_bracket_strings(path):
        try:
            tree = Tree.from_brackets(text, binarize=binarize)
        except TreeError as e:
            raise DataError(f"{tree_location(path, k)}: {e}") from None
        yield k, _clean_leaves(tree, lowercase)


def constituent_spans(text: str) -> tuple[list[str], set[tuple[int, int]]]:
    """Leaves and the set of n-ary constituent spans ``(start, end)`` of a
    labelled bracket string (traces removed; spans of one token and of the whole
    sentence left out, as in unlabelled bracket F1)."""
    return _generic_spans(parse_brackets(text, labelled=True))


def nltk_constituent_spans(tree: object) -> tuple[list[str], set[tuple[int, int]]]:
    """:func:`constituent_spans` of an ``nltk.Tree``."""
    return _generic_spans(nltk_to_generic(tree))


def _generic_spans(generic: Generic) -> tuple[list[str], set[tuple[int, int]]]:
    node = strip_empty(generic)
    if node is None:
        raise TreeError("the tree has no tokens")
    leaves: list[str] = []
    spans: set[tuple[int, int]] = set()
    stack: list[tuple[object, int | None]] = [(node, None)]  # iterative: any depth works
    while stack:
        n, start = stack.pop()
        if isinstance(n, str):
            leaves.append(n)
        elif start is not None:  # every child done: close the span
            spans.add((start, len(leaves)))
        else:
            stack.append((n, len(leaves)))
            stack.extend((k, None) for k in reversed(n[1]))
    whole = (0, len(leaves))
    return leaves, {s for s in spans if s[1] - s[0] > 1 and s != whole}
