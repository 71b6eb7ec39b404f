"""A structure's parser options are recorded explicitly with every new run, model
directory and dataset, and read back with the defaults a record was made under:
benepar's ``binarize`` missing from an old run, export or dataset is ``right``
(its trees were right-binarised before chart became the default), never today's
chart.  A tiny benepar model stands in for the shipped one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import parsers.benepar_parser as bp
from parsers.api import load_embedder, run_structure_options
from parsers.structures import options_to_record, recorded_options
from strae_graph.cli import main
from strae_graph.training.config import TrainConfig

pytest.importorskip("benepar")

SENTENCE = ["the", "dog", "barks", "at", "the", "old", "postman", "."]


@pytest.fixture
def shipped(tiny_benepar, monkeypatch, tmp_path):
    """The tiny model as the shipped one, an empty tree cache; benepar_trees'
    binarisations recorded."""
    monkeypatch.setenv("STRAE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(bp, "SHIPPED_MODEL", tiny_benepar[0])
    monkeypatch.setattr(bp, "pretrained_installed", lambda name=bp.PRETRAINED_MODEL: False)
    calls: list[str] = []
    real = bp.benepar_trees

    def spy(sentences, **kw):
        calls.append(kw.get("binarize", bp.DEFAULT_BINARIZE))
        return real(sentences, **kw)

    monkeypatch.setattr(bp, "benepar_trees", spy)
    return calls


def test_the_registry_fills_todays_or_the_old_defaults():
    assert options_to_record("benepar", None) == {"binarize": "chart"}
    assert recorded_options("benepar", None) == {"binarize": "right"}
    assert recorded_options("benepar", {"model": "m.pt"}) == {"model": "m.pt", "binarize": "right"}
    assert recorded_options("benepar", {"binarize": "chart"}) == {"binarize": "chart"}
    for name in ("spacy", "balanced", "gold", "no-such-structure"):
        assert options_to_record(name, {"x": 1}) == recorded_options(name, {"x": 1}) == {"x": 1}


def _options(path) -> dict:
    return json.loads((Path(path) / "config.json").read_text())


def test_a_new_run_and_its_export_record_binarize(shipped, tmp_path):
    from tests.tiny_runs import tiny_run

    run = tiny_run(tmp_path / "run", structure="benepar", max_sentences=40, dev_sentences=10)
    assert _options(run)["train"]["structure_options"] == {"binarize": "chart"}
    out = tmp_path / "model"
    assert main(["export", str(run), "--format", "model", "--out", str(out)]) == 0
    assert _options(out)["structure"]["options"] == {"binarize": "chart"}
    for source in (run, out):
        shipped.clear()
        emb = load_embedder(source)
        assert emb.options == {"binarize": "chart"}
        emb.parse([SENTENCE + ["again", str(source)]])  # new tokens: not from the tree cache
        assert shipped == ["chart"]


@pytest.fixture
def old_run(shipped, tmp_path):
    """A benepar run that records no structure options (as runs made before they
    were recorded: the core's own train, with no parsers.api in between)."""
    from parsers.tree_cache import parse_cached
    from strae_graph.training.train import train
    from tests.tiny_runs import tiny_config

    cfg = tiny_config(tmp_path / "old", structure="benepar", max_sentences=40, dev_sentences=10)
    train(cfg, log=lambda s: None, parse=parse_cached)
    assert _options(cfg.out)["train"]["structure_options"] is None
    return cfg


def test_an_old_run_keeps_right_binarised_trees(old_run, shipped, tmp_path):
    """Embedding, exporting and resuming an old run: binarize right, explicitly."""
    from strae_graph.embed.model_card import structure_options_of

    assert structure_options_of({"structure": "benepar"}) == {}  # no key at all
    shipped.clear()
    emb = load_embedder(old_run.out)
    assert emb.options == {"binarize": "right"}
    emb.parse([SENTENCE + ["old"]])
    assert shipped == ["right"]
    out = tmp_path / "old-model"
    assert main(["export", old_run.out, "--format", "model", "--out", str(out)]) == 0
    assert _options(out)["structure"]["options"] == {"binarize": "right"}
    assert run_structure_options(old_run, resume=True) == {"binarize": "right"}
    assert run_structure_options(old_run, resume=False) == {"binarize": "chart"}  # a fresh run
    old_run.structure_options = {"binarize": "chart"}
    with pytest.raises(ValueError, match="made its benepar trees with options"):
        run_structure_options(old_run, resume=True)


def test_an_old_model_dir_and_dataset_read_as_right(shipped, tmp_path):
    """A model directory and a `strae parse` dataset recording no binarize."""
    from parsers.parsed_corpus import parse_corpus
    from strae_graph.embed.model_dir import read_model_dir

    corpus = tmp_path / "c.txt"
    corpus.write_text("The dog barks.\nA cat sat on the mat.\n")
    data = tmp_path / "parsed"
    assert parse_corpus(corpus, "benepar", data, progress=False).meta["options"] == {
        "binarize": "chart"}  # fmt: skip
    meta_path = data / "strae_parse.json"
    meta = json.loads(meta_path.read_text())
    meta["options"] = {}
    meta_path.write_text(json.dumps(meta))
    cfg = TrainConfig(corpus=str(data), out=str(tmp_path / "r"))
    assert cfg.structure == "benepar" and cfg.structure_options == {}
    assert run_structure_options(cfg) == {"binarize": "right"}

    from tests.tiny_runs import tiny_run

    run = tiny_run(tmp_path / "run", structure="benepar", max_sentences=40, dev_sentences=10)
    model = tmp_path / "model"
    assert main(["export", str(run), "--format", "model", "--out", str(model)]) == 0
    record = _options(model)
    record["structure"]["options"] = {}
    (model / "config.json").write_text(json.dumps(record))
    assert read_model_dir(model).options == {}
    assert load_embedder(model).options == {"binarize": "right"}
