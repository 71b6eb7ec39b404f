import json

import numpy as np
import pytest
import torch

from parsers import parse_sentences
from parsers.api import load_embedder
from strae_graph.cli import main
from strae_graph.data.corpus import read_sentences, tokenize
from strae_graph.graph.batch import batch_trees, roots
from strae_graph.training.checkpoint import CheckpointError
from tests.conftest import CORPUS
from tests.tiny_runs import tiny_run

SENTENCES = [
    "The dog barks at the postman.",
    "A cat sat on the mat and looked at the door for a very long time.",
    "Wikipedia is a free online encyclopedia.",
    "qwertyzzz xyzzyplugh",  # only unknown words
    "Hi",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir):
    return tiny_run(tmp_path_factory.mktemp("embed") / "run", structure="balanced")


@pytest.fixture(scope="module")
def emb(run):
    return load_embedder(run)


def corpus_sentences(n=60):
    return [toks for _, toks in read_sentences(CORPUS, n)]


def test_from_run_reads_the_run(emb, run):
    cfg = json.loads((run / "config.json").read_text())
    assert emb.structure == "balanced"
    assert len(emb.vocab) == cfg["data"]["vocab_size"]
    assert emb.embedding_size == 100
    assert not emb.model.training


def test_embed_sentences_equals_training_forward_roots(emb):
    sents = corpus_sentences(60)
    trees = parse_sentences(sents, "balanced")
    g = batch_trees(trees, [emb.vocab.encode(t.tokens) for t in trees])
    emb.model.eval()
    with torch.no_grad():
        expected = emb.model(g).up[roots(g)].numpy()
    got = emb.embed_sentences(sents)
    assert got.shape == (60, 100)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    # raw text is tokenised with strae_graph.data.corpus.tokenize
    raw = emb.embed_sentences(SENTENCES[:2])
    np.testing.assert_allclose(raw, emb.embed_sentences([tokenize(s) for s in SENTENCES[:2]]))


def test_batch_size_does_not_change_results(emb):
    sents = corpus_sentences(50) + [tokenize(s) for s in SENTENCES]
    ref = emb.embed_sentences(sents, batch_size=1000)
    for bs in (1, 3, 17):
        np.testing.assert_allclose(emb.embed_sentences(sents, batch_size=bs), ref, atol=1e-6)


def test_structure_override_changes_trees(emb):
    long = [SENTENCES[1]]
    balanced = emb.embed_sentences(long)
    right = emb.embed_sentences(long, structure="right")
    assert not np.allclose(balanced, right)
    with pytest.raises(ValueError, match="unknown structure"):
        emb.embed_sentences(long, structure="nonsense")


def test_unknown_word_policy(emb):
    vectors, mask = emb.embed_words(["the", "qwertyzzz", "The", "<unk>"], return_mask=True)
    assert mask.tolist() == [True, False, True, False]
    assert np.isnan(vectors[1]).all() and np.isnan(vectors[3]).all()
    the = emb.model.embedding.weight[emb.vocab.stoi["the"]].detach().numpy()
    np.testing.assert_array_equal(vectors[0], the)
    np.testing.assert_array_equal(vectors[2], the)  # lower-cased like the tokeniser
    assert emb.known(["the", "qwertyzzz"]).tolist() == [True, False]
    # inside a sentence unknown tokens use the learned <unk> row, as in training
    assert np.isfinite(emb.embed_sentences([SENTENCES[3]])).all()
    with pytest.raises(TypeError):
        emb.embed_words("the")


def test_empty_inputs(emb):
    assert emb.embed_words([]).shape == (0, 100)
    assert emb.embed_sentences([]).shape == (0, 100)
    out = emb.embed_sentences(["", "A dog.", "   "])
    assert np.isnan(out[0]).all() and np.isnan(out[2]).all() and np.isfinite(out[1]).all()
    with pytest.raises(ValueError, match="no tokens"):
        emb.embed_nodes("")


