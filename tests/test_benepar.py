"""The benepar path, for real: a tiny char-LSTM ChartParser trained here, saved,
loaded back through benepar.Parser(path) and used by parse_sentences; and the
clear error when a named model is missing."""

import pytest

from parsers import ParserError, parse_sentences
from parsers.benepar_train import BeneparTrainConfig, train_benepar
from strae_graph.cli import main
from tests.test_parsers import corpus_slice


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("benepar") / "tiny.pt"
    cfg = BeneparTrainConfig(out=str(out), held_out=10, dev=5, max_train=48, max_len=15,
                             epochs=1, batch_size=16, d_model=32, num_layers=1, d_ff=64,
                             d_label_hidden=32, progress=False)  # fmt: skip
    res = train_benepar(cfg, log=lambda s: None)
    return out, res


def test_tiny_benepar_model_trains_saves_and_loads(tiny_model):
    out, res = tiny_model
    assert out.exists() and res["train_trees"] == 48 and res["test_trees"] == 10
    assert 0.0 <= res["test_f1"] <= 100.0 and res["history"][0]["train_loss"] > 0


def test_benepar_trees_cover_exactly_the_tokens(tiny_model):
    out, _ = tiny_model
    sents = corpus_slice(12, start=200)
    trees = parse_sentences(sents, "benepar", model=str(out))
    assert [list(t.tokens) for t in trees] == sents
    assert all(t.is_projective() for t in trees)
    left = parse_sentences(sents[:3], "benepar", model=str(out), binarize="left")
    assert [t.tokens for t in left] == [t.tokens for t in trees[:3]]


def test_missing_benepar_model_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(ParserError) as e:
        parse_sentences([["a", "b"]], "benepar", model="benepar_en3")
    msg = str(e.value)
    assert "benepar.download('benepar_en3')" in msg and "--structure spacy" in msg
    with pytest.raises(ParserError, match="no file or directory"):
        parse_sentences([["a", "b"]], "benepar", model=str(tmp_path / "none.pt"))
    corpus = tmp_path / "c.txt"
    corpus.write_text("a small corpus .\n")
    code = main(["parse", str(corpus), "--structure", "benepar", "--benepar-model",
                 "benepar_en3", "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("strae parse: error: benepar model 'benepar_en3' is not installed")
    assert "Traceback" not in err and not (tmp_path / "o.partial").exists()
