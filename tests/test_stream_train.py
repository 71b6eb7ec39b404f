"""Training on streamed data (``strae train --stream``, ``TrainConfig.stream``):
the same run as in memory in the bucketed order, parameter for parameter; a
bounded window; a mid-epoch resume equal to the uninterrupted run, bit for
bit; the settings recorded and compared on resume; one-line errors for what
cannot stream.  (Two processes: tests/test_distributed.py.)"""

from __future__ import annotations

import gzip
import itertools
import json
import shutil
from pathlib import Path

import pytest

from parsers.api import train
from parsers.tree_cache import parse_cached
from strae_graph.cli import main
from strae_graph.training.batches import epoch_items, load_run_data
from strae_graph.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from strae_graph.training.config import TrainConfig
from strae_graph.training.distributed import DistContext
from tests.conftest import CORPUS
from tests.tiny_runs import assert_same_model_and_optimizer, stop_after

# 120 training sentences in batches of 8: 15 batches an epoch, in windows of 4
# batches (32 sentences; the last window holds 24), blocks of 16 sentences
SETTINGS = dict(max_sentences=120, dev_sentences=20, batch_size=8, epochs=2, min_count=2,
                structure="random", objective="both", lr=1e-3, seed=3, log_every=1,
                order_buffer=4, order_block=16, progress=False)  # fmt: skip
BATCHES = 15
WINDOW = 32


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, data_dir) -> Path:
    """The first 300 lines of the real corpus (with its empty and too-long lines)."""
    with gzip.open(CORPUS, "rb") as f:
        head = b"".join(itertools.islice(f, 300))
    path = tmp_path_factory.mktemp("corpus") / "slice.txt"
    path.write_bytes(head)
    return path


def config(corpus: Path, out: Path, **kw) -> TrainConfig:
    return TrainConfig(corpus=str(corpus), out=str(out), **{**SETTINGS, **kw})


def cli_args(corpus: Path, out: Path) -> list[str]:
    """``strae train --stream`` with :data:`SETTINGS`."""
    s = SETTINGS
    return ["train", "--stream", "--corpus", str(corpus), "--out", str(out),
            "--max-sentences", str(s["max_sentences"]), "--dev-sentences", str(s["dev_sentences"]),
            "--batch-size", str(s["batch_size"]), "--epochs", str(s["epochs"]),
            "--min-count", str(s["min_count"]), "--structure", s["structure"],
            "--objective", s["objective"], "--lr", str(s["lr"]), "--seed", str(s["seed"]),
            "--order-buffer", str(s["order_buffer"]), "--order-block", str(s["order_block"]),
            "--log-every", "1", "--no-progress"]  # fmt: skip


def assert_same_run(a: Path, b: Path) -> None:
    """Same final model and optimiser, bit for bit, and the same metrics file."""
    sa, sb = load_checkpoint(a / "last.pt"), load_checkpoint(b / "last.pt")
    assert sa["step"] == sb["step"] == 2 * BATCHES
    assert_same_model_and_optimizer(sa, sb)
    assert (a / "metrics.jsonl").read_bytes() == (b / "metrics.jsonl").read_bytes()


