"""Streamed training data (strae_graph.data.stream, .stream_cache, .order): the same
sentences, vocabulary and batches as the in-memory path, a bounded buffer,
mid-epoch resume and rank shards, on slices of the real corpus."""

import gzip
import itertools
from dataclasses import asdict

import numpy as np
import pytest

from parsers.tree_cache import parse_cached
from strae_graph.data.corpus import DataError, read_sentences
from strae_graph.data.order import EpochOrder, OrderSpec, batch_count
from strae_graph.data.stream import memory_order, open_stream
from strae_graph.data.stream_cache import CHUNK, corpus_cache
from strae_graph.data.vocab import Vocabulary
from strae_graph.training.config import TrainConfig
from strae_graph.training.data import load_training_data
from strae_graph.training.distributed import DistContext
from tests.conftest import CORPUS

SETTINGS = dict(max_sentences=400, dev_sentences=40, max_length=60, min_count=2,
                max_vocab=300, on_error="skip")  # fmt: skip
SPEC = OrderSpec(batch_size=8, buffer_batches=4, block=16)  # windows of 32 sentences


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """600 real lines with an empty, a blank, a non-UTF-8 and a too-long line among them."""
    with gzip.open(CORPUS, "rb") as f:
        lines = list(itertools.islice(f, 600))
    bad = {30: b"\n", 95: b"   \n", 170: b"caf\xe9 \xff bad\n", 260: b"word " * 80 + b"\n"}
    for at in sorted(bad, reverse=True):
        lines.insert(at, bad[at])
    path = tmp_path_factory.mktemp("corpus") / "slice.txt"
    path.write_bytes(b"".join(lines))
    return path


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    return tmp_path_factory.mktemp("stream-cache")


def stream(corpus, cache_root, structure="balanced", seed=0, **kw):
    return open_stream(corpus, structure=structure, seed=seed, cache_root=cache_root,
                       parse=parse_cached, **{**SETTINGS, **kw})  # fmt: skip


def in_memory(corpus, tmp_path, structure="balanced", seed=0, **kw):
    cfg = TrainConfig(corpus=str(corpus), out=str(tmp_path / "run"), structure=structure,
                      seed=seed, progress=False, **{**SETTINGS, **kw})  # fmt: skip
    return load_training_data(cfg, parse=parse_cached)


def memory_batches(mem, seed, epoch):
    """The in-memory path's batches under the shared order."""
    return [[mem.train[i] for i in b] for b in memory_order(mem.train, SPEC, seed, epoch).batches()]


def rows_of(s, epoch, spec=SPEC):
    return [s.order(spec, epoch).batch(b).tolist() for b in range(batch_count(s.n_train, 8))]


# --- the order ----------------------------------------------------------------------
def test_order_is_a_pure_function_and_visits_every_sentence_once():
    lengths = np.random.default_rng(1).integers(1, 50, size=1003)
    spec = OrderSpec(batch_size=10, buffer_batches=7, block=13)
    one = [b.tolist() for b in EpochOrder(1003, lengths, spec, 5, 2).batches()]
    assert one == [b.tolist() for b in EpochOrder(1003, lengths, spec, 5, 2).batches()]
    assert one != [b.tolist() for b in EpochOrder(1003, lengths, spec, 6, 2).batches()]
    assert one != [b.tolist() for b in EpochOrder(1003, lengths, spec, 5, 3).batches()]
    assert len(one) == batch_count(1003, 10) == 101
    assert sorted(itertools.chain(*one)) == list(range(1003))
    assert [len(b) for b in one].count(10) == 100  # one short batch, in the last window
    order = EpochOrder(1003, lengths, spec, 5, 2)
    assert [order.batch(b).tolist() for b in reversed(range(101))] == one[::-1]


def test_batches_are_length_buckets_of_each_window():
    lengths = np.random.default_rng(2).integers(1, 80, size=600)
    spec = OrderSpec(batch_size=10, buffer_batches=6, block=8)
    order = EpochOrder(600, lengths, spec, 0, 0)
    for w in range(order.n_windows):
        spans = sorted((lengths[b].min(), lengths[b].max()) for b in order.window(w))
        assert all(hi <= lo2 for (_, hi), (lo2, _) in zip(spans, spans[1:]))  # no overlap
        assert sorted(np.concatenate(order.window(w))) == sorted(order.window_items(w))
    flat = EpochOrder(600, lengths, OrderSpec(10, 6, 8, bucket=False), 0, 0)
    assert [sorted(flat.window_items(w)) for w in range(10)] == [
        sorted(order.window_items(w)) for w in range(10)
    ]


