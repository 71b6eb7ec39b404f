"""The errors the command line reports as one line (no traceback)."""

from __future__ import annotations

from collections.abc import Iterable


class UserError(Exception):
    """An error whose message is all the user needs (no traceback)."""


def with_option(message: str, fields: Iterable[str]) -> str:
    """``"max_length must be ..."`` -> ``"--max-length: max_length must be ..."``
    for a message that starts with one of ``fields`` (a configuration's field
    names, which are the options' ``dest``); any other message is unchanged."""
    field = message.partition(" ")[0]
    if field in set(fields):
        return f"--{field.replace('_', '-')}: {message}"
    return message


def option_error(error: Exception, fields: Iterable[str]) -> UserError:
    """``error`` (a configuration's ValueError) as a :class:`UserError` naming the option."""
    return UserError(with_option(str(error), fields))
