"""How ``strae bench`` measures one training step: the clock, the process's peak
memory, the fused step (as training does it), the same step cut at the
up / down / loss / optimiser boundaries, and the floor (the dense products the
objective cannot avoid).  The case loop that uses them is :mod:`strae_graph.bench.cases`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch

from strae_graph.model.precision import Products
from strae_graph.model.strae import StrAE
from strae_graph.training.step import backward_checked

#: wall time, or this process's CPU time (meaningful with one torch thread on a
#: machine shared with other work: it does not count time spent waiting for a core)
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}

_now: Callable[[], float] = time.perf_counter  # set by set_clock (strae bench --clock)


def set_clock(name: str) -> None:
    """Time with the clock ``name`` of :data:`CLOCKS` from now on."""
    global _now
    if name not in CLOCKS:
        raise ValueError(f"unknown clock {name!r}; choose from {', '.join(CLOCKS)}")
    _now = CLOCKS[name]


def now() -> float:
    """The current reading of the clock chosen by :func:`set_clock`, in seconds."""
    return _now()


def sync() -> None:
    """Wait for the GPU's queued work (no-op without CUDA), so that a clock
    reading after it counts that work."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    sync()
    t = _now()
    out = fn()
    sync()
    return _now() - t, out


# --- memory ------------------------------------------------------------------
def reset_peak_rss() -> bool:
    """Reset this process's peak resident memory (Linux); whether it could."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_since_reset_mb() -> float:
    """Peak resident memory (VmHWM) of this process since :func:`reset_peak_rss`,
    in MB (where /proc is missing: since the process started)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --- one step -----------------------------------------------------------------------
def optimise(model: StrAE, opt: torch.optim.Optimizer, clip: float = 1.0) -> None:
    """Clip the gradient norm, take the optimiser step, clear the gradients."""
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    opt.zero_grad(set_to_none=True)


def fused_step(model: StrAE, opt: torch.optim.Optimizer, g, fr) -> None:
    """One training step as training does it: forward, backward with the
    finiteness checks of the loss and the gradient norm (each a synchronisation)
    and clipping (:func:`strae_graph.training.step.backward_checked`), Adam over
    every parameter (the whole V x E table: its gradient is dense for ce /
    both), and reading the loss."""
    out = model(g, fr)
    bad = backward_checked(out, model, opt, 1.0)
    if bad is not None:
        raise FloatingPointError(f"bench: {bad}")
    opt.step()
    out.loss.item()


def segmented_step(model: StrAE, opt: torch.optim.Optimizer, g, fr) -> dict[str, float]:
    """The same step cut at the up/down/loss boundaries (same gradients), timing
    each part's forward and backward: seconds for up, down, loss, optim."""
    n = g.num_nodes()
    t_up, up = _timed(lambda: model.up(g, fr))
    up_in = up.detach().requires_grad_()
    t_down, down = _timed(lambda: model.down(g, up_in, fr))
    u2 = up.detach().reshape(n, -1).requires_grad_()
    d2 = down.detach().reshape(n, -1).requires_grad_()

    def loss_part() -> None:
        loss, _ = model.loss(g, u2, d2)
        loss.backward()

    t_loss, _ = _timed(loss_part)

    def grad_of(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(like) if x.grad is None else x.grad.view_as(like)

    t_down_b, _ = _timed(lambda: down.backward(grad_of(d2, down)))
    t_up_b, _ = _timed(lambda: up.backward(grad_of(u2, up) + grad_of(up_in, up)))
    t_opt, _ = _timed(lambda: optimise(model, opt))
    return {"up": t_up + t_up_b, "down": t_down + t_down_b, "loss": t_loss, "optim": t_opt}


def floor_seconds(model: StrAE, g, reps: int = 2) -> float:
    """Time of the dense products the objective must do for this batch (best of
    reps), on the model's device, made as the losses make them (``--precision``)."""
    e = model.config.embedding_size
    device = model.embedding.weight.device
    how = Products.of(model.config.precision, device)
    is_leaf = g.ndata["is_leaf"]
    shapes: list[tuple[int, int]] = []  # (rows, cols) of S; each costs 3 products of depth E
    objective = model.config.objective
    if objective == "contrastive":
        shapes.append((g.num_nodes(), g.num_nodes()))
    else:
        leaves = int(is_leaf.sum())
        shapes.append((leaves, model.config.vocab_size))
        if objective == "both":
            internal = g.num_nodes() - leaves
            shapes.append((internal, internal))
    best = math.inf
    for _ in range(reps):
        total = 0.0
        for rows, cols in shapes:
            a = how.operand(torch.randn(rows, e, device=device))
            b = how.operand(torch.randn(cols, e, device=device))
            sync()
            t = _now()
            s = how.operand(how.mm(a, b.T))  # forward
            _ = how.mm(s, b)  # backward, first operand
            _ = how.mm(s.T, a)  # backward, second operand
            sync()
            total += _now() - t
            del s
        best = min(best, total)
    return best
