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

The forward pass runs at :data:`THREADS` (one) torch thread, whatever the
process uses, and is parallelised by processes instead (``strae parse
--num-proc``): its operations are small (a character LSTM step, a batch's
attention), so a second OpenMP thread gains little even on a free core, and on
a machine whose cores are busy it waits at the end of every operation for a
descheduled partner (see :mod:`strae_graph.training.threads`).  Measured on the
loaded 2-core machine (load 5, 300 corpus sentences, batches of 64): 2 threads
5.3 CPU seconds per 100 sentences (9 sentences/s), 1 thread 0.38 (176/s).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from parsers.benepar_scores import forward_scores, supports_fast_scores
from parsers.benepar_scores import span_scores as fast_span_scores
from parsers.chart_tree import span_weights

#: torch threads of benepar's forward pass (see the module docstring)
THREADS = 1

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


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the body with ``n`` torch threads, then the number before again."""
    import torch

    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if before != n:
            torch.set_num_threads(before)


def forward_batches(
    parser: Any,
    words: Sequence[Sequence[str]],
    batch_size: int,
    *,
    scores: str | None = "full",
    nary: bool = False,
    precision: str = "fp32",
) -> Iterator[Result]:
    """Per token list of ``words`` (input order), benepar ``parser``'s span
    scores and, with ``nary``, its n-ary parse exactly as ``parse_sents`` makes
    it (else None); one forward pass per length-sorted batch of ``batch_size``,
    at :data:`THREADS` torch threads, the encoder in ``precision``
    (:mod:`parsers.benepar_precision`; not fp32: a char-LSTM model only).

    scores: ``"full"``: ``(n, n, labels)`` (words ``i .. j`` inclusive; label 0
    the null label, score 0); ``"weights"`` (not with ``nary``): only the
    ``(n, n)`` span weights of the chart trees
    (:func:`parsers.benepar_scores.span_scores`); None: none."""
    import benepar

    if scores not in ("full", "weights", None) or (scores == "weights" and nary):
        raise ValueError(f"scores must be 'full', 'weights' (not with nary) or None, got "
                         f"{scores!r}")  # fmt: skip
    if precision != "fp32" and not supports_fast_scores(parser._parser):
        raise ValueError(f"--benepar-precision {precision}: only for a char-LSTM benepar model "
                         "(strae benepar-train's kind); this one runs in fp32")  # fmt: skip

    # the n-ary trees' leaves need the escaped words and tags parse_sents fills in;
    # the scores, only the words (filling in costs more than a tenth of the chart path)
    fill = parser._with_missing_fields_filled if nary else (lambda x: x)

    def run(ids: list[int]) -> list[Result]:
        inputs = [fill(benepar.InputSentence(words=list(words[k]))) for k in ids]
        with torch_threads(THREADS):
            return list(_forward(parser, inputs, scores, nary, precision))

    return in_length_order([len(w) for w in words], batch_size, run)


def _forward(
    parser: Any, inputs: list[Any], scores: str | None, nary: bool, precision: str
) -> Iterator[Result]:
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
            fast, lengths = supports_fast_scores(core), [len(x.words) for x in inputs]
            if not nary and fast:  # the same scores, cheaper
                got = fast_span_scores(core, batch, lengths, precision, scores == "weights")
                return ((s if scores else None, None) for s in got)
            span_scores, tag_scores = (forward_scores(core, batch, lengths, precision) if fast
                                       else core.forward(batch))  # fmt: skip
            charts = None
            if nary:  # benepar's decoder on the same scores
                lengths = batch["valid_token_mask"].sum(-1) - 2  # start/stop tokens
                charts = core.decoder.charts_from_pytorch_scores_batched(
                    span_scores, lengths.to(span_scores.device)
                )
            tags = None if tag_scores is None else tag_scores.argmax(-1).cpu().numpy()
            arrays = span_scores.cpu().numpy() if scores else None
    finally:
        core.train(training)
    return (
        (_scores(arrays, i, len(x.words), scores),
         None if charts is None else _nary(core, x, charts[i], tags, i))
        for i, x in enumerate(inputs)
    )  # fmt: skip


def _scores(arrays: np.ndarray | None, i: int, n: int, kind: str | None) -> np.ndarray | None:
    """Sentence ``i``'s part of the padded score arrays, as ``kind`` asks."""
    if arrays is None:
        return None
    return span_weights(arrays[i, :n, :n]) if kind == "weights" else arrays[i, :n, :n]


def _nary(core: Any, inp: Any, chart: np.ndarray, tags: np.ndarray | None, i: int) -> Any:
    output = core.decoder.compressed_output_from_chart(chart)
    if tags is not None:
        output = output.with_tags(tags[i, 1 : len(inp.words) + 1])
    return output.to_tree(inp.pos(), core.decoder.label_from_index, core.tag_from_index)
