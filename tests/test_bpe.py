"""Subword leaves: ``strae train --vocab bpe`` (strae_graph.data.subwords)."""

import json

import numpy as np
import pytest
import torch

from eval.data import load_wordsim
from eval.encoders import MeanOfLeaves, StrAERoot
from eval.evaluate import EvalConfig, eval_wordsim, evaluate
from parsers import parse_sentences
from parsers.api import load_embedder, train
from parsers.heuristics import balanced, right_branching
from strae_graph.cli import main
from strae_graph.data import subwords as sw
from strae_graph.data import subwords_train as swt
from strae_graph.data.corpus import read_sentences
from strae_graph.data.subwords import WORD_START as M
from strae_graph.data.subwords import (
    Subwords,
    expand_tree,
    join_pieces,
    words_of,
)
from strae_graph.data.subwords_train import train_bpe
from strae_graph.data.vocab import UNK
from strae_graph.embed.load import load_run
from strae_graph.training.checkpoint import CheckpointError
from strae_graph.trees.tree import Tree
from tests.conftest import CORPUS
from tests.tiny_runs import tiny_config, tiny_run

UNSEEN = "qwertyzzzplugh"  # in no corpus sentence


def corpus(n=400):
    return [toks for _, toks in read_sentences(CORPUS, n)]


@pytest.fixture(scope="module")
def bpe(data_dir):
    return train_bpe(corpus(400), 500)


# --- the BPE model ------------------------------------------------------------------
def test_pieces_round_trip_to_words(bpe):
    sentences = corpus(400)
    vocab = bpe.vocabulary()
    assert vocab.itos[0] == UNK and len(vocab) == len(bpe) <= 500
    words = sorted({w for s in sentences for w in s})
    split = bpe.split(words)
    n_multi = 0
    for w, ps in zip(words, split):
        assert ps and all(p in vocab.stoi for p in ps)
        if UNK in ps:  # a character outside the alphabet
            continue
        assert join_pieces(ps) == w
        assert ps[0].startswith(M)  # word-initial pieces carry the marker, others not
        assert not any(p.startswith(M) for p in ps[1:])
        n_multi += len(ps) > 1
    assert n_multi > len(words) // 2  # 500 pieces split most words
    for s in sentences[:100]:
        pieces = bpe.sentence_pieces(s)
        if UNK not in pieces:
            assert words_of(pieces) == s  # pieces never cross word boundaries
    assert join_pieces(bpe.pieces(UNSEEN)) == UNSEEN
    assert bpe.split(["the", "the"]) == [bpe.pieces("the")] * 2
    with pytest.raises(ValueError, match="whitespace"):
        bpe.split(["two words"])


def test_tokenizer_file_round_trip(bpe, tmp_path):
    path = tmp_path / "tokenizer.json"
    bpe.save(path)
    again = Subwords.from_file(path)
    assert again.vocabulary().itos == bpe.vocabulary().itos
    assert again.pieces("unbelievably") == bpe.pieces("unbelievably")
    path.write_text("{not json")
    with pytest.raises(sw.SubwordError, match="not a tokenizer"):
        Subwords.from_file(path)


# --- word subtrees -------------------------------------------------------------------
THREE = ["▁un", "believ", "able"]  # one word of three pieces: (▁un (believ able))


def test_word_of_three_pieces_under_balanced_and_right_trees():
    words = ["the", "unbelievable", "big", "dog"]
    pieces = [["the"], THREE, ["big"], ["dog"]]
    leaves = ("the", *THREE, "big", "dog")
    cases = {
        "balanced": (balanced(words), "((the (▁un (believ able))) (big dog))"),
        "right": (right_branching(words), "(the ((▁un (believ able)) (big dog)))"),
    }
    for name, (tree, expected) in cases.items():
        got = expand_tree(tree, pieces)
        assert got.tokens == leaves, name  # leaf order preserved
        assert got.n_leaves == 6 and got.n_nodes == 11 and len(got.children) == 5
        assert got.canonical() == Tree.from_brackets(expected, labelled=False), name
        # the word's own subtree is built first: its two nodes come before the sentence's
        assert got.children[:2] == ((2, 3), (1, 6))
        assert got.spans()[7] == (1, 4)  # the word's root covers its three pieces
        assert got.is_projective()


