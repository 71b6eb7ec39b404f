"""`strae parse` datasets: writing, cache reuse, resume, training from them, the CLI."""

import gzip
import itertools
import json

import pytest

from parsers import balanced
from parsers.evaluate import PTB_SAMPLE
from parsers.parsed_corpus import (
    META_FILE,
    is_parsed_corpus,
    iter_parsed_trees,
    load_parsed,
    parse_corpus,
)
from strae_graph.cli import main
from strae_graph.data.corpus import tokenize
from strae_graph.training.config import TrainConfig
from strae_graph.training.data import load_training_data
from tests.conftest import CORPUS


@pytest.fixture()
def small_corpus(tmp_path, data_dir):
    path = tmp_path / "small.txt"
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        lines = list(itertools.islice(f, 120))
    path.write_text("".join(lines[:50]) + "   \n" + "".join(lines[50:]))  # one blank line
    return path


def test_parse_writes_a_dataset_with_tokens_and_trees(tmp_path, small_corpus):
    out = tmp_path / "balanced"
    res = parse_corpus(small_corpus, "balanced", out, shard_size=32, progress=False)
    assert not res.reused and res.sentences == 120
    ds = load_parsed(out)
    assert {"line", "tokens", "children"} <= set(ds.column_names)
    meta = json.loads((out / META_FILE).read_text())
    assert meta["structure"] == "balanced" and meta["sentences"] == 120
    lines = small_corpus.read_text().splitlines()
    rows = list(iter_parsed_trees(out))
    assert [line for line, _ in rows][49:52] == [50, 52, 53]  # the blank line 51 is skipped
    for line, tree in rows:
        assert list(tree.tokens) == tokenize(lines[line - 1])
        assert tree == balanced(tree.tokens)


def test_cache_reuse_option_change_and_resume(tmp_path, small_corpus):
    out = tmp_path / "rand"
    first = parse_corpus(small_corpus, "random", out, seed=3, shard_size=40, progress=False)
    stamp = (out / META_FILE).stat().st_mtime_ns
    again = parse_corpus(small_corpus, "random", out, seed=3, shard_size=40, progress=False)
    assert again.reused and (out / META_FILE).stat().st_mtime_ns == stamp
    trees = [t for _, t in iter_parsed_trees(out)]
    # chunked parsing gives the same random trees as one call over the whole corpus
    from parsers import parse_sentences

    whole = parse_sentences([list(t.tokens) for t in trees], "random", seed=3)
    assert trees == whole
    # another seed is another fingerprint: recomputed
    other = parse_corpus(small_corpus, "random", out, seed=4, shard_size=40, progress=False)
    assert not other.reused and [t for _, t in iter_parsed_trees(out)] != trees
    assert first.sentences == 120 and not (tmp_path / "rand.partial").exists()


def test_interrupted_run_resumes_from_finished_shards(tmp_path, small_corpus, monkeypatch):
    import parsers.parse_shards as ps

    out = tmp_path / "left"
    calls = []
    real = ps._parse_shard

    def failing(path, *a, **k):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(path, *a, **k)

    monkeypatch.setattr(ps, "_parse_shard", failing)
    with pytest.raises(KeyboardInterrupt):
        parse_corpus(small_corpus, "left", out, shard_size=50, progress=False)
    assert not is_parsed_corpus(out)
    calls.clear()
    monkeypatch.setattr(
        ps, "_parse_shard", lambda path, *a, **k: calls.append(path) or real(path, *a, **k)
    )
    res = parse_corpus(small_corpus, "left", out, shard_size=50, progress=False)
    assert res.sentences == 120 and len(calls) == 2  # shard 0 was kept; shards 1, 2 run


def test_spacy_parse_with_two_processes_and_train_on_it(tmp_path, small_corpus):
    out = tmp_path / "spacy"
    res = parse_corpus(small_corpus, "spacy", out, num_proc=2, shard_size=40, progress=False)
    assert res.sentences == 120
    one = parse_corpus(small_corpus, "spacy", tmp_path / "spacy1", shard_size=500, progress=False)
    a = [t for _, t in iter_parsed_trees(out)]
    assert a == [t for _, t in iter_parsed_trees(one.out)]  # processes do not change trees
    cfg = TrainConfig(corpus=str(out), out=str(tmp_path / "run"), structure="balanced",
                      max_sentences=100, dev_sentences=10, min_count=1, progress=False)  # fmt: skip
    assert cfg.structure == "spacy"  # the structure comes from the dataset
    data = load_training_data(cfg)
    assert data.train == a[:100] and data.dev == a[100:110]


def test_train_cli_on_parsed_corpus(tmp_path, small_corpus, capsys):
    out = tmp_path / "right"
    assert main(["parse", str(small_corpus), "--structure", "right", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    assert main(["parse", str(small_corpus), "--structure", "right", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    assert "reused" in capsys.readouterr().err
    run = tmp_path / "run"
    code = main(["train", "--corpus", str(out), "--out", str(run), "--max-sentences", "40",
                 "--dev-sentences", "10", "--batch-size", "20", "--min-count", "1",
                 "--no-progress"])  # fmt: skip
    assert code == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["structure"] == "right"


def test_gold_parse_from_ptb(tmp_path, data_dir):
    out = tmp_path / "gold"
    res = parse_corpus(PTB_SAMPLE, "gold", out, max_sentences=50, progress=False)
    assert res.sentences == 50
    _, first = next(iter_parsed_trees(out))
    assert first.tokens[:2] == ("pierre", "vinken")


def test_cli_errors_and_draw(tmp_path, capsys, small_corpus):
    assert main(["parse", str(tmp_path / "missing.txt"), "--structure", "right",
                 "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "no such file" in capsys.readouterr().err
    png = tmp_path / "tree.png"
    assert main(["draw", "The dog barked at the cat.", "--structure", "balanced",
                 "-o", str(png)]) == 0  # fmt: skip
    assert png.stat().st_size > 1000
    assert balanced(tokenize("The dog barked at the cat.")).to_brackets() in capsys.readouterr().out
    gold = tmp_path / "gold.png"
    assert main(["draw", "(S (NP (DT The) (NN dog)) (VP (VBD barked)))", "--structure",
                 "gold", "-o", str(gold)]) == 0  # fmt: skip
    assert "((the dog) barked)" in capsys.readouterr().out
