"""Trees as batched DGL graphs (up and down edges, entangled DAGs) and their
per-level message-passing blocks.  Imports trees and util."""