# --- streamed = in memory -------------------------------------------------------------
@pytest.mark.parametrize("structure", ["balanced", "random", "self"])
@pytest.mark.parametrize("max_sentences", [400, None])  # None: the short-corpus dev split
def test_streamed_equals_in_memory(corpus, cache_root, tmp_path, structure, max_sentences):
    mem = in_memory(corpus, tmp_path, structure, seed=3, max_sentences=max_sentences)
    s = stream(corpus, cache_root, structure, seed=3, max_sentences=max_sentences)
    assert s.vocab.itos == mem.vocab.itos
    assert s.dev == mem.dev and s.n_train == len(mem.train)
    assert asdict(s.stats) == asdict(mem.stats) and s.stats.too_long >= 1
    assert s.unknown_tokens == mem.unknown_tokens
    assert s.train_tokens == sum(len(getattr(t, "tokens", t)) for t in mem.train)
    for epoch in (0, 1):
        assert list(s.epoch(epoch, SPEC).batches()) == memory_batches(mem, 3, epoch)


def test_vocabulary_from_counts_is_the_built_one(corpus):
    sents = [t for _, t in read_sentences(corpus, 300)]
    from collections import Counter

    counts = Counter(itertools.chain(*sents))
    for min_count, size in [(1, None), (2, 50), (3, 7)]:
        assert (Vocabulary.from_counts(counts, min_count, size).itos
                == Vocabulary.build(sents, min_count, size).itos)  # fmt: skip


def test_parsed_dataset_streams_its_trees(corpus, cache_root, tmp_path):
    from parsers.parsed_corpus import parse_corpus

    out = tmp_path / "parsed"
    parse_corpus(corpus, "random", out, seed=4, shard_size=100, progress=False)
    mem = in_memory(out, tmp_path)
    s = stream(out, cache_root)
    assert s.structure == "random" and s.vocab.itos == mem.vocab.itos and s.dev == mem.dev
    assert asdict(s.stats) == asdict(mem.stats) and s.stats.too_long >= 1  # the 80-token line
    assert list(s.epoch(1, SPEC).batches()) == memory_batches(mem, 0, 1)


# --- the stream -----------------------------------------------------------------------
def test_seed_decides_the_order_and_each_sentence_comes_once(corpus, cache_root):
    a, b, c = (stream(corpus, cache_root, seed=k) for k in (0, 0, 1))
    assert rows_of(a, 0) == rows_of(b, 0)
    assert rows_of(a, 0) != rows_of(c, 0) and rows_of(a, 0) != rows_of(a, 1)
    for epoch in (0, 1):
        assert sorted(itertools.chain(*rows_of(a, epoch))) == list(range(a.n_train))


