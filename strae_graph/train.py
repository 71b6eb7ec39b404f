"""Training: corpus -> trees -> batched graphs -> StrAE, with resumable,
atomic checkpoints and a JSON-lines metrics file.

A run directory holds:
  config.json    the full configuration, versions and data hashes
  vocab.json     the vocabulary (list of words, id order; BPE pieces for --vocab bpe)
  tokenizer.json the BPE model of a --vocab bpe run (strae_graph.subwords)
  last.pt        the latest checkpoint (model, optimiser, position, RNG)
  best.pt        the checkpoint with the lowest dev loss so far
  metrics.jsonl  one JSON object per logged step and per epoch (deterministic
                 for a given command and seed)
  timing.jsonl   throughput and memory per logged step (varies run to run)
  curve.jsonl    with --eval-every-minutes: scores over training time
"""

from __future__ import annotations

import contextlib
import json
import math
import platform
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from strae_graph.budget import LearningCurve, OnEval, TrainClock, budget_spent, validate_minutes
from strae_graph.checkpoint import (
    CheckpointError,
    capture_rng,
    describe_state_mismatch,
    load_checkpoint,
    restore_rng,
    run_lock,
    save_checkpoint,
)
from strae_graph.corpus import (
    DEFAULT_CORPUS,
    ON_ERROR,
    DataError,
    ReadStats,
    read_limit,
    read_sentences,
    split_dev,
)
from strae_graph.distributed import DistContext, under_torchrun
from strae_graph.fileio import atomic_write_bytes, file_sha256
from strae_graph.graph import Frontiers, batch_trees
from strae_graph.interrupt import StopRequest
from strae_graph.model import COMPOSE_FUNCTIONS, OBJECTIVES, StrAE, StrAEConfig
from strae_graph.prefetch import Prefetcher
from strae_graph.presets import DEFAULT, PRESETS
from strae_graph.schedule_lr import (
    current_lr,
    make_scheduler,
    restore_scheduler,
    resume_problem,
    validate_schedule,
)
from strae_graph.subwords import (
    TOKENIZER_FILE,
    VOCAB_KINDS,
    Subwords,
    tokenizers_version,
    train_bpe,
)
from strae_graph.tree import Tree
from strae_graph.tree_dataset import is_parsed_corpus, iter_parsed_trees, read_meta
from strae_graph.tree_source import SELF, Parse, no_parse
from strae_graph.vocab import Vocabulary

CHECKPOINT_FORMAT = 1


@dataclass
class TrainConfig:
    """Everything a training run depends on (recorded in config.json).

    The defaults of the preset options are ``strae_graph.presets.DEFAULT``;
    ``presets.preset_config(name, ...)`` builds a config from another preset.
    """

    corpus: str = str(DEFAULT_CORPUS)
    out: str = "runs/default"
    structure: str = "balanced"  # a name of parsers.structures (checked there, not here)
    objective: str = DEFAULT["objective"]
    epochs: int = DEFAULT["epochs"]
    batch_size: int = DEFAULT["batch_size"]
    lr: float | None = DEFAULT["lr"]  # None: 1e-4 for contrastive, 1e-3 for ce / both
    clip: float = DEFAULT["clip"]
    max_sentences: int | None = 100_000
    dev_sentences: int = 1000
    max_length: int = 200
    min_count: int = 5
    max_vocab: int | None = 25_000
    vocab: str = DEFAULT["vocab"]  # leaves: "word", or "bpe" pieces (strae_graph.subwords)
    bpe_size: int = DEFAULT["bpe_size"]  # --vocab bpe: pieces in the BPE vocabulary
    channels: int = DEFAULT["channels"]
    channel_size: int = DEFAULT["channel_size"]
    tied: bool = DEFAULT["tied"]
    activation: str = DEFAULT["activation"]
    temperature: float | None = DEFAULT["temperature"]
    log_scale: float | None = DEFAULT["log_scale"]
    dropout: float = DEFAULT["dropout"]  # on compose / decompose outputs
    input_dropout: float = DEFAULT["input_dropout"]  # on leaf embeddings
    compose: str = DEFAULT["compose"]  # compose / decompose: linear or diagonal (Banyan)
    entangle: bool = DEFAULT["entangle"]  # identical spans of a batch are one node (DAG)
    seed: int = 0
    device: str = "cpu"
    log_every: int = 10
    checkpoint_every: int = 0  # steps; 0 = only at the end of each epoch (and on interrupt)
    on_error: str | None = None  # None: skip, but stop when most lines are not UTF-8 text
    on_nan: str = "stop"  # a non-finite loss or gradient: stop, or skip the batch
    progress: bool = True
    # --- levers (strae_graph.presets holds the defaults of the preset options) ---
    init_range: float = DEFAULT["init_range"]  # embeddings ~ Uniform(-r, r)
    learn_temperature: bool = DEFAULT["learn_temperature"]  # logit scale as a parameter
    warmup_steps: int = DEFAULT["warmup_steps"]  # strae_graph.schedule_lr
    lr_decay: str = DEFAULT["lr_decay"]
    min_lr_ratio: float = DEFAULT["min_lr_ratio"]
    minutes: float | None = None  # time budget (strae_graph.budget); may change on resume
    eval_every_minutes: float | None = None  # learning curve; may change on resume
    curve_tasks: tuple[str, ...] = ()  # for the CLI's curve evaluator (eval.curve)
    preset: str = "default"  # the preset's name, recorded (presets.preset_config applies it)

    def __post_init__(self) -> None:
        if is_parsed_corpus(self.corpus):  # a `strae parse` dataset: its trees decide
            self.structure = read_meta(self.corpus)["structure"]
        validate_train_config(self)

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        return 1e-4 if self.objective == "contrastive" else 1e-3


