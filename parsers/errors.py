"""Errors raised by structure sources."""

from __future__ import annotations


class ParserError(RuntimeError):
    """A structure source cannot run (missing model, bad option); the message says how to fix it."""
