"""The training options ``strae train`` and ``strae compare`` share, declared
once: the corpus slice (:func:`add_data_options`, read back by
:func:`data_values`) and the preset options (:func:`add_preset_options`, read
back by :func:`preset_given`).  Option names are ``TrainConfig`` field names
(``--max-sentences`` is ``max_sentences``)."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from eval.evaluate import ALL_TASKS, DEFAULT_TASKS, EvalConfig
from strae_graph.cli.errors import option_error
from strae_graph.data.corpus import DEFAULT_CORPUS
from strae_graph.training.config import TrainConfig
from strae_graph.training.lr_schedule import LR_DECAYS
from strae_graph.training.presets import PRESET_KEYS, PRESETS

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
    rest): shared by ``strae train`` and ``strae compare``.  In groups, in this order:
    the optimisation, the leaves, the model's shape, the logit scale, regularisation."""
    _add_optimisation_options(p)
    _add_leaf_options(p)
    _add_shape_options(p)
    _add_scale_options(p)
    _add_regularisation_options(p)


def _option(p: Any, *flags: str, key: str, text: str = "", **kw: Any) -> None:
    """A preset option: absent from the namespace unless given; its help ends with
    its value in every preset (``label``: the name it has there, if another)."""
    label = kw.pop("label", "")
    p.add_argument(*flags, default=argparse.SUPPRESS, help=preset_help(key, text, label), **kw)


def _add_optimisation_options(p: argparse.ArgumentParser) -> None:
    _option(
        p, "--epochs", key="epochs", type=int,
        text="passes over the training sentences; with --minutes or --max-steps and no "
        "--epochs, the budget alone decides (no epoch limit)",
    )  # fmt: skip
    _option(p, "--batch-size", key="batch_size", text="sentences per step", type=int)
    _option(
        p, "--lr", key="lr", type=float,
        text="peak learning rate, in (0, 10] (None: 1e-4 contrastive, 1e-3 ce/both)",
    )  # fmt: skip
    _option(p, "--warmup-steps", key="warmup_steps", type=int,
            text="linear warm-up of the learning rate from 0 over N steps")  # fmt: skip
    _option(
        p, "--lr-decay", key="lr_decay", choices=LR_DECAYS,
        text="after the warm-up, decay the learning rate to --min-lr-ratio x --lr by the end of "
        "the budget: at step --max-steps when that is before the end of --epochs (epochs x "
        "batches), else at the end of the epochs; with --minutes, at a step estimated from "
        "the training time of steps 6-55 (fewer if they take over 2%% of the budget; "
        "constant lr until then), capped by those; fixed once chosen, kept on --resume",
    )  # fmt: skip
    _option(p, "--min-lr-ratio", key="min_lr_ratio", type=float,
            text="final learning rate / --lr, in [0, 1]")  # fmt: skip
    _option(p, "--clip", key="clip", type=float, text="gradient-norm clip")


def _add_leaf_options(p: argparse.ArgumentParser) -> None:
    _option(
        p, "--vocab", key="vocab", choices=["word", "bpe"],
        text="leaves: words, or BPE pieces learned from the training sentences (trees are "
        "still decided over words; a word's pieces get a balanced subtree); --min-count "
        "and --max-vocab apply to word runs only",
    )  # fmt: skip
    _option(p, "--bpe-size", key="bpe_size", type=int, text="--vocab bpe: pieces")


def _add_shape_options(p: argparse.ArgumentParser) -> None:
    _option(p, "--channels", "-K", key="channels", type=int, text="K")
    _option(p, "--channel-size", "-U", key="channel_size", type=int, text="U")
    _option(p, "--untied", key="tied", dest="tied", action="store_false",
            text="untied Lambda (Linear E -> V)", label="tied")  # fmt: skip
    _option(p, "--activation", key="activation", choices=["none", "tanh", "relu", "gelu"])
    _option(
        p, "--compose", key="compose", metavar="{linear,diagonal}",
        text="compose/decompose functions: linear (Linear 2U->U, U->2U per channel) or "
        "diagonal (Banyan: element-wise gates and biases, 7U parameters)",
    )  # fmt: skip
    _option(
        p, "--entangle", key="entangle", action=argparse.BooleanOptionalAction,
        text="entangled trees: identical spans of a batch are one node with several parents "
        "(a DAG; down = mean of the halves from all parents); not under torchrun",
    )  # fmt: skip