ON_NAN: tuple[str, ...] = ("stop", "skip")


def validate_train_config(cfg: TrainConfig) -> None:
    """Raise ValueError naming the first setting that cannot work."""
    if cfg.objective not in OBJECTIVES:
        raise ValueError(
            f"unknown objective {cfg.objective!r}; choose one of {', '.join(OBJECTIVES)}"
        )
    if cfg.compose not in COMPOSE_FUNCTIONS:
        choices = ", ".join(COMPOSE_FUNCTIONS)
        raise ValueError(f"unknown compose function {cfg.compose!r}; choose one of {choices}")
    # the structure name is the registry's to check (parsers.structures.check_training_structure)
    if cfg.on_error is not None and cfg.on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, got {cfg.on_error!r}")
    if cfg.vocab not in VOCAB_KINDS:
        raise ValueError(f"vocab must be one of {', '.join(VOCAB_KINDS)}, got {cfg.vocab!r}")
    if cfg.bpe_size < 2:
        raise ValueError(f"bpe_size must be at least 2, got {cfg.bpe_size}")
    if cfg.temperature is not None and cfg.log_scale is not None:
        raise ValueError(
            f"temperature {cfg.temperature} and log_scale {cfg.log_scale} are one setting "
            "(scale 1/temperature or exp(log_scale)): give one and set the other to None "
            "(the default sets temperature 0.1; presets.preset_config does this for you)"
        )
    if cfg.on_nan not in ON_NAN:
        raise ValueError(f"on_nan must be one of {', '.join(ON_NAN)}, got {cfg.on_nan!r}")
    at_least = {"epochs": 1, "batch_size": 1, "max_length": 1, "min_count": 1, "log_every": 1,
                "channels": 1, "channel_size": 1, "dev_sentences": 0,
                "checkpoint_every": 0, "seed": 0}  # fmt: skip
    for name, low in at_least.items():
        if getattr(cfg, name) < low:
            raise ValueError(f"{name} must be at least {low}, got {getattr(cfg, name)}")
    for name in ("max_sentences", "max_vocab"):
        v = getattr(cfg, name)
        if v is not None and v < (1 if name == "max_sentences" else 2):
            raise ValueError(f"{name} must be positive (or None for no limit), got {v}")
    for name in ("lr", "clip"):
        v = getattr(cfg, name)
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive number, got {v}")
    if cfg.preset not in PRESETS:
        raise ValueError(f"unknown preset {cfg.preset!r}; choose one of {', '.join(PRESETS)}")
    if not (math.isfinite(cfg.init_range) and cfg.init_range > 0):
        raise ValueError(f"init_range must be a positive number, got {cfg.init_range}")
    if cfg.learn_temperature:
        from strae_graph.model import initial_learned_scale

        initial_learned_scale(cfg.temperature, cfg.log_scale)
    validate_schedule(cfg)
    validate_minutes("minutes", cfg.minutes)
    validate_minutes("eval_every_minutes", cfg.eval_every_minutes)
    try:
        device = torch.device(cfg.device)
    except RuntimeError as e:
        raise ValueError(f"unknown device {cfg.device!r} ({e})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {cfg.device!r}: this torch build or machine has no CUDA GPU")


# --- data --------------------------------------------------------------------
@dataclass
class TrainingData:
    """train / dev: trees, or token tuples when the structure is ``self`` (the
    trees are then induced by the current model at every step)."""

    train: list[Tree] | list[tuple[str, ...]]
    dev: list[Tree] | list[tuple[str, ...]]
    vocab: Vocabulary
    stats: ReadStats = field(default_factory=ReadStats)
    unknown_tokens: dict[str, int] = field(default_factory=dict)
    subwords: Subwords | None = None  # --vocab bpe: the BPE model (leaves are its pieces)


