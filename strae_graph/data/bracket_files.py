"""Bracket files: one bracketed tree per line (the PTB sample, gold trees).

Each line is parsed as :meth:`strae_graph.trees.tree.Tree.from_brackets` does."""

from __future__ import annotations

import os
from collections.abc import Iterator

from strae_graph.data.corpus import iter_lines
from strae_graph.trees.errors import TreeError
from strae_graph.trees.nary import Binarize
from strae_graph.trees.tree import Tree


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
            tree = Tree.from_brackets(line, binarize=binarize)
        except TreeError as e:
            raise TreeError(f"{path}, line {lineno}: {e}") from None
        yield tree
