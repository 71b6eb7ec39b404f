"""Train a small benepar ChartParser offline, in benepar's own format.

benepar's pretrained models cannot be downloaded on an offline machine, so
this trains benepar's own :class:`benepar.parse_chart.ChartParser` with a
character-LSTM word encoder and a small partitioned-transformer encoder (no
pretrained transformer) on bracketed trees: by default the PTB sample in
``shared/data/trees``, minus its last ``held_out`` trees (the test set
``strae parse-eval`` scores) and the ``dev`` trees before them (used to keep
the best epoch).  Words are unescaped and lower-cased like the project's
tokeniser, so the parser sees at training time what it sees in use.

The model is saved as benepar's single-file checkpoint
(``{"config": ..., "state_dict": ...}``), which ``benepar.Parser(path)``
loads; :func:`train_benepar` checks that by loading it back and scoring it.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from strae_graph.corpus import DataError
from strae_graph.fileio import atomic_open
from strae_graph.progress import progress


@dataclass
class BeneparTrainConfig:
    """Data, model size and optimisation of a small offline benepar model."""

    trees: str | None = None  # default: the PTB sample
    out: str = "models/benepar_char.pt"
    held_out: int = 400  # last trees: test set (parse-eval's gold)
    dev: int = 200  # trees before them: model selection
    max_train: int | None = None
    max_len: int | None = None  # drop training trees longer than this (cost grows as n^2)
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    warmup_steps: int = 100
    clip: float = 1.0
    d_model: int = 128
    num_layers: int = 2
    num_heads: int = 4
    d_char_emb: int = 32
    d_ff: int = 256
    d_label_hidden: int = 128
    lowercase: bool = True
    seed: int = 0
    progress: bool = True


def hparams(cfg: BeneparTrainConfig) -> dict[str, Any]:
    """benepar hyper-parameters (the keys ChartParser reads) for ``cfg``."""
    return {
        "max_len_train": cfg.max_len or 0,
        "max_len_dev": 0,
        "batch_size": cfg.batch_size,
        "learning_rate": cfg.lr,
        "learning_rate_warmup_steps": cfg.warmup_steps,
        "clip_grad_norm": cfg.clip,
        "use_chars_lstm": True,
        "d_char_emb": cfg.d_char_emb,
        "char_lstm_input_dropout": 0.2,
        "use_pretrained": False,
        "pretrained_model": "",
        "use_encoder": True,
        "d_model": cfg.d_model,
        "num_layers": cfg.num_layers,
        "num_heads": cfg.num_heads,
        "d_kv": cfg.d_model // cfg.num_heads,
        "d_ff": cfg.d_ff,
        "encoder_max_len": 512,
        "morpho_emb_dropout": 0.2,
        "attention_dropout": 0.2,
        "relu_dropout": 0.1,
        "residual_dropout": 0.2,
        "force_root_constituent": True,
        "predict_tags": False,
        "d_label_hidden": cfg.d_label_hidden,
        "d_tag_hidden": cfg.d_label_hidden,
        "tag_loss_scale": 5.0,
    }


# --- treebank preparation ------------------------------------------------------
def clean_tree(tree: Any, lowercase: bool) -> Any | None:
    """An nltk tree without ``-NONE-`` traces, function tags (``NP-SBJ-1`` ->
    ``NP``) or emptied constituents; leaves unescaped (and lower-cased)."""
    import nltk

    from parsers.gold import unescape

    if isinstance(tree, str):
        word = unescape(tree)
        return word.lower() if lowercase else word
    label = tree.label()
    if label == "-NONE-":
        return None
    if label and not label.startswith("-"):
        label = label.split("-")[0].split("=")[0]
    kids = [k for k in (clean_tree(c, lowercase) for c in tree) if k is not None]
    if not kids:
        return None
    return nltk.Tree(label, kids)


@dataclass
class TrainingExample:
    """A sentence with its gold tree, as benepar's training code expects."""

    words: list[str]
    space_after: list[bool]
    tree: Any

    def leaves(self) -> list[str]:
        return self.tree.leaves()

    def pos(self) -> list[tuple[str, str]]:
        return self.tree.pos()


def load_examples(path: str | Path, lowercase: bool = True) -> list[TrainingExample]:
    """Every tree of a bracketed file (see :mod:`parsers.gold`) as a training example."""
    import nltk

    from parsers.gold import iter_bracket_strings

    out = []
    for k, text in iter_bracket_strings(path):
        try:
            raw = nltk.Tree.fromstring(text)
        except ValueError as e:
            raise DataError(f"{path}, tree {k}: {e}") from None
        tree = clean_tree(raw, lowercase)
        if tree is None:
            continue
        if tree.label() in ("", "ROOT", "TOP"):
            tree.set_label("TOP")
        else:
            tree = nltk.Tree("TOP", [tree])
        words = tree.leaves()
        out.append(TrainingExample(words, [True] * len(words), tree))
    return out


def split_examples(
    examples: Sequence[TrainingExample], held_out: int, dev: int
) -> tuple[list[TrainingExample], list[TrainingExample], list[TrainingExample]]:
    """(train, dev, test): the last ``held_out`` are test, the ``dev`` before them dev."""
    if held_out + dev >= len(examples):
        raise DataError(f"only {len(examples)} trees: too few for {dev} dev + {held_out} test")
    n_train = len(examples) - held_out - dev
    return (
        list(examples[:n_train]),
        list(examples[n_train : n_train + dev]),
        list(examples[n_train + dev :]),
    )


