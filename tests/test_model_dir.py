"""Model directories (strae export --format model): a round trip with bit-identical
embeddings and no pickle, a one-line error for every damaged or mismatched
directory, structures through the parsers layer, names of shipped models."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from parsers import parse_sentences
from parsers.api import load_embedder
from strae_graph import Embedder, StrAE, StrAEConfig, Vocabulary
from strae_graph.cli import main
from strae_graph.data.corpus import read_sentences
from strae_graph.embed import model_dir as md
from tests.conftest import CORPUS, ROOT

SENTENCES = [
    "The dog barks at the postman.",
    "A cat sat on the mat and looked at the door for a very long time.",
    "qwertyzzz xyzzyplugh",  # only unknown words
    "",  # no tokens: a NaN row
    "Hi",
]


@pytest.fixture(scope="module")
def run(balanced_run):
    return balanced_run


@pytest.fixture(scope="module")
def model(balanced_model_dir):
    return balanced_model_dir


def sentences() -> list:
    return [toks for _, toks in read_sentences(CORPUS, 80)] + SENTENCES


def test_export_writes_the_format(model):
    names = sorted(p.name for p in model.iterdir())
    assert names == ["README.md", "config.json", "config_sentence_transformers.json",
                     "model.safetensors", "modules.json", "vocab.json"]  # fmt: skip
    record = json.loads((model / "config.json").read_text())
    assert record["format"] == md.FORMAT and record["structure"]["name"] == "balanced"
    assert record["training"]["steps"] == 5 and record["training"]["train_sentences"] == 300
    assert all(k.startswith(md.INFERENCE_PREFIXES) for k in record["weights"]["keys"])
    card = (model / "README.md").read_text()
    assert "wiki_en_10M_sentences.txt.gz" in card and "| optimiser steps | 5 |" in card
    assert "training minutes" in card and "## Evaluation" not in card  # the run has no eval.json


def test_round_trip_is_bit_identical_and_needs_no_pickle(run, model, monkeypatch):
    def no_pickle(*a, **k):
        raise AssertionError("a model directory was unpickled")

    ref = load_embedder(run)
    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(pickle, "Unpickler", no_pickle)
    monkeypatch.setattr(torch, "load", no_pickle)
    emb = Embedder.from_pretrained(model)  # the core alone: balanced trees need no parser
    assert emb.parse_fn is None and emb.structure == "balanced"
    s = sentences()
    assert np.array_equal(emb.embed_sentences(s), ref.embed_sentences(s), equal_nan=True)
    words = ["the", "dog", "qwertyzzz", "The"]
    assert np.array_equal(emb.embed_words(words), ref.embed_words(words), equal_nan=True)
    a, b = emb.embed_nodes(SENTENCES[1]), ref.embed_nodes(SENTENCES[1])
    assert np.array_equal(a.up, b.up) and np.array_equal(a.down, b.down)
    assert emb.word_vectors()[0] == ref.word_vectors()[0]


def test_inference_weights_only_and_save_pretrained(tmp_path):
    cfg = StrAEConfig(vocab_size=6, tied=False, learn_temperature=True, temperature=0.1,
                      compose="linear")  # fmt: skip
    vocab = Vocabulary(["<unk>", "a", "b", "c", "d", "e"])
    emb = Embedder(StrAE(cfg), vocab, structure="right", seed=3)
    assert {"output.weight", "log_logit_scale"} <= set(emb.model.state_dict())
    assert set(md.inference_state(emb.model)) == {"embedding.weight", "compose.linear.weight",
        "compose.linear.bias", "decompose.linear.weight", "decompose.linear.bias"}  # fmt: skip
    back = Embedder.from_pretrained(emb.save_pretrained(tmp_path / "m"))
    assert (back.structure, back.seed) == ("right", 3)
    tree = parse_sentences([["a", "b", "c", "zz"]], "right")[0]
    assert np.array_equal(back.embed_trees([tree]), emb.embed_trees([tree]))


def test_strae_embed_with_model_equals_the_run(run, model, tmp_path, capsys):
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(SENTENCES) + "\n")
    assert main(["embed", str(run), "--input", str(inp), "--out", str(tmp_path / "r.npy")]) == 0
    assert main(["embed", "--model", str(model), "--input", str(inp),
                 "--out", str(tmp_path / "m.npy")]) == 0  # fmt: skip
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and json.loads(out[1])["rows"] == len(SENTENCES)  # JSON alone on stdout
    assert np.array_equal(np.load(tmp_path / "r.npy"), np.load(tmp_path / "m.npy"), equal_nan=True)
    assert main(["embed", str(run), "--model", str(model), "--input", str(inp),
                 "--out", str(tmp_path / "x.npy")]) == 2  # fmt: skip
    assert "not both" in capsys.readouterr().err


def _damaged(model, tmp_path, name):
    out = tmp_path / name
    shutil.copytree(model, out)
    return out


def _edit_config(path, change):
    record = json.loads((path / "config.json").read_text())
    change(record)
    (path / "config.json").write_text(json.dumps(record))


def _resave(path, change):
    from safetensors.torch import load_file, save_file

    weights = load_file(path / "model.safetensors")
    change(weights)
    save_file(weights, path / "model.safetensors")


DAMAGES = {
    "truncated weights": (lambda p: (p / "model.safetensors").write_bytes(
        (p / "model.safetensors").read_bytes()[:5000]), "unreadable weights (truncated"),
    "not safetensors": (lambda p: (p / "model.safetensors").write_bytes(b"\x00" * 64),
                        "unreadable weights"),
    "missing key": (lambda p: _resave(p, lambda w: w.pop("compose.bias")),
                    "weights do not fit config.json: missing compose.bias"),
    "extra key": (lambda p: _resave(p, lambda w: w.update(extra=torch.zeros(2))),
                  "unexpected extra"),
    "shape mismatch": (lambda p: _resave(p, lambda w: w.update(
        {"embedding.weight": w["embedding.weight"][:, :50].contiguous()})),
        "embedding.weight has shape (2225, 50)"),
    "other channels": (lambda p: _edit_config(p, lambda r: r["model"].update(channels=5,
                       channel_size=20)), "compose.gate_left has shape"),
    "unknown compose": (lambda p: _edit_config(p, lambda r: r["model"].update(compose="cubic")),
                        "unusable model configuration: unknown compose function 'cubic'"),
    "not our format": (lambda p: _edit_config(p, lambda r: r.pop("format")),
                       "not a strae-graph model configuration"),
    "newer format": (lambda p: _edit_config(p, lambda r: r.update(format_version=99)),
                     "format_version 99 is newer"),
    "vocab size": (lambda p: (p / "vocab.json").write_text(
        json.dumps(json.loads((p / "vocab.json").read_text())[:-1])),
        "vocab.json has 2224 entries but config.json says vocab_size 2225"),
    "bad config json": (lambda p: (p / "config.json").write_text("{"), "unreadable"),
    "no config": (lambda p: (p / "config.json").unlink(), "config.json: missing"),
    "no weights": (lambda p: (p / "model.safetensors").unlink(), "model.safetensors: missing"),
    "bpe without tokenizer": (lambda p: _edit_config(p, lambda r: r["vocab"].update(kind="bpe")),
                              "tokenizer.json: missing"),
}  # fmt: skip


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_directory_is_a_one_line_error(model, tmp_path, capsys, damage):
    make, message = DAMAGES[damage]
    path = _damaged(model, tmp_path, "m")
    make(path)
    with pytest.raises(md.ModelDirError) as e:
        Embedder.from_pretrained(path)
    assert message in str(e.value) and "\n" not in str(e.value)
    inp = tmp_path / "in.txt"
    inp.write_text("a dog\n")
    rc = main(["embed", "--model", str(path), "--input", str(inp), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and message in err, err


def test_export_refuses_to_overwrite_and_names_missing_models(run, model, tmp_path, capsys):
    rc = main(["export", str(run), "--format", "model", "--out", str(model)])
    assert rc == 2 and "exists and is not empty" in capsys.readouterr().err
    again = _damaged(model, tmp_path, "again")
    (again / "stale.txt").write_text("x")
    assert main(["export", str(run), "--format", "model", "--out", str(again), "--overwrite"]) == 0
    assert not (again / "stale.txt").exists() and (again / "model.safetensors").is_file()
    with pytest.raises(md.ModelDirError, match="no such model directory, and not a model shipped"):
        Embedder.from_pretrained("no-such-model")


def test_the_card_holds_the_eval_table(run, tmp_path, capsys):
    res = tmp_path / "eval.json"
    assert main(["eval", str(run), "--tasks", "ws353", "--no-progress", "--no-mean-baseline",
                 "--json", str(res)]) == 0  # fmt: skip
    out = tmp_path / "m"
    assert main(["export", str(run), "--format", "model", "--out", str(out),
                 "--eval-json", str(res)]) == 0  # fmt: skip
    card = (out / "README.md").read_text()
    assert "## Evaluation (`strae eval`)" in card and "| ws353 | spearman | 353 |" in card
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert main(["export", str(run), "--format", "model", "--out", str(tmp_path / "m2"),
                 "--eval-json", str(bad)]) == 2  # fmt: skip
    assert "not a `strae eval --json` file" in capsys.readouterr().err


def test_a_parser_structure_needs_the_parsers_layer(model, tmp_path):
    path = _damaged(model, tmp_path, "spacy-model")
    _edit_config(
        path, lambda r: r["structure"].update(name="spacy", options={"attach": "left-first"})
    )
    with pytest.raises(ValueError, match="structure 'spacy': no parse was given"):
        Embedder.from_pretrained(path).embed_sentences(SENTENCES[:1])
    emb = load_embedder(path)  # the registry's parse, with the recorded options
    tokens = [["the", "dog", "barks", "at", "the", "postman", "."]]
    assert emb.parse(tokens) == parse_sentences(tokens, "spacy", attach="left-first")
    assert emb.parse(tokens, "right") == parse_sentences(tokens, "right")


def test_the_core_loads_and_embeds_a_balanced_model_without_parsers(model):
    code = (
        "import sys\n"
        "sys.modules['parsers'] = None; sys.modules['eval'] = None\n"
        "from strae_graph import Embedder\n"
        f"v = Embedder.from_pretrained({str(model)!r}).embed_sentences(['A dog barks.'])\n"
        "assert v.shape == (1, 100), v.shape\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_a_shipped_name_resolves_inside_the_package(model, tmp_path, monkeypatch, capsys):
    shipped = tmp_path / "models"
    shutil.copytree(model, shipped / "tiny-shipped")
    monkeypatch.setattr(md, "MODELS_DIR", shipped)
    assert md.shipped_models() == ["tiny-shipped"]
    emb = Embedder.from_pretrained("tiny-shipped")
    assert emb.embed_sentences(SENTENCES[:2]).shape == (2, 100)
    inp = tmp_path / "in.txt"
    inp.write_text("a dog barks\n")
    out = tmp_path / "o.npy"
    assert main(["embed", "--model", "tiny-shipped", "--input", str(inp), "--out", str(out)]) == 0
    np.testing.assert_array_equal(np.load(out), emb.embed_sentences(["a dog barks"]))
    with pytest.raises(md.ModelDirError, match=r"\(shipped: tiny-shipped\)"):
        Embedder.from_pretrained("strae-nothing")
    capsys.readouterr()


SHIPPED = "strae-wiki10m"


def test_the_shipped_model_loads_and_embeds():
    emb = Embedder.from_pretrained(SHIPPED)
    vectors = emb.embed_sentences(["A dog barks.", "The cat sleeps on the mat."])
    assert vectors.shape == (2, emb.embedding_size) and np.isfinite(vectors).all()
    card = (md.MODELS_DIR / SHIPPED / "README.md").read_text()
    assert "## Evaluation (`strae eval`)" in card and "| stsb | spearman |" in card
    assert (md.MODELS_DIR / SHIPPED / "model.safetensors").stat().st_size < 20_000_000
