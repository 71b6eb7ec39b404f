"""Train a benepar ChartParser offline, in benepar's own format, resumably.

benepar's pretrained models cannot be downloaded on an offline machine, so
this trains benepar's own :class:`benepar.parse_chart.ChartParser` with a
character-LSTM word encoder and a partitioned-transformer encoder (no
pretrained transformer) on bracketed trees: by default the PTB sample in
``shared/data/trees``, minus its last ``held_out`` trees (the test set
``strae parse-eval`` scores) and the ``dev`` trees before them (used to keep
the best epoch and to halve the learning rate when dev F1 stops rising).

Case: the corpus is cased but the project's tokeniser lower-cases the leaves.
With ``case="mixed"`` (default) every training example is lower-cased with
probability ``lower_prob`` each epoch, so one model parses both forms; dev F1
is measured on both and the best epoch is chosen by their mean.

After every epoch the whole training state (model, optimiser, learning-rate
state, random generators, history) is written atomically to
``cfg.checkpoint`` (default ``OUT.ckpt``); ``resume=True`` continues from it
and ends with the same model as an uninterrupted run.  The best model is saved
as benepar's single-file checkpoint (``{"config", "state_dict"}``), which
``benepar.Parser(path)`` loads; :func:`train_benepar` checks that by loading it
back and scoring it on the test trees.  Both files are
:mod:`parsers.benepar_checkpoint`'s; the settings (:class:`BeneparTrainConfig`)
are :mod:`parsers.benepar_config`'s.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from parsers.benepar_checkpoint import TrainState, load_state, save_parser, save_state
from parsers.benepar_config import BeneparTrainConfig, hparams
from parsers.benepar_data import TrainingExample, load_examples, lowered, split_examples
from strae_graph.data.corpus import DataError, check_output_file
from strae_graph.util.progress import progress


def build_parser(cfg: BeneparTrainConfig, train: Sequence[TrainingExample]) -> Any:
    """A fresh ChartParser whose vocabularies cover ``train`` (characters of
    both cases, so lower-cased and cased words are both in its alphabet)."""
    from benepar import char_lstm, decode_chart, nkutil
    from benepar.parse_chart import ChartParser

    label_vocab = decode_chart.ChartDecoder.build_vocab([e.tree for e in train])
    words = [e.words for e in train] + [[w.lower() for w in e.words] for e in train]
    char_vocab = char_lstm.RetokenizerForCharLSTM.build_vocab(words)
    tags = sorted({t for e in train for _, t in e.pos()})
    return ChartParser(
        tag_vocab={tag: i for i, tag in enumerate(tags)},
        label_vocab=label_vocab,
        char_vocab=char_vocab,
        hparams=nkutil.HParams(**hparams(cfg)),
    )


# --- scoring -------------------------------------------------------------------
def bracket_f1_of(parser: Any, examples: Sequence[TrainingExample]) -> float:
    """Unlabelled bracket F1 (x 100, as parse-eval computes it) of a ChartParser
    or ``benepar.Parser`` on ``examples``, parsing their words as given."""
    import benepar

    from parsers.evaluate import bracket_scores, tree_spans, without_punctuation
    from parsers.gold import nltk_constituent_spans
    from strae_graph.trees.tree import Tree

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


def dev_scores(parser: Any, dev: Sequence[TrainingExample], case: str) -> dict[str, float]:
    """Dev F1 of the lower-cased words (what the tokeniser gives), of the cased
    words unless ``case == "lower"``, and the score the best epoch is chosen by."""
    parser.eval()
    scores = {"dev_f1_lower": bracket_f1_of(parser, [lowered(e) for e in dev])}
    if case != "lower":
        scores["dev_f1_cased"] = bracket_f1_of(parser, dev)
    scores["dev_f1"] = sum(scores.values()) / len(scores)
    return scores


# --- the loop ------------------------------------------------------------------------
def epoch_examples(
    cfg: BeneparTrainConfig, train: Sequence[TrainingExample], low: Sequence[TrainingExample],
    epoch: int,
) -> list[TrainingExample]:  # fmt: skip
    """Epoch ``epoch``'s shuffled examples, each cased or lower-cased as ``cfg.case``
    says; a function of (seed, epoch) only, so a resumed run sees the same."""
    rng = random.Random(cfg.seed * 100_003 + epoch)
    order = list(range(len(train)))
    rng.shuffle(order)
    if cfg.case == "lower":
        return [low[i] for i in order]
    if cfg.case == "cased":
        return [train[i] for i in order]
    return [low[i] if rng.random() < cfg.lower_prob else train[i] for i in order]


def train_epoch(
    cfg: BeneparTrainConfig, parser: Any, optimizer: Any, batches: list[list[Any]],
    st: TrainState, desc: str,
) -> float:  # fmt: skip
    """One pass over ``batches``; returns the mean batch loss."""
    import torch

    parser.train()
    total = 0.0
    bar = progress(batches, desc=desc, disable=not cfg.progress, unit="batch", dynamic_ncols=True)
    for batch in bar:
        st.step += 1
        warm = min(1.0, st.step / max(1, cfg.warmup_steps))
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * warm * st.lr_scale
        optimizer.zero_grad()
        loss_value = 0.0
        for _, sub in parser.encode_and_collate_subbatches(batch, subbatch_max_tokens=2000):
            loss = parser.compute_loss(sub)
            loss_value += loss.item()
            loss.backward()
        if cfg.clip:
            torch.nn.utils.clip_grad_norm_(parser.parameters(), cfg.clip)
        optimizer.step()
        total += loss_value
        bar.set_postfix(loss=f"{loss_value:.3f}")
    return total / max(1, len(batches))


def end_epoch(cfg: BeneparTrainConfig, parser: Any, st: TrainState, scores: dict) -> bool:
    """Book-keeping after an epoch's dev scores: keep the best model, halve the
    learning rate after ``patience`` epochs without gain; True = stop now."""
    if scores["dev_f1"] > st.best_dev:
        st.best_dev, st.bad_epochs = scores["dev_f1"], 0
        save_parser(parser, cfg.out)
        return False
    st.bad_epochs += 1
    if st.bad_epochs % cfg.patience == 0:
        st.lr_scale *= 0.5
    return st.bad_epochs >= cfg.stop_after


def prepare(cfg: BeneparTrainConfig) -> tuple[list, list, list]:
    """(train, dev, test) examples of ``cfg`` (cased; see :func:`lowered`)."""
    from parsers.evaluate import PTB_SAMPLE

    examples = load_examples(cfg.trees or PTB_SAMPLE, lowercase=cfg.case == "lower")
    train, dev, test = split_examples(examples, cfg.held_out, cfg.dev)
    if cfg.max_len is not None:
        train = [e for e in train if len(e.words) <= cfg.max_len]
    if cfg.max_train is not None:
        train = train[: cfg.max_train]
    if not train:
        raise DataError("no training trees left (check --max-len / --max-train)")
    return train, dev, test


def train_benepar(
    cfg: BeneparTrainConfig, log: Callable[[str], Any] = print, resume: bool = False
) -> dict[str, Any]:
    """Train (or with ``resume`` continue), keep the best dev epoch in ``cfg.out``,
    load it back with ``benepar.Parser`` and report F1 on the held-out trees."""
    import torch

    check_output_file(cfg.out)
    check_output_file(cfg.checkpoint_path)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    train, dev, test = prepare(cfg)
    low = [lowered(e) for e in train]
    parser = build_parser(cfg, train)
    optimizer = torch.optim.Adam(parser.parameters(), lr=cfg.lr, betas=(0.9, 0.98))
    st = load_state(cfg, parser, optimizer) if resume else TrainState()
    params = sum(p.numel() for p in parser.parameters())
    log(f"benepar-train: {len(train)} train / {len(dev)} dev / {len(test)} test trees, "
        f"{params:,} parameters, case {cfg.case}"
        + (f"; resuming after epoch {st.epoch}" if resume else ""))  # fmt: skip
    stopped = st.bad_epochs >= cfg.stop_after
    while st.epoch < cfg.epochs and not stopped:
        examples = epoch_examples(cfg, train, low, st.epoch)
        size = cfg.batch_size
        batches = [examples[i : i + size] for i in range(0, len(examples), size)]
        desc = f"benepar epoch {st.epoch + 1}/{cfg.epochs}"
        loss = train_epoch(cfg, parser, optimizer, batches, st, desc)
        scores = dev_scores(parser, dev, cfg.case)
        st.epoch += 1
        st.history.append({"epoch": st.epoch, "train_loss": loss, "lr_scale": st.lr_scale,
                           **scores, "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
        stopped = end_epoch(cfg, parser, st, scores)
        save_state(cfg, parser, optimizer, st)
        log(f"epoch {st.epoch}: train loss {loss:.3f}, "
            + ", ".join(f"{k} {v:.1f}" for k, v in scores.items())
            + f", lr x{st.lr_scale:g}" + (" (best)" if st.bad_epochs == 0 else ""))  # fmt: skip
    return final_report(cfg, train, dev, test, params, st, time.perf_counter() - t0)


def final_report(
    cfg: BeneparTrainConfig, train: list, dev: list, test: list, params: int,
    st: TrainState, seconds: float,
) -> dict[str, Any]:  # fmt: skip
    """Load the saved best model through benepar's public API and score it."""
    import benepar

    loaded = benepar.Parser(str(cfg.out))
    t1 = time.perf_counter()
    test_f1 = bracket_f1_of(loaded, [lowered(e) for e in test])
    parse_s = time.perf_counter() - t1
    report = {
        "model": str(cfg.out),
        "config": asdict(cfg),
        "parameters": params,
        "train_trees": len(train),
        "dev_trees": len(dev),
        "test_trees": len(test),
        "epochs_trained": st.epoch,
        "best_dev_f1": st.best_dev,
        "test_f1": test_f1,  # lower-cased words: what strae's tokeniser gives the parser
        "history": st.history,
        "train_seconds_this_call": round(seconds, 1),
        "test_sentences_per_s": round(len(test) / parse_s, 1),
    }
    if cfg.case != "lower":
        report["test_f1_cased"] = bracket_f1_of(loaded, test)
    return report
