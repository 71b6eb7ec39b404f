"""The training options ``strae train`` and ``strae compare`` share, declared
once: the corpus slice (:func:`add_data_options`, read back by
:func:`data_values`) and the preset options (:func:`add_preset_options`, read
back by :func:`preset_given`).  Option names are ``TrainConfig`` field names
(``--max-sentences`` is ``max_sentences``)."""

from __future__ import annotations

import argparse
from typing import Any

from strae_graph.data.corpus import DEFAULT_CORPUS

#: the corpus-slice options: TrainConfig fields, read back by :func:`data_values`
DATA_FIELDS = ("corpus", "max_sentences", "dev_sentences", "max_length", "min_count", "max_vocab")


def int_at_least(low: int):
    """An argparse type: an integer of at least ``low`` (argparse names the option
    in its error: ``argument --embed-batch-size: must be at least 1, got 0``); for
    options that no configuration object checks."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def preset_help(key: str, text: str = "", label: str = "") -> str:
    """Help text of a preset option, ending with its value in every preset."""
    from strae_graph.training.presets import PRESETS

    values = ", ".join(f"{name} {preset[key]}" for name, preset in PRESETS.items())
    return f"{text} (preset{' ' + label if label else ''}: {values})".lstrip()


#: ``--checkpoint`` of ``strae eval``, ``embed`` and ``export``
CHECKPOINT_HELP = (
    "best, last, or a .pt file of RUN_DIR (e.g. a copy of an earlier last.pt): it is checked "
    "against RUN_DIR's config.json and vocab.json, so a checkpoint of another run is refused "
    "rather than used under RUN_DIR's name (give that run's directory instead)"
)
#: ``--minutes`` of ``strae train`` and ``strae compare``
MINUTES_HELP = (
    "time budget: stop cleanly (dev loss, checkpoint) once this many minutes of training "
    "time have passed (checked after each step); a decaying --lr-decay ends with it: its "
    "number of steps is estimated from the first steps' rate (see --lr-decay)"
)
#: ``--max-steps`` of ``strae train`` and ``strae compare``
MAX_STEPS_HELP = (
    "step budget: stop cleanly (dev loss, checkpoint) after N optimiser steps in all "
    "(every structure sees the same batches: equal data, not equal time); a decaying "
    "--lr-decay ends at step N when that is before the end of --epochs"
)


def add_preset_options(p: argparse.ArgumentParser) -> None:
    """The preset options of ``strae train`` except ``--objective`` (absent from
    the namespace unless given; :func:`strae_graph.training.presets.resolve` fills in the
    rest): shared by ``strae train`` and ``strae compare``."""
    from strae_graph.training.lr_schedule import LR_DECAYS

    unset = argparse.SUPPRESS
    p.add_argument(
        "--epochs",
        type=int,
        default=unset,
        help=preset_help(
            "epochs",
            "passes over the training sentences; with --minutes or --max-steps and no "
            "--epochs, the budget alone decides (no epoch limit)",
        ),
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=unset,
        help=preset_help("batch_size", "sentences per step"),
    )
    p.add_argument(
        "--lr",
        type=float,
        default=unset,
        help=preset_help(
            "lr", "peak learning rate, in (0, 10] (None: 1e-4 contrastive, 1e-3 ce/both)"
        ),
    )
    p.add_argument(
        "--warmup-steps",
        type=int,
        default=unset,
        help=preset_help("warmup_steps", "linear warm-up of the learning rate from 0 over N steps"),
    )
    p.add_argument(
        "--lr-decay",
        default=unset,
        choices=LR_DECAYS,
        help=preset_help(
            "lr_decay",
            "after the warm-up, decay the learning rate to --min-lr-ratio x --lr by the end of "
            "the budget: at step --max-steps when that is before the end of --epochs (epochs x "
            "batches), else at the end of the epochs; with --minutes, at a step estimated from "
            "the training time of steps 6-55 (fewer if they take over 2%% of the budget; "
            "constant lr until then), capped by those; fixed once chosen, kept on --resume",
        ),
    )
    p.add_argument(
        "--min-lr-ratio",
        type=float,
        default=unset,
        help=preset_help("min_lr_ratio", "final learning rate / --lr, in [0, 1]"),
    )
    p.add_argument(
        "--clip", type=float, default=unset, help=preset_help("clip", "gradient-norm clip")
    )
    p.add_argument(
        "--vocab",
        default=unset,
        choices=["word", "bpe"],
        help=preset_help(
            "vocab",
            "leaves: words, or BPE pieces learned from the training sentences (trees are "
            "still decided over words; a word's pieces get a balanced subtree); --min-count "
            "and --max-vocab apply to word runs only",
        ),
    )
    p.add_argument(
        "--bpe-size", type=int, default=unset, help=preset_help("bpe_size", "--vocab bpe: pieces")
    )
    p.add_argument("--channels", "-K", type=int, default=unset, help=preset_help("channels", "K"))
    p.add_argument(
        "--channel-size", "-U", type=int, default=unset, help=preset_help("channel_size", "U")
    )
    p.add_argument(
        "--untied",
        dest="tied",
        action="store_false",
        default=unset,
        help=preset_help("tied", "untied Lambda (Linear E -> V)", label="tied"),
    )
    p.add_argument(
        "--activation",
        default=unset,
        choices=["none", "tanh", "relu", "gelu"],
        help=preset_help("activation"),
    )
    p.add_argument(
        "--compose",
        default=unset,
        metavar="{linear,diagonal}",
        help=preset_help(
            "compose",
            "compose/decompose functions: linear (Linear 2U->U, U->2U per channel) or "
            "diagonal (Banyan: element-wise gates and biases, 7U parameters)",
        ),
    )
    p.add_argument(
        "--entangle",
        action=argparse.BooleanOptionalAction,
        default=unset,
        help=preset_help(
            "entangle",
            "entangled trees: identical spans of a batch are one node with several parents "
            "(a DAG; down = mean of the halves from all parents); not under torchrun",
        ),
    )
    t = p.add_mutually_exclusive_group()
    t.add_argument(
        "--temperature",
        type=float,
        default=unset,
        help=preset_help("temperature", "paper convention: logits = cos / tau"),
    )
    t.add_argument(
        "--log-scale",
        type=float,
        default=unset,
        help=preset_help(
            "log_scale", "reference-code convention: logits = cos * exp(a) (None: a = 0.2)"
        ),
    )
    p.add_argument(
        "--learn-temperature",
        action=argparse.BooleanOptionalAction,
        default=unset,
        help=preset_help(
            "learn_temperature",
            "learn the logit scale (stored as its log, CLIP-style), starting from "
            "--temperature / --log-scale, kept in [1, 100]",
        ),
    )
    p.add_argument(
        "--dropout", type=float, default=unset, help=preset_help("dropout", "on compose/decompose")
    )
    p.add_argument(
        "--input-dropout",
        type=float,
        default=unset,
        help=preset_help("input_dropout", "on leaves"),
    )
    p.add_argument(
        "--init-range",
        type=float,
        default=unset,
        help=preset_help("init_range", "embeddings start Uniform(-r, r)"),
    )


def preset_given(args: argparse.Namespace) -> dict[str, Any]:
    """The preset options given on the command line (the preset decides the rest).
    A budget (``--minutes``, ``--max-steps``) without ``--epochs`` decides alone:
    ``epochs`` is then None (no epoch limit), not the preset's."""
    from strae_graph.training.presets import PRESET_KEYS

    given = {k: getattr(args, k) for k in PRESET_KEYS if hasattr(args, k)}
    budget = getattr(args, "minutes", None) is not None or getattr(args, "max_steps", None)
    if budget and "epochs" not in given:
        given["epochs"] = None
    return given


