"""Structure sources: heuristics, dependency conversion, spaCy, gold readers, evaluation."""

import gzip
import itertools
import math
import random

import pytest

from parsers import STRUCTURES, ParserError, parse_sentences
from parsers.dependency import projectivize, tree_from_heads
from parsers.evaluate import (
    bracket_scores,
    evaluate_sources,
    is_punctuation,
    tree_spans,
    without_punctuation,
)
from parsers.gold import constituent_spans, iter_bracket_strings, iter_gold_trees
from parsers.heuristics import balanced, left_branching, random_tree, right_branching
from strae_graph.data.corpus import tokenize
from strae_graph.trees.errors import TreeError
from strae_graph.trees.tree import Tree
from tests.conftest import CORPUS, DATA, PTB

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "."]


def corpus_slice(n: int, start: int = 0) -> list[list[str]]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        return [tokenize(line) for line in itertools.islice(f, start, start + n)]


# --- heuristics ------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 33])
def test_heuristic_shapes(n):
    toks = [f"w{i}" for i in range(n)]
    for make in (balanced, right_branching, left_branching):
        t = make(toks)
        assert t.tokens == tuple(toks) and t.is_projective()
    r, lft, b = right_branching(toks), left_branching(toks), balanced(toks)
    assert r.height == lft.height == n - 1
    assert b.height == (math.ceil(math.log2(n)) if n > 1 else 0)
    assert all(left < n for left, _ in r.children)  # every left child is a word
    assert all(right < n for _, right in lft.children)  # every right child is a word
    if n > 2:
        assert r.spans()[-2] == (1, n) and lft.spans()[-2] == (0, n - 1)
        assert (0, n // 2) in b.spans() and (n // 2, n) in b.spans()


def test_random_trees_are_seeded_and_varied():
    sents = [WORDS] * 20
    a = parse_sentences(sents, "random", seed=1)
    assert a == parse_sentences(sents, "random", seed=1)
    assert a != parse_sentences(sents, "random", seed=2)
    assert len({t.to_brackets() for t in a}) > 10  # per-sentence seeds differ
    assert all(t.tokens == tuple(WORDS) and t.is_projective() for t in a)
    # a corpus parsed in chunks gets the same trees as one parsed whole
    chunks = parse_sentences(sents[:7], "random", seed=1) + parse_sentences(
        sents[7:], "random", seed=1, first_index=7
    )
    assert chunks == a
    assert random_tree(WORDS, 5) == random_tree(WORDS, 5)


def test_structures_and_bad_names():
    assert {"balanced", "right", "left", "random", "spacy", "benepar"} <= set(STRUCTURES)
    with pytest.raises(ValueError, match="unknown structure"):
        parse_sentences([WORDS], "nope")
    with pytest.raises(TypeError, match="takes no options"):
        parse_sentences([WORDS], "balanced", model="x")


# --- gold trees: binariser and unary collapse on real PTB trees ---------------------
def ptb_lines(n: int) -> list[str]:
    return [t for _, t in itertools.islice(iter_bracket_strings(PTB), n)]


def test_binariser_keeps_every_ptb_constituent(data_dir):
    import nltk

    for text in ptb_lines(150):
        leaves, gold = constituent_spans(text)
        words = [w for w, tag in nltk.Tree.fromstring(text).pos() if tag != "-NONE-"]
        assert leaves == words
        for how in ("right", "left"):
            t = Tree.from_brackets(text, binarize=how)
            assert list(t.tokens) == words and t.is_projective()
            # binarising only adds spans: every n-ary constituent survives
            assert gold <= set(t.spans())
            # and scores recall 1 against the n-ary gold, punctuation deleted or not
            assert (
                bracket_scores([tree_spans(t)], [without_punctuation(gold, leaves)])["recall"]
                == 1.0
            )


def test_unary_chains_collapse_on_real_trees(data_dir):
    text = ptb_lines(1)[0]  # wsj_0001: (NP (NNP Pierre) (NNP Vinken)) ... (NP-SBJ (NP ...
    assert "(NP-SBJ (NP (NNP Pierre)" in text
    t = Tree.from_brackets(text)
    assert t.n_nodes == 2 * t.n_leaves - 1  # no unary node left
    # ( (S ...)) wrapper, pre-terminals and (VP (VB join) ...) chains vanish
    one = Tree.from_brackets("( (S (NP (NP (NNP Vinken))) (VP (VBZ is) (ADJP (JJ old)))))")
    assert one.to_brackets() == "(Vinken (is old))"


def test_gold_readers_agree(data_dir):
    zipped = list(
        itertools.islice(iter_gold_trees(DATA / "trees" / "nltk_treebank_sample.zip"), 30)
    )
    oneline = list(itertools.islice(iter_gold_trees(PTB), 30))
    assert [t for _, t in zipped] == [t for _, t in oneline]
    assert zipped[0][1].tokens[:2] == ("pierre", "vinken")
    _, cased = next(iter_gold_trees(PTB, lowercase=False))
    assert cased.tokens[:2] == ("Pierre", "Vinken")
    sst = list(itertools.islice(iter_gold_trees(DATA / "trees" / "sst" / "dev.txt"), 20))
    assert all(t.is_projective() for _, t in sst)
    assert all(tok == tok.lower() for _, t in sst for tok in t.tokens)
    # the SST trees are already binary: nothing is added or lost
    first = next(iter(iter_bracket_strings(DATA / "trees" / "sst" / "dev.txt")))[1]
    assert first.count("(") == 2 * len(sst[0][1].tokens) - 1


# --- dependency -> constituency conversion -------------------------------------------
def test_dependency_attachment_order():
    toks = ["she", "gave", "him", "a", "book"]
    heads = [1, 1, 1, 4, 1]  # gave is the root; she, him, book depend on it; a on book
    assert tree_from_heads(toks, heads).to_brackets() == "(she ((gave him) (a book)))"
    assert tree_from_heads(toks, heads, "left-first").to_brackets() == (
        "(((she gave) him) (a book))"
    )


def test_dependency_lifting_and_roots():
    # 0 -> 2 crosses 1, whose head (3) is outside 0..2: non-projective
    heads = [2, 3, 2, 3]
    lifted = projectivize(heads)
    assert lifted != heads
    t = tree_from_heads(list("abcd"), heads)
    assert t.tokens == tuple("abcd") and t.is_projective()
    # two roots: combined right-branching
    assert tree_from_heads(list("abcd"), [1, 1, 3, 3]).to_brackets() == "((a b) (c d))"
    with pytest.raises(TreeError, match="cycle"):
        tree_from_heads(list("abc"), [1, 2, 0])
    with pytest.raises(TreeError, match="outside"):
        tree_from_heads(list("ab"), [0, 5])


def test_dependency_conversion_random_heads_always_gives_a_tree():
    rng = random.Random(0)
    for _ in range(300):
        n = rng.randint(1, 15)
        order = list(range(n))
        rng.shuffle(order)
        heads = [0] * n
        for k, v in enumerate(order):  # a random tree: each node hangs off an earlier one
            heads[v] = v if k == 0 or rng.random() < 0.1 else order[rng.randrange(k)]
        t = tree_from_heads([f"w{i}" for i in range(n)], heads)
        assert t.n_leaves == n and t.is_projective()


def test_spacy_trees_cover_exactly_the_tokens_of_a_corpus_slice(data_dir):
    sents = corpus_slice(150, start=1000)
    trees = parse_sentences(sents, "spacy")
    assert len(trees) == len(sents)
    for s, t in zip(sents, trees):
        assert list(t.tokens) == s and t.is_projective() and t.n_nodes == 2 * len(s) - 1
    # the parse is syntactic: "the" and its noun are usually a constituent
    n_det = sum(1 for t in trees for a, _ in t.children if a < t.n_leaves and t.tokens[a] == "the")
    assert n_det > 50
    assert parse_sentences(sents[:5], "spacy") == trees[:5]  # deterministic


def test_spacy_missing_model_is_a_clear_error():
    with pytest.raises(ParserError, match="not installed"):
        parse_sentences([WORDS], "spacy", model="no_such_spacy_model")


# --- evaluation ------------------------------------------------------------------------
def test_bracket_scores_and_sources(data_dir):
    assert bracket_scores([{(0, 2)}], [{(0, 2), (2, 4)}]) == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "sentence_f1": 2 / 3}
    )
    # punctuation is deleted before comparing: ". , --" go, "$" stays
    assert [is_punctuation(t) for t in [".", ",", "--", '"', "$", "a", "3"]] == [
        True, True, True, True, False, False, False,
    ]  # fmt: skip
    toks = ["the", "dog", "barks", "."]
    assert without_punctuation({(0, 2), (2, 4), (0, 3), (1, 4)}, toks) == {(0, 2), (1, 3)}
    rows = evaluate_sources(["right", "left", "balanced", "spacy"], held_out=60)
    f1 = {r["structure"]: r["f1"] for r in rows}
    assert all(0.0 < v < 1.0 for v in f1.values())
    assert f1["right"] > f1["balanced"] > f1["left"]  # English is mostly right-branching
    assert f1["spacy"] > f1["right"] + 0.1  # a real parser beats every heuristic


def test_f1_of_known_trees_against_a_gold_bracketing():
    from parsers.evaluate import tree_spans
    from parsers.gold import constituent_spans

    leaves, spans = constituent_spans(
        "(S (NP (DT The) (NN dog)) (VP (VBZ barks) (ADVP (RB loudly))))"
    )
    toks = [t.lower() for t in leaves]
    gold = without_punctuation(spans, toks)
    assert gold == {(0, 2), (2, 4)}  # S is the whole sentence, ADVP one word

    def f1(structure: str) -> dict:
        (tree,) = parse_sentences([toks], structure)
        return bracket_scores([tree_spans(tree)], [gold])

    assert f1("balanced")["f1"] == 1.0
    # right: (1,4), (2,4) -> one of two right; left: (0,2) right, (0,3) wrong
    assert f1("right") == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "sentence_f1": 0.5}
    )
    assert f1("left")["f1"] == 0.5
