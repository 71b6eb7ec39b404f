import gzip
import random

import pytest

from parsers.heuristics import balanced, left_branching, random_tree, right_branching
from strae_graph.data.bracket_files import iter_bracket_file
from strae_graph.trees.draw import layout
from strae_graph.trees.errors import TreeError
from strae_graph.trees.tree import Tree
from tests.conftest import PTB


def test_brackets_binarise_right_and_left():
    s = "(S (NP (DT the) (JJ big) (NN dog)) (VP (VBZ barks)) (. .))"
    right = Tree.from_brackets(s)
    assert right.tokens == ("the", "big", "dog", "barks", ".")
    assert right.to_brackets() == "((the (big dog)) (barks .))"
    left = Tree.from_brackets(s, binarize="left")
    # S -> ((NP VP) .), the unary VP collapses to its word
    assert left.to_brackets() == "((((the big) dog) barks) .)"


def test_unary_chains_and_traces_collapse():
    s = "( (S (NP-SBJ (-NONE- *)) (VP (VB go) (ADVP (RB home)))))"
    t = Tree.from_brackets(s)
    assert t.tokens == ("go", "home")
    assert t.to_brackets() == "(go home)"
    assert Tree.from_brackets("(X (Y (Z word)))").tokens == ("word",)


def test_unlabelled_round_trip():
    for t in [
        right_branching(["a", "b", "c", "d"]),
        balanced(list("abcdefg")),
        random_tree(list("abcdefghij"), 3),
    ]:
        assert Tree.from_brackets(t.to_brackets(), labelled=False) == t
        assert Tree.from_nested(t.to_nested()) == t


def test_nltk_conversion_matches_brackets():
    nltk = pytest.importorskip("nltk")
    s = "(S (NP (DT the) (NN cat)) (VP (VBD sat) (PP (IN on) (NP (DT the) (NN mat)))))"
    assert Tree.from_nltk(nltk.Tree.fromstring(s)) == Tree.from_brackets(s)


@pytest.mark.parametrize(
    "bad, where",
    [
        ("(S (NP the dog)", "missing"),
        (") (S a)", "unbalanced '.' at character 0"),
        ("(S ())", "empty node"),
        ("", "no tree"),
        ("word", "outside any bracket"),
        ("(S a) (S b)", "after the end"),
    ],
)
def test_malformed_brackets_raise_clear_errors(bad, where):
    with pytest.raises(TreeError, match=where):
        Tree.from_brackets(bad)


def test_invalid_children_rejected():
    with pytest.raises(TreeError):
        Tree(("a", "b"), ((0, 0),))
    with pytest.raises(TreeError):
        Tree(("a", "b", "c"), ((0, 1),))
    with pytest.raises(TreeError):
        Tree((), ())


def test_real_ptb_sample_trees(data_dir):
    trees = []
    with gzip.open(PTB, "rt") as f:
        raw = [line.split("\t", 1)[1] for _, line in zip(range(200), f)]
    for line in raw:
        t = Tree.from_brackets(line)
        words = [w for w in line.replace("(", " ( ").replace(")", " ) ").split()]
        assert "-NONE-" not in t.tokens
        assert t.is_projective()
        assert t.n_nodes == 2 * t.n_leaves - 1
        assert len(words) > t.n_leaves
        trees.append(t)
    assert trees == list(iter_bracket_file(str(PTB)))[:200]
    # first sentence of the PTB: Pierre Vinken, 61 years old, ...
    assert trees[0].tokens[:3] == ("Pierre", "Vinken", ",")


def test_heuristic_shapes():
    toks = list("abcdefgh")
    assert balanced(toks).height == 3
    assert right_branching(toks).height == 7 and left_branching(toks).height == 7
    assert right_branching(toks).to_brackets().startswith("(a (b")
    assert left_branching(toks).to_brackets().endswith("g) h)")
    assert random_tree(toks, 5) == random_tree(toks, 5)
    assert len({random_tree(toks, s).to_brackets() for s in range(20)}) > 5
    for f in (balanced, right_branching, left_branching, lambda t: random_tree(t, 1)):
        assert f(["x"]).n_nodes == 1
        assert f(toks).tokens == tuple(toks) and f(toks).is_projective()


def test_networkx_and_drawing(tmp_path):
    t = Tree.from_brackets("(S (NP (DT the) (NN dog)) (VP (VBZ barks) (RB loudly)))")
    g = t.to_networkx()
    assert g.number_of_nodes() == 7 and g.number_of_edges() == 6
    assert [g.nodes[v]["token"] for v in range(4)] == ["the", "dog", "barks", "loudly"]
    assert g.nodes[t.root]["is_root"] and g.in_degree(t.root) == 0
    pos = layout(t)
    assert [pos[i][0] for i in range(4)] == [0, 1, 2, 3]
    assert all(pos[p][1] > pos[c][1] for p, c in g.edges)
    out = tmp_path / "tree.png"
    t.draw(str(out), title="test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_spans_heights_depths_consistent():
    rng = random.Random(0)
    for _ in range(50):
        t = random_tree([str(i) for i in range(rng.randint(1, 40))], rng)
        spans, h, d, par = t.spans(), t.heights(), t.depths(), t.parents()
        assert spans[t.root] == (0, t.n_leaves)
        for v in range(t.n_nodes - 1):
            assert h[par[v]] > h[v] and d[v] == d[par[v]] + 1