# --- training ------------------------------------------------------------------
def build_parser(cfg: BeneparTrainConfig, train: Sequence[TrainingExample]):
    from benepar import char_lstm, decode_chart, nkutil
    from benepar.parse_chart import ChartParser

    label_vocab = decode_chart.ChartDecoder.build_vocab([e.tree for e in train])
    char_vocab = char_lstm.RetokenizerForCharLSTM.build_vocab([e.words for e in train])
    tag_vocab = {tag: i for i, tag in enumerate(sorted({t for e in train for _, t in e.pos()}))}
    return ChartParser(
        tag_vocab=tag_vocab,
        label_vocab=label_vocab,
        char_vocab=char_vocab,
        hparams=nkutil.HParams(**hparams(cfg)),
    )


def save_parser(parser: Any, path: str | Path) -> None:
    """Save in benepar's single-file format (loadable by ``benepar.Parser(path)``)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        torch.save({"config": parser.config, "state_dict": parser.state_dict()}, f)


def bracket_f1_of(parser: Any, examples: Sequence[TrainingExample]) -> float:
    """Unlabelled bracket F1 (x 100, as parse-eval computes it) of a ChartParser
    on ``examples``, parsing their words (lower-cased as in training)."""
    import benepar

    from parsers.evaluate import bracket_scores, tree_spans, without_punctuation
    from parsers.gold import nltk_constituent_spans
    from strae_graph.tree import Tree

    inputs = [benepar.InputSentence(words=e.words) for e in examples]
    if isinstance(parser, benepar.Parser):
        parsed = list(parser.parse_sents(inputs))
    else:
        parsed = _parse_with_chart_parser(parser, inputs)
    pred = [
        tree_spans(Tree(tuple(e.words), Tree.from_nltk(t).children))
        for e, t in zip(examples, parsed)
    ]
    gold = [without_punctuation(nltk_constituent_spans(e.tree)[1], e.words) for e in examples]
    return 100 * bracket_scores(pred, gold)["f1"]


def _parse_with_chart_parser(parser: Any, inputs: Sequence[Any]) -> list[Any]:
    """Parse with a bare ChartParser (as benepar.Parser does, without loading)."""
    filled = [
        dataclasses.replace(s, escaped_words=list(s.words), space_after=[True] * len(s.words))
        for s in inputs
    ]
    outs = parser.parse(filled, return_compressed=True, subbatch_max_tokens=2000)
    return [
        o.to_tree(s.pos(), parser.decoder.label_from_index, parser.tag_from_index)
        for s, o in zip(filled, outs)
    ]


def train_benepar(cfg: BeneparTrainConfig, log=print) -> dict[str, Any]:
    """Train, keep the best dev epoch, save to ``cfg.out``, load it back with
    ``benepar.Parser`` and report bracket F1 on the held-out trees."""
    import benepar
    import torch

    from parsers.evaluate import PTB_SAMPLE

    t0 = time.perf_counter()
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    examples = load_examples(cfg.trees or PTB_SAMPLE, cfg.lowercase)
    train, dev, test = split_examples(examples, cfg.held_out, cfg.dev)
    if cfg.max_len is not None:
        train = [e for e in train if len(e.words) <= cfg.max_len]
    if cfg.max_train is not None:
        train = train[: cfg.max_train]
    parser = build_parser(cfg, train)
    params = sum(p.numel() for p in parser.parameters())
    log(f"benepar-train: {len(train)} train / {len(dev)} dev / {len(test)} test trees, "
        f"{params:,} parameters")  # fmt: skip
    optimizer = torch.optim.Adam(parser.parameters(), lr=cfg.lr, betas=(0.9, 0.98))
    steps_per_epoch = (len(train) + cfg.batch_size - 1) // cfg.batch_size
    step, best_dev, history = 0, -1.0, []
    rng = random.Random(cfg.seed)
    for epoch in range(cfg.epochs):
        parser.train()
        order = list(range(len(train)))
        rng.shuffle(order)
        bar = progress(total=steps_per_epoch, desc=f"benepar epoch {epoch + 1}/{cfg.epochs}",
                   disable=not cfg.progress, unit="batch", dynamic_ncols=True)  # fmt: skip
        total_loss = 0.0
        for b in range(steps_per_epoch):
            batch = [train[i] for i in order[b * cfg.batch_size : (b + 1) * cfg.batch_size]]
            step += 1
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * min(1.0, step / max(1, cfg.warmup_steps))
            optimizer.zero_grad()
            loss_value = 0.0
            for _, sub in parser.encode_and_collate_subbatches(batch, subbatch_max_tokens=2000):
                loss = parser.compute_loss(sub)
                loss_value += loss.item()
                loss.backward()
            if cfg.clip:
                torch.nn.utils.clip_grad_norm_(parser.parameters(), cfg.clip)
            optimizer.step()
            total_loss += loss_value
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}")
        bar.close()
        dev_f1 = bracket_f1_of(parser, dev)
        history.append({"epoch": epoch + 1, "train_loss": total_loss / steps_per_epoch,
                        "dev_f1": dev_f1})  # fmt: skip
        log(
            f"epoch {epoch + 1}: train loss {total_loss / steps_per_epoch:.3f}, dev F1 {dev_f1:.1f}"
        )
        if dev_f1 > best_dev:
            best_dev = dev_f1
            save_parser(parser, cfg.out)
    train_s = time.perf_counter() - t0
    # the real path: load the saved file through benepar's public API
    loaded = benepar.Parser(str(cfg.out))
    t1 = time.perf_counter()
    test_f1 = bracket_f1_of(loaded, test)
    parse_s = time.perf_counter() - t1
    return {
        "model": str(cfg.out),
        "config": asdict(cfg),
        "parameters": params,
        "train_trees": len(train),
        "dev_trees": len(dev),
        "test_trees": len(test),
        "best_dev_f1": best_dev,
        "test_f1": test_f1,
        "history": history,
        "train_seconds": round(train_s, 1),
        "test_sentences_per_s": round(len(test) / parse_s, 1),
    }
