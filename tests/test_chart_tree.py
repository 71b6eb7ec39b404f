"""``--binarize chart``: the best binary tree under a chart parser's span scores
(parsers.chart_tree), checked against a brute-force enumeration of every binary
tree and by hand; then benepar's default with a tiny model trained here."""

import json

import numpy as np
import pytest

from parsers.chart_tree import chart_tree, check_binarize, cky, span_weights
from parsers.heuristics import right_branching
from strae_graph.trees.errors import TreeError
from strae_graph.trees.tree import Tree

N_LABELS = 4


def all_trees(i: int, k: int):
    """Every binary tree over words ``i .. k-1``: ``(spans of two words or more,
    preorder split points)``."""
    if k - i == 1:
        yield frozenset(), ()
        return
    for s in range(i + 1, k):
        for left, ls in all_trees(i, s):
            for right, rs in all_trees(s, k):
                yield left | right | {(i, k)}, (s, *ls, *rs)


def total(spans, weights) -> float:
    return sum(weights[i, k - 1] for i, k in spans)


def internal_spans(tree: Tree) -> frozenset:
    return frozenset(tree.spans()[tree.n_leaves :])


def random_scores(rng: np.random.Generator, n: int, integers: bool) -> np.ndarray:
    """(n, n, labels) scores, label 0 the null label (0), as benepar gives them."""
    if integers:  # few values: many ties
        s = rng.integers(-1, 2, size=(n, n, N_LABELS)).astype(np.float32)
    else:
        s = rng.normal(size=(n, n, N_LABELS)).astype(np.float32)
    s[..., 0] = 0.0
    return s


@pytest.mark.parametrize("n", range(1, 8))
def test_cky_finds_the_best_of_all_binary_trees(n):
    """Random real scores: the same best total as brute force over all
    Catalan(n-1) trees, and the same tree whenever the best is unique."""
    rng = np.random.default_rng(n)
    tokens = [f"w{i}" for i in range(n)]
    unique = 0
    for _ in range(150):
        scores = random_scores(rng, n, integers=False)
        w = span_weights(scores)
        ranked = sorted((total(sp, w), sp) for sp, _ in all_trees(0, n))
        best, tree_spans = ranked[-1]
        got, _ = cky(w)
        assert got == pytest.approx(best, abs=1e-9)
        tree = chart_tree(tokens, scores)
        assert tree.tokens == tuple(tokens) and tree.is_projective()
        assert total(internal_spans(tree), w) == pytest.approx(best, abs=1e-9)
        if len(ranked) == 1 or ranked[-2][0] < best - 1e-9:
            unique += 1
            assert internal_spans(tree) == tree_spans
    assert unique > 100 or n < 3  # real scores rarely tie


@pytest.mark.parametrize("n", range(3, 8))
def test_ties_go_to_the_smallest_split_point(n):
    """Scores in {-1, 0, 1}: many trees tie.  The chosen one is, among the best,
    the one whose preorder split points are smallest (lexicographically): the
    root's split as far left as possible, then each child's likewise."""
    rng = np.random.default_rng(100 + n)
    tokens = [f"w{i}" for i in range(n)]
    ties = 0
    for _ in range(150):
        scores = random_scores(rng, n, integers=True)
        w = span_weights(scores)
        trees = [(total(sp, w), splits, sp) for sp, splits in all_trees(0, n)]
        best = max(t[0] for t in trees)
        winners = sorted((splits, sp) for score, splits, sp in trees if score == best)
        ties += len(winners) > 1
        assert internal_spans(chart_tree(tokens, scores)) == winners[0][1]
    assert ties > 20
    flat = np.zeros((n, n, N_LABELS), dtype=np.float32)
    assert chart_tree(tokens, flat) == right_branching(tokens)  # equal weights: right


def test_three_words_by_hand():
    """Raw scores, no floor at zero: the span 'a b' (best label -1) beats 'b c'
    (best label -3), so ((a b) c), although both are below the null label's 0;
    a floor at zero would tie them and give (a (b c))."""
    s = np.zeros((3, 3, 3), dtype=np.float32)
    s[0, 1, 1:] = [-1.0, -2.0]  # a b
    s[1, 2, 1:] = [-4.0, -3.0]  # b c
    s[0, 2, 1:] = [5.0, 0.0]  # the whole sentence: in every tree
    assert chart_tree(["a", "b", "c"], s).to_brackets() == "((a b) c)"
    assert cky(span_weights(s))[0] == pytest.approx(5.0 - 1.0)
    s[1, 2, 2] = 0.5  # now 'b c' wins
    assert chart_tree(["a", "b", "c"], s).to_brackets() == "(a (b c))"