def add_data_options(
    p: argparse.ArgumentParser, max_sentences: int | None, max_sentences_help: str
) -> None:
    """The corpus and the slice of it a run reads (:data:`DATA_FIELDS`)."""
    from strae_graph.training.config import TrainConfig

    d = TrainConfig()
    p.add_argument(
        "--corpus",
        default=str(DEFAULT_CORPUS),
        help="text file (optionally .gz), one sentence per line, or a dataset directory "
        "written by `strae parse` (its trees are used, never re-parsed)",
    )
    p.add_argument("--max-sentences", type=int, default=max_sentences, help=max_sentences_help)
    p.add_argument("--dev-sentences", type=int, default=d.dev_sentences)
    p.add_argument(
        "--max-length",
        type=int,
        default=d.max_length,
        help="longest sentence in tokens; longer ones are skipped and counted",
    )
    p.add_argument("--min-count", type=int, default=d.min_count)
    p.add_argument("--max-vocab", type=int, default=d.max_vocab)


def data_values(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig values of :func:`add_data_options` (``--max-sentences 0``: all)."""
    values = {k: getattr(args, k) for k in DATA_FIELDS}
    values["max_sentences"] = values["max_sentences"] or None
    return values


#: ``--precision`` of ``strae train`` and ``strae bench``
PRECISION_HELP = (
    "number format of the losses' big matrix products (contrastive similarity, "
    "cross-entropy logits, and their gradients): fp32, or bf16 operands with float32 "
    "accumulation, softmax and loss (fast where the CPU has avx512_bf16/amx or on a GPU; "
    "elsewhere emulated, with a note); recorded in config.json, fixed for --resume"
)


def add_speed_options(p: argparse.ArgumentParser) -> None:
    """``strae train``'s options that set how fast it runs: the products' precision, torch
    threads and batches built ahead (TrainConfig ``precision``, ``threads``, ``prefetch``)."""
    from strae_graph.model.precision import PRECISIONS

    p.add_argument("--precision", default="fp32", choices=PRECISIONS, help=PRECISION_HELP)
    p.add_argument(
        "--threads",
        default="auto",
        metavar="{auto,N}",
        help="torch threads: auto = the cores not busy with other work at the start, then "
        "one fewer while the threads wait for cores and one more again when they are free "
        "(the results do not depend on it); N: fixed",
    )
    p.add_argument(
        "--prefetch",
        type=int,
        default=None,
        metavar="N",
        help="batches built ahead by a background thread (default: 0 on a CPU, where "
        "building in the step is faster, 2 on a GPU)",
    )
