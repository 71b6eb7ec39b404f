"""The error of the trees: a tree or a bracket string that cannot become a
binary tree over its tokens."""


class TreeError(ValueError):
    """A tree or bracket string that cannot become a binary tree over its tokens."""