def test_embed_nodes(emb):
    words = emb.vocab.itos[1:6]  # known words
    sentence = " ".join(words)
    nodes = emb.embed_nodes(sentence)
    n = 5
    assert nodes.up.shape == nodes.down.shape == (2 * n - 1, 100)
    assert nodes.spans[:n] == [(i, i + 1) for i in range(n)] and nodes.spans[-1] == (0, n)
    assert nodes.phrases[-1] == sentence
    root = emb.embed_sentences([sentence])[0]
    np.testing.assert_allclose(nodes.up[-1], root, atol=1e-6)
    np.testing.assert_allclose(nodes.down[-1], nodes.up[-1])  # root down = root up
    np.testing.assert_allclose(nodes.up[:n], emb.embed_words(words))  # eval mode: no input dropout


def test_word2vec_export_round_trips(emb, tmp_path):
    gensim = pytest.importorskip("gensim")
    path = tmp_path / "vectors.txt"
    n = emb.export_word2vec(path)
    assert n == len(emb.vocab) - 1
    kv = gensim.models.KeyedVectors.load_word2vec_format(str(path), binary=False)
    words, vectors = emb.word_vectors()
    assert list(kv.index_to_key) == words
    np.testing.assert_array_equal(kv.vectors, vectors)


def test_cli_embed_and_export(run, tmp_path, capsys):
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(SENTENCES) + "\n\n")
    out = tmp_path / "sent.npy"
    assert main(["embed", str(run), "--input", str(inp), "--out", str(out)]) == 0
    arr, mask = np.load(out), np.load(tmp_path / "sent.mask.npy")
    assert arr.shape == (len(SENTENCES) + 1, 100)
    assert mask.tolist() == [True] * len(SENTENCES) + [False]
    emb = load_embedder(run)
    np.testing.assert_allclose(arr[:-1], emb.embed_sentences(SENTENCES), atol=1e-6)

    words = tmp_path / "words.txt"
    words.write_text("the\nqwertyzzz\n")
    assert main(["embed", str(run), "--input", str(words), "--out", str(tmp_path / "w.npy"),
                 "--words"]) == 0  # fmt: skip
    assert np.load(tmp_path / "w.mask.npy").tolist() == [True, False]

    vec = tmp_path / "v.txt"
    assert main(["export", str(run), "--out", str(vec)]) == 0
    header = vec.read_text().splitlines()[0]
    assert header == f"{len(emb.vocab) - 1} 100"
    capsys.readouterr()


def test_bad_run_dir_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(CheckpointError, match="no such run directory"):
        load_embedder(tmp_path / "nope")
    (tmp_path / "r").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_embedder(tmp_path / "r")
    inp = tmp_path / "in.txt"
    inp.write_text("A dog barks.\n")
    rc = main(["embed", str(tmp_path / "r"), "--input", str(inp), "--out", str(tmp_path / "o.npy")])
    assert rc == 2 and "no config.json" in capsys.readouterr().err
    # the input is checked first: a missing input file is named before the run is loaded
    rc = main(["embed", str(tmp_path / "r"), "--input", "x", "--out", str(tmp_path / "o.npy")])
    assert rc == 2 and "x: no such file" in capsys.readouterr().err


def test_parse_with_a_parser_reads_the_tree_cache(emb, tmp_path, monkeypatch):
    monkeypatch.setenv("STRAE_CACHE", str(tmp_path))
    sents = ["A dog barks loudly.", "", "The cat sat on the mat."]
    first = emb.parse(sents, structure="spacy")
    assert first[1] is None and len(list((tmp_path / "trees").glob("spacy-*"))) == 1
    import parsers.spacy_parser as sp

    def no_parsing(*a, **k):
        raise AssertionError("parsed again instead of reading the cache")

    monkeypatch.setattr(sp, "spacy_trees", no_parsing)
    assert emb.parse(sents, structure="spacy") == first