@pytest.fixture(scope="module")
def streamed(corpus, tmp_path_factory) -> Path:
    """``strae train --stream``, from start to end; the largest number of
    training rows it read at once."""
    from strae_graph.data import stream
    from strae_graph.training import batches as train_batches

    run = tmp_path_factory.mktemp("streamed") / "run"
    read: list[int] = []
    mp = pytest.MonkeyPatch()
    real = stream.StreamedCorpus.items
    mp.setattr(
        stream.StreamedCorpus, "items", lambda s, rows: read.append(len(rows)) or real(s, rows)
    )
    mp.setattr(train_batches, "load_training_data", lambda *a: pytest.fail("loaded in memory"))
    try:
        assert main(cli_args(corpus, run)) == 0
    finally:
        mp.undo()
    assert max(read) == WINDOW and len(read) == 2 * -(-BATCHES // 4)  # a window at a time
    return run


def test_streamed_run_equals_the_bucketed_run_in_memory(streamed, corpus, tmp_path):
    mem = train(config(corpus, tmp_path / "mem", order="bucketed"), log=lambda s: None)
    assert mem.steps == 2 * BATCHES and mem.train_sentences == 120
    assert_same_run(streamed, tmp_path / "mem")
    a = json.loads((streamed / "config.json").read_text())
    b = json.loads((tmp_path / "mem" / "config.json").read_text())
    assert a["data"] == b["data"]  # the same sentences, vocabulary and counts
    # the legacy order draws other batches from the same data
    data, _ = load_run_data(config(corpus, tmp_path / "x"), None, None, parse_cached,
                            DistContext(), lambda s: None)  # fmt: skip
    bucketed = epoch_items(data, config(corpus, tmp_path / "x", order="bucketed"), DistContext(), 0)
    permuted = epoch_items(data, config(corpus, tmp_path / "x"), DistContext(), 0)
    assert [bucketed(b) for b in range(BATCHES)] != [permuted(b) for b in range(BATCHES)]


def test_streamed_run_resumes_mid_epoch_to_the_uninterrupted_result(
    streamed, corpus, tmp_path, monkeypatch
):
    run = tmp_path / "run"
    at = BATCHES + 6  # in the second epoch, inside its second window
    stop_after(monkeypatch, at)
    part = train(config(corpus, run, stream=True), log=lambda s: None)
    assert part.interrupted and part.steps == at
    state = load_checkpoint(run / "last.pt")
    assert (state["epoch"], state["next_batch"]) == (1, at - BATCHES)
    monkeypatch.undo()
    rest = train(config(corpus, run, stream=True), resume=True, log=lambda s: None)
    assert rest.steps == 2 * BATCHES and not rest.interrupted
    assert_same_run(streamed, run)


def test_bpe_streams_like_bpe_in_memory(corpus, tmp_path, monkeypatch):
    """--vocab bpe --stream, each with a cache of its own (so the BPE model is
    learned from the streamed rows, passed over, never held in a list): the same
    tokenizer, cache entry, vocabulary, leaf pieces per batch, losses and model
    as --vocab bpe in memory in the bucketed order; stopped after 3 steps and
    resumed, too."""
    from strae_graph.data import stream

    bpe = dict(vocab="bpe", bpe_size=300, max_steps=6)
    mem, run = tmp_path / "mem", tmp_path / "streamed"
    monkeypatch.setenv("STRAE_CACHE", str(tmp_path / "cache-mem"))
    train(config(corpus, mem, order="bucketed", **bpe), log=lambda s: None)
    monkeypatch.setenv("STRAE_CACHE", str(tmp_path / "cache-stream"))
    passes: list[bool] = []
    real_train_bpe = stream.train_bpe

    def train_bpe(sentences, *a, **kw):
        passes.append(callable(sentences))  # passes over the rows, not a list
        return real_train_bpe(sentences, *a, **kw)

    monkeypatch.setattr(stream, "train_bpe", train_bpe)
    read: list[int] = []
    real_items = stream.StreamedCorpus.items
    monkeypatch.setattr(stream.StreamedCorpus, "items",
                        lambda s, rows: read.append(len(rows)) or real_items(s, rows))  # fmt: skip
    with monkeypatch.context() as m:
        stop_after(m, 3)
        assert train(config(corpus, run, stream=True, **bpe), log=lambda s: None).interrupted
    rest = train(config(corpus, run, stream=True, **bpe), resume=True, log=lambda s: None)
    assert rest.steps == 6 and passes == [True] and max(read) == WINDOW
    for name in ("tokenizer.json", "vocab.json", "metrics.jsonl"):
        assert (mem / name).read_bytes() == (run / name).read_bytes(), name
    sa, sb = load_checkpoint(mem / "last.pt"), load_checkpoint(run / "last.pt")
    assert_same_model_and_optimizer(sa, sb)
    a = json.loads((mem / "config.json").read_text())["data"]
    assert a == json.loads((run / "config.json").read_text())["data"] and a["vocab_kind"] == "bpe"
    cached = [sorted(p.name for p in (tmp_path / c / "bpe").iterdir())
              for c in ("cache-mem", "cache-stream")]  # fmt: skip
    assert cached[0] == cached[1] and len(cached[0]) == 1  # the same content-hash key
    # the same leaf pieces in every batch of an epoch
    cfg_m, cfg_s = (
        config(corpus, mem, order="bucketed", **bpe),
        config(corpus, run, stream=True, **bpe),
    )
    batches = []
    for cfg in (cfg_m, cfg_s):
        data, _ = load_run_data(cfg, None, None, parse_cached, DistContext(), lambda s: None)
        items = epoch_items(data, cfg, DistContext(), 1)
        batches.append([[t.tokens for t in items(b)] for b in range(BATCHES)])
    assert batches[0] == batches[1] and any(not p.startswith("\u2581") for b in batches[0]
                                             for t in b for p in t)  # fmt: skip


def test_settings_are_recorded_and_a_resume_must_keep_them(streamed, corpus, tmp_path):
    record = json.loads((streamed / "config.json").read_text())["train"]
    assert (record["stream"], record["order"]) == (True, "bucketed")
    assert (record["order_buffer"], record["order_block"]) == (4, 16)
    run = tmp_path / "run"
    shutil.copytree(streamed, run)
    for change, message in [({"stream": False}, "stream: saved True, now False"),
                            ({"order_buffer": 8}, "order_buffer: saved 4, now 8"),
                            ({"order_block": 32}, "order_block: saved 16, now 32")]:  # fmt: skip
        with pytest.raises(CheckpointError, match=message):
            train(config(corpus, run, epochs=3, **{"stream": True, **change}), resume=True)


def test_a_run_from_before_streaming_resumes_in_memory_only(corpus, tmp_path):
    """No stream or order keys in the checkpoint: it was trained in memory in
    the permutation order."""
    cfg = config(corpus, tmp_path / "run", epochs=1)
    train(cfg, log=lambda s: None)
    last = tmp_path / "run" / "last.pt"
    state = load_checkpoint(last)
    for key in ("stream", "order", "order_buffer", "order_block"):
        del state["train_config"][key]
    save_checkpoint(state, last)
    with pytest.raises(CheckpointError, match="stream: saved False, now True, order: saved "
                       "'permutation', now 'bucketed'"):  # fmt: skip
        train(config(corpus, cfg.out, epochs=2, stream=True), resume=True)
    with pytest.raises(CheckpointError, match="order: saved 'permutation', now 'bucketed'"):
        train(config(corpus, cfg.out, epochs=2, order="bucketed"), resume=True)
    res = train(config(corpus, cfg.out, epochs=2), resume=True, log=lambda s: None)
    assert res.steps == 2 * BATCHES


def test_what_cannot_stream_is_a_one_line_error(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "--stream", "--corpus", str(corpus), "--out", str(out), "--no-progress"]
    for extra, message in [
        (["--structure", "spacy"], "--stream: structure 'spacy' runs a parser: stream a parsed "
                                   "dataset instead (`strae parse"),
        (["--order", "permutation"], "--order: order 'permutation' cannot stream"),
        (["--order-buffer", "0"], "--order-buffer: order_buffer must be at least 1"),
    ]:  # fmt: skip
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert err.startswith(f"strae train: error: {message}"), err
    assert not out.exists()
    with pytest.raises(ValueError, match="runs a parser"):
        train(config(corpus, out, structure="spacy", stream=True))
    assert TrainConfig(stream=True).order == "bucketed" and TrainConfig().order == "permutation"


def test_processes_take_their_shares_after_the_first_builds_the_cache(corpus, tmp_path):
    """The plumbing of a streamed torchrun run in one process: the first process
    of a machine converts the corpus before the barrier (a one-process gloo
    group here), and each rank's items are its contiguous share of every batch."""
    import torch.distributed as dist

    from strae_graph.data.stream_cache import corpus_cache

    cfg = config(corpus, tmp_path / "x", stream=True, max_length=150)  # a cache of its own
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)  # fmt: skip
    try:
        data, _ = load_run_data(cfg, None, None, parse_cached, DistContext(0, 2), lambda s: None)
    finally:
        dist.destroy_process_group()
    assert data.cache.path == corpus_cache(corpus, 150).path
    whole = epoch_items(data, cfg, DistContext(), 1)
    ranks = [epoch_items(data, cfg, DistContext(r, 2), 1) for r in (0, 1)]
    for b in range(BATCHES):
        assert ranks[0](b) + ranks[1](b) == whole(b)
        assert len(ranks[0](b)) == -(-len(whole(b)) // 2)
