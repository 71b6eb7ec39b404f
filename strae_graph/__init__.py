"""strae-graph: StrAE structured-autoencoder embeddings on DGL tree graphs."""

from strae_graph.data.vocab import Vocabulary
from strae_graph.embed.embedder import Embedder
from strae_graph.embed.nodes import NodeEmbeddings
from strae_graph.graph.batch import Frontiers, batch_trees, roots, tree_to_graph
from strae_graph.model.config import StrAEConfig
from strae_graph.model.functions import Compose, Decompose
from strae_graph.model.strae import StrAE, StrAEOutput
from strae_graph.trees.errors import TreeError
from strae_graph.trees.tree import Tree
from strae_graph.util.dgl import dgl
from strae_graph.util.version import __version__ as __version__

__all__ = [
    "Compose",
    "Decompose",
    "Embedder",
    "Frontiers",
    "NodeEmbeddings",
    "StrAE",
    "StrAEConfig",
    "StrAEOutput",
    "Tree",
    "TreeError",
    "Vocabulary",
    "batch_trees",
    "dgl",
    "roots",
    "tree_to_graph",
]
