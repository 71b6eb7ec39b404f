"""Property / fuzz tests (hypothesis) over random trees, bracket strings, token
sequences, corpus bytes and checkpoint bytes, for the tree, parser, corpus,
graph and checkpoint code."""

from __future__ import annotations

import io
import math
import random

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from parsers import MODEL_STRUCTURES, STRUCTURES, parse_sentences
from parsers.heuristics import HEURISTICS, balanced, left_branching, random_tree, right_branching
from strae_graph.data.corpus import DataError, ReadStats, read_sentences, tokenize
from strae_graph.data.vocab import UNK, Vocabulary
from strae_graph.graph.batch import DOWN, UP, Frontiers, batch_trees, roots
from strae_graph.training.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint
from strae_graph.trees.errors import TreeError
from strae_graph.trees.tree import Tree

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
SLOW = settings(FUZZ, max_examples=30)

# --- strategies ------------------------------------------------------------------
# a token as to_brackets can write it: no whitespace, no brackets, not empty
token = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="()"), min_size=1, max_size=8
).filter(lambda t: not any(c.isspace() for c in t))
tokens = st.lists(token, min_size=1, max_size=40)


@st.composite
def trees(draw, max_leaves: int = 40) -> Tree:
    """Any binary tree over random tokens: merge a random adjacent pair of the
    frontier until one node is left, numbering internal nodes in merge order
    (a valid post-order that is usually not the canonical one)."""
    toks = draw(st.lists(token, min_size=1, max_size=max_leaves))
    n = len(toks)
    frontier = list(range(n))
    children: list[tuple[int, int]] = []
    while len(frontier) > 1:
        i = draw(st.integers(0, len(frontier) - 2))
        children.append((frontier[i], frontier[i + 1]))
        frontier[i : i + 2] = [n + len(children) - 1]
    return Tree(tuple(toks), tuple(children))


bracket_text = st.text(st.sampled_from(list("()  ab\t\n-NONE-xyz")), max_size=60)


# --- trees -------------------------------------------------------------------------
@FUZZ
@given(trees())
def test_tree_invariants(t: Tree):
    n = t.n_leaves
    assert t.n_nodes == 2 * n - 1 and t.root == 2 * n - 2
    spans = t.spans()
    assert spans[t.root] == (0, n)
    assert t.is_projective()  # adjacent merges always give contiguous spans
    parents = t.parents()
    assert parents[t.root] == -1 and all(0 <= p < t.n_nodes for p in parents[:-1])
    heights, depths = t.heights(), t.depths()
    for i, (left, right) in enumerate(t.children):
        v = n + i
        assert spans[left][1] == spans[right][0]
        assert heights[v] == 1 + max(heights[left], heights[right])
        assert depths[left] == depths[right] == depths[v] + 1
    assert max(depths) <= n - 1 and heights[t.root] == max(depths)


@FUZZ
@given(trees())
def test_canonical_is_idempotent_and_keeps_the_shape(t: Tree):
    c = t.canonical()
    assert c.canonical() == c
    assert c.tokens == t.tokens
    assert sorted(c.spans()) == sorted(t.spans())
    assert c.to_brackets() == t.to_brackets()
    # canonical order is the left-to-right post-order from_nested builds
    assert Tree.from_nested(t.to_nested()) == c


@FUZZ
@given(trees())
def test_brackets_round_trip(t: Tree):
    text = t.to_brackets()
    assert Tree.from_brackets(text, labelled=False) == t.canonical()
    # every node written gets a label slot in labelled mode: "(L a b)" style
    labelled = Tree.from_brackets(_with_labels(t), labelled=True)
    assert labelled == t.canonical()


def _with_labels(t: Tree) -> str:
    out = list(t.tokens)
    for left, right in t.children:
        out.append(f"(X {out[left]} {out[right]})")
    return out[-1] if t.n_leaves > 1 else f"(X {out[0]})"


@FUZZ
@given(bracket_text, st.booleans(), st.sampled_from(["right", "left"]))
def test_from_brackets_raises_only_tree_error(text: str, labelled: bool, binarize: str):
    try:
        t = Tree.from_brackets(text, binarize=binarize, labelled=labelled)
    except TreeError as e:
        assert str(e)  # a message, never empty
        return
    assert t.n_leaves >= 1 and t.is_projective()
    assert all(tok and "(" not in tok and ")" not in tok for tok in t.tokens)


@FUZZ
@given(st.text(max_size=80), st.booleans())
def test_from_brackets_on_any_unicode_raises_only_tree_error(text: str, labelled: bool):
    try:
        t = Tree.from_brackets(text, labelled=labelled)
    except TreeError:
        return
    assert t.n_leaves >= 1


def test_from_brackets_survives_very_deep_nesting():
    depth = 50_000
    t = Tree.from_brackets("(" * depth + "a b" + ")" * depth, labelled=False)
    assert t.to_brackets() == "(a b)"
    with pytest.raises(TreeError, match="unbalanced"):
        Tree.from_brackets("(" * depth + "a b" + ")" * (depth - 1))


