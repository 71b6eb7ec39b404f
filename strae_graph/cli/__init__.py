"""The ``strae`` command line: the top layer.

The layers, bottom to top: the core (``strae_graph``: trees, graphs, model,
objectives, training, embedding), ``parsers`` (structure sources and their
registry), ``eval`` (evaluation), and this package, which may import all of
them.  Nothing below imports it.

One module per command group (``cmd_*``); the options several commands share
(training options of ``strae train`` and ``strae compare``, evaluation options
of ``strae eval`` and ``strae compare``) are declared once in
:mod:`strae_graph.cli.options`.
"""

from strae_graph.cli.cmd_train import _train_config
from strae_graph.cli.commands import build_parser, main
from strae_graph.cli.errors import UserError

__all__ = ["UserError", "_train_config", "build_parser", "main"]