def test_expand_tree_edge_cases():
    one = Tree(("dog",), ())
    assert expand_tree(one, [["▁d", "o", "g"]]).canonical() == Tree.from_brackets(
        "(▁d (o g))", labelled=False
    )
    t = right_branching(["a", "b"])
    assert expand_tree(t, [["a"], ["b"]]) == t  # single pieces: the same tree
    four = expand_tree(t, [["a"], ["▁w", "al", "k", "s"]])
    assert four.canonical().to_brackets() == "(a ((▁w al) (k s)))"
    with pytest.raises(ValueError, match="piece lists"):
        expand_tree(t, [["a"]])
    with pytest.raises(ValueError, match="no pieces"):
        expand_tree(t, [["a"], []])


def test_subwords_expand_matches_sentence_pieces(bpe):
    sentences = corpus(30)
    for structure in ("balanced", "right", "left", "random"):
        for word_tree in parse_sentences(sentences, structure, seed=3):
            t = bpe.expand(word_tree)
            assert list(t.tokens) == bpe.sentence_pieces(word_tree.tokens)
            assert t.n_nodes == 2 * t.n_leaves - 1 and t.is_projective()
            # every word's pieces form one subtree (a node spanning exactly them)
            spans, pos = set(t.spans()), 0
            for ps in bpe.split(word_tree.tokens):
                assert (pos, pos + len(ps)) in spans
                pos += len(ps)


