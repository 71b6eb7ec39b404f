"""Training: corpus -> trees -> batched graphs -> StrAE, with resumable,
atomic checkpoints and a JSON-lines metrics file.

A run directory holds:
  config.json    the full configuration, versions and data hashes
  vocab.json     the vocabulary (list of words, id order)
  last.pt        the latest checkpoint (model, optimiser, position, RNG)
  best.pt        the checkpoint with the lowest dev loss so far
  metrics.jsonl  one JSON object per logged step and per epoch (deterministic
                 for a given command and seed)
  timing.jsonl   throughput and memory per logged step (varies run to run)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import resource
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from strae_graph.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    load_checkpoint,
    save_checkpoint,
)
from strae_graph.corpus import DEFAULT_CORPUS, DataError, ReadStats, read_sentences
from strae_graph.graph import Frontiers, batch_trees
from strae_graph.model import OBJECTIVES, StrAE, StrAEConfig
from strae_graph.tree import Tree
from strae_graph.vocab import Vocabulary

CHECKPOINT_FORMAT = 1


@dataclass
class TrainConfig:
    """Everything a training run depends on (recorded in config.json)."""

    corpus: str = str(DEFAULT_CORPUS)
    out: str = "runs/default"
    structure: str = "balanced"
    objective: str = "contrastive"
    epochs: int = 1
    batch_size: int = 512
    lr: float | None = None  # None: 1e-4 for contrastive, 1e-3 for ce / both
    clip: float = 1.0
    max_sentences: int | None = 100_000
    dev_sentences: int = 1000
    max_length: int = 200
    min_count: int = 5
    max_vocab: int | None = 25_000
    channels: int = 10
    channel_size: int = 10
    tied: bool = True
    activation: str = "none"
    temperature: float | None = None
    log_scale: float | None = None
    seed: int = 0
    device: str = "cpu"
    log_every: int = 10
    checkpoint_every: int = 0  # steps; 0 = only at the end of each epoch (and on interrupt)
    on_error: str = "skip"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"unknown objective {self.objective!r}; choose one of {', '.join(OBJECTIVES)}"
            )
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch size must be at least 1")

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        return 1e-4 if self.objective == "contrastive" else 1e-3


# --- structures ------------------------------------------------------------
#: induced by the model while it trains (strae_graph.self_strae), not by a parser
SELF = "self"


def structure_names() -> list[str]:
    from parsers import STRUCTURES

    return [*STRUCTURES, SELF]


def build_trees(sentences: Sequence[Sequence[str]], structure: str, seed: int = 0) -> list[Tree]:
    """The tree of every sentence under ``structure`` (see parsers.parse_sentences)."""
    from parsers import parse_sentences

    return parse_sentences(sentences, structure, seed=seed)


# --- data --------------------------------------------------------------------
@dataclass
class TrainingData:
    """train / dev: trees, or token tuples when the structure is ``self`` (the
    trees are then induced by the current model at every step)."""

    train: list[Tree] | list[tuple[str, ...]]
    dev: list[Tree] | list[tuple[str, ...]]
    vocab: Vocabulary
    stats: ReadStats = field(default_factory=ReadStats)


def load_training_data(cfg: TrainConfig, vocab: Vocabulary | None = None) -> TrainingData:
    """Read the corpus, hold out the last ``dev_sentences``, build the vocabulary
    (from the training part) and the trees."""
    stats = ReadStats()
    limit = None if cfg.max_sentences is None else cfg.max_sentences + cfg.dev_sentences
    sentences = [
        toks
        for _, toks in read_sentences(
            cfg.corpus, limit, cfg.max_length, on_error=cfg.on_error, stats=stats
        )
    ]
    if len(sentences) < 2:
        raise DataError(f"{cfg.corpus}: fewer than 2 usable sentences")
    if cfg.max_sentences is not None and len(sentences) == limit:
        n_dev = cfg.dev_sentences
    else:  # a short corpus: hold out at most a tenth of it
        n_dev = min(cfg.dev_sentences, len(sentences) // 10)
    train_s = sentences[: len(sentences) - n_dev]
    dev_s = sentences[len(sentences) - n_dev :]
    if vocab is None:
        vocab = Vocabulary.build(train_s, cfg.min_count, cfg.max_vocab)
    if cfg.structure == SELF:
        train, dev = [tuple(s) for s in train_s], [tuple(s) for s in dev_s]
    else:
        train = build_trees(train_s, cfg.structure, cfg.seed)
        dev = build_trees(dev_s, cfg.structure, cfg.seed + 1)
    return TrainingData(train=train, dev=dev, vocab=vocab, stats=stats)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of the training trees in ``epoch`` (a pure function of
    seed and epoch, so a resumed run sees the same order)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def make_batch(trees: Sequence[Tree], vocab: Vocabulary, device: str):
    g = batch_trees(trees, [vocab.encode(t.tokens) for t in trees], device=device)
    return g, Frontiers.of(g)


def leaves(item: Tree | Sequence[str]) -> Sequence[str]:
    """The tokens of a training item (a tree, or a token tuple for ``self``)."""
    return item.tokens if isinstance(item, Tree) else item


def batch_output(model: StrAE, items: Sequence, vocab: Vocabulary, cfg: TrainConfig):
    """The model's output on one batch: given trees, or trees induced now (``self``)."""
    if cfg.structure == SELF:
        from strae_graph.self_strae import self_forward

        return self_forward(model, [vocab.encode(s) for s in items], items).output
    return model(*make_batch(items, vocab, cfg.device))


