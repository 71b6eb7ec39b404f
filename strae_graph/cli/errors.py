"""The errors the command line reports as one line (no traceback)."""

from __future__ import annotations


class UserError(Exception):
    """An error whose message is all the user needs (no traceback)."""
