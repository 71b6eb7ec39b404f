"""Sources of sentence structure: heuristic trees (and, later, syntactic parsers)."""

from parsers.heuristics import HEURISTICS, balanced, left_branching, random_tree, right_branching

__all__ = ["HEURISTICS", "balanced", "left_branching", "random_tree", "right_branching"]
