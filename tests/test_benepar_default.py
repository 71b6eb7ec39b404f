"""The benepar model loaded by default: ``benepar_en3`` when installed, else the
model shipped in ``parsers/models/``; resolved in one place
(:func:`parsers.benepar_parser.resolve_benepar_model`) and used by every caller
(parse_sentences, strae parse, parse-eval, the tree cache behind train/compare
and embed, draw).  A tiny model trained here stands in for the shipped one
(``SHIPPED_MODEL`` patched); ``test_the_shipped_model_parses`` loads the real
file at its real path."""

import json

import pytest

import parsers.benepar_parser as bp
from parsers import ParserError, parse_sentences
from parsers.tree_cache import cache_key, parser_identity
from strae_graph.cli import main
from strae_graph.util.fileio import file_sha256

SENTENCE = ["the", "dog", "barks", "."]


@pytest.fixture(scope="module")
def tiny_model(tiny_benepar):
    return tiny_benepar[0]


@pytest.fixture
def shipped(tiny_model, monkeypatch):
    """The tiny model as the shipped one, benepar_en3 not installed, notices afresh."""
    monkeypatch.setattr(bp, "SHIPPED_MODEL", tiny_model)
    monkeypatch.setattr(bp, "pretrained_installed", lambda name=bp.PRETRAINED_MODEL: False)
    monkeypatch.setattr(bp, "_noticed", set())
    return tiny_model


def test_default_is_the_shipped_model_with_a_notice(shipped, capsys):
    assert bp.resolve_benepar_model() == str(shipped)
    assert bp.resolve_benepar_model() == str(shipped)  # the notice once per process
    err = capsys.readouterr().err
    assert err == (f"benepar: no --benepar-model given: using {shipped} "
                   "(benepar_en3 is not installed)\n")  # fmt: skip
    assert bp.resolve_benepar_model("other.pt") == "other.pt"
    assert capsys.readouterr().err == ""
    trees = parse_sentences([SENTENCE], "benepar")
    assert trees == parse_sentences([SENTENCE], "benepar", model=str(shipped))
    assert list(trees[0].tokens) == SENTENCE


def test_installed_benepar_en3_is_preferred(shipped, monkeypatch, capsys):
    monkeypatch.setattr(bp, "pretrained_installed", lambda name=bp.PRETRAINED_MODEL: True)
    assert bp.resolve_benepar_model() == "benepar_en3"
    assert "using benepar_en3 (installed in nltk_data)" in capsys.readouterr().err
    assert bp.benepar_model_identity() == "benepar_en3"


def test_cache_identity_is_the_resolved_model_file_hash(shipped, monkeypatch, tmp_path):
    ident = parser_identity("benepar")
    assert ident["model"] == f"sha256:{file_sha256(shipped)}"
    assert parser_identity("benepar", {"model": str(shipped)}) == ident
    key = cache_key([SENTENCE], "benepar")
    other = tmp_path / "other.pt"
    other.write_bytes(b"another model")
    monkeypatch.setattr(bp, "SHIPPED_MODEL", other)
    assert cache_key([SENTENCE], "benepar") != key  # a new shipped model: parsed again


def test_missing_shipped_model_is_a_clear_error(shipped, monkeypatch, tmp_path):
    monkeypatch.setattr(bp, "SHIPPED_MODEL", tmp_path / "gone.pt")
    with pytest.raises(ParserError, match="benepar model shipped with strae-graph is missing"):
        parse_sentences([SENTENCE], "benepar")


def test_every_command_uses_the_default(shipped, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("The dog barks.\nA cat sat on the mat.\n")
    out = tmp_path / "parsed"
    assert main(["parse", str(corpus), "--structure", "benepar", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    meta = json.loads((out / "strae_parse.json").read_text())
    assert meta["benepar_model"] == f"sha256:{file_sha256(shipped)}"
    png = tmp_path / "t.png"
    assert main(["draw", "The dog barks.", "--structure", "benepar", "balanced",
                 "-o", str(png)]) == 0  # fmt: skip
    assert png.stat().st_size > 1000
    pe = tmp_path / "pe.json"
    assert main(["parse-eval", "--structures", "benepar", "--held-out", "20",
                 "--json", str(pe)]) == 0  # fmt: skip
    (row,) = [r for r in json.loads(pe.read_text()) if r["structure"] == "benepar"]
    assert row["options"] == {"binarize": "chart"} and row["sentences"] == 20
    for key in ("labelled", "labelled_cased"):
        assert 0 <= row[key]["f1"] <= 1 and row[key]["brackets_gold"] > 100
    assert 0 <= row["of_ceiling"] <= 1.0


def test_train_and_embed_use_the_default(shipped, tmp_path):
    """strae train (and so compare) and the Embedder parse through the tree cache."""
    from parsers.api import load_embedder
    from tests.tiny_runs import tiny_run

    run = tiny_run(tmp_path / "run", structure="benepar", max_sentences=40, dev_sentences=10)
    emb = load_embedder(run)
    trees = emb.parse([["the", "dog", "barks"]])
    assert trees == parse_sentences([["the", "dog", "barks"]], "benepar", model=str(shipped))
    assert emb.embed_sentences(["The dog barks."]).shape[0] == 1


def test_the_shipped_model_parses(monkeypatch):
    """The real file at its real path (parsers/models/benepar_ptb_char.pt): a new
    user with no internet gets syntactic parses from --structure benepar.  Fails
    until the trained model is added to the repository."""
    monkeypatch.setattr(bp, "pretrained_installed", lambda name=bp.PRETRAINED_MODEL: False)
    assert bp.SHIPPED_MODEL.is_file(), f"the shipped benepar model is missing: {bp.SHIPPED_MODEL}"
    assert bp.resolve_benepar_model() == str(bp.SHIPPED_MODEL)
    (parse,) = bp.benepar_parses([["the", "old", "man", "sold", "his", "house", "."]])
    assert parse.label() == "TOP" and parse[0].label() == "S"
    subject = parse[0][0]
    assert subject.label() == "NP" and subject.leaves() == ["the", "old", "man"]
    (tree,) = parse_sentences([["the", "old", "man", "sold", "his", "house", "."]], "benepar")
    assert tree.n_leaves == 7
