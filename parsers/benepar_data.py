"""Treebank preparation for :mod:`parsers.benepar_train`.

Trees are read from a bracketed file (see :mod:`parsers.gold`), cleaned the way
parser training expects (``-NONE-`` traces, function tags and emptied
constituents removed, PTB escapes such as ``-LRB-`` undone) and kept in their
original case.  :func:`lowered` gives the lower-cased copy of an example, the
form the project's tokeniser produces, so that a model can be trained on both
(``case="mixed"``) and parse either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strae_graph.data.corpus import DataError

#: how the training words are cased: as written, lower-cased like the tokeniser,
#: or each example lower-cased with probability ``lower_prob`` per epoch
CASES = ("cased", "lower", "mixed")


@dataclass
class TrainingExample:
    """A sentence with its gold tree, as benepar's training code expects."""

    words: list[str]
    space_after: list[bool]
    tree: Any

    def leaves(self) -> list[str]:
        return self.tree.leaves()

    def pos(self) -> list[tuple[str, str]]:
        return self.tree.pos()


def clean_tree(tree: Any, lowercase: bool = False) -> Any | None:
    """An nltk tree without ``-NONE-`` traces, function tags (``NP-SBJ-1`` ->
    ``NP``) or emptied constituents; leaves unescaped (and lower-cased)."""
    import nltk

    from parsers.gold import unescape

    if isinstance(tree, str):
        word = unescape(tree)
        return word.lower() if lowercase else word
    label = tree.label()
    if label == "-NONE-":
        return None
    if label and not label.startswith("-"):
        label = label.split("-")[0].split("=")[0]
    kids = [k for k in (clean_tree(c, lowercase) for c in tree) if k is not None]
    if not kids:
        return None
    return nltk.Tree(label, kids)


def _example(tree: Any) -> TrainingExample:
    words = tree.leaves()
    return TrainingExample(list(words), [True] * len(words), tree)


def load_examples(path: str | Path, lowercase: bool = False) -> list[TrainingExample]:
    """Every tree of a bracketed file as a training example, under a ``TOP`` root."""
    import nltk

    from parsers.gold import iter_bracket_strings

    out = []
    for k, text in iter_bracket_strings(path):
        try:
            raw = nltk.Tree.fromstring(text)
        except ValueError as e:
            raise DataError(f"{path}, tree {k}: {e}") from None
        tree = clean_tree(raw, lowercase)
        if tree is None:
            continue
        if tree.label() in ("", "ROOT", "TOP"):
            tree.set_label("TOP")
        else:
            tree = nltk.Tree("TOP", [tree])
        out.append(_example(tree))
    return out


def lowered(example: TrainingExample) -> TrainingExample:
    """A copy of ``example`` with every word lower-cased (tree leaves too)."""
    tree = example.tree.copy(deep=True)
    for pos in tree.treepositions("leaves"):
        tree[pos] = tree[pos].lower()
    return _example(tree)


def split_examples(
    examples: Sequence[TrainingExample], held_out: int, dev: int
) -> tuple[list[TrainingExample], list[TrainingExample], list[TrainingExample]]:
    """(train, dev, test): the last ``held_out`` are test, the ``dev`` before them dev."""
    if held_out + dev >= len(examples):
        raise DataError(f"only {len(examples)} trees: too few for {dev} dev + {held_out} test")
    n_train = len(examples) - held_out - dev
    return (
        list(examples[:n_train]),
        list(examples[n_train : n_train + dev]),
        list(examples[n_train + dev :]),
    )
