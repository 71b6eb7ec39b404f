"""The benepar path, for real: a tiny char-LSTM ChartParser trained here, saved,
loaded back through benepar.Parser(path) and used by parse_sentences; and the
clear error when a named model is missing."""

import pytest

from parsers import ParserError, parse_sentences
from parsers.benepar_train import train_benepar
from strae_graph.cli import main
from tests.test_parsers import corpus_slice
from tests.tiny_runs import tiny_benepar_config


@pytest.fixture(scope="module")
def tiny_model(tiny_benepar):
    return tiny_benepar


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


def _tiny_cfg(out, **kw):
    """Smaller still than the shared tiny model: two epochs of 24 trees."""
    base = dict(max_train=24, max_len=12, epochs=2, batch_size=8, num_heads=2)
    return tiny_benepar_config(out, **{**base, **kw})


def test_resumed_benepar_training_equals_an_uninterrupted_one(tmp_path):
    import torch

    whole = train_benepar(_tiny_cfg(tmp_path / "whole.pt"), log=lambda s: None)
    # the same run stopped after epoch 1, then resumed with the full budget
    part = _tiny_cfg(tmp_path / "part.pt", epochs=1)
    train_benepar(part, log=lambda s: None)
    resumed = train_benepar(_tiny_cfg(tmp_path / "part.pt"), log=lambda s: None, resume=True)
    assert resumed["epochs_trained"] == whole["epochs_trained"] == 2
    a = torch.load(tmp_path / "whole.pt.ckpt", weights_only=True)
    b = torch.load(tmp_path / "part.pt.ckpt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert [h["dev_f1"] for h in whole["history"]] == [h["dev_f1"] for h in resumed["history"]]


def test_resume_refuses_other_settings_and_missing_state(tmp_path):
    from strae_graph.data.corpus import DataError

    train_benepar(_tiny_cfg(tmp_path / "m.pt", epochs=1), log=lambda s: None)
    with pytest.raises(DataError, match="d_model: 32 -> 64"):
        train_benepar(_tiny_cfg(tmp_path / "m.pt", d_model=64), log=lambda s: None, resume=True)
    with pytest.raises(DataError, match="no training state"):
        train_benepar(_tiny_cfg(tmp_path / "x.pt"), log=lambda s: None, resume=True)


def test_mixed_case_training_sees_both_forms():
    from parsers.benepar_data import load_examples, lowered
    from parsers.benepar_train import epoch_examples
    from parsers.evaluate import PTB_SAMPLE

    train = load_examples(PTB_SAMPLE)[:200]
    low = [lowered(e) for e in train]
    assert train[0].words[0] == "Pierre" and low[0].words[0] == "pierre"
    assert low[0].tree.leaves() == low[0].words and train[0].words[0] == "Pierre"
    cfg = _tiny_cfg("m.pt", case="mixed")
    ex = epoch_examples(cfg, train, low, 0)
    n_low = sum(e.words == [w.lower() for w in e.words] for e in ex)
    n_cased = sum(any(w != w.lower() for w in e.words) for e in ex)
    assert n_low > 50 and n_cased > 50 and len(ex) == 200
    assert epoch_examples(cfg, train, low, 0)[5].words == ex[5].words  # a function of (seed, epoch)
    assert all(
        e.words == [w.lower() for w in e.words]
        for e in epoch_examples(_tiny_cfg("m.pt", case="lower"), train, low, 0)
    )


def test_benepar_train_bad_options_are_one_line_errors(tmp_path, capsys):
    for argv, expect in [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--out", str(tmp_path / "none" / "b.pt")], "does not exist"),
        (["--case", "upper"], "invalid choice"),
    ]:
        with pytest.raises(SystemExit) if "invalid" in expect else _no_raise():
            code = main(["benepar-train", "--no-progress", *argv])
            assert code == 2
        err = capsys.readouterr().err
        assert expect in err and "Traceback" not in err
    assert not (tmp_path / "none").exists()


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