def load_training_data(
    cfg: TrainConfig,
    vocab: Vocabulary | None = None,
    subwords: Subwords | None = None,
    parse: Parse | None = None,
) -> TrainingData:
    """Read the corpus, hold out the last ``dev_sentences``, build the vocabulary
    (from the training part) and the trees: ``parse(sentences, cfg.structure,
    seed)`` (:mod:`strae_graph.tree_source`; dev sentences with ``seed + 1``).
    A ``strae parse`` dataset directory as the corpus brings its own trees
    (never re-parsed), and ``self`` trees are induced while training: neither
    needs ``parse``.

    ``--vocab bpe``: a BPE model is learned from the training part's words (or
    ``subwords`` is used), the trees are still decided over words and then
    expanded to pieces (:func:`strae_graph.subwords.expand_tree`); for ``self``
    the items are the sentences' pieces (merges run over pieces)."""
    stats = ReadStats()
    limit = read_limit(cfg.max_sentences, cfg.dev_sentences)
    _check_parse(cfg, parse)
    parsed = is_parsed_corpus(cfg.corpus)
    read = iter_parsed_trees if parsed else read_sentences
    items = [
        x for _, x in read(cfg.corpus, limit, cfg.max_length, on_error=cfg.on_error, stats=stats)
    ]
    sentences = [list(t.tokens) for t in items] if parsed else items
    if len(sentences) < 2:
        st = stats
        raise DataError(
            f"{cfg.corpus}: {len(sentences)} usable sentence(s), at least 2 needed "
            f"(read {st.lines} lines: {st.empty} empty, {st.too_long} longer than "
            f"{cfg.max_length} tokens, {st.undecodable} not UTF-8)"
        )
    train_s, dev_s = split_dev(sentences, cfg.dev_sentences, limit)
    if cfg.vocab == "bpe":
        subwords = subwords or train_bpe(train_s, cfg.bpe_size)
        pieces = subwords.vocabulary()
        if vocab is not None and vocab.itos != pieces.itos:
            raise CheckpointError("the BPE model's pieces differ from the checkpoint's vocabulary")
        vocab = pieces
    else:
        subwords = None
    if vocab is None:
        vocab = Vocabulary.build(train_s, cfg.min_count, cfg.max_vocab)
    if parsed:
        train, dev = items[: len(train_s)], items[len(train_s) :]
    elif cfg.structure == SELF:
        train, dev = [tuple(s) for s in train_s], [tuple(s) for s in dev_s]
    else:
        train = parse(train_s, cfg.structure, cfg.seed)
        dev = parse(dev_s, cfg.structure, cfg.seed + 1)
    if subwords is not None:  # word trees -> piece trees; token tuples -> piece tuples
        if cfg.structure == SELF and not parsed:
            train = [tuple(subwords.sentence_pieces(s)) for s in train]
            dev = [tuple(subwords.sentence_pieces(s)) for s in dev]
        else:
            train, dev = [subwords.expand(t) for t in train], [subwords.expand(t) for t in dev]
        train_s, dev_s = [leaves(t) for t in train], [leaves(t) for t in dev]
    unk_train, _ = vocab.count_unknown(train_s)
    unk_dev, _ = vocab.count_unknown(dev_s)
    unknown = {"train": unk_train, "dev": unk_dev}
    return TrainingData(train=train, dev=dev, vocab=vocab, stats=stats, unknown_tokens=unknown,
                        subwords=subwords)  # fmt: skip


def _check_parse(cfg: TrainConfig, parse: Parse | None) -> None:
    """A run needs ``parse`` unless its trees are induced (``self``) or read
    (a ``strae parse`` dataset as the corpus)."""
    if parse is None and cfg.structure != SELF and not is_parsed_corpus(cfg.corpus):
        raise no_parse(cfg.structure)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of the training trees in ``epoch`` (a pure function of
    seed and epoch, so a resumed run sees the same order)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def make_batch(trees: Sequence[Tree], vocab: Vocabulary, device: str, entangle: bool = False):
    g = batch_trees(trees, [vocab.encode(t.tokens) for t in trees], device, entangle)
    return g, Frontiers.of(g)


def _prepare(data: TrainingData, order: np.ndarray, b: int, cfg: TrainConfig, ctx: DistContext):
    """(this process's items of global batch ``b``, (graph, frontiers)); (None, None)
    for an empty shard, and for ``self`` (its trees are induced during the step)."""
    items = [data.train[i] for i in ctx.shard(order[b * cfg.batch_size : (b + 1) * cfg.batch_size])]
    if not items or cfg.structure == SELF:
        return items, (None, None)
    return items, make_batch(items, data.vocab, cfg.device, cfg.entangle)


