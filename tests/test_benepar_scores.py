"""parsers.benepar_scores: the cheap span scores equal benepar's forward pass,
and the chart trees made from them are the ones made from forward's scores."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("benepar")


@pytest.fixture(scope="module")
def parsed(tiny_benepar):
    import benepar
    import torch

    from parsers.benepar_parser import load_benepar
    from parsers.evaluate import GoldSet

    words = GoldSet.load(held_out=40).sentences  # lengths 2 .. 40+, mixed in one batch
    parser = load_benepar(str(tiny_benepar[0]))
    core = parser._parser
    inputs = [parser._with_missing_fields_filled(benepar.InputSentence(words=list(w)))
              for w in words]  # fmt: skip
    core.eval()
    with torch.no_grad():
        batch = core.pad_encoded([core.encode(x) for x in inputs])
        reference = core.forward(batch)[0].numpy()
    return words, parser, core, batch, reference


def test_fast_scores_equal_forward(parsed):
    from parsers.benepar_scores import span_scores, supports_fast_scores

    words, _, core, batch, reference = parsed
    assert supports_fast_scores(core)
    fast = span_scores(core, batch, [len(w) for w in words])
    assert len({len(w) for w in words}) > 5  # padding really differs
    for k, (w, got) in enumerate(zip(words, fast)):
        n = len(w)
        i, j = np.triu_indices(n)
        want = reference[k, :n, :n]
        assert got.shape == want.shape
        np.testing.assert_allclose(got[i, j], want[i, j], atol=1e-4, rtol=1e-4)
        assert not got[np.tril_indices(n, -1)].any()  # no decoder reads it


def test_chart_trees_from_fast_scores_in_input_order(parsed, tiny_benepar):
    """benepar_trees (length-sorted batches of 7, the cheap scores) gives, in
    input order, the chart trees of forward's scores of one padded batch."""
    from parsers.benepar_parser import benepar_trees
    from parsers.chart_tree import chart_tree

    words, _, _, _, reference = parsed
    trees = benepar_trees(words, model=str(tiny_benepar[0]), binarize="chart", batch_size=7)
    want = [chart_tree(w, reference[k, : len(w), : len(w)], k) for k, w in enumerate(words)]
    assert [t.tokens for t in trees] == [tuple(w) for w in words]
    assert [t.children for t in trees] == [t.children for t in want]


def test_too_long_a_sentence_is_forwards_error(tiny_benepar):
    """The cheap path refuses what forward refuses, with forward's message."""
    from parsers.benepar_parser import benepar_trees

    model = str(tiny_benepar[0])
    messages = []
    for binarize in ("chart", "right"):  # cheap scores; benepar's own forward
        with pytest.raises(ValueError, match="exceeds the maximum supported length") as e:
            benepar_trees([["word"] * 600], model=model, binarize=binarize)
        messages.append(str(e.value))
    assert messages[0] == messages[1] == (
        "Sentence of length 600 exceeds the maximum supported length of 510"
    )


def test_blocks_and_weights_give_the_same_numbers(parsed, monkeypatch):
    """Span blocks of any size give the same scores bit for bit; the weights
    alone are span_weights of the full scores, exactly."""
    import parsers.benepar_scores as bs
    from parsers.chart_tree import span_weights

    words, _, core, batch, _ = parsed
    lengths = [len(w) for w in words]
    whole = bs.span_scores(core, batch, lengths)
    weights = bs.span_scores(core, batch, lengths, weights=True)
    monkeypatch.setattr(bs, "SPAN_BLOCK", 7)  # blocks end inside sentences
    blocked = bs.span_scores(core, batch, lengths)
    for a, b, w in zip(whole, blocked, weights, strict=True):
        assert np.array_equal(a, b)
        assert w.dtype == np.float64 and np.array_equal(w, span_weights(a))
