"""Evaluation of StrAE embeddings and the structure-comparison study.

``eval.data`` (loaders), ``eval.metrics`` (Spearman with coverage), ``eval.probe``
(classification probes), ``eval.encoders`` (StrAE roots, mean of leaves, word2vec),
``eval.evaluate`` (the protocol), ``eval.runs`` (a run directory), ``eval.compare``
(the study), ``eval.cli`` (``strae eval`` / ``strae compare``).
"""
