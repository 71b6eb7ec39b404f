"""The one place strae-graph imports DGL.

dgl 2.1.0 ships native GraphBolt plugins only for torch 2.0.0-2.2.1, but
``import dgl`` always imports ``dgl.graphbolt`` (through ``dgl.distributed``),
which raises when the plugin for the running torch is missing.  GraphBolt is
only used inside functions of ``dgl.distributed`` that strae-graph never
calls, so when the plugin is absent we register an inert placeholder module
before the first import.  ``DGLBACKEND`` is set so that the first import does
not write a config file into the home folder.

Every other module of the project imports ``dgl`` from here.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

os.environ.setdefault("DGLBACKEND", "pytorch")


def _graphbolt_plugin_present() -> bool:
    import torch

    spec = importlib.util.find_spec("dgl")
    if spec is None or spec.origin is None:
        raise ImportError(
            "strae-graph needs DGL (pip install dgl==2.1.0); see README.md, 'Install'."
        )
    version = torch.__version__.split("+")[0]
    plugin = os.path.join(
        os.path.dirname(spec.origin), "graphbolt", f"libgraphbolt_pytorch_{version}.so"
    )
    return os.path.exists(plugin)


if "dgl" not in sys.modules and not _graphbolt_plugin_present():
    placeholder = types.ModuleType("dgl.graphbolt")
    placeholder.__doc__ = "Inert placeholder: GraphBolt has no plugin for this torch."
    sys.modules["dgl.graphbolt"] = placeholder

import dgl  # noqa: E402
import dgl.function as fn  # noqa: E402
from dgl import graph_index, heterograph_index  # noqa: E402
from dgl.heterograph import DGLBlock  # noqa: E402

__all__ = ["block_from_coo", "dgl", "fn"]

#: the metagraph of every one-relation block (source type 0 -> destination type 1),
#: as ``dgl.create_block`` makes it; immutable, so one is shared
_BLOCK_METAGRAPH = graph_index.from_coo(2, [0], [1], True)


def block_from_coo(src, dst, n_src: int, n_dst: int) -> dgl.DGLGraph:
    """``dgl.create_block((src, dst), num_src_nodes=n_src, num_dst_nodes=n_dst)``
    (int64 CPU tensors), built by the same graph-index calls without its
    argument checks and conversions: about 8x faster (0.46 -> 0.06 ms a block
    here), which matters because every batch builds one block per tree level."""
    unit = heterograph_index.create_unitgraph_from_coo(
        2, n_src, n_dst, src, dst, ["coo", "csr", "csc"]
    )
    counts = dgl.utils.toindex([n_src, n_dst], "int64")
    index = heterograph_index.create_heterograph_from_relations(_BLOCK_METAGRAPH, [unit], counts)
    return DGLBlock(index, (["_N"], ["_N"]), ["_E"])