@FUZZ
@given(st.integers(1, 12), st.lists(st.tuples(st.integers(-2, 30), st.integers(-2, 30))))
def test_tree_constructor_accepts_only_valid_post_orders(n: int, children):
    try:
        t = Tree(tuple(f"w{i}" for i in range(n)), tuple(children))
    except TreeError:
        return
    assert t.spans()[t.root][1] - t.spans()[t.root][0] <= n
    assert t.canonical().canonical() == t.canonical()


# --- parsers -------------------------------------------------------------------------
@FUZZ
@given(
    st.lists(tokens, min_size=1, max_size=6), st.sampled_from(tuple(HEURISTICS)), st.integers(0, 99)
)
def test_parse_sentences_keeps_the_leaves(sentences, structure, seed):
    out = parse_sentences(sentences, structure, seed=seed)
    assert len(out) == len(sentences)
    for s, t in zip(sentences, out):
        assert t.tokens == tuple(s)
        assert t.is_projective()
    assert parse_sentences(sentences, structure, seed=seed) == out  # deterministic


@FUZZ
@given(tokens)
def test_heuristic_shapes(toks):
    n = len(toks)
    assert balanced(toks).height == math.ceil(math.log2(n))
    assert right_branching(toks).height == left_branching(toks).height == n - 1
    if n > 1:
        r, left = right_branching(toks), left_branching(toks)
        assert r.spans()[r.children[-1][1]] == (1, n)
        assert left.spans()[left.children[-1][0]] == (0, n - 1)
    r = random_tree(toks, 7)
    assert r == r.canonical() and r == random_tree(toks, 7)


@FUZZ
@given(st.sampled_from(["self", "", "Balanced", " right", "random "]) | st.text(max_size=12))
def test_unknown_structure_is_a_clear_value_error(name):
    assume(name not in (*STRUCTURES, *MODEL_STRUCTURES))
    with pytest.raises(ValueError, match="unknown structure"):
        parse_sentences([["a"]], name)


# --- tokeniser and corpus ---------------------------------------------------------------
@FUZZ
@given(st.text(max_size=200))
def test_tokenize_never_yields_empty_or_spaced_tokens(text):
    toks = tokenize(text)
    assert all(t and not any(c.isspace() for c in t) for t in toks)
    if not text.strip():
        assert toks == []


@FUZZ
@given(
    st.lists(st.binary(max_size=30), max_size=30),
    st.sampled_from(["skip", "raise"]),
    st.integers(1, 6),
    st.booleans(),
)
def test_read_sentences_on_random_bytes(tmp_path_factory, lines, on_error, max_length, gz):
    import gzip

    path = tmp_path_factory.mktemp("fuzz") / ("c.txt.gz" if gz else "c.txt")
    data = b"\n".join(line.replace(b"\n", b" ") for line in lines)
    path.write_bytes(gzip.compress(data) if gz else data)
    stats = ReadStats()
    try:
        got = list(read_sentences(path, None, max_length, on_error=on_error, stats=stats))
    except DataError as e:
        assert str(path) in str(e)
        # a file without \n but with a CR inside: CR-only line ends, refused whole
        cr_only = b"\n" not in data and b"\r" in data.rstrip(b"\r")
        assert "CR-only line endings" in str(e) if cr_only else on_error == "raise"
        assert cr_only or ", line " in str(e)
        return
    assert stats.lines == stats.kept + stats.empty + stats.too_long + stats.undecodable
    assert len(got) == stats.kept
    assert all(0 < len(toks) <= max_length for _, toks in got)
    if on_error == "raise":
        assert stats.kept == stats.lines


@FUZZ
@given(st.binary(min_size=0, max_size=200))
def test_a_corrupt_gzip_corpus_is_a_data_error(tmp_path_factory, junk):
    import gzip

    good = gzip.compress(b"the cat sat .\nthe dog ran .\n" * 20)
    path = tmp_path_factory.mktemp("gz") / "c.txt.gz"
    cut = len(junk) % len(good)
    path.write_bytes(good[:cut] + junk)  # truncated and/or followed by junk
    try:
        list(read_sentences(path))
    except DataError as e:
        assert str(path) in str(e)


# --- vocabulary ------------------------------------------------------------------------
@FUZZ
@given(st.lists(tokens, min_size=1, max_size=10), st.integers(1, 3), st.integers(2, 30))
def test_vocabulary_encoding_and_unknown_counts(sentences, min_count, max_size):
    v = Vocabulary.build(sentences, min_count, max_size)
    assert v.itos[0] == UNK and len(v) <= max_size
    unknown, total = v.count_unknown(sentences)
    assert total == sum(map(len, sentences))
    ids = [i for s in sentences for i in v.encode(s)]
    assert all(0 <= i < len(v) for i in ids) and ids.count(0) == unknown
    assert Vocabulary.from_json(v.to_json()) == v


