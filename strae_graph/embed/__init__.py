"""Using a trained run: loading it back (checked), embeddings of words,
sentences and tree nodes, Self-StrAE trees from a trained model, and the
model directory (with its model card) a model is exported to and loaded from.
Imports training (its checkpoints), model, graph, data, trees and util."""
