"""What the core asks of a structure source: a :data:`Parse` callable.

The core never names structures itself (their one registry is
:mod:`parsers.structures`): training, embedding and benchmarking are handed a
``parse(sentences, structure, seed)`` that returns one tree per sentence over
exactly its tokens, by the layer above (``parsers.api``, the command line).
:func:`parsers.tree_cache.parse_cached` is that callable for every registered
structure.

The one structure the core knows by name is :data:`SELF`: the trees the model
being trained (or embedding) induces itself (:mod:`strae_graph.model.self_strae`),
which need no parse.  An embedder given no parse also builds :data:`BALANCED`
trees itself: the core's own shape (:func:`strae_graph.trees.shapes.balanced`,
which the registry's ``balanced`` is), so a balanced model embeds with the
core alone.  A ``strae parse`` dataset as the corpus brings its own
trees (:mod:`strae_graph.data.parsed`) and needs none either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from strae_graph.trees.tree import Tree


class Parse(Protocol):
    """``parse(token lists, structure name, seed, first_index=0)`` -> one tree per
    token list; ``first_index`` is the index of the first list in its part of
    the corpus (``random`` trees are seeded per sentence index)."""

    def __call__(
        self, sentences: Sequence[Sequence[str]], structure: str, seed: int, *,
        first_index: int = 0,
    ) -> list[Tree]: ...  # fmt: skip


#: trees induced by the model itself (strae_graph.model.self_strae), never parsed
SELF = "self"
#: the core's own balanced shape (strae_graph.trees.shapes; the registry's "balanced")
BALANCED = "balanced"


def no_parse(structure: str) -> ValueError:
    """The error of a core call that needs trees of ``structure`` but got no parse."""
    return ValueError(
        f"structure {structure!r}: no parse was given to build its trees; pass "
        "parse=parsers.tree_cache.parse_cached (or call parsers.api.train / "
        "parsers.api.load_embedder, which do; load_embedder also loads model directories)"
    )
