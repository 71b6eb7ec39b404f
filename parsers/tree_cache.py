"""A content-hash cache of parser trees for ``strae train``, ``strae compare`` and
``Embedder.parse`` (all through :func:`parse_cached`).

Parsing with spaCy or benepar costs far more than a short training run (spaCy:
~400 sentences/s on one core), and a structure study trains the same parsed
slice once per objective and seed.  :func:`parse_cached` keys the trees on the
SHA-256 of the structure, the parser's identity (package and model versions,
or the model file's hash: for benepar, of the model the default resolves to,
and its binarisation, ``chart`` by default)
and every token list, and keeps them as gzipped JSON lines in ``cache_dir()``
(``$STRAE_CACHE``, else ``$XDG_CACHE_HOME/strae-graph``, else
``~/.cache/strae-graph``), under ``trees/``.  Heuristic structures are
cheaper to rebuild than to read and are never cached.
"""

from __future__ import annotations

import functools
import gzip
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from strae_graph.trees.errors import TreeError
from strae_graph.trees.tree import Tree
from strae_graph.util.fileio import atomic_open, cache_dir, sentences_sha256

FORMAT = 1


def parser_identity(structure: str, options: dict[str, Any] | None = None) -> dict[str, str | None]:
    """What decides the trees of a parser structure besides its input, under
    parser ``options`` (default: none, the default model): its registry entry's
    ``identity`` (benepar: the resolved model file's SHA-256)."""
    from parsers.structures import REGISTRY

    entry = REGISTRY.get(structure)
    if entry is None or entry.identity is None:
        raise ValueError(f"structure {structure!r} is not a cached parser structure")
    return entry.identity(dict(options or {}))


def cacheable(structure: str, options: dict[str, Any] | None) -> bool:
    """Whether trees of ``structure`` under ``options`` may be cached: a parser
    structure whose identity covers every one of the options (its registry
    entry's ``cached_options``)."""
    from parsers.structures import REGISTRY

    entry = REGISTRY.get(structure)
    return (entry is not None and entry.identity is not None
            and set(options or {}) <= set(entry.cached_options))  # fmt: skip


def cache_key(
    sentences: Sequence[Sequence[str]], structure: str, options: dict[str, Any] | None = None
) -> str:
    """SHA-256 of the format, structure, parser identity (under ``options``) and
    token lists."""
    head = {"format": FORMAT, "structure": structure,
            "parser": parser_identity(structure, options)}  # fmt: skip
    return sentences_sha256(head, sentences)


def _read(path: Path, sentences: Sequence[Sequence[str]]) -> list[Tree] | None:
    """The cached trees, or None when the file is unreadable or does not match."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        if len(rows) != len(sentences):
            return None
        trees = [Tree(tuple(s), tuple((a, b) for a, b in kids)) for s, kids in zip(sentences, rows)]
    except (OSError, EOFError, ValueError, TypeError, TreeError):
        return None
    return trees


def _write(path: Path, trees: Sequence[Tree]) -> None:
    """Write atomically: a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as raw, gzip.open(raw, "wt", encoding="utf-8") as f:
        for t in trees:
            f.write(json.dumps([list(c) for c in t.children]) + "\n")


def parse_cached(
    sentences: Sequence[Sequence[str]],
    structure: str,
    seed: int = 0,
    *,
    first_index: int = 0,
    parse: Callable[[Sequence[Sequence[str]]], list[Tree]] | None = None,
    options: dict[str, Any] | None = None,
) -> list[Tree]:
    """``parsers.parse_sentences(sentences, structure, seed=seed,
    first_index=first_index, **options)`` (a :data:`strae_graph.trees.source.Parse`);
    the trees of parser structures (spacy, benepar: default models unless
    ``options`` say otherwise) are read from the cache when these sentences were
    parsed before by the same parser, written to it otherwise.  A damaged cache
    file is parsed again and replaced, never trusted.  ``options``: only those
    the parser's identity covers (:func:`cacheable`), else a ValueError.

    ``parse`` replaces the parser of a parser structure (tests count its calls)."""
    from parsers import PARSERS, parse_sentences

    if structure not in PARSERS:
        if parse is not None or options:
            raise ValueError(f"structure {structure!r} is not a cached parser structure")
        return parse_sentences(sentences, structure, seed=seed, first_index=first_index)
    if not cacheable(structure, options):
        raise ValueError(f"structure {structure!r}: options {sorted(options or {})} are not "
                         "all part of the tree cache's key")  # fmt: skip
    if not sentences:
        return []
    parse = parse or functools.partial(parse_sentences, structure=structure, **(options or {}))
    key = cache_key(sentences, structure, options)
    path = cache_dir() / "trees" / f"{structure}-{key[:32]}.jsonl.gz"
    if path.is_file():
        trees = _read(path, sentences)
        if trees is not None:
            return trees
    trees = parse(sentences)
    try:
        _write(path, trees)
    except OSError as e:  # a read-only or full cache never fails a run
        print(f"warning: could not write the tree cache {path}: {e}", file=sys.stderr)
    return trees