@pytest.mark.parametrize("start", [1, 4, 9, 12])  # inside a window, at window starts
def test_resume_mid_epoch_gives_exactly_the_remaining_batches(corpus, cache_root, start):
    full = list(stream(corpus, cache_root).epoch(1, SPEC).batches())
    resumed = stream(corpus, cache_root).epoch(1, SPEC)  # a new process: nothing carried over
    assert list(resumed.batches(start)) == full[start:]
    windows = -(-len(full) // SPEC.buffer_batches)
    assert resumed.windows_read == windows - start // SPEC.buffer_batches


def test_a_prefetch_thread_reads_the_same_batches(corpus, cache_root):
    from strae_graph.training.prefetch import Prefetcher

    full = list(stream(corpus, cache_root).epoch(0, SPEC).batches())
    ep = stream(corpus, cache_root).epoch(0, SPEC)
    with Prefetcher(ep.batch, range(6, len(ep)), depth=3) as ahead:
        assert [ahead.get(b) for b in range(6, len(ep))] == full[6:]


@pytest.mark.parametrize("world", [2, 3])
def test_rank_shards_partition_the_global_batches(corpus, cache_root, world):
    s = stream(corpus, cache_root)
    whole = list(s.epoch(0, SPEC).batches())
    ranks = [list(s.epoch(0, SPEC, DistContext(r, world).shard).batches()) for r in range(world)]
    for b, batch in enumerate(whole):
        assert list(itertools.chain(*(ranks[r][b] for r in range(world)))) == batch
    for r in range(world):  # each process builds only its share of a window
        held = s.epoch(0, SPEC, DistContext(r, world).shard)
        list(held.batches())
        assert held.max_held <= -(-SPEC.window // world) + SPEC.buffer_batches


def test_buffer_bounds_what_an_epoch_holds(corpus, cache_root, monkeypatch):
    s = stream(corpus, cache_root)
    assert s.n_train > 10 * SPEC.window
    reads: list[int] = []
    real = s.cache._batch
    monkeypatch.setattr(s.cache, "_batch", lambda c: reads.append(c) or real(c))
    ep = s.epoch(0, OrderSpec(batch_size=8, buffer_batches=4, block=CHUNK))
    sizes = []
    for b in range(len(ep)):
        ep.batch(b)
        sizes.append(ep.max_held)
    assert max(sizes) <= SPEC.window  # by construction: one window at a time
    # blocks of CHUNK rows: a window of 32 sentences reads at most 2 record batches
    assert len(reads) <= 2 * ep.windows_read


# --- the cache ------------------------------------------------------------------------
def test_cache_is_reused_and_keyed_by_content(corpus, tmp_path, monkeypatch):
    import strae_graph.data.stream_cache as sc

    root = tmp_path / "cache"
    first = corpus_cache(corpus, 60, root)
    monkeypatch.setattr(sc, "_convert_text", lambda *a: pytest.fail("converted again"))
    assert corpus_cache(corpus, 60, root).path == first.path
    monkeypatch.undo()
    other = tmp_path / "other.txt"
    other.write_bytes(corpus.read_bytes() + b"one more line\n")
    assert corpus_cache(other, 60, root).path != first.path
    assert corpus_cache(corpus, 70, root).path != first.path  # max_length is in the key
    assert len(list(root.iterdir())) == 3  # no temporary directories left


@pytest.mark.parametrize("limit", [25, 400, None])
def test_bad_lines_raise_as_the_plain_reader_does(corpus, cache_root, limit):
    ml = 1000 if limit == 25 else 60  # the real line 10 has 160 tokens
    kw = dict(max_sentences=limit, dev_sentences=0, on_error="raise", max_length=ml)
    if limit == 25:  # stops before the first bad line (line 31)
        assert stream(corpus, cache_root, **kw).n_train == 25
        return
    with pytest.raises(DataError) as plain:
        list(read_sentences(corpus, limit, ml, on_error="raise"))
    with pytest.raises(DataError) as streamed:
        stream(corpus, cache_root, **kw)
    assert str(streamed.value) == str(plain.value)


def test_a_binary_file_and_a_truncated_gzip(tmp_path, cache_root):
    binary = tmp_path / "binary.dat"
    binary.write_bytes(b"ok line\n" + b"\xff\xfe\x00\n" * 5)
    with pytest.raises(DataError, match="not valid UTF-8 text"):
        stream(binary, cache_root, on_error=None, max_sentences=None)
    with gzip.open(CORPUS, "rb") as f:
        head = b"".join(itertools.islice(f, 300))
    cut = tmp_path / "cut.txt.gz"
    cut.write_bytes(gzip.compress(head)[:-2000])
    with pytest.raises(DataError, match="corrupt or truncated"):
        stream(cut, cache_root, max_sentences=None)
    assert stream(cut, cache_root, max_sentences=20, dev_sentences=5).n_train == 20


def test_parser_structures_stream_from_a_parsed_dataset_and_the_core_needs_a_parse(
    corpus, cache_root
):
    from parsers.structures import check_streamable

    with pytest.raises(ValueError, match="runs a parser: stream a parsed dataset"):
        check_streamable("spacy", str(corpus))
    for name in ("balanced", "right", "left", "random", "self"):
        check_streamable(name, str(corpus))
    with pytest.raises(ValueError, match="no parse was given"):
        open_stream(corpus, structure="balanced", seed=0, cache_root=cache_root, **SETTINGS)
    assert open_stream(corpus, structure="self", seed=0, cache_root=cache_root, **SETTINGS).dev