def leaves(item: Tree | Sequence[str]) -> Sequence[str]:
    """The tokens of a training item (a tree, or a token tuple for ``self``)."""
    return item.tokens if isinstance(item, Tree) else item


def batch_output(model: StrAE, items: Sequence, vocab: Vocabulary, cfg: TrainConfig):
    """The model's output on one batch: given trees, or trees induced now (``self``)."""
    if cfg.structure == SELF:
        from strae_graph.self_strae import self_forward

        ids = [vocab.encode(s) for s in items]
        return self_forward(model, ids, items, entangle=cfg.entangle).output
    return model(*make_batch(items, vocab, cfg.device, cfg.entangle))


# --- helpers -----------------------------------------------------------------
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
    skipped: dict[str, int] = field(default_factory=dict)
    stopped_on_budget: bool = False  # --minutes ran out before --epochs were done
    minutes_trained: float = 0.0  # training time of the run so far (strae_graph.budget)


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
            "vocab_kind": cfg.vocab,
            **({"tokenizers": tokenizers_version()} if data.subwords is not None else {}),
            "read": asdict(data.stats),
            "unknown_tokens": data.unknown_tokens,
        },
        "command": sys.argv,
    }


#: settings a resumed run must share with its checkpoint (epochs, minutes,
#: eval_every_minutes, log/checkpoint intervals, ... may change)
_COMPARED = (
    "corpus", "structure", "objective", "batch_size", "max_sentences", "dev_sentences",
    "max_length", "min_count", "max_vocab", "channels", "channel_size", "tied", "activation",
    "temperature", "log_scale", "seed", "lr", "clip", "compose",
    "vocab", "bpe_size",
    "init_range", "learn_temperature", "warmup_steps", "lr_decay", "min_lr_ratio",
)  # fmt: skip
_COMPARED += ("entangle",)


def train(
    cfg: TrainConfig,
    resume: bool = False,
    log: Callable[[str], None] = print,
    on_eval: OnEval | None = None,
    parse: Parse | None = None,
) -> TrainResult:
    """Train a StrAE as ``cfg`` says; with ``resume``, continue from RUN_DIR/last.pt.

    ``parse``: builds the trees of ``cfg.structure`` (:mod:`strae_graph.tree_source`);
    not needed for ``self`` or a ``strae parse`` dataset as the corpus.
    :func:`parsers.api.train` passes the registry's.

    One process at a time may train into a run directory (a lock file).
    Under torchrun: data-parallel over the processes (strae_graph.distributed).
    ``on_eval``: the learning-curve evaluator (strae_graph.budget), needed by
    ``cfg.eval_every_minutes``.
    """
    _check_parse(cfg, parse)
    if cfg.entangle and under_torchrun():
        raise ValueError(
            "--entangle does not run under torchrun (each process would entangle only its "
            "own shard of the batch): add --no-entangle (--preset recipe turns it on), or "
            "train in one process"
        )
    if cfg.eval_every_minutes is not None and on_eval is None:
        raise ValueError("eval_every_minutes needs an on_eval callback (strae train builds one)")
    ctx = DistContext.setup(cfg.device)
    if ctx.enabled and cfg.structure == SELF:
        raise ValueError(
            "--structure self does not run under torchrun yet; train it in one process"
        )
    if not ctx.is_main:
        log = lambda *_: None  # noqa: E731
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"{out}: exists and is not a directory (--out)")
    if resume and not out.is_dir():
        raise CheckpointError(f"--resume: no run directory {out}")
    created = [d for d in (out, *out.parents) if not d.exists()]  # removed again on failure
    out.mkdir(parents=True, exist_ok=True)
    saved: dict[str, Any] = {"step": None, "checkpoint_step": None, "stop": None}
    try:
        with run_lock(out) if ctx.is_main else contextlib.nullcontext():
            return _train(cfg, resume, log, ctx, on_eval, saved, parse)
    except KeyboardInterrupt:
        if ctx.is_main:
            _remove_if_unused(created)
        raise KeyboardInterrupt(_interrupted_note(out / "last.pt", saved)) from None
    except BaseException:
        if ctx.is_main:
            _remove_if_unused(created)
        raise
    finally:
        if ctx.is_main:
            _remove_if_unused(created, only_if_empty=True)


def _remove_if_unused(created: list[Path], only_if_empty: bool = False) -> None:
    """Remove the run directory (and parents) that this call created when
    nothing but the lock file was written into it: a run that failed before
    writing anything leaves nothing behind."""
    for d in created:  # innermost first
        with contextlib.suppress(OSError):
            if not only_if_empty and d == created[0]:
                (d / ".lock").unlink(missing_ok=True)
            d.rmdir()  # fails (and stops) on a directory holding anything


