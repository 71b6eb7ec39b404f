"""Syntactic trees from benepar (Berkeley Neural Parser) constituency parses.

benepar is given the project's tokens (``benepar.InputSentence(words=tokens)``);
its n-ary output becomes a binary tree by :meth:`Tree.from_nltk`: unary chains
collapsed, n-ary nodes binarised right (``binarize="right"``, default) or left.

The pretrained models (``benepar_en3``, ...) are downloaded by
``benepar.download`` from a host that offline machines cannot reach; a missing
model raises :class:`ParserError` at once with instructions.  A model trained
here with ``strae benepar-train`` (a directory or ``.pt`` file) is passed by path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from parsers.errors import ParserError, parser_input
from strae_graph.tree import Binarize, Tree, TreeError

DEFAULT_BENEPAR_MODEL = "benepar_en3"

MISSING_MODEL_HELP = (
    "benepar model {name!r} is not installed{why}. Install it on a machine with internet "
    "access with  python -c \"import benepar; benepar.download('{name}')\"  (it goes into "
    "nltk_data/models/), or pass a model path with --benepar-model PATH (for example one "
    "trained offline with  strae benepar-train --out PATH). Syntactic sources that work "
    "offline: --structure spacy (spaCy dependency parses, the default syntactic source) and "
    "--structure gold (bracketed tree files)."
)


@lru_cache(maxsize=4)
def load_benepar(model: str = DEFAULT_BENEPAR_MODEL, batch_size: int = 64) -> Any:
    """A ``benepar.Parser`` for ``model`` (a name such as ``benepar_en3`` or a path)."""
    try:
        import benepar
    except ImportError as e:  # pragma: no cover - benepar is a declared dependency
        raise ParserError(f"benepar is not installed ({e}); pip install benepar==0.2.0") from None
    looks_like_path = os.sep in model or model.endswith(".pt") or model.startswith(".")
    if looks_like_path and not os.path.exists(model):
        raise ParserError(
            MISSING_MODEL_HELP.format(name=model, why=f" (no file or directory at {model})")
        )
    try:
        return benepar.Parser(model, batch_size=batch_size)
    except LookupError:
        raise ParserError(
            MISSING_MODEL_HELP.format(name=model, why=" (not found in any nltk_data folder)")
        ) from None
    except (OSError, KeyError, RuntimeError, ValueError) as e:
        raise ParserError(f"benepar model {model!r} could not be loaded: {e}") from None


def benepar_trees(
    sentences: Sequence[Sequence[str]],
    *,
    model: str = DEFAULT_BENEPAR_MODEL,
    binarize: Binarize = "right",
    parser_words: Sequence[Sequence[str]] | None = None,
    batch_size: int = 64,
) -> list[Tree]:
    """Binary trees over ``sentences`` from benepar parses.

    parser_words: optional token lists the parser sees instead of the leaves
    (same lengths); the leaves stay ``sentences``.
    """
    import benepar

    words = parser_input(sentences, parser_words)
    parser = load_benepar(str(model), batch_size)
    inputs = [benepar.InputSentence(words=list(w)) for w in words]
    out: list[Tree] = []
    for i, (s, parsed) in enumerate(zip(sentences, parser.parse_sents(inputs))):
        shape = Tree.from_nltk(parsed, binarize=binarize)
        if shape.n_leaves != len(s):
            raise TreeError(
                f"sentence {i}: benepar returned {shape.n_leaves} leaves for {len(s)} tokens"
            )
        out.append(Tree(tuple(s), shape.children))
    return out
