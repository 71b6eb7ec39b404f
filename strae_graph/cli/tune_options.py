"""``strae compare --tune KEY=V1,V2,...``: the grid of recipe options tuned per
structure, read with ``strae train``'s own options (the key is a ``strae train``
flag without its dashes, each value is converted and checked as that flag's
argument; a flag that takes no argument takes ``true`` or ``false``)."""

from __future__ import annotations

import argparse

from strae_graph.cli.errors import UserError


def _train_parser() -> argparse.ArgumentParser:
    from strae_graph.cli import cmd_train

    sub = argparse.ArgumentParser(add_help=False).add_subparsers()
    cmd_train.add_subcommand(sub)
    return sub.choices["train"]


def _flag_value(action: argparse.Action, key: str, text: str):
    """``text`` as the value ``--KEY`` gives its field (ValueError when it rejects it)."""
    if action.nargs == 0:  # a flag: true / false
        if text.lower() not in ("true", "false"):
            raise ValueError(f"--{key} is a flag: give true or false, got {text!r}")
        on = text.lower() == "true"
        if isinstance(action, argparse.BooleanOptionalAction):
            return on != key.startswith("no-")
        return action.const if on else not action.const
    try:
        value = action.type(text) if action.type else text
    except (argparse.ArgumentTypeError, ValueError, TypeError) as e:
        raise ValueError(f"not a valid value for --{key} ({e})") from None
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"choose one of {', '.join(map(str, action.choices))}, got {text!r}")
    return value


def parse_tune(specs: list[str] | None) -> dict[str, list]:
    """``["lr=1e-3,3e-3", "temperature=0.05,0.1"]`` -> ``{"lr": [0.001, 0.003], ...}``
    (TrainConfig field names; a UserError naming the spec for anything wrong)."""
    if not specs:
        return {}
    actions = _train_parser()._option_string_actions
    grid: dict[str, list] = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip().lstrip("-")
        if not (sep and key):
            raise UserError(f"--tune {spec!r}: give KEY=V1,V2,... (a strae train option)")
        action = actions.get(f"--{key}")
        if action is None or action.dest in ("help", "resume"):
            raise UserError(f"--tune {spec}: {key!r} is not a strae train option")
        texts = [v.strip() for v in values.split(",") if v.strip()]
        if not texts:
            raise UserError(f"--tune {spec}: no values")
        if action.dest in grid:
            raise UserError(f"--tune {spec}: {key} is given twice")
        try:
            grid[action.dest] = [_flag_value(action, key, t) for t in texts]
        except ValueError as e:
            raise UserError(f"--tune {spec}: {e}") from None
    return grid
