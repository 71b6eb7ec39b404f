"""benepar's forward pass over many sentences: length-sorted batches, results in
input order.

A batch is padded to its longest sentence, so every path (the chart trees'
span scores, the n-ary parses of ``--binarize right`` / ``left`` and of
parse-eval's labelled F1) batches the sentences sorted by length
(:func:`in_length_order`) and hands the results back in the order they came.
:func:`forward_batches` is benepar's ``ChartParser._parse_encoded`` with both of
its outputs at once: the span score arrays (its ``return_scores``) and the
n-ary trees ``Parser.parse_sents`` makes (its ``return_compressed``, predicted
tags, ``CompressedParserOutput.to_tree``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from parsers.benepar_scores import span_scores as fast_span_scores
from parsers.benepar_scores import supports_fast_scores

R = TypeVar("R")
#: per sentence: its ``(n, n, labels)`` span scores and its n-ary parse (each or None)
Result = tuple[np.ndarray | None, Any]


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices ``0 .. len(lengths)-1`` in batches of at most ``batch_size``,
    shortest first (a batch pads to its longest; ties keep input order)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[s : s + batch_size] for s in range(0, len(order), batch_size)]


def in_length_order(
    lengths: Sequence[int], batch_size: int, run: Callable[[list[int]], Iterable[R]]
) -> Iterator[R]:
    """``run(ids)`` over :func:`length_batches` (one result per index of
    ``ids``), the results yielded in input order."""
    done: dict[int, R] = {}
    for ids in length_batches(lengths, batch_size):
        got = list(run(ids))
        if len(got) != len(ids):
            raise RuntimeError(f"a batch of {len(ids)} sentences gave {len(got)} results")
        done.update(zip(ids, got))
    for k in range(len(lengths)):
        yield done.pop(k)


def forward_batches(
    parser: Any,
    words: Sequence[Sequence[str]],
    batch_size: int,
    *,
    scores: bool = True,
    nary: bool = False,
) -> Iterator[Result]:
    """Per token list of ``words`` (input order), benepar ``parser``'s span
    scores ``(n, n, labels)`` (words ``i .. j`` inclusive; label 0 the null
    label, score 0; None without ``scores``) and, with ``nary``, its n-ary parse
    exactly as ``parse_sents`` makes it (else None); one forward pass per
    length-sorted batch of ``batch_size``."""
    import benepar

    def run(ids: list[int]) -> Iterator[Result]:
        inputs = [parser._with_missing_fields_filled(benepar.InputSentence(words=list(words[k])))
                  for k in ids]  # fmt: skip
        return _forward(parser, inputs, scores, nary)

    return in_length_order([len(w) for w in words], batch_size, run)


def _forward(parser: Any, inputs: list[Any], want_scores: bool, nary: bool) -> Iterator[Result]:
    """One batch.  Without ``nary`` the scores come from
    :mod:`parsers.benepar_scores` (the same scores, cheaper) where the model
    allows it; the n-ary trees are decoded by benepar's own decoder
    (torch-struct CKY) from ``forward``'s scores."""
    import torch

    core = parser._parser
    training = core.training
    core.eval()
    try:
        with torch.no_grad():
            batch = core.pad_encoded([core.encode(x) for x in inputs])
            if not nary and supports_fast_scores(core):  # the same scores, cheaper
                got = fast_span_scores(core, batch, [len(x.words) for x in inputs])
                return ((s if want_scores else None, None) for s in got)
            span_scores, tag_scores = core.forward(batch)
            charts = None
            if nary:  # benepar's decoder on the same scores
                lengths = batch["valid_token_mask"].sum(-1) - 2  # start/stop tokens
                charts = core.decoder.charts_from_pytorch_scores_batched(
                    span_scores, lengths.to(span_scores.device)
                )
            tags = None if tag_scores is None else tag_scores.argmax(-1).cpu().numpy()
            scores = span_scores.cpu().numpy() if want_scores else None
    finally:
        core.train(training)
    return (
        (None if scores is None else scores[i, : len(x.words), : len(x.words)],
         None if charts is None else _nary(core, x, charts[i], tags, i))
        for i, x in enumerate(inputs)
    )  # fmt: skip


def _nary(core: Any, inp: Any, chart: np.ndarray, tags: np.ndarray | None, i: int) -> Any:
    output = core.decoder.compressed_output_from_chart(chart)
    if tags is not None:
        output = output.with_tags(tags[i, 1 : len(inp.words) + 1])
    return output.to_tree(inp.pos(), core.decoder.label_from_index, core.tag_from_index)
