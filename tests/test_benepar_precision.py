"""``--benepar-precision``: fp32 is benepar's own arithmetic; bf16 and int8 give
span scores close to fp32's and trees that differ little on real sentences (the
shipped model on dev trees of the PTB sample); an emulated bf16 says so; the
option reaches the tree cache's key and a dataset's options."""

from __future__ import annotations

import json

import numpy as np
import pytest

from parsers.benepar_precision import BENEPAR_PRECISIONS, support_note

pytest.importorskip("benepar")


@pytest.fixture(scope="module")
def dev():
    """30 dev trees of benepar-train (before parse-eval's 400 test trees)."""
    from parsers.evaluate import GoldSet

    g = GoldSet.load(held_out=600)
    return GoldSet(g.texts[:30], g.sentences[:30], g.cased[:30], g.spans[:30])


def _batch(parser, words):
    import benepar

    core = parser._parser
    inputs = [parser._with_missing_fields_filled(benepar.InputSentence(words=list(w)))
              for w in words]  # fmt: skip
    return core, core.pad_encoded([core.encode(x) for x in inputs])


def test_fp32_forward_scores_are_benepars_own(tiny_benepar, dev):
    """The n-ary path's scores (the encoder in a precision, fp32 here) are
    forward's, bit for bit, on every span a decoder reads (words i <= j of each
    sentence), 0 elsewhere; the tag scores are forward's."""
    import torch

    from parsers.benepar_parser import load_benepar
    from parsers.benepar_scores import forward_scores

    words = dev.sentences[:12]
    core, batch = _batch(load_benepar(str(tiny_benepar[0])), words)
    core.eval()
    with torch.no_grad():
        spans, tags = forward_scores(core, batch, [len(w) for w in words])
        want_spans, want_tags = core.forward(batch)
    assert spans.shape == want_spans.shape and len({len(w) for w in words}) > 3
    inside = torch.zeros(spans.shape[:3], dtype=torch.bool)
    for k, w in enumerate(words):
        i, j = np.triu_indices(len(w))
        inside[k, i, j] = True
    assert torch.equal(spans[inside], want_spans[inside])
    assert not spans[~inside].any()
    assert (tags is None and want_tags is None) or torch.equal(tags, want_tags)


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_low_precision_scores_and_trees_stay_close(precision, dev):
    """The shipped model: span scores within a small fraction of fp32's spread,
    most trees identical, binarised F1 on 30 dev trees within 3 points."""
    from parsers.benepar_parser import SHIPPED_MODEL, benepar_charts, benepar_trees
    from parsers.evaluate import bracket_scores, tree_spans

    model = str(SHIPPED_MODEL)
    ref = [s for s, _ in benepar_charts(dev.sentences, model=model)]
    got = [s for s, _ in benepar_charts(dev.sentences, model=model, precision=precision)]
    for a, b in zip(ref, got):
        i, j = np.triu_indices(a.shape[0])
        assert np.abs(a[i, j] - b[i, j]).max() < 0.1 * a[i, j].std() + 0.5
    trees = {p: benepar_trees(dev.sentences, model=model, precision=p) for p in ("fp32", precision)}
    same = sum(x == y for x, y in zip(trees["fp32"], trees[precision]))
    assert same >= 20
    f1 = {p: bracket_scores([tree_spans(t) for t in ts], dev.spans)["f1"]
          for p, ts in trees.items()}  # fmt: skip
    assert abs(f1["fp32"] - f1[precision]) < 0.03


def test_int8_quantises_the_encoder_only(tiny_benepar):
    import torch.nn as nn

    from parsers.benepar_parser import load_benepar
    from parsers.benepar_scores import supports_fast_scores

    plain = load_benepar(str(tiny_benepar[0]))._parser
    q = load_benepar(str(tiny_benepar[0]), precision="int8")._parser
    assert q is not plain and load_benepar(str(tiny_benepar[0]), precision="int8")._parser is q
    assert type(plain.char_encoder.lstm) is nn.LSTM  # the shared parser is untouched
    assert type(q.char_encoder.lstm) is not nn.LSTM
    assert type(q.encoder.layers[0].linear1.linear_c) is not nn.Linear
    assert supports_fast_scores(q)  # f_label stays float32 nn.Linear


def test_emulated_bf16_says_so_once(monkeypatch, capsys):
    import parsers.benepar_precision as bpp
    import strae_graph.model.precision as mp

    monkeypatch.setattr(mp, "bf16_hardware", lambda device: False)
    monkeypatch.setattr(bpp, "_noted", set())
    note = support_note("bf16")
    assert note.startswith("note: --benepar-precision bf16: this CPU has no bf16 matrix")
    assert support_note("fp32") is None and support_note("int8") is None
    bpp.note_once("bf16")
    bpp.note_once("bf16")
    assert capsys.readouterr().err == note + "\n"
    monkeypatch.setattr(mp, "bf16_hardware", lambda device: True)
    assert support_note("bf16") is None


def test_unknown_precision_and_other_models_are_refused(tiny_benepar, monkeypatch):
    import parsers.benepar_forward as bf
    from parsers.benepar_parser import benepar_trees

    model = str(tiny_benepar[0])
    with pytest.raises(ValueError, match="--benepar-precision 'fp16': unknown; choose one of"):
        benepar_trees([["a", "dog"]], model=model, precision="fp16")
    monkeypatch.setattr(bf, "supports_fast_scores", lambda core: False)
    with pytest.raises(ValueError, match="--benepar-precision bf16: only for a char-LSTM"):
        benepar_trees([["a", "dog"]], model=model, precision="bf16")
    assert BENEPAR_PRECISIONS == ("fp32", "bf16", "int8")


def test_precision_is_part_of_the_cache_key_and_dataset(tiny_benepar, tmp_path):
    from parsers.tree_cache import parser_identity
    from strae_graph.cli import main

    model = str(tiny_benepar[0])
    fp32 = parser_identity("benepar", {"model": model})
    assert "precision" not in fp32  # keys of trees cached before the option stay valid
    assert parser_identity("benepar", {"model": model, "precision": "fp32"}) == fp32
    assert parser_identity("benepar", {"model": model, "precision": "int8"}) == {
        **fp32, "precision": "int8"}  # fmt: skip
    corpus = tmp_path / "c.txt"
    corpus.write_text("The dog barks.\nA cat sat on the mat.\n")
    out = tmp_path / "parsed"
    argv = ["parse", str(corpus), "--structure", "benepar", "--benepar-model", model,
            "--benepar-precision", "int8", "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    meta = json.loads((out / "strae_parse.json").read_text())
    assert meta["options"] == {"model": model, "binarize": "chart", "precision": "int8"}