def _add_scale_options(p: argparse.ArgumentParser) -> None:
    t = p.add_mutually_exclusive_group()
    _option(t, "--temperature", key="temperature", type=float,
            text="paper convention: logits = cos / tau")  # fmt: skip
    _option(t, "--log-scale", key="log_scale", type=float,
            text="reference-code convention: logits = cos * exp(a) (None: a = 0.2)")  # fmt: skip
    _option(
        p, "--ce-weight", key="ce_weight", type=float,
        text="objective both: loss = (1 - w) x contrastive + w x cross-entropy, w in [0, 1]",
    )  # fmt: skip
    _option(
        p, "--learn-temperature", key="learn_temperature", action=argparse.BooleanOptionalAction,
        text="learn the logit scale (stored as its log, CLIP-style), starting from "
        "--temperature / --log-scale, kept in [1, 100]",
    )  # fmt: skip


def _add_regularisation_options(p: argparse.ArgumentParser) -> None:
    _option(p, "--dropout", key="dropout", type=float, text="on compose/decompose")
    _option(p, "--input-dropout", key="input_dropout", type=float, text="on leaves")
    _option(p, "--init-range", key="init_range", type=float,
            text="embeddings start Uniform(-r, r)")  # fmt: skip


def preset_given(args: argparse.Namespace) -> dict[str, Any]:
    """The preset options given on the command line (the preset decides the rest).
    A budget (``--minutes``, ``--max-steps``) without ``--epochs`` decides alone:
    ``epochs`` is then None (no epoch limit), not the preset's."""
    given = {k: getattr(args, k) for k in PRESET_KEYS if hasattr(args, k)}
    budget = getattr(args, "minutes", None) is not None or getattr(args, "max_steps", None)
    if budget and "epochs" not in given:
        given["epochs"] = None
    return given


def add_data_options(
    p: argparse.ArgumentParser, max_sentences: int | None, max_sentences_help: str
) -> None:
    """The corpus and the slice of it a run reads (:data:`DATA_FIELDS`)."""
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
    "cross-entropy logits, and their gradients): fp32, or bf16: operands rounded to bf16, "
    "float32 accumulation and results, softmax and loss (faster where the CPU has "
    "avx512_bf16/amx or on a GPU; elsewhere the same numbers at fp32's speed, with a "
    "note); recorded in config.json, fixed for --resume"
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


def add_eval_options(p: argparse.ArgumentParser) -> None:
    """The evaluation options ``strae eval`` and ``strae compare`` share (read back by
    :func:`eval_config`)."""
    p.add_argument(
        "--tasks",
        nargs="+",
        choices=ALL_TASKS,
        default=None,
        help="tasks to run (default: all but the development sets stsb-dev and sick-trial; "
        "only the given files when --wordsim/--sts is used)",
    )
    p.add_argument(
        "--probe-seeds",
        nargs="+",
        type=int,
        default=[0, 1, 2],
        help="seeds of the classification probes (mean ± std over them)",
    )
    p.add_argument(
        "--probe-max-train",
        type=int,
        default=20_000,
        help="training examples per probe (seeded sample; 0 = all)",
    )
    p.add_argument(
        "--word2vec",
        action="store_true",
        help="add a gensim word2vec baseline trained on the same corpus slice",
    )
    p.add_argument(
        "--no-mean-baseline",
        action="store_true",
        help="leave out the mean-of-leaf-embeddings baseline",
    )
    p.add_argument("--embed-batch-size", type=int_at_least(1), default=256,
                   help="sentences per embedding batch")  # fmt: skip
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")


def eval_config(args: argparse.Namespace, files: bool) -> EvalConfig:
    """The EvalConfig of :func:`add_eval_options`'s options (``files``: only the given
    --wordsim / --sts files unless --tasks says more)."""
    tasks = args.tasks
    if tasks is None:
        tasks = () if files else DEFAULT_TASKS
    try:
        return EvalConfig(
            tasks=tuple(tasks),
            wordsim_files=tuple(getattr(args, "wordsim", ())),
            sts_files=tuple(getattr(args, "sts", ())),
            probe_seeds=tuple(args.probe_seeds),
            probe_max_train=args.probe_max_train,
            progress=not args.no_progress,
        )
    except ValueError as e:  # "--probe-seeds: probe_seeds must be ..."
        raise option_error(e, [f.name for f in fields(EvalConfig)]) from None