def test_four_words_by_hand():
    """Weights (best label) a-b 1, b-c 3, c-d 2, a-c -1, b-d 0.5, all 10.  The five
    trees: ((a b) (c d)) 1+2 = 3, (a (b (c d))) 2+0.5 = 2.5, (a ((b c) d))
    3+0.5 = 3.5, ((a (b c)) d) 3-1 = 2, (((a b) c) d) 1-1 = 0 (each + 10)."""
    s = np.full((4, 4, 3), -9.0, dtype=np.float32)
    s[..., 0] = 0.0
    for (i, j), v in {(0, 1): 1, (1, 2): 3, (2, 3): 2, (0, 2): -1, (1, 3): 0.5,
                      (0, 3): 10}.items():  # fmt: skip
        s[i, j, 2] = v
    assert chart_tree(list("abcd"), s).to_brackets() == "(a ((b c) d))"
    assert cky(span_weights(s))[0] == pytest.approx(13.5)


def test_long_sentences_and_bad_shapes():
    rng = np.random.default_rng(0)
    tokens = [f"w{i}" for i in range(300)]
    tree = chart_tree(tokens, rng.normal(size=(300, 300, 3)))  # no recursion limit
    assert tree.n_leaves == 300 and tree.is_projective()
    assert chart_tree(["x"], np.zeros((1, 1, 2))).n_leaves == 1
    with pytest.raises(TreeError, match="sentence 4: span scores of shape"):
        chart_tree(["a", "b"], np.zeros((3, 3, 2)), i=4)
    with pytest.raises(ValueError, match="labels >= 2"):
        span_weights(np.zeros((2, 2, 1)))


def test_chart_only_for_benepar():
    check_binarize("chart", "benepar")
    check_binarize("left", "gold")
    with pytest.raises(ValueError, match="gold trees have no span scores"):
        check_binarize("chart", "gold")
    with pytest.raises(ValueError, match="unknown; choose one of chart, right, left"):
        check_binarize("middle", "benepar")


# --- benepar: chart is the default ----------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model(tiny_benepar):
    return str(tiny_benepar[0])


def chart_beats_right(model: str, sents: list[list[str]]) -> int:
    """Check that the default trees are the chart trees, over the given leaves,
    and that under the parser's span weights each scores at least as well as the
    right-binarised parse (CKY maximises over all trees); the number of
    sentences where it scores strictly better."""
    from parsers import parse_sentences
    from parsers.benepar_parser import benepar_charts

    default = parse_sentences(sents, "benepar", model=model)
    assert default == parse_sentences(sents, "benepar", model=model, binarize="chart")
    assert [list(t.tokens) for t in default] == sents
    right = parse_sentences(sents, "benepar", model=model, binarize="right")
    charts = [scores for scores, _ in benepar_charts(sents, model=model, batch_size=5)]
    better = 0
    for tree, r, scores in zip(default, right, charts, strict=True):
        w = span_weights(scores)
        assert tree == chart_tree(tree.tokens, scores)
        assert total(internal_spans(tree), w) >= total(internal_spans(r), w) - 1e-6
        better += total(internal_spans(tree), w) > total(internal_spans(r), w) + 1e-6
    return better


def test_benepar_default_is_the_best_tree_under_its_span_scores(tiny_model):
    """The tiny model scores every span above the null label, so its own parse is
    already the best binary tree (chart = right there); the leaves stay the
    tokens when the parser sees other words."""
    from parsers import parse_sentences
    from tests.test_parsers import corpus_slice

    sents = corpus_slice(16, start=300)
    chart_beats_right(tiny_model, sents)
    cased = [[w.capitalize() for w in s] for s in sents[:4]]
    trees = parse_sentences(sents[:4], "benepar", model=tiny_model, parser_words=cased)
    assert [list(t.tokens) for t in trees] == sents[:4]


def test_shipped_model_chart_trees_differ_from_right_binarised():
    """With the shipped model (flatter parses, spans it rejects), chart trees are
    strictly better under its span weights on some sentences."""
    from parsers.benepar_parser import SHIPPED_MODEL
    from tests.test_parsers import corpus_slice

    assert SHIPPED_MODEL.is_file(), f"the shipped benepar model is missing: {SHIPPED_MODEL}"
    assert chart_beats_right(str(SHIPPED_MODEL), corpus_slice(16, start=300)) > 0


