"""The training objectives and how they combine (README, "Objectives").

* ``contrastive``: every node's up embedding against its down embedding;
* ``ce``: each leaf's down embedding reconstructs its token (cross-entropy);
* ``both``: contrastive over the internal nodes only (the leaves are left to
  ce) plus ce, weighted: ``(1 - w) * contrastive + w * ce`` with ``w = ce_weight``
  (0.5 by default: their average; ``--ce-weight``).

:func:`objective_loss` is that rule, once, for the model
(:meth:`strae_graph.model.strae.StrAE.loss`), the multi-process loss
(:class:`strae_graph.training.distributed.DistContext`) and the plain-PyTorch yardstick
of ``strae bench``; each brings its own way of computing the two terms.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

OBJECTIVES: tuple[str, ...] = ("contrastive", "ce", "both")


def objective_loss(
    objective: str,
    up: torch.Tensor,
    down: torch.Tensor,
    is_leaf: torch.Tensor,
    contrastive: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ce: Callable[[], torch.Tensor],
    ce_weight: float = 0.5,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(loss, {term: value}) of ``objective`` on the (N, E) ``up`` / ``down``
    embeddings, whose leaf nodes ``is_leaf`` marks.

    ``contrastive(up_rows, down_rows)`` scores the nodes the objective gives it
    (all of them, or the internal ones for ``both``); ``ce()`` is the leaves'
    reconstruction loss.  Terms are computed in the order contrastive, ce;
    ``ce_weight`` is ce's share of the loss under ``both`` (0.5: their mean).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    terms: dict[str, torch.Tensor] = {}
    if objective == "contrastive":
        terms["contrastive"] = contrastive(up, down)
    elif objective == "both":
        internal = ~is_leaf
        terms["contrastive"] = contrastive(up[internal], down[internal])
    if objective != "contrastive":
        terms["ce"] = ce()
    if objective == "both":
        w = ce_weight
        return (1 - w) * terms["contrastive"] + w * terms["ce"], terms
    return terms[objective], terms
