import pytest

from parsers import balanced, left_branching, right_branching
from strae_graph.bracket_f1 import bracket_f1, gold_tree, read_gold, tree_spans
from strae_graph.tree import Tree
from tests.conftest import PTB

GOLD = "(S (NP (DT The) (NN dog)) (VP (VBZ barks) (ADVP (RB loudly))))"


def test_gold_spans_are_nary_nontrivial_and_lower_cased():
    g = gold_tree(GOLD)
    assert g.tokens == ("the", "dog", "barks", "loudly")
    assert g.spans == {(0, 2), (2, 4)}  # S is the whole sentence, ADVP one token
    traced = gold_tree("(S (NP-SBJ (-NONE- *T*-1)) (VP (VB go) (NP (DT the) (JJ big) (NN way))))")
    assert traced.tokens == ("go", "the", "big", "way") and traced.spans == {(1, 4)}
    assert gold_tree(GOLD, lower=False).tokens[0] == "The"


def test_f1_of_known_trees():
    g = gold_tree(GOLD)
    toks = list(g.tokens)
    assert tree_spans(balanced(toks)) == {(0, 2), (2, 4)}
    assert bracket_f1([balanced(toks)], [g]).f1 == 1.0
    r = bracket_f1([right_branching(toks)], [g])  # spans (1,4), (2,4): one of two right
    assert (r.precision, r.recall, r.f1, r.sentence_f1) == (0.5, 0.5, 0.5, 0.5)
    assert bracket_f1([left_branching(toks)], [g]).f1 == 0.5  # (0,2) right, (0,3) wrong
    with pytest.raises(ValueError, match="leaves differ"):
        bracket_f1([balanced(["a", "b", "c", "d"])], [g])
    assert tree_spans(Tree(("x",), ())) == frozenset()


def test_reads_the_ptb_sample(data_dir):
    gold = read_gold(str(PTB), limit=20)
    assert len(gold) == 20 and gold[0].tokens[:2] == ("pierre", "vinken")
    assert all(all(1 < b - a < len(g.tokens) for a, b in g.spans) for g in gold)
