"""Drawing :class:`~strae_graph.trees.tree.Tree` objects as a PNG (matplotlib, imported on use).

One tree per panel, panels stacked top to bottom in one figure
(:func:`draw_trees`), so one sentence under several structures can be compared.
Sizes are bounded: a tree of more than :data:`MAX_DRAW_LEAVES` leaves is
refused (a ValueError saying so), a panel is at most :data:`MAX_PANEL_HEIGHT`
inches high (deep trees are squeezed), and the PNG's longer side is at most
:data:`MAX_PIXELS` (the resolution is lowered to fit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from strae_graph.trees.tree import Tree

#: the most leaves a drawing takes: a wider tree is unreadable and its PNG huge
MAX_DRAW_LEAVES = 100
#: the longer side of a written PNG, in pixels
MAX_PIXELS = 10_000
#: the height of one panel, in inches, at most
MAX_PANEL_HEIGHT = 12.0
DPI = 120


def layout(tree: Tree) -> dict[int, tuple[float, float]]:
    """Tree layout: leaf i at (i, 0); a parent above its children, centred."""
    pos: dict[int, tuple[float, float]] = {i: (float(i), 0.0) for i in range(tree.n_leaves)}
    heights = tree.heights()
    for i, (left, right) in enumerate(tree.children):
        v = tree.n_leaves + i
        pos[v] = ((pos[left][0] + pos[right][0]) / 2.0, float(heights[v]))
    return pos


def check_drawable(n_leaves: int) -> None:
    """ValueError for a sentence too long to draw (:data:`MAX_DRAW_LEAVES`)."""
    if n_leaves > MAX_DRAW_LEAVES:
        raise ValueError(
            f"the sentence has {n_leaves} tokens; drawings take at most {MAX_DRAW_LEAVES} "
            "(a wider tree is unreadable): draw a shorter sentence"
        )


def panel_size(tree: Tree) -> tuple[float, float]:
    """(width, height) in inches of one tree's panel."""
    width = max(4.0, 0.7 * tree.n_leaves)
    height = min(MAX_PANEL_HEIGHT, max(3.0, 0.45 * (tree.height + 2)))
    return width, height


def figure_size(trees: Sequence[Tree]) -> tuple[float, float]:
    """(width, height) in inches of the figure of ``trees``, one panel each, stacked."""
    sizes = [panel_size(t) for t in trees]
    return max(w for w, _ in sizes), sum(h for _, h in sizes)


def _draw_panel(ax: Any, tree: Tree, title: str | None) -> None:
    import networkx as nx

    g = tree.to_networkx()
    pos = layout(tree)
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=False, edge_color="#555555")
    internal = [v for v in g if v >= tree.n_leaves]
    nx.draw_networkx_nodes(g, pos, nodelist=internal, node_size=40, node_color="#4c72b0", ax=ax)
    for i, tok in enumerate(tree.tokens):
        ax.text(i, -0.15, tok, rotation=60, ha="right", va="top", fontsize=9)
    ax.set_ylim(-1.5 - 0.08 * max(len(t) for t in tree.tokens), tree.height + 0.5)
    ax.set_xlim(-1, tree.n_leaves)
    ax.axis("off")
    if title:
        room = max(40, int(10 * panel_size(tree)[0]))
        ax.set_title(title if len(title) <= room else title[: room - 1] + "\u2026")


def tree_figure(panels: Sequence[tuple[Tree, str | None]]) -> Any:
    """A matplotlib Figure with one axes per ``(tree, title)``, top to bottom."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not panels:
        raise ValueError("nothing to draw: no trees given")
    for tree, _ in panels:
        check_drawable(tree.n_leaves)
    trees = [t for t, _ in panels]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=figure_size(trees), squeeze=False,
        gridspec_kw={"height_ratios": [panel_size(t)[1] for t in trees]},
    )  # fmt: skip
    for ax, (tree, title) in zip(axes[:, 0], panels):
        _draw_panel(ax, tree, title)
    fig.tight_layout()
    return fig


def png_dpi(size: tuple[float, float]) -> float:
    """The resolution a figure of ``size`` inches is written at (:data:`MAX_PIXELS`)."""
    return min(DPI, MAX_PIXELS / max(size))


def draw_trees(panels: Sequence[tuple[Tree, str | None]], path: str) -> None:
    """Write a PNG of every ``(tree, title)`` in ``panels``, one panel each."""
    import matplotlib.pyplot as plt

    fig = tree_figure(panels)
    try:
        fig.savefig(path, dpi=png_dpi(tuple(fig.get_size_inches())))
    finally:
        plt.close(fig)


def draw_tree(tree: Tree, path: str, title: str | None = None) -> None:
    """Write a PNG drawing of ``tree`` (tokens at the leaves, in order)."""
    draw_trees([(tree, title)], path)