# --- graphs -----------------------------------------------------------------------------
@SLOW
@given(st.lists(trees(max_leaves=12), min_size=1, max_size=6))
def test_batch_trees_invariants(batch):
    ids = [[random.Random(i).randrange(50) for _ in t.tokens] for i, t in enumerate(batch)]
    g = batch_trees(batch, ids)
    n_nodes = [t.n_nodes for t in batch]
    assert g.num_nodes() == sum(n_nodes)
    assert g.num_edges(UP) == g.num_edges(DOWN) == sum(2 * (t.n_leaves - 1) for t in batch)
    assert g.batch_num_nodes().tolist() == n_nodes
    r = roots(g)
    assert len(r) == len(batch)
    offsets = [sum(n_nodes[:b]) for b in range(len(batch))]
    assert r.tolist() == [o + t.root for o, t in zip(offsets, batch)]
    out_deg = g.out_degrees(etype="up")
    in_deg = g.in_degrees(etype="up")
    leaf = g.ndata["is_leaf"]
    assert bool((out_deg[~g.ndata["is_root"]] == 1).all()) and int(out_deg[r].sum()) == 0
    assert bool((in_deg[leaf] == 0).all()) and bool((in_deg[~leaf] == 2).all())
    src, dst = g.edges(etype="up")
    d_src, d_dst = g.edges(etype="down")
    assert sorted(zip(src.tolist(), dst.tolist())) == sorted(zip(d_dst.tolist(), d_src.tolist()))
    for o, t, tok in zip(offsets, batch, ids):
        sl = slice(o, o + t.n_nodes)
        assert g.ndata["height"][sl].tolist() == t.heights()
        assert g.ndata["depth"][sl].tolist() == t.depths()
        assert g.ndata["position"][sl].tolist() == t.positions()
        assert g.ndata["token"][o : o + t.n_leaves].tolist() == tok
    fr = Frontiers.of(g)
    up_nodes = torch.cat(fr.up).tolist() if fr.up else []
    down_nodes = torch.cat(fr.down).tolist() if fr.down else []
    assert sorted(up_nodes) == torch.nonzero(~leaf).flatten().tolist()
    assert sorted(down_nodes) == torch.nonzero(~g.ndata["is_root"]).flatten().tolist()


@FUZZ
@given(st.lists(trees(max_leaves=6), min_size=1, max_size=4), st.integers(-3, 60))
def test_batch_trees_rejects_mismatched_token_ids(batch, extra):
    ids = [[0] * t.n_leaves for t in batch]
    ids[-1] = ids[-1] + [0] * (extra % 3 + 1)
    with pytest.raises(ValueError, match="token ids"):
        batch_trees(batch, ids)


@SLOW
@given(st.lists(trees(max_leaves=10), min_size=1, max_size=5), st.sampled_from(["contrastive",
       "ce", "both"]))  # fmt: skip
def test_model_loss_is_finite_on_any_batch(batch, objective):
    from strae_graph.model.config import StrAEConfig
    from strae_graph.model.strae import StrAE

    torch.manual_seed(0)
    model = StrAE(StrAEConfig(vocab_size=20, channels=2, channel_size=3, objective=objective))
    g = batch_trees(batch, [[hash(x) % 20 for x in t.tokens] for t in batch])
    out = model(g)
    assert out.up.shape == out.down.shape == (g.num_nodes(), 6)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


# --- checkpoints -------------------------------------------------------------------------
_STATE = {"format": 1, "model": {"w": torch.arange(64, dtype=torch.float32)}, "vocab": ["<unk>"]}
_BYTES = checkpoint_bytes(_STATE)


@FUZZ
@given(st.integers(0, len(_BYTES) - 1), st.integers(0, 7), st.integers(0, len(_BYTES)))
def test_damaged_checkpoints_never_load_silently(tmp_path_factory, pos, bit, cut):
    """A flipped bit or a truncation is a CheckpointError, or leaves the weights intact
    (a flip inside the trailer's marker, a cut exactly at the trailer)."""
    d = tmp_path_factory.mktemp("ck")
    for name, data in [
        ("flip.pt", _BYTES[:pos] + bytes([_BYTES[pos] ^ (1 << bit)]) + _BYTES[pos + 1 :]),
        ("cut.pt", _BYTES[:cut]),
    ]:
        (d / name).write_bytes(data)
        try:
            state = load_checkpoint(d / name)
        except CheckpointError as e:
            assert name in str(e)
            continue
        assert torch.equal(state["model"]["w"], _STATE["model"]["w"]), name


def test_checkpoint_stays_loadable_by_plain_torch_load():
    state = torch.load(io.BytesIO(_BYTES), weights_only=True)
    assert torch.equal(state["model"]["w"], _STATE["model"]["w"])
