"""Training the BPE model of ``strae train --vocab bpe`` (:func:`train_bpe`), and
its cache.  What the trained model does with words is :mod:`strae_graph.data.subwords`
(:class:`~strae_graph.data.subwords.Subwords`); what its file may hold is
:mod:`strae_graph.data.subwords_file`.

The BPE model (HF ``tokenizers``), as in the authors' BPEmb a 25k vocabulary
by default:

* trained on the words of the training sentences (the same sentences the word
  vocabulary is built from); the pre-tokenizer only splits on whitespace,
  which never occurs inside a word, so every word is one unit and pieces
  never cross word boundaries; every word is marked by a leading ``▁``
  (:data:`strae_graph.data.subwords.WORD_START`);
* the alphabet is the 1,000 most frequent characters (:data:`ALPHABET`, ties
  broken by code point); rarer characters become ``<unk>`` (consecutive ones
  fused into one piece).  The vocabulary holds at most ``bpe_size`` entries, or
  the alphabet plus ``<unk>`` when that is larger; a merge must occur at least
  twice (:data:`MIN_FREQUENCY`).  Training is deterministic: the same words
  give the same pieces and ids (HF's own ``##`` continuation prefix is not
  used because its trainer numbers those entries in hash-map order, which
  changes the merges from run to run).

Trained tokenizers are cached by content hash (training token stream,
settings, ``tokenizers`` version) in ``strae_graph.util.fileio.cache_dir()/bpe/``;
a damaged cache file is retrained and replaced, an unwritable cache only
warns.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from importlib import metadata

from strae_graph.data.subwords import WORD_START, Subwords
from strae_graph.data.subwords_file import SubwordError
from strae_graph.data.vocab import UNK
from strae_graph.util.fileio import cache_dir, sentences_sha256

#: most frequent characters kept as BPE's alphabet (rarer ones: <unk>)
ALPHABET = 1000
#: a merge must occur at least this often in the training words
MIN_FREQUENCY = 2
#: bumped when training settings not in the key change
FORMAT = 1


def tokenizers_version() -> str | None:
    """The installed ``tokenizers`` version (part of the cache key)."""
    try:
        return metadata.version("tokenizers")
    except metadata.PackageNotFoundError:
        return None


def settings(bpe_size: int) -> dict[str, object]:
    """Everything besides the training words that decides the trained model."""
    return {"format": FORMAT, "model": "bpe", "bpe_size": bpe_size, "alphabet": ALPHABET,
            "min_frequency": MIN_FREQUENCY, "word_start": WORD_START, "unk": UNK,
            "tokenizers": tokenizers_version()}  # fmt: skip


def cache_key(sentences: Iterable[Sequence[str]], bpe_size: int) -> str:
    """SHA-256 of the settings and the training token stream."""
    return sentences_sha256(settings(bpe_size), sentences)


def alphabet(sentences: Sequence[Sequence[str]], limit: int = ALPHABET) -> list[str]:
    """The ``limit`` most frequent characters of the marked words (ties: code point).
    Raises ValueError for an empty word or one holding whitespace."""
    return alphabet_of_counts(Counter(w for s in sentences for w in s), limit)


def alphabet_of_counts(words: Mapping[str, int], limit: int = ALPHABET) -> list[str]:
    """:func:`alphabet` from the words' counts (e.g. made in one pass over a
    streamed corpus)."""
    chars: Counter[str] = Counter()
    for w, c in words.items():
        for ch in w:
            chars[ch] += c
    bad = "" if "" in words else next((ch for ch in chars if ch.isspace()), None)
    if bad is not None:
        word = next(w for w in words if not w or bad in w)
        raise ValueError(f"token {word!r} is empty or holds whitespace; words are BPE units")
    chars[WORD_START] += sum(words.values())
    return [ch for ch, _ in sorted(chars.items(), key=lambda x: (-x[1], x[0]))[:limit]]


#: a fresh pass over the training sentences (token lists), as often as needed
Passes = Callable[[], Iterable[Sequence[str]]]


def _train_tokenizer(
    sentences: Sequence[Sequence[str]] | Passes, bpe_size: int, chars: list[str] | None = None
):
    """Train HF BPE on the words of (one pass of) ``sentences`` (one unit per
    word, marked ``▁word``) over the alphabet ``chars`` (None: theirs)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    passes: Passes = sentences if callable(sentences) else (lambda: sentences)
    if chars is None:
        chars = alphabet_of_counts(Counter(w for s in passes() for w in s))

    tok = Tokenizer(models.BPE(unk_token=UNK, fuse_unk=True))
    # words never hold whitespace: splitting the joined words on it gives them back
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # our alphabet (HF's own cut-off breaks ties between equally rare characters
    # in hash-map order): given as the initial alphabet, every other character dropped
    trainer = trainers.BpeTrainer(
        vocab_size=bpe_size,
        min_frequency=MIN_FREQUENCY,
        special_tokens=[UNK],
        initial_alphabet=chars,
        limit_alphabet=len(chars),
        show_progress=False,
    )
    tok.train_from_iterator((" ".join(WORD_START + w for w in s) for s in passes()), trainer)
    return tok


def train_bpe(
    sentences: Sequence[Sequence[str]] | Passes,
    bpe_size: int = 25_000,
    cache: bool = True,
    word_counts: Mapping[str, int] | None = None,
) -> Subwords:
    """A BPE model of ``bpe_size`` pieces learned from the words of ``sentences``,
    read from the cache when the same words were trained on with the same
    settings before (and written to it otherwise).  ``sentences``: the token
    lists, or a callable giving a fresh pass over them (a streamed corpus, never
    all in memory: one pass for the cache key and, unless cached, one to train;
    the same sentences give the same cache entry and model either way);
    ``word_counts``: their words' counts when already known (else counted)."""
    if bpe_size < 2:
        raise ValueError(f"bpe_size must be at least 2, got {bpe_size}")
    passes: Passes = sentences if callable(sentences) else (lambda: sentences)
    counts: Counter[str] = Counter()

    def counted() -> Iterator[Sequence[str]]:  # counts the words unless they are known
        for s in passes():
            if word_counts is None:
                counts.update(s)
            yield s

    path = None
    if cache:
        path = cache_dir() / "bpe" / f"bpe{bpe_size}-{cache_key(counted(), bpe_size)[:32]}.json"
        if path.is_file():
            try:
                return Subwords.from_file(path)
            except SubwordError:
                pass  # damaged: retrain and replace
    elif word_counts is None:
        for _ in counted():
            pass
    chars = alphabet_of_counts(word_counts if word_counts is not None else counts)
    sub = Subwords(_train_tokenizer(passes, bpe_size, chars))
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            sub.save(path)
        except OSError as e:  # a read-only or full cache never fails a run
            print(f"warning: could not write the BPE cache {path}: {e}", file=sys.stderr)
    return sub
