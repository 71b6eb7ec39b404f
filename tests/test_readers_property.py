"""Property-based tests (hypothesis) of the readers of user files: the corpus
text reader, bracketed tree files, word-pair and sentence-pair files,
``curve.jsonl`` and ``vocab.json``.  On generated, often malformed, input each
reader either gives the right result (checked against a small reference model
of the format) or raises the project's own error (DataError / TreeError /
CheckpointError, all ValueErrors) with a message naming the file; never
another exception (a traceback on the command line)."""

from __future__ import annotations

import gzip
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eval.curve_plot import read_curve
from eval.data import load_sts, load_wordsim
from parsers.evaluate import load_gold
from strae_graph.data.bracket_files import iter_bracket_file
from strae_graph.data.corpus import DataError, ReadStats, read_sentences, tokenize
from strae_graph.data.vocab import Vocabulary
from strae_graph.embed.load import load_run
from strae_graph.training.checkpoint import CheckpointError
from strae_graph.trees.errors import TreeError
from strae_graph.trees.tree import Tree
from tests.test_fuzz import _with_labels, trees

PROPS = settings(max_examples=60, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """One folder for every example (hypothesis runs many per test)."""
    return tmp_path_factory.mktemp("readers")


def write(path, data: bytes, gz: bool = False):
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def named(error: Exception, path) -> bool:
    return str(path) in str(error)


def loaded_or_named(load, path):
    """``load(path)``, or None after checking that its DataError names ``path``."""
    try:
        return load(path)
    except DataError as e:
        assert named(e, path)
        return None


def looks_gzipped(data: bytes, gz: bool = False) -> bool:
    """Plain bytes that start like gzip are read as a (corrupt) gzip file."""
    return not gz and data.startswith(b"\x1f\x8b")


# --- the corpus text reader ------------------------------------------------------------
PIECES = [b"the", b"cat", b" ", b".", b"\t", b"\x00", b"\xff", b"\xc3\xa9", b"\r", b"\x1b",
          b"\x7f", b"\xc2\x85", b"\xe2\x80\x8b", b"\xc3", b"sat", b"'"]  # fmt: skip
raw_line = st.lists(st.sampled_from(PIECES), max_size=8).map(b"".join) | st.binary(max_size=12)


def reference_read(data: bytes, max_length: int) -> tuple[list, ReadStats]:
    """What ``read_sentences(..., on_error="skip")`` must yield: lines split at
    b"\\n" only; undecodable or control-character lines, empty ones and long ones
    skipped and counted."""
    stats, kept = ReadStats(), []
    raws = data.split(b"\n")
    if raws and raws[-1] == b"":
        raws.pop()
    for number, raw in enumerate(raws, 1):
        stats.lines += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            stats.undecodable += 1
            continue
        if "\x00" in text:  # not text; other control characters are only never tokens
            stats.undecodable += 1
        elif not tokenize(text):
            stats.empty += 1
        elif len(tokenize(text)) > max_length:
            stats.too_long += 1
        else:
            stats.kept += 1
            kept.append((number, tokenize(text)))
    return kept, stats


@PROPS
@given(st.lists(raw_line, max_size=12), st.sampled_from([b"\n", b"\r\n", b"\r"]),
       st.booleans(), st.integers(1, 6))  # fmt: skip
def test_the_corpus_reader_matches_its_reference(scratch, lines, end, gz, max_length):
    lines = [x.replace(b"\n", b"") for x in lines]
    data = b"".join(x + end for x in lines)
    path = write(scratch / ("c.gz" if gz else "c.txt"), data, gz)
    stats = ReadStats()
    try:
        got = list(read_sentences(path, None, max_length, on_error="skip", stats=stats))
    except DataError as e:
        assert named(e, path)
        if looks_gzipped(data, gz):
            assert "file is corrupt or truncated" in str(e)
            return
        assert "CR-only line endings" in str(e)
        assert b"\n" not in data and b"\r" in data.rstrip(b"\r")
        return
    want, want_stats = reference_read(data, max_length)
    assert got == want and stats == want_stats
    for _, tokens in got:  # no control character ever becomes a token (a vocabulary entry)
        assert not any(c < " " or c == "\x7f" for t in tokens for c in t)


@PROPS
@given(st.lists(raw_line, max_size=10), st.integers(-2, 12))
def test_the_corpus_reader_stops_after_max_sentences(scratch, lines, limit):
    data = b"".join(x.replace(b"\n", b"").replace(b"\r", b"") + b"\n" for x in lines)
    path = write(scratch / "m.txt", data)
    if looks_gzipped(data):
        return  # a corrupt gzip: the test above
    everything = list(read_sentences(path))
    if limit < 1:
        with pytest.raises(ValueError, match="max_sentences must be at least 1"):
            list(read_sentences(path, limit))
        return
    assert list(read_sentences(path, limit)) == everything[:limit]


@PROPS
@given(st.lists(raw_line, min_size=1, max_size=8), st.integers(1, 8))
def test_the_corpus_reader_raise_mode_names_the_first_bad_line(scratch, lines, max_length):
    data = b"".join(x.replace(b"\n", b"").replace(b"\r", b"") + b"\n" for x in lines)
    path = write(scratch / "r.txt", data)
    if looks_gzipped(data):
        return  # a corrupt gzip: the first test
    want, stats = reference_read(data, max_length)
    try:
        got = list(read_sentences(path, None, max_length, on_error="raise"))
    except DataError as e:
        first_bad = next(i for i in range(1, stats.lines + 1) if i not in dict(want))
        assert str(e).startswith(f"{path}, line {first_bad}: ")
        return
    assert got == want and stats.kept == stats.lines


# --- bracketed tree files -----------------------------------------------------------------
bracket_junk = st.text(st.sampled_from(list("()  ab\t-NONE-xyz\x00")), max_size=40)


@PROPS
@given(st.lists(trees(max_leaves=8).map(_with_labels) | bracket_junk, min_size=1, max_size=6))
def test_tree_files_give_the_trees_or_name_the_line(scratch, lines):
    path = write(scratch / "t.txt", "\n".join(lines).encode())
    try:
        got = list(iter_bracket_file(path))
    except (TreeError, DataError) as e:
        assert named(e, path) and ", line " in str(e)
        return
    want = []
    for line in lines:  # the format: blank lines skipped, a name<TAB> column dropped
        text = line.strip().split("\t", 1)[-1] if line.strip() else ""
        if text:
            want.append(Tree.from_brackets(text))
    assert got == want


@PROPS
@given(st.lists(trees(max_leaves=8).map(_with_labels) | bracket_junk, min_size=1, max_size=6),
       st.integers(-1, 8))  # fmt: skip
def test_gold_trees_of_parse_eval_give_spans_or_name_the_file(scratch, lines, held_out):
    path = write(scratch / "g.txt", "\n".join(lines).encode())
    try:
        sentences, spans = load_gold(path, held_out)
    except ValueError as e:  # DataError, or --held-out out of range
        assert named(e, path) or "--held-out" in str(e)
        return
    assert held_out >= 1 and len(sentences) == len(spans) == held_out
    for tokens, s in zip(sentences, spans):
        assert all(0 <= a < b <= len(tokens) for a, b in s)


def test_gold_trees_deeper_than_the_recursion_limit(scratch):
    text = "w"
    for _ in range(5000):
        text = f"(X {text} w)"
    path = write(scratch / "deep.txt", f"(S {text})\n".encode())
    (tokens,), (spans,) = load_gold(path, 1)
    assert len(tokens) == 5001 and len(spans) == 4999  # no RecursionError


# --- word and sentence pairs --------------------------------------------------------------
word = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd")), min_size=1, max_size=6)
score = st.floats(-10, 10, allow_nan=False)
cell = st.one_of(word, score.map(repr), st.sampled_from(["nan", "inf", "", " ", "x y", "1e999"]))


@PROPS
@given(st.lists(st.tuples(word, word, score), min_size=1, max_size=8))
def test_word_pairs_round_trip(scratch, rows):
    path = write(scratch / "w.txt", "".join(f"{a}\t{b}\t{s!r}\n" for a, b, s in rows).encode())
    pairs = load_wordsim(path)
    assert list(zip(pairs.word1, pairs.word2, pairs.scores.tolist())) == rows


@PROPS
@given(st.lists(st.lists(cell, max_size=4).map("\t".join) | st.text(max_size=20), max_size=6))
def test_word_pair_files_give_pairs_or_name_the_file(scratch, lines):
    path = write(scratch / "wj.txt", "\n".join(lines).encode("utf-8", "surrogatepass"))
    pairs = loaded_or_named(load_wordsim, path)
    if pairs is None:
        return
    assert len(pairs.word1) == len(pairs.word2) == len(pairs) > 0
    assert all(math.isfinite(s) for s in pairs.scores)


sentence = st.lists(word, min_size=2, max_size=5).map(" ".join)


@PROPS
@given(st.lists(st.tuples(score, sentence, sentence), min_size=1, max_size=8))
def test_sentence_pairs_round_trip(scratch, rows):
    path = write(scratch / "s.txt", "".join(f"{s!r}\t{a}\t{b}\n" for s, a, b in rows).encode())
    pairs = load_sts(path)
    assert list(zip(pairs.scores.tolist(), pairs.sentence1, pairs.sentence2)) == rows


@PROPS
@given(st.lists(st.lists(cell | sentence, max_size=8).map("\t".join), max_size=6))
def test_sentence_pair_files_give_pairs_or_name_the_file(scratch, lines):
    path = write(scratch / "sj.txt", "\n".join(lines).encode())
    pairs = loaded_or_named(load_sts, path)
    if pairs is None:
        return
    assert len(pairs.sentence1) == len(pairs.sentence2) == len(pairs) > 0
    assert all(math.isfinite(s) for s in pairs.scores)
    assert any(len(x.split()) > 1 for x in (*pairs.sentence1, *pairs.sentence2))


# --- curve.jsonl ----------------------------------------------------------------------------
json_value = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),  # fmt: skip
    max_leaves=4,
)
curve_line = st.one_of(
    st.builds(lambda m, s: {"minutes": m, **s}, json_value,
              st.dictionaries(st.sampled_from(["simlex", "stsb", "step"]), json_value)),
    json_value,
).map(lambda v: json.dumps(v)) | st.text(max_size=20)  # fmt: skip


