"""parsers.benepar_forward: every benepar path batches sentences sorted by length
and returns its results in input order; the n-ary parses are the ones benepar's
own ``parse_sents`` (input-order batches) makes."""

from __future__ import annotations

import pytest

from parsers.benepar_forward import in_length_order, length_batches

pytest.importorskip("benepar")


def test_length_batches_shortest_first_ties_in_input_order():
    assert length_batches([5, 2, 9, 2, 7], 2) == [[1, 3], [0, 4], [2]]
    assert length_batches([], 3) == []
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        length_batches([1], 0)


def test_in_length_order_gives_results_in_input_order():
    lengths = [5, 2, 9, 2, 7]
    seen = []

    def run(ids):
        seen.append(ids)
        return [f"s{k}" for k in ids]

    assert list(in_length_order(lengths, 2, run)) == ["s0", "s1", "s2", "s3", "s4"]
    assert seen == [[1, 3], [0, 4], [2]]
    with pytest.raises(RuntimeError, match="a batch of 2 sentences gave 1 results"):
        list(in_length_order(lengths, 2, lambda ids: ids[:1]))


@pytest.fixture(scope="module")
def sentences():
    """Sentences of many lengths, not in length order."""
    from tests.test_parsers import corpus_slice

    sents = corpus_slice(14, start=500)
    lengths = [len(s) for s in sents]
    assert len(set(lengths)) >= 8 and lengths != sorted(lengths)
    return sents


def _batch_lengths(core, monkeypatch) -> list[list[int]]:
    """Record the sentence lengths of every batch ``core`` pads."""
    seen: list[list[int]] = []
    pad = core.pad_encoded

    def spy(encoded):
        seen.append([len(e["word_lens"]) - 2 for e in encoded])  # start/stop tokens
        return pad(encoded)

    monkeypatch.setattr(core, "pad_encoded", spy)
    return seen


@pytest.mark.parametrize("model", ["tiny", "shipped"])
def test_parses_sorted_by_length_equal_parse_sents(model, sentences, tiny_benepar, monkeypatch):
    """benepar_parses (batches of 4, sorted by length) gives, in input order, the
    trees of benepar's parse_sents (batches of 4 in input order), for the tiny model
    and the shipped one (real, varied parses)."""
    import benepar

    from parsers.benepar_parser import SHIPPED_MODEL, benepar_parses, load_benepar

    path = str(tiny_benepar[0] if model == "tiny" else SHIPPED_MODEL)
    parser = load_benepar(path, 4)  # the instance benepar_parses(batch_size=4) uses
    want = [str(t) for t in parser.parse_sents([benepar.InputSentence(words=s)
                                                for s in sentences])]  # fmt: skip
    seen = _batch_lengths(parser._parser, monkeypatch)
    got = benepar_parses(sentences, model=path, batch_size=4)
    assert [str(t) for t in got] == want
    assert [len(t.leaves()) for t in got] == [len(s) for s in sentences]  # leaves PTB-escaped
    flat = [n for batch in seen for n in batch]
    assert len(seen) == 4 and flat == sorted(len(s) for s in sentences)


def test_charts_and_parses_share_the_sorted_batches(sentences, tiny_benepar, monkeypatch):
    """benepar_charts pads the same length-sorted batches; its n-ary parses are
    benepar_parses', its scores one (n, n, labels) array per sentence in order."""
    from parsers.benepar_parser import benepar_charts, benepar_parses, load_benepar

    path = str(tiny_benepar[0])
    seen = _batch_lengths(load_benepar(path, 4)._parser, monkeypatch)
    charts = list(benepar_charts(sentences, model=path, batch_size=4, nary=True))
    parses = benepar_parses(sentences, model=path, batch_size=4)
    assert seen[:4] == seen[4:] and len(seen) == 8
    assert [str(p) for _, p in charts] == [str(p) for p in parses]
    assert [s.shape[:2] for s, _ in charts] == [(len(w), len(w)) for w in sentences]


def test_the_forward_pass_runs_at_one_thread(sentences, tiny_benepar, monkeypatch):
    """Whatever the process uses (2 here), benepar's forward pass runs at one
    torch thread, and the process gets its own number back."""
    import torch

    import parsers.benepar_scores as bs
    from parsers.benepar_parser import benepar_trees

    seen = []
    real = bs.annotations
    monkeypatch.setattr(bs, "annotations",
                        lambda *a, **k: seen.append(torch.get_num_threads()) or real(*a, **k))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        benepar_trees(sentences, model=str(tiny_benepar[0]), batch_size=5)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 1, 1]
