"""Evaluation of StrAE embeddings and the structure-comparison study.

``eval.data`` (loaders), ``eval.metrics`` (Spearman with coverage), ``eval.probe``
(classification probes), ``eval.encoders`` (StrAE roots, mean of leaves, word2vec),
``eval.evaluate`` (the protocol), ``eval.runs`` (a run directory), ``eval.compare``
(the study).  The commands (``strae eval``, ``strae compare``, ``strae curve``) are
in the command-line layer, :mod:`strae_graph.cli.cmd_eval`.
"""