def test_one_forward_gives_the_parse_sents_trees(tiny_model):
    """The n-ary parses decoded from benepar_charts' forward pass are the trees
    benepar's own parse_sents gives (batches of another size included)."""
    import benepar

    from parsers.benepar_parser import benepar_charts, load_benepar
    from tests.test_parsers import corpus_slice

    sents = corpus_slice(20, start=400)
    ref = load_benepar(tiny_model).parse_sents([benepar.InputSentence(words=s) for s in sents])
    got = [p for _, p in benepar_charts(sents, model=tiny_model, nary=True, batch_size=7)]
    assert [str(p) for p in got] == [str(p) for p in ref]
    assert all(p is None for _, p in benepar_charts(sents[:3], model=tiny_model))


def test_cache_and_dataset_identity_include_the_binarisation(tiny_model, tmp_path):
    """Trees cached or parsed into a dataset before chart became the default were
    right-binarised: neither is reused as chart trees."""
    from parsers.parsed_corpus import parse_corpus
    from parsers.tree_cache import parser_identity

    chart = parser_identity("benepar", {"model": tiny_model})
    right = parser_identity("benepar", {"model": tiny_model, "binarize": "right"})
    assert chart["binarize"] == "chart" and right["binarize"] == "right"
    assert chart["model"] == right["model"] and chart != right
    corpus = tmp_path / "c.txt"
    corpus.write_text("The dog barks.\nA cat sat on the mat.\n")
    out = tmp_path / "parsed"
    first = parse_corpus(corpus, "benepar", out, options={"model": tiny_model}, progress=False)
    assert first.meta["options"]["binarize"] == "chart" and not first.reused
    again = parse_corpus(corpus, "benepar", out, options={"model": tiny_model}, progress=False)
    assert again.reused
    other = parse_corpus(corpus, "benepar", out, progress=False,
                         options={"model": tiny_model, "binarize": "right"})  # fmt: skip
    assert not other.reused and other.meta["options"]["binarize"] == "right"


def test_parse_eval_row_uses_chart_and_one_forward(tiny_model, tmp_path, monkeypatch):
    """parse-eval's benepar row: chart trees by default (its options say so), the
    binarised F1 of exactly the chart trees, and the labelled F1 of exactly
    parse_sents' n-ary trees; one forward pass for both (25 sentences: one batch
    for the lower-cased tokens, one more for the cased words' labelled F1)."""
    import parsers.benepar_scores as bs
    from parsers import parse_sentences
    from parsers.benepar_parser import benepar_parses
    from parsers.evalb import labelled_scores
    from parsers.evaluate import GoldSet, bracket_scores, tree_spans
    from strae_graph.cli import main
    from strae_graph.trees.nary import nltk_to_generic, parse_brackets

    calls = []
    encode = bs.annotations  # the encoder: once per forward pass
    monkeypatch.setattr(bs, "annotations", lambda *a, **k: calls.append(1) or encode(*a, **k))
    pe = tmp_path / "pe.json"
    assert main(["parse-eval", "--structures", "benepar", "--benepar-model", tiny_model,
                 "--held-out", "25", "--json", str(pe)]) == 0  # fmt: skip
    assert len(calls) == 2
    monkeypatch.undo()
    (row,) = [r for r in json.loads(pe.read_text()) if r["structure"] == "benepar"]
    assert row["options"] == {"model": tiny_model, "binarize": "chart"}
    gold = GoldSet.load(held_out=25)
    trees = parse_sentences(gold.sentences, "benepar", model=tiny_model)
    assert row["f1"] == pytest.approx(
        bracket_scores([tree_spans(t) for t in trees], gold.spans)["f1"]
    )
    golds = [parse_brackets(t, labelled=True) for t in gold.texts]
    parses = benepar_parses(gold.sentences, model=tiny_model)
    assert row["labelled"] == labelled_scores([nltk_to_generic(p) for p in parses], golds)
    assert row["labelled"]["brackets_gold"] > 100


def test_chart_is_refused_for_gold_trees(tmp_path, capsys):
    from parsers.gold import iter_gold_trees
    from strae_graph.cli import main
    from tests.conftest import PTB

    with pytest.raises(ValueError, match="--binarize chart: gold trees have no span scores"):
        next(iter_gold_trees(PTB, binarize="chart"))
    for argv in (
        ["parse", str(PTB), "--structure", "gold", "--binarize", "chart",
         "--out", str(tmp_path / "g")],
        ["draw", "(S (NP (DT The) (NN dog)) (VP (VBD barked)))", "--structure", "gold",
         "--binarize", "chart", "-o", str(tmp_path / "g.png")],
    ):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err
        lines = [x for x in err.splitlines() if ": error: " in x]
        assert len(lines) == 1 and "Traceback" not in err, err
        assert f"strae {argv[0]}: error: --binarize chart: gold trees have no span" in lines[0]
    assert not (tmp_path / "g").exists() and not (tmp_path / "g.partial").exists()
    assert not (tmp_path / "g.png").exists()
