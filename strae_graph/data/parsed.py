"""Reading a dataset of trees written by ``strae parse`` (:mod:`parsers.parsed_corpus`
writes them): a HuggingFace ``datasets`` dataset with one row per sentence
(``line``, ``tokens``, ``children``) and ``strae_parse.json`` beside it.

Training reads such a directory as a corpus that brings its own trees (never
re-parsed), so the reader lives in the core; it needs only the :class:`Tree`
type.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from strae_graph.data.corpus import DataError, ReadStats, fits
from strae_graph.trees.errors import TreeError
from strae_graph.trees.tree import Tree

META_FILE = "strae_parse.json"


def is_parsed_corpus(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a directory written by :func:`parse_corpus`."""
    return (Path(path) / META_FILE).is_file()


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path) / META_FILE
    if not p.is_file():
        raise DataError(f"{path}: not a parsed corpus (no {META_FILE}); make one with strae parse")
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{p}: unreadable ({e})") from None


def load_parsed(path: str | os.PathLike[str]):
    """The ``datasets.Dataset`` of a parsed corpus directory."""
    import datasets

    read_meta(path)
    try:
        return datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as e:
        raise DataError(f"{path}: not a readable dataset ({e})") from None


def iter_parsed_trees(
    path: str | os.PathLike[str],
    max_sentences: int | None = None,
    max_length: int | None = None,
    on_error: str = "skip",
    stats: ReadStats | None = None,
) -> Iterator[tuple[int, Tree]]:
    """``(line, tree)`` for the rows of a parsed corpus, skipping (and counting
    in ``stats.too_long``) trees longer than ``max_length`` like
    :func:`strae_graph.data.corpus.read_sentences` (:func:`strae_graph.data.corpus.fits`)."""
    stats = stats if stats is not None else ReadStats()
    ds = load_parsed(path)
    for batch in ds.iter(batch_size=4096):
        for line, toks, kids in zip(batch["line"], batch["tokens"], batch["children"]):
            stats.lines += 1
            if not fits(path, line, len(toks), max_length, on_error, stats):
                continue
            try:
                tree = Tree(tuple(toks), tuple((a, b) for a, b in kids))
            except TreeError as e:
                raise DataError(f"{path}, row for line {line}: bad tree ({e})") from None
            stats.kept += 1
            yield line, tree
            if max_sentences is not None and stats.kept >= max_sentences:
                return
