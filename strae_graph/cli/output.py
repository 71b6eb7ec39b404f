"""Where the command line writes: status lines to stderr, results to stdout.

A command that ends with a JSON summary prints that summary alone on stdout
(:func:`summary`), so ``strae train ... | python -m json.tool`` works; every
line about its progress goes to stderr (:func:`status`)."""

from __future__ import annotations

import sys


def status(message: str) -> None:
    """A line about the command's progress, on stderr (flushed at once)."""
    print(message, file=sys.stderr, flush=True)


def summary(text: str) -> None:
    """The command's result (e.g. its JSON summary), on stdout."""
    print(text, flush=True)