# --- the cache -------------------------------------------------------------------------
def test_cache_hit_retrain_on_damage_and_unwritable_cache(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("STRAE_CACHE", str(tmp_path / "cache"))
    calls = []
    real = swt._train_tokenizer

    def counting(sentences, size, *chars):
        calls.append(size)
        return real(sentences, size, *chars)

    monkeypatch.setattr(swt, "_train_tokenizer", counting)
    sentences = corpus(200)
    first = train_bpe(sentences, 300)
    files = list((tmp_path / "cache" / "bpe").glob("*.json"))
    assert calls == [300] and len(files) == 1
    second = train_bpe(sentences, 300)
    assert calls == [300]  # read from the cache
    assert second.vocabulary().itos == first.vocabulary().itos
    train_bpe(sentences, 301)  # another size: another key
    train_bpe(sentences[:-1], 300)  # other words: another key
    assert calls == [300, 301, 300]
    files[0].write_text('{"version": "1.0", "model": {"type": "BPE", "vocab"')  # truncated
    third = train_bpe(sentences, 300)
    assert calls == [300, 301, 300, 300]  # retrained ...
    assert third.vocabulary().itos == first.vocabulary().itos
    assert Subwords.from_file(files[0]).vocabulary().itos == first.vocabulary().itos  # replaced
    # a cache that cannot be written only warns
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("STRAE_CACHE", str(blocker))
    capsys.readouterr()
    assert train_bpe(sentences, 300).vocabulary().itos == first.vocabulary().itos
    assert "warning: could not write the BPE cache" in capsys.readouterr().err


# --- a tiny BPE run ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("bpe") / "run"
    args = ["train", "--corpus", str(CORPUS), "--out", str(out), "--vocab", "bpe",
            "--bpe-size", "500", "--max-sentences", "300", "--dev-sentences", "40",
            "--batch-size", "64", "--lr", "1e-3", "--structure", "balanced",
            "--no-progress"]  # fmt: skip
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def emb(run):
    return load_embedder(run)


def test_bpe_run_directory(run, emb, capsys):
    record = json.loads((run / "config.json").read_text())
    assert record["train"]["vocab"] == "bpe" and record["train"]["bpe_size"] == 500
    assert record["data"]["vocab_kind"] == "bpe"
    pieces = json.loads((run / "vocab.json").read_text())
    assert record["data"]["vocab_size"] == len(pieces) <= 500
    # vocab.json holds the pieces: word-initial and continuing
    assert any(p.startswith(M) for p in pieces) and any(p[0].isalpha() for p in pieces)
    tok = Subwords.from_file(run / "tokenizer.json")
    assert tok.vocabulary().itos == pieces == emb.vocab.itos
    assert emb.subwords is not None and len(emb.vocab) == emb.model.config.vocab_size
    loaded = load_run(run)
    assert loaded.subwords is not None and loaded.vocab.itos == pieces
    # trees come from words, then pieces
    sentence = ["the", "unbelievable", "dog"]
    tree = emb.parse([sentence])[0]
    assert tree == emb.subwords.expand(balanced(sentence))
    nodes = emb.embed_nodes(sentence)
    assert nodes.phrases[-1] == "the unbelievable dog"
    capsys.readouterr()


def test_embed_words_covers_unseen_words(emb):
    words = ["the", UNSEEN, "Unbelievable", "two words", "dog."]
    vectors, mask = emb.embed_words(words, return_mask=True)
    assert mask.tolist() == [True, True, True, False, False]  # not single tokens: NaN
    assert np.isfinite(vectors[:3]).all() and np.isnan(vectors[3:]).all()
    assert UNSEEN not in emb.vocab and len(emb.subwords.pieces(UNSEEN)) > 1
    np.testing.assert_array_equal(vectors[2], emb.embed_words(["unbelievable"])[0])
    # a one-piece word is its leaf embedding
    itos = emb.vocab.itos
    piece = next(p for p in itos if p[1:].isalpha() and emb.subwords.pieces(p[1:]) == (p,))
    leaf = emb.model.embedding.weight[emb.vocab.stoi[piece]].detach().numpy()
    np.testing.assert_allclose(emb.embed_words([piece[1:]])[0], leaf)
    assert np.isfinite(emb.embed_sentences(["The qwertyzzzplugh barks.", "Hi"])).all()


def test_word_vector_is_the_composition_of_its_pieces(emb):
    """Reference: compose the pieces by hand with model.compose (balanced: (a (b c)))."""
    words = [w for s in corpus(100) for w in s]
    word = next(w for w in words if len(emb.subwords.pieces(w)) == 3)
    a, b, c = emb.subwords.pieces(word)
    m = emb.model
    k, u = m.config.channels, m.config.channel_size

    def leaf(p):
        return m.embedding.weight[emb.vocab.stoi[p]].detach().reshape(1, k, u)

    with torch.no_grad():
        root = m.compose(leaf(a), m.compose(leaf(b), leaf(c))).reshape(-1).numpy()
    np.testing.assert_allclose(emb.embed_words([word])[0], root, rtol=0, atol=1e-6)
    # the same word inside a sentence: its subtree node holds the same up embedding
    nodes = emb.embed_nodes(["the", word, "dog"])
    i = nodes.spans.index((1, 4))
    np.testing.assert_allclose(nodes.up[i], root, rtol=0, atol=1e-6)


def test_word_similarity_coverage_is_complete(emb, tmp_path):
    path = tmp_path / "tiny-wordsim.txt"
    path.write_text(
        "word1\tword2\tscore\n"
        "tiger\tcat\t7.35\nqwertyzzzplugh\tzyxwvut\t1.0\nbook\tpaper\t7.46\n"
        "computer\tkeyboard\t7.62\nxylophone\tmarimba\t8.0\nking\tqueen\t8.58\n"
    )
    pairs = load_wordsim(path, name="tiny")
    r = eval_wordsim(StrAERoot(emb), pairs)
    assert r.coverage == 1.0 and r.details["n_covered"] == 6
    # 6 pairs are below the minimum for a score (eval.evaluate.MIN_COVERED_PAIRS)
    assert np.isnan(r.score) and r.details["why_na"] == "too few pairs: 6"
    assert np.isfinite(r.details["spearman_all"])
    cfg = EvalConfig(tasks=("ws353",), wordsim_files=(str(path),), progress=False)
    by = {x.task: x for x in evaluate(StrAERoot(emb), cfg)}
    assert by["ws353"].coverage == 1.0 and by["tiny-wordsim"].coverage == 1.0
    # the mean-of-leaves baseline averages pieces (no composition)
    mean = MeanOfLeaves(emb).embed_sentences(["The dog."])[0]
    pieces = emb.leaves(["the", "dog", "."])
    np.testing.assert_allclose(mean, np.nanmean(emb.embed_leaves(pieces), axis=0), atol=1e-6)


def test_export_and_resume(run, tmp_path, capsys):
    vec = tmp_path / "v.txt"
    assert main(["export", str(run), "--out", str(vec)]) == 0
    assert "BPE pieces" in capsys.readouterr().err
    n = len(json.loads((run / "vocab.json").read_text())) - 1
    assert vec.read_text().splitlines()[0] == f"{n} 100"
    # resume reads the run's tokenizer
    out = tmp_path / "r"
    tiny_run(out, vocab="bpe", bpe_size=500, epochs=1, max_sentences=150)
    mtime = (out / "tokenizer.json").stat().st_mtime_ns
    res = train(tiny_config(out, vocab="bpe", bpe_size=500, epochs=2, max_sentences=150),
                resume=True, log=lambda s: None)  # fmt: skip
    assert res.epochs_done == 2 and (out / "tokenizer.json").stat().st_mtime_ns == mtime
    with pytest.raises(CheckpointError, match="different configuration"):
        train(tiny_config(out, vocab="bpe", bpe_size=400, epochs=3, max_sentences=150),
              resume=True, log=lambda s: None)  # fmt: skip
    (out / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match="tokenizer.json"):
        load_embedder(out)
    with pytest.raises(CheckpointError, match="tokenizer.json"):
        load_run(out)


def test_self_structure_over_pieces(tmp_path):
    run = tiny_run(tmp_path / "self", vocab="bpe", bpe_size=300, structure="self",
                   max_sentences=120, objective="ce")  # fmt: skip
    emb = load_embedder(run)
    tree = emb.parse(["The unbelievable dog."])[0]
    assert list(tree.tokens) == emb.leaves(["the", "unbelievable", "dog", "."])
    assert np.isfinite(emb.embed_sentences(["The unbelievable dog."])).all()
    from strae_graph.embed.parse import parse_with_model

    with pytest.raises(CheckpointError, match="BPE pieces"):
        parse_with_model(str(run), [["the", "dog"]])


def test_training_is_deterministic_and_checks_words(tmp_path):
    sentences = corpus(300)
    a = swt._train_tokenizer(sentences, 400).to_str()
    b = swt._train_tokenizer(sentences, 400).to_str()
    assert a == b  # same pieces, merges and ids, run after run
    with pytest.raises(ValueError, match="whitespace"):
        train_bpe([["a", "b c"]], 50, cache=False)
    with pytest.raises(ValueError, match="empty"):
        train_bpe([["a", ""]], 50, cache=False)


def test_a_bpe_model_directory_round_trips(run, emb, tmp_path):
    from strae_graph import Embedder

    out = tmp_path / "bpe-model"
    assert main(["export", str(run), "--format", "model", "--out", str(out)]) == 0
    assert (out / "tokenizer.json").is_file()
    record = json.loads((out / "config.json").read_text())
    assert record["vocab"] == {"kind": "bpe", "size": len(emb.vocab), "file": "vocab.json",
                               "tokenizer": "tokenizer.json"}  # fmt: skip
    back = Embedder.from_pretrained(out)
    assert back.subwords is not None
    sents = ["The unbelievable dog barks.", "Wikipedia is a free online encyclopedia."]
    assert np.array_equal(back.embed_sentences(sents), emb.embed_sentences(sents))
    words = ["unbelievable", "dog", "qqqzzz"]
    assert np.array_equal(back.embed_words(words), emb.embed_words(words), equal_nan=True)