@PROPS
@given(st.lists(curve_line, max_size=5))
def test_curve_files_give_a_curve_or_name_the_file(scratch, lines):
    path = write(scratch / "curve.jsonl", "\n".join(lines).encode("utf-8", "surrogatepass"))
    curve = loaded_or_named(read_curve, path)
    if curve is None:
        return
    assert curve.minutes and all(math.isfinite(m) and m >= 0 for m in curve.minutes)
    assert curve.scores
    for values in curve.scores.values():
        assert len(values) == len(curve.minutes)
        assert all(math.isnan(v) or math.isfinite(v) for v in values)


@PROPS
@given(st.lists(st.tuples(st.floats(0, 1e4), st.floats(-1, 1) | st.none()), min_size=1,
                max_size=6))  # fmt: skip
def test_curve_files_round_trip(scratch, points):
    lines = [json.dumps({"minutes": m, "step": i, "simlex": s}) for i, (m, s) in enumerate(points)]
    curve = read_curve(write(scratch / "ok.jsonl", "\n".join(lines).encode()))
    assert curve.minutes == [m for m, _ in points]
    want = [math.nan if s is None else s for _, s in points]
    assert [str(v) for v in curve.scores["simlex"]] == [str(v) for v in want]


# --- vocab.json -------------------------------------------------------------------------------
vocab_json = st.one_of(
    st.lists(word, max_size=4).map(lambda ws: json.dumps(["<unk>", *ws])),
    json_value.map(json.dumps),
    st.text(max_size=12),
)


@PROPS
@given(vocab_json)
def test_vocabulary_json_gives_a_vocabulary_or_a_value_error(text):
    try:
        vocab = Vocabulary.from_json(text)
    except ValueError as e:
        assert str(e)
        return
    assert vocab.itos == json.loads(text) and vocab.itos[0] == "<unk>"
    assert all(vocab.stoi[w] == i for i, w in enumerate(vocab.itos))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from parsers.api import train
    from tests.test_reliability import tiny_cfg

    base = tmp_path_factory.mktemp("vocab-run")
    cfg = tiny_cfg(base, epochs=1, dev_sentences=5)
    train(cfg)
    run = base / "run"
    return run, (run / "vocab.json").read_text(encoding="utf-8")


@settings(PROPS, max_examples=25)
@given(st.none() | vocab_json)
def test_a_run_s_vocab_json_is_checked_against_its_checkpoint(tiny_run, text):
    run, own = tiny_run
    text = own if text is None else text
    (run / "vocab.json").write_text(text, encoding="utf-8")
    try:
        loaded = load_run(run, "last")
    except CheckpointError as e:
        assert "vocab.json" in str(e)
        return
    assert loaded.vocab.itos == json.loads(text)  # only the run's own vocabulary passes