# --- helpers -----------------------------------------------------------------
def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def environment() -> dict[str, str]:
    import dgl

    from strae_graph import __version__

    return {
        "strae_graph": __version__,
        "torch": torch.__version__,
        "dgl": dgl.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


class _StopRequest:
    """Turns SIGINT/SIGTERM into a flag checked between steps; a second SIGINT
    interrupts at once."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        if threading_main():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


@dataclass
class TrainResult:
    run_dir: str
    steps: int
    epochs_done: int
    best_dev_loss: float
    last_dev_loss: float
    tokens_per_s: float
    peak_rss_mb: float
    interrupted: bool
    train_sentences: int
    train_tokens: int
    vocab_size: int


def evaluate_loss(
    model: StrAE, trees: Sequence[Tree], vocab: Vocabulary, cfg: TrainConfig
) -> float:
    """Mean loss over ``trees`` in eval mode (no dropout), batch by batch."""
    if not trees:
        return float("nan")
    model.eval()
    total, weight = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(trees), cfg.batch_size):
            chunk = trees[start : start + cfg.batch_size]
            out = batch_output(model, chunk, vocab, cfg)
            total += out.loss.item() * len(chunk)
            weight += len(chunk)
    model.train()
    return total / weight


def _config_record(cfg: TrainConfig, model_cfg: StrAEConfig, data: TrainingData) -> dict:
    corpus = Path(cfg.corpus)
    return {
        "train": asdict(cfg),
        "model": model_cfg.to_dict(),
        "environment": environment(),
        "data": {
            "corpus": str(corpus.resolve()),
            "corpus_sha256": file_sha256(corpus) if corpus.is_file() else None,
            "train_sentences": len(data.train),
            "dev_sentences": len(data.dev),
            "vocab_size": len(data.vocab),
            "read": asdict(data.stats),
        },
        "command": sys.argv,
    }


_COMPARED = (
    "corpus", "structure", "objective", "batch_size", "max_sentences", "dev_sentences",
    "max_length", "min_count", "max_vocab", "channels", "channel_size", "tied", "activation",
    "temperature", "log_scale", "seed", "lr", "clip",
)  # fmt: skip


def train(
    cfg: TrainConfig, resume: bool = False, log: Callable[[str], None] = print
) -> TrainResult:
    """Train a StrAE as ``cfg`` says; with ``resume``, continue from RUN_DIR/last.pt."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    last_path, best_path = out / "last.pt", out / "best.pt"
    state: dict[str, Any] | None = None
    vocab: Vocabulary | None = None
    if resume:
        if not last_path.exists():
            raise CheckpointError(f"--resume: no checkpoint at {last_path}")
        state = load_checkpoint(last_path)
        saved = state.get("train_config", {})
        diff = [k for k in _COMPARED if k in saved and saved[k] != getattr(cfg, k)]
        if diff:
            pairs = ", ".join(f"{k}: saved {saved[k]!r}, now {getattr(cfg, k)!r}" for k in diff)
            raise CheckpointError(
                f"{last_path}: cannot resume with a different configuration ({pairs})"
            )
        vocab = Vocabulary(state["vocab"])

    t0 = time.perf_counter()
    data = load_training_data(cfg, vocab)
    n_train_tokens = sum(len(leaves(t)) for t in data.train)
    log(
        f"data: {len(data.train):,} training / {len(data.dev):,} dev sentences, "
        f"{n_train_tokens:,} tokens, vocabulary {len(data.vocab):,} "
        f"(skipped: {data.stats.empty} empty, {data.stats.too_long} too long, "
        f"{data.stats.undecodable} undecodable) in {time.perf_counter() - t0:.1f}s"
    )

    torch.manual_seed(cfg.seed)
    model_cfg = StrAEConfig(
        vocab_size=len(data.vocab),
        channels=cfg.channels,
        channel_size=cfg.channel_size,
        objective=cfg.objective,
        tied=cfg.tied,
        activation=cfg.activation,
        temperature=cfg.temperature,
        log_scale=cfg.log_scale,
    )
    model = StrAE(model_cfg).to(cfg.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)

    epoch, next_batch, step = 0, 0, 0
    best_dev, last_dev = math.inf, math.nan
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, KeyError, ValueError) as e:
            raise CheckpointError(f"{last_path}: does not fit this model: {e}") from None
        epoch, next_batch, step = state["epoch"], state["next_batch"], state["step"]
        best_dev, last_dev = state["best_dev"], state["last_dev"]
        torch.set_rng_state(state["rng"]["torch"])
        _truncate(out / "metrics.jsonl", state["metrics_bytes"])
        log(f"resumed from {last_path}: epoch {epoch + 1}, batch {next_batch}, step {step}")
    else:
        for name in ("metrics.jsonl", "timing.jsonl"):
            (out / name).unlink(missing_ok=True)
        atomic_write_bytes(out / "vocab.json", data.vocab.to_json().encode())
        record = _config_record(cfg, model_cfg, data)
        atomic_write_bytes(out / "config.json", json.dumps(record, indent=2).encode())

    def checkpoint(path: Path) -> None:
        metrics = out / "metrics.jsonl"
        save_checkpoint(
            {
                "format": CHECKPOINT_FORMAT,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "model_config": model_cfg.to_dict(),
                "train_config": asdict(cfg),
                "vocab": data.vocab.itos,
                "epoch": epoch,
                "next_batch": next_batch,
                "step": step,
                "best_dev": best_dev,
                "last_dev": last_dev,
                "rng": {"torch": torch.get_rng_state()},
                "metrics_bytes": metrics.stat().st_size if metrics.exists() else 0,
            },
            path,
        )

    n_batches = math.ceil(len(data.train) / cfg.batch_size)
    tokens_done, seconds = 0, 0.0
    interrupted = False
    model.train()
    with (
        _StopRequest() as stop,
        open(out / "metrics.jsonl", "a") as mfile,
        open(out / "timing.jsonl", "a") as tfile,
    ):
        while epoch < cfg.epochs and not interrupted:
            order = epoch_order(len(data.train), cfg.seed, epoch)
            bar = tqdm(
                total=n_batches,
                initial=next_batch,
                desc=f"epoch {epoch + 1}/{cfg.epochs}",
                disable=not cfg.progress,
                unit="batch",
                dynamic_ncols=True,
            )
            while next_batch < n_batches:
                idx = order[next_batch * cfg.batch_size : (next_batch + 1) * cfg.batch_size]
                trees = [data.train[i] for i in idx]
                n_tok = sum(len(leaves(t)) for t in trees)
                ts = time.perf_counter()
                output = batch_output(model, trees, data.vocab, cfg)
                if not torch.isfinite(output.loss):
                    bar.close()
                    raise FloatingPointError(
                        f"loss is {output.loss.item()} at epoch {epoch + 1}, batch {next_batch} "
                        f"(step {step + 1}); the last good checkpoint is {last_path}"
                    )
                optimizer.zero_grad(set_to_none=True)
                output.loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                optimizer.step()
                dt = time.perf_counter() - ts
                step += 1
                next_batch += 1
                tokens_done += n_tok
                seconds += dt
                bar.update(1)
                bar.set_postfix(loss=f"{output.loss.item():.4f}", tok_s=f"{n_tok / dt:,.0f}")
                if step % cfg.log_every == 0 or next_batch == n_batches:
                    rec = {"step": step, "epoch": epoch + 1, "batch": next_batch,
                           "loss": output.loss.item(), **output.parts}  # fmt: skip
                    mfile.write(json.dumps(rec) + "\n")
                    mfile.flush()
                    tfile.write(json.dumps({"step": step, "seconds": dt, "tokens": n_tok,
                                            "tokens_per_s": n_tok / dt,
                                            "peak_rss_mb": peak_rss_mb()}) + "\n")  # fmt: skip
                    tfile.flush()
                if stop.signal is not None:
                    break
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                    mfile.flush()
                    checkpoint(last_path)
            bar.close()
            if stop.signal is not None:
                mfile.flush()
                checkpoint(last_path)
                name = signal.Signals(stop.signal).name
                log(f"{name}: saved {last_path} at epoch {epoch + 1}, batch {next_batch}; "
                    f"continue with --resume")  # fmt: skip
                interrupted = True
                break
            last_dev = evaluate_loss(model, data.dev, data.vocab, cfg)
            rec = {"epoch": epoch + 1, "step": step, "dev_loss": last_dev}
            mfile.write(json.dumps(rec) + "\n")
            mfile.flush()
            epoch += 1
            next_batch = 0
            improved = last_dev < best_dev
            if improved:
                best_dev = last_dev
            checkpoint(last_path)
            if improved:
                checkpoint(best_path)
            log(f"epoch {epoch}: dev loss {last_dev:.4f} (best {best_dev:.4f}); saved {last_path}")

    result = TrainResult(
        run_dir=str(out),
        steps=step,
        epochs_done=epoch,
        best_dev_loss=best_dev,
        last_dev_loss=last_dev,
        tokens_per_s=tokens_done / seconds if seconds else 0.0,
        peak_rss_mb=peak_rss_mb(),
        interrupted=interrupted,
        train_sentences=len(data.train),
        train_tokens=n_train_tokens,
        vocab_size=len(data.vocab),
    )
    return result


def _truncate(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size > size:
        with open(path, "r+b") as f:
            f.truncate(size)


def train_config_fields() -> list[str]:
    return [f.name for f in fields(TrainConfig)]
