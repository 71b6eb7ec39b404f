"""The content-hash cache of parser trees (parsers.tree_cache)."""

import gzip

import pytest

from parsers import parse_sentences
from parsers.tree_cache import cache_key, parse_cached

SENTS = [["the", "cat", "sat", "on", "the", "mat"], ["dogs", "bark", "loudly"], ["hello"]]


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STRAE_CACHE", str(tmp_path))
    return tmp_path


def counting_parser(calls: list[int]):
    def parse(sentences):
        calls.append(len(sentences))
        return parse_sentences(sentences, "spacy")

    return parse


def test_second_parse_reads_the_cache(cache):
    calls: list[int] = []
    first = parse_cached(SENTS, "spacy", parse=counting_parser(calls))
    second = parse_cached(SENTS, "spacy", parse=counting_parser(calls))
    assert calls == [3]  # parsed once
    assert second == first == parse_sentences(SENTS, "spacy")
    assert len(list((cache / "trees").glob("spacy-*.jsonl.gz"))) == 1


def test_other_sentences_or_structure_get_another_key():
    assert cache_key(SENTS, "spacy") != cache_key(SENTS[:2], "spacy")
    assert cache_key(SENTS, "spacy") != cache_key([["the", "cat"], *SENTS[1:]], "spacy")
    assert cache_key(SENTS, "spacy") != cache_key(SENTS, "benepar")
    # token boundaries count: "a b" + "c" is not "a" + "b c"
    assert cache_key([["a", "b"], ["c"]], "spacy") != cache_key([["a"], ["b", "c"]], "spacy")


def test_damaged_cache_file_is_parsed_again(cache):
    calls: list[int] = []
    good = parse_cached(SENTS, "spacy", parse=counting_parser(calls))
    (path,) = (cache / "trees").glob("spacy-*.jsonl.gz")
    path.write_bytes(path.read_bytes()[:10])  # truncated
    assert parse_cached(SENTS, "spacy", parse=counting_parser(calls)) == good
    assert calls == [3, 3]
    with gzip.open(path, "rt") as f:  # replaced by a whole file
        assert len(f.readlines()) == 3


def test_cache_with_wrong_trees_is_not_trusted(cache):
    calls: list[int] = []
    parse_cached(SENTS, "spacy", parse=counting_parser(calls))
    (path,) = (cache / "trees").glob("spacy-*.jsonl.gz")
    with gzip.open(path, "wt") as f:  # children that do not fit the sentences
        f.write("[[0, 1]]\n[[0, 9]]\n[]\n")
    parse_cached(SENTS, "spacy", parse=counting_parser(calls))
    assert calls == [3, 3]


def test_unwritable_cache_still_parses(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("STRAE_CACHE", str(blocker))
    trees = parse_cached(SENTS, "spacy", parse=lambda s: parse_sentences(s, "spacy"))
    assert trees == parse_sentences(SENTS, "spacy")
    assert "warning: could not write the tree cache" in capsys.readouterr().err


def test_parse_cached_caches_parsers_only(cache):
    assert parse_cached(SENTS, "spacy") == parse_sentences(SENTS, "spacy")
    assert parse_cached(SENTS, "balanced") == parse_sentences(SENTS, "balanced")
    names = [p.name for p in (cache / "trees").iterdir()]
    assert len(names) == 1 and names[0].startswith("spacy-")
