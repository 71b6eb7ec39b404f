"""strae-graph: StrAE structured-autoencoder embeddings on DGL tree graphs."""

from strae_graph._dgl import dgl
from strae_graph.embed import Embedder, NodeEmbeddings
from strae_graph.graph import Frontiers, batch_trees, roots, tree_to_graph
from strae_graph.model import Compose, Decompose, StrAE, StrAEConfig, StrAEOutput
from strae_graph.tree import Tree, TreeError
from strae_graph.vocab import Vocabulary

__version__ = "0.1.0"

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
