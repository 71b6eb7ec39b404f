"""Errors raised by structure sources, and the input check the parsers share."""

from __future__ import annotations

from collections.abc import Sequence


class ParserError(RuntimeError):
    """A structure source cannot run (missing model, bad option); the message says how to fix it."""


def parser_input(
    sentences: Sequence[Sequence[str]], parser_words: Sequence[Sequence[str]] | None
) -> Sequence[Sequence[str]]:
    """The token lists a parser sees: ``parser_words`` (one list per sentence,
    as long as it) or the sentences themselves.  ValueError for a length that
    differs or an empty sentence, naming the sentence."""
    words = sentences if parser_words is None else parser_words
    if len(words) != len(sentences):
        raise ValueError(f"{len(sentences)} sentences but {len(words)} parser_words lists")
    for i, (s, w) in enumerate(zip(sentences, words)):
        if len(s) != len(w):
            raise ValueError(f"sentence {i}: {len(s)} tokens but {len(w)} parser words")
        if not s:
            raise ValueError(f"sentence {i} is empty")
    return words
