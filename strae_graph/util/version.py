"""The version of strae-graph: ``strae_graph.__version__``, recorded in every
run's ``config.json`` and every model directory's."""

__version__ = "0.1.0"
