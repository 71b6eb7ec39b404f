"""Sentence trees: the binary :class:`~strae_graph.trees.tree.Tree` (drawing
included), its error, the n-ary form bracket strings and nltk trees parse to,
the balanced shape, and the ``parse`` callable the layers above hand the core.
Imports only strae_graph.util."""
