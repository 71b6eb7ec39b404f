"""Drawing a :class:`~strae_graph.tree.Tree` as a PNG (matplotlib, imported on use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from strae_graph.tree import Tree


def layout(tree: Tree) -> dict[int, tuple[float, float]]:
    """Tree layout: leaf i at (i, 0); a parent above its children, centred."""
    pos: dict[int, tuple[float, float]] = {i: (float(i), 0.0) for i in range(tree.n_leaves)}
    heights = tree.heights()
    for i, (left, right) in enumerate(tree.children):
        v = tree.n_leaves + i
        pos[v] = ((pos[left][0] + pos[right][0]) / 2.0, float(heights[v]))
    return pos


def draw_tree(tree: Tree, path: str, title: str | None = None) -> None:
    """Write a PNG drawing of ``tree`` (tokens at the leaves, in order)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    g = tree.to_networkx()
    pos = layout(tree)
    width = max(4.0, 0.7 * tree.n_leaves)
    height = max(3.0, 0.45 * (tree.height + 2))
    fig, ax = plt.subplots(figsize=(width, height))
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=False, edge_color="#555555")
    internal = [v for v in g if v >= tree.n_leaves]
    nx.draw_networkx_nodes(g, pos, nodelist=internal, node_size=40, node_color="#4c72b0", ax=ax)
    for i, tok in enumerate(tree.tokens):
        ax.text(i, -0.15, tok, rotation=60, ha="right", va="top", fontsize=9)
    ax.set_ylim(-1.5 - 0.08 * max(len(t) for t in tree.tokens), tree.height + 0.5)
    ax.set_xlim(-1, tree.n_leaves)
    ax.axis("off")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