def _interrupted_note(last_path: Path, saved: dict[str, Any]) -> str:
    """What a run stopped at once by a (second) Ctrl-C leaves: the sentence
    the command line prints, naming the checkpoint that stands."""
    step, at = saved["step"], saved["checkpoint_step"]
    stop = saved["stop"]
    how = "by a second Ctrl-C" if stop is not None and stop.requested else "by Ctrl-C"
    if at is not None and at == step:
        return f"stopped {how} after saving {last_path} (step {at}); continue with --resume"
    if last_path.exists():
        which = f" (step {at})" if at is not None else ""
        return (f"stopped at once {how}; no checkpoint was written now: the previous "
                f"checkpoint {last_path}{which} stands (the steps after it are lost); "
                "continue with --resume")  # fmt: skip
    return f"stopped at once {how}; no checkpoint was written (this run had none yet)"


def _resume_state(cfg: TrainConfig, out: Path, log: Callable[[str], None]) -> dict | None:
    """The checkpoint to resume from, checked against ``cfg``; None when the run
    was stopped before its first checkpoint (it then starts from the beginning)."""
    last_path = out / "last.pt"
    if not last_path.exists():
        if (out / "config.json").exists():
            log(f"--resume: {out} has no checkpoint yet (stopped before the first one); "
                "starting from the beginning")  # fmt: skip
            return None
        raise CheckpointError(f"--resume: no checkpoint at {last_path} (not a run directory?)")
    state = load_checkpoint(last_path)
    missing = [k for k in _RESUME_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{last_path}: not a resumable checkpoint (no {', '.join(missing)})")
    saved = state.get("train_config", {})
    diff = [k for k in _COMPARED if k != "corpus" and k in saved and saved[k] != getattr(cfg, k)]
    pairs = [f"{k}: saved {saved[k]!r}, now {getattr(cfg, k)!r}" for k in diff]
    pairs += [p for p in [resume_problem(saved, cfg)] if p]
    if pairs:
        raise CheckpointError(
            f"{last_path}: cannot resume with a different configuration ({', '.join(pairs)})"
        )
    _check_same_corpus(cfg, saved.get("corpus"), state.get("data", {}).get("corpus_sha256"),
                       last_path, log)  # fmt: skip
    if isinstance(state["epoch"], int) and state["epoch"] > cfg.epochs:
        raise CheckpointError(
            f"{last_path}: already trained {state['epoch']} epochs, more than --epochs {cfg.epochs}"
        )
    return state


def _check_same_corpus(
    cfg: TrainConfig, saved_path: str | None, saved_sha: str | None, last_path: Path, log
) -> None:
    """A resumed run must read the corpus its checkpoint was trained on: the
    same content (SHA-256) for a file, wherever it now lies (a moved corpus is
    reported, not refused); the same dataset directory for a `strae parse`
    dataset (or a copy with the same fingerprint)."""
    now = Path(cfg.corpus)
    moved = saved_path is not None and Path(saved_path).resolve() != now.resolve()
    if saved_sha and now.is_file():
        if file_sha256(now) != saved_sha:
            what = (f"is not the corpus {saved_path} it was trained on" if moved
                    else "has changed since this checkpoint was written")  # fmt: skip
            raise CheckpointError(
                f"{last_path}: the corpus {cfg.corpus} {what} (SHA-256 differs); resuming "
                "would train on other data"
            )
    elif moved:
        same = (
            is_parsed_corpus(now)
            and is_parsed_corpus(saved_path)
            and read_meta(now).get("fingerprint") == read_meta(saved_path).get("fingerprint")
        )
        if not same:
            raise CheckpointError(
                f"{last_path}: cannot resume with a different corpus (saved {saved_path!r}, "
                f"now {cfg.corpus!r})"
            )
    if moved:
        log(f"note: the corpus moved: {last_path} was trained on {saved_path}, now read from "
            f"{cfg.corpus} (same content)")  # fmt: skip


_RESUME_KEYS = ("model", "optimizer", "vocab", "epoch", "next_batch", "step", "best_dev",
                "last_dev", "rng", "metrics_bytes")  # fmt: skip


def _params_finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _train(
    cfg: TrainConfig,
    resume: bool,
    log: Callable[[str], None],
    ctx: DistContext,
    on_eval: OnEval | None = None,
    saved: dict[str, Any] | None = None,
    parse: Parse | None = None,
) -> TrainResult:
    """``saved``: updated with the current step, the step of the checkpoint on
    disk and whether a stop was requested (read by :func:`train` on Ctrl-C)."""
    saved = saved if saved is not None else {}
    out = Path(cfg.out)
    last_path, best_path = out / "last.pt", out / "best.pt"
    state: dict[str, Any] | None = None
    vocab: Vocabulary | None = None
    subwords: Subwords | None = None
    if resume:
        state = _resume_state(cfg, out, log)
        if state is not None:
            try:
                vocab = Vocabulary(list(state["vocab"]))
            except (TypeError, ValueError) as e:
                raise CheckpointError(f"{last_path}: unusable vocabulary: {e}") from None
            if cfg.vocab == "bpe":
                from strae_graph.subwords import SubwordError, load_run_subwords

                try:
                    subwords = load_run_subwords(out, vocab)
                except SubwordError as e:
                    raise CheckpointError(f"--resume: {e}") from None

    t0 = time.perf_counter()
    data = load_training_data(cfg, vocab, subwords, parse)
    n_train_tokens = sum(len(leaves(t)) for t in data.train)
    log(
        f"data: {len(data.train):,} training / {len(data.dev):,} dev sentences, "
        f"{n_train_tokens:,} tokens, vocabulary {len(data.vocab):,} "
        f"{'BPE pieces ' if data.subwords is not None else ''}"
        f"(skipped lines: {data.stats.empty} empty, {data.stats.too_long} too long, "
        f"{data.stats.undecodable} undecodable; unknown tokens: "
        f"{data.unknown_tokens['train']:,} training, {data.unknown_tokens['dev']:,} dev) "
        f"in {time.perf_counter() - t0:.1f}s"
    )
    corpus_sha = file_sha256(cfg.corpus) if Path(cfg.corpus).is_file() else None

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
        dropout=cfg.dropout,
        input_dropout=cfg.input_dropout,
        compose=cfg.compose,
        init_range=cfg.init_range,
        learn_temperature=cfg.learn_temperature,
    )
    model = StrAE(model_cfg).to(cfg.device)
    ctx.broadcast_parameters(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    n_batches = math.ceil(len(data.train) / cfg.batch_size)
    scheduler = make_scheduler(optimizer, cfg, n_batches)
    train_seconds, tokens_seen, curve_step = 0.0, 0, None
    node_ratios: list[float] = []
    resumed_ratios: list[float] = []

    epoch, next_batch, step = 0, 0, 0
    best_dev, last_dev = math.inf, math.nan
    nan_batches = 0
    if state is not None:
        problem = describe_state_mismatch(model.state_dict(), state["model"])
        if problem:
            raise CheckpointError(f"{last_path}: does not fit this model: {problem}")
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            restore_scheduler(scheduler, state.get("scheduler"), state["step"])
            restore_rng(state["rng"])
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            raise CheckpointError(f"{last_path}: does not fit this model: {e}") from None
        epoch, next_batch, step = state["epoch"], state["next_batch"], state["step"]
        saved["checkpoint_step"] = step
        best_dev, last_dev = state["best_dev"], state["last_dev"]
        nan_batches = int(state.get("nan_batches", 0))
        train_seconds, tokens_seen = state.get("train_seconds", 0.0), state.get("tokens_seen", 0)
        curve_step = state.get("curve_step")
        resumed_ratios = [float(r) for r in state.get("node_ratios", [])]
        _truncate(ctx.output_path(out / "curve.jsonl"), state.get("curve_bytes", 0))
        if not _truncate(ctx.output_path(out / "metrics.jsonl"), state["metrics_bytes"]):
            log(f"warning: {out / 'metrics.jsonl'} is shorter than when {last_path} was "
                "written; earlier metric lines are missing")  # fmt: skip
        log(f"resumed from {last_path}: epoch {epoch + 1}, batch {next_batch}, step {step}")
    elif ctx.is_main:
        for name in ("metrics.jsonl", "timing.jsonl", "curve.jsonl"):
            (out / name).unlink(missing_ok=True)
        atomic_write_bytes(out / "vocab.json", data.vocab.to_json().encode())
        if data.subwords is not None:
            data.subwords.save(out / TOKENIZER_FILE)
        else:
            (out / TOKENIZER_FILE).unlink(missing_ok=True)  # from an earlier bpe run (--overwrite)
        record = _config_record(cfg, model_cfg, data)
        atomic_write_bytes(out / "config.json", json.dumps(record, indent=2).encode())

    def checkpoint(path: Path) -> None:
        if not ctx.is_main:
            return
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
                "rng": capture_rng(),
                "metrics_bytes": metrics.stat().st_size if metrics.exists() else 0,
                "nan_batches": nan_batches,
                "data": {"corpus_sha256": corpus_sha},
                "scheduler": scheduler.state_dict(),
                "train_seconds": clock.seconds(),
                "tokens_seen": tokens_seen,
                "curve_bytes": curve.size() if curve else 0,
                "curve_step": curve.last_step if curve else None,
                # --entangle: this epoch's node ratios so far (the epoch's mean survives resume)
                "node_ratios": list(node_ratios) if next_batch else [],
            },
            path,
        )
        if path == last_path:
            saved["checkpoint_step"] = step

    ctx.seed_dropout(cfg.seed, step)
    tokens_done, seconds = 0, 0.0
    interrupted = out_of_time = False
    model.train()
    clock = TrainClock(train_seconds)
    curve = None
    if cfg.eval_every_minutes is not None and on_eval is not None and ctx.is_main:
        curve = LearningCurve(out / "curve.jsonl", cfg.eval_every_minutes, on_eval,
                              clock.minutes(), curve_step)  # fmt: skip

    def time_is_up() -> bool:  # rank 0 decides, so that every process stops together
        return cfg.minutes is not None and bool(ctx.from_main(budget_spent(clock, cfg.minutes)))

    with (
        StopRequest() as stop,
        contextlib.ExitStack() as threads,  # prefetchers joined even on a 2nd Ctrl-C
        open(ctx.output_path(out / "metrics.jsonl"), "a") as mfile,
        open(ctx.output_path(out / "timing.jsonl"), "a") as tfile,
    ):
        saved["stop"], saved["step"] = stop, step
        while epoch < cfg.epochs and not interrupted:
            if step > 0 and time_is_up():  # spent in the last epoch's end, or before --resume
                out_of_time = True
                break
            if stop.requested:  # arrived during the dev evaluation / epoch checkpoint
                interrupted = True
                log(f"{stop.name}: stopped at the start of epoch {epoch + 1}; {last_path} "
                    "is up to date; continue with --resume")  # fmt: skip
                break
            order = epoch_order(len(data.train), cfg.seed, epoch)
            bar = tqdm(
                total=n_batches,
                initial=next_batch,
                desc=f"epoch {epoch + 1}/{cfg.epochs}",
                disable=not cfg.progress or not ctx.is_main,
                unit="batch",
                dynamic_ncols=True,
            )
            ahead = threads.enter_context(
                Prefetcher(
                    lambda b, order=order: _prepare(data, order, b, cfg, ctx),
                    range(next_batch, n_batches),
                )
            )
            # --entangle: distinct / plain nodes per batch (this epoch's, restored on resume)
            node_ratios, resumed_ratios = resumed_ratios, []
            while next_batch < n_batches:
                ts, cs = time.perf_counter(), time.process_time()
                trees, (g, fr) = ahead.get(next_batch)
                n_tok = sum(len(leaves(t)) for t in trees)
                rng_at_batch = torch.get_rng_state()  # restored if this batch goes NaN
                if cfg.structure == SELF:
                    output = batch_output(model, trees, data.vocab, cfg)
                else:
                    output = ctx.forward(model, g, fr)
                optimizer.zero_grad(set_to_none=True)
                bad = None if torch.isfinite(output.loss) else f"loss is {output.loss.item()}"
                if bad is None:
                    output.loss.backward()
                    ctx.sync_gradients(model)
                    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                    if not torch.isfinite(norm):
                        bad = f"gradient norm is {norm.item()}"
                if bad is not None:
                    where = f"epoch {epoch + 1}, batch {next_batch + 1} of {n_batches}"
                    if cfg.on_nan == "skip":
                        nan_batches += 1
                        optimizer.zero_grad(set_to_none=True)
                        mfile.write(json.dumps({"epoch": epoch + 1, "batch": next_batch + 1,
                                                "skipped": bad}) + "\n")  # fmt: skip
                        log(f"{bad} at {where}: batch skipped (--on-nan skip)")
                        next_batch += 1
                        bar.update(1)
                        if stop.requested:
                            break
                        continue
                    bar.close()
                    raise FloatingPointError(
                        f"{bad} at {where} (step {step + 1}); no update was made. "
                        + _save_before_bad_batch(checkpoint, model, last_path, stop, rng_at_batch)
                    )
                lr = current_lr(optimizer)
                optimizer.step()
                if cfg.entangle:
                    node_ratios.append(len(output.up) / sum(2 * len(leaves(t)) - 1 for t in trees))
                scheduler.step()
                dt = time.perf_counter() - ts
                cpu_dt = time.process_time() - cs  # this process, prefetch thread included
                step += 1
                saved["step"] = step
                next_batch += 1
                tokens_done += n_tok
                tokens_seen += n_tok
                seconds += dt
                bar.update(1)
                bar.set_postfix(loss=f"{output.loss.item():.4f}", tok_s=f"{n_tok / dt:,.0f}")
                if step % cfg.log_every == 0 or next_batch == n_batches:
                    rec = {"step": step, "epoch": epoch + 1, "batch": next_batch,
                           "loss": output.loss.item(), **output.parts, "lr": lr}  # fmt: skip
                    if cfg.learn_temperature:
                        rec["scale"] = model.scale_value()
                    mfile.write(json.dumps(rec) + "\n")
                    mfile.flush()
                    tfile.write(json.dumps({"step": step, "seconds": dt, "tokens": n_tok,
                                            "tokens_per_s": n_tok / dt,
                                            "cpu_seconds": cpu_dt,
                                            "torch_threads": torch.get_num_threads(),
                                            "peak_rss_mb": peak_rss_mb()}) + "\n")  # fmt: skip
                    tfile.flush()
                if curve is not None and curve.due(clock):  # before a Ctrl-C is looked at
                    curve.evaluate(model, data.vocab, clock, step, tokens_seen)
                stop.signal = ctx.agree_signal(stop.signal)
                if stop.requested:
                    break
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                    mfile.flush()
                    with stop.deferred():
                        checkpoint(last_path)
                if time_is_up():
                    out_of_time = True
                    break
            bar.close()
            ahead.close()
            if stop.requested:
                mfile.flush()
                with stop.deferred():  # from this line on, a second Ctrl-C waits for the save
                    log(f"{stop.name}: saving {last_path} ...")
                    checkpoint(last_path)
                log(f"{stop.name}: saved {last_path} at epoch {epoch + 1}, batch {next_batch}; "
                    f"continue with --resume")  # fmt: skip
                interrupted = True
                break
            finished = next_batch == n_batches  # else: out of time in mid-epoch
            dev = evaluate_loss(model, data.dev, data.vocab, cfg) if ctx.is_main else math.nan
            last_dev = ctx.from_main(dev)
            rec = {"epoch": epoch + 1, "step": step, "dev_loss": last_dev}
            saved_nodes = ""
            if cfg.entangle and node_ratios:
                rec["node_ratio"] = float(np.mean(node_ratios))
                saved_nodes = (f"; entangled batches hold {rec['node_ratio']:.1%} of the plain "
                               f"nodes (mean of {len(node_ratios)} batches)")  # fmt: skip
            if not finished:
                rec["stopped_on_budget"] = True
            mfile.write(json.dumps(rec) + "\n")
            mfile.flush()
            if finished:
                epoch += 1
                next_batch = 0
            improved = last_dev < best_dev or (not data.dev and not best_path.exists())
            if improved:
                best_dev = last_dev
            with stop.deferred():
                checkpoint(last_path)
                if improved:
                    checkpoint(best_path)
            where = f"epoch {epoch}" if finished else f"epoch {epoch + 1}, batch {next_batch}"
            log(f"{where}: dev loss {last_dev:.4f} (best {best_dev:.4f}); saved {last_path}"
                + saved_nodes)
            if out_of_time:
                break
    stopped_on_budget = out_of_time and epoch < cfg.epochs
    if stopped_on_budget:
        log(f"stopped on the time budget: {clock.minutes():.4g} of {cfg.minutes:g} minutes "
            "trained; continue with --resume and a larger --minutes")  # fmt: skip
    if curve is not None and not interrupted:
        curve.finish(model, data.vocab, clock, step, tokens_seen)

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
        stopped_on_budget=stopped_on_budget,
        minutes_trained=round(clock.minutes(), 4),
        skipped={
            "empty_lines": data.stats.empty,
            "too_long_lines": data.stats.too_long,
            "undecodable_lines": data.stats.undecodable,
            "unknown_tokens_train": data.unknown_tokens["train"],
            "unknown_tokens_dev": data.unknown_tokens["dev"],
            "nan_batches": nan_batches,
        },
    )
    return result


def _save_before_bad_batch(
    checkpoint: Callable[[Path], None],
    model: torch.nn.Module,
    last_path: Path,
    stop: StopRequest,
    rng_at_batch: torch.Tensor,
) -> str:
    """Save the (still finite) model, and the random state, from before the bad
    batch, so that ``--resume --on-nan skip`` continues exactly as a run with
    ``--on-nan skip`` from the start; the sentence to append to the error message."""
    if not _params_finite(model):
        return f"The model already holds NaN/inf; the last good checkpoint is {last_path}."
    torch.set_rng_state(rng_at_batch)
    with stop.deferred():
        checkpoint(last_path)
    return (
        f"Saved the model from before this batch to {last_path}; continue with --resume, "
        "adding --on-nan skip to skip the batch (or lower --lr)."
    )


def _truncate(path: Path, size: int) -> bool:
    """Cut ``path`` back to ``size`` bytes (lines written after the checkpoint);
    False when the file is shorter than that."""
    have = path.stat().st_size if path.exists() else 0
    if have > size:
        with open(path, "r+b") as f:
            f.truncate(size)
    return have >= size


def train_config_fields() -> list[str]:
    return [f.name for f in fields(TrainConfig)]
