"""Subword (BPE) leaves: ``strae train --vocab bpe --bpe-size N``.

The structure of a sentence is always decided over WORDS (the tokens of
:func:`strae_graph.data.corpus.tokenize`, lower-cased); a BPE run then splits every
word into pieces and gives a word of several pieces its own small subtree,
which replaces the word's leaf (:func:`expand_tree`).  The pieces are the
model's vocabulary (``<unk>`` id 0, as for words), and a word's vector is the
up-pass composition of its pieces (:meth:`Subwords.word_tree`), so every word
gets a vector.

The BPE model (HF ``tokenizers``) is trained on the words of the training
sentences, each word one unit (:func:`strae_graph.data.subwords_train.train_bpe`:
its alphabet, settings and cache).  As in BPEmb (SentencePiece), every word is
marked by a leading ``▁`` (U+2581, :data:`WORD_START`), so a word-initial piece
starts with it (``▁un``, ``▁the``) and a continuation piece does not
(``believ``, ``able``); :func:`join_pieces` restores the word, :func:`words_of`
a sentence's words (exactly, unless the corpus holds the character ``▁`` itself
as a token).

Within-word subtrees are BALANCED over the pieces (``strae_graph.trees.shapes.balanced``:
``(▁un believ)``, ``(▁w (al k))``, ``((a b) (c d))``), whatever the sentence
structure; in the expanded tree the pieces of every word are composed first
(their internal nodes come before the sentence's).  Self-StrAE (structure
``self``) is not constrained: its greedy merges run over all of a sentence's
pieces, so they also decide the structure inside words (and may join pieces
of neighbouring words before completing a word).

A run saves its tokenizer as RUN/tokenizer.json (:func:`load_run_subwords`
reads it back).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from strae_graph.data.subwords_file import SubwordError, check_plain
from strae_graph.data.vocab import UNK, Vocabulary
from strae_graph.trees.shapes import balanced
from strae_graph.trees.tree import Tree
from strae_graph.util.fileio import atomic_write_bytes

#: the vocabulary kinds of ``strae train --vocab``
VOCAB_KINDS: tuple[str, ...] = ("word", "bpe")
#: marks the start of every word (BPEmb / SentencePiece's meta symbol)
WORD_START = "\u2581"
#: a run directory's tokenizer
TOKENIZER_FILE = "tokenizer.json"
#: words whose pieces a model remembers; past this the memory starts afresh, so a
#: streamed run over a large corpus holds a bounded number of them
MEMO_WORDS = 1 << 18


def join_pieces(pieces: Sequence[str]) -> str:
    """The word of its pieces: ``["▁un", "believ", "able"]`` -> ``"unbelievable"``."""
    text = "".join(pieces)
    return text[len(WORD_START) :] if text.startswith(WORD_START) else text


def words_of(pieces: Sequence[str]) -> list[str]:
    """The words of a sentence's pieces: a word starts at every piece that starts
    with ``▁`` (a run that starts inside a word keeps its first, partial word
    as it is).  Characters outside the alphabet stay ``<unk>``."""
    groups: list[list[str]] = []
    for p in pieces:
        if groups and not p.startswith(WORD_START):
            groups[-1].append(p)
        else:
            groups.append([p])
    return [join_pieces(g) for g in groups]


def join_sentence(pieces: Sequence[str]) -> str:
    """The text of a run of pieces: ``words_of(pieces)`` joined by spaces."""
    return " ".join(words_of(pieces))


def _tree_from_pieces(pieces: Sequence[str]) -> Tree:
    return balanced(pieces)


def expand_tree(tree: Tree, pieces: Sequence[Sequence[str]]) -> Tree:
    """The piece-level tree of a word-level ``tree``: word ``i`` (leaf ``i``) is
    split into ``pieces[i]`` (at least one each); a word of several pieces
    becomes a balanced subtree over them, which takes the word leaf's place.

    Leaves are all pieces in sentence order; internal nodes are the words'
    subtrees (word by word, each in post-order), then the sentence's internal
    nodes in ``tree``'s order, so pieces are composed before the words they make
    up are combined.  ``m`` pieces give ``2m - 1`` nodes.  (``.canonical()``
    renumbers it in left-to-right post-order.)
    """
    n = tree.n_leaves
    if len(pieces) != n:
        raise ValueError(f"a tree over {n} words needs {n} piece lists, got {len(pieces)}")
    if all(len(p) == 1 for p in pieces):
        return Tree(tuple(p[0] for p in pieces), tree.children)
    m = sum(len(p) for p in pieces)
    leaves: list[str] = []
    children: list[tuple[int, int]] = []
    word_root: list[int] = []  # the node that takes word i's place
    for i, ps in enumerate(pieces):
        if not ps:
            raise ValueError(f"word {i} ({tree.tokens[i]!r}) has no pieces")
        start = len(leaves)
        leaves.extend(ps)
        if len(ps) == 1:
            word_root.append(start)
            continue
        sub = _tree_from_pieces(ps)
        k, base = len(ps), m + len(children)  # subtree leaf v -> start + v, node k + j -> base + j
        children.extend(
            (a + start if a < k else base + a - k, b + start if b < k else base + b - k)
            for a, b in sub.children
        )
        word_root.append(m + len(children) - 1)
    offset = m + len(children) - n  # sentence node n + j -> offset + n + j
    children.extend(
        (word_root[a] if a < n else offset + a, word_root[b] if b < n else offset + b)
        for a, b in tree.children
    )
    return Tree(tuple(leaves), tuple(children))


class Subwords:
    """A trained BPE model: words -> pieces, word trees, the piece vocabulary."""

    def __init__(self, tokenizer) -> None:  # tokenizers.Tokenizer
        self.tokenizer = tokenizer
        self._pieces: dict[str, tuple[str, ...]] = {}
        _check(tokenizer)

    # -- files ------------------------------------------------------------------
    @classmethod
    def from_str(cls, text: str) -> Subwords:
        from tokenizers import Tokenizer

        try:
            check_plain(json.loads(text))  # before the library sees it: no regex, no normaliser
            tok = Tokenizer.from_str(text)
        except SubwordError:
            raise
        except Exception as e:  # noqa: BLE001 - tokenizers raises a bare Exception
            raise SubwordError(f"not a tokenizer ({str(e)[:200]})") from None
        return cls(tok)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Subwords:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise SubwordError(f"{path}: cannot read the tokenizer ({e})") from None
        try:
            return cls.from_str(text)
        except SubwordError as e:
            raise SubwordError(f"{path}: {e}") from None

    def to_str(self) -> str:
        return self.tokenizer.to_str()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically (via :func:`strae_graph.util.fileio.atomic_write_bytes`)."""
        atomic_write_bytes(path, self.to_str().encode("utf-8"))

    # -- vocabulary -------------------------------------------------------------
    def vocabulary(self) -> Vocabulary:
        """The pieces in the tokenizer's id order (``<unk>`` is id 0 in both)."""
        vocab = self.tokenizer.get_vocab()
        return Vocabulary(sorted(vocab, key=vocab.__getitem__))

    def __len__(self) -> int:
        return self.tokenizer.get_vocab_size()

    # -- splitting ----------------------------------------------------------------
    def pieces(self, word: str) -> tuple[str, ...]:
        """The pieces of one word (a token of :func:`tokenize`, as given)."""
        return self.split([word])[0]

    def split(self, words: Sequence[str], remember: bool = True) -> list[tuple[str, ...]]:
        """The pieces of every word; each word is one unit (never merged with
        its neighbours).  Results are remembered per word (at most
        :data:`MEMO_WORDS`; ``remember=False``: not these)."""
        known = self._pieces
        found = {w: p for w in words if (p := known.get(w)) is not None}
        todo = [w for w in dict.fromkeys(words) if w not in found]
        bad = next((w for w in todo if not w or any(c.isspace() for c in w)), None)
        if bad is not None:
            raise ValueError(f"a word needs at least one character and no whitespace: {bad!r}")
        if todo:
            batch = [[WORD_START + w] for w in todo]  # pre-tokenized: each word is one unit
            try:
                encoded = self.tokenizer.encode_batch(
                    batch, is_pretokenized=True, add_special_tokens=False
                )
            except BaseException as e:  # a Rust panic is a BaseException (pyo3 PanicException)
                if type(e).__name__ != "PanicException":
                    raise
                raise SubwordError(f"the tokenizer failed ({str(e)[:200]})") from None
            new = {w: tuple(enc.tokens) for w, enc in zip(todo, encoded)}
            found.update(new)
            if remember:
                if len(known) + len(new) > MEMO_WORDS:
                    known.clear()
                known.update(new)
        return [found[w] for w in words]

    def sentence_pieces(self, words: Sequence[str]) -> list[str]:
        """All pieces of a sentence's words, in order."""
        return [p for ps in self.split(words) for p in ps]

    def expand(self, tree: Tree) -> Tree:
        """:func:`expand_tree` with this model's pieces of ``tree``'s words."""
        return expand_tree(tree, self.split(tree.tokens))

    def word_tree(self, word: str) -> Tree:
        """The tree of one word over its pieces (its up-pass root is the word's vector)."""
        return _tree_from_pieces(self.pieces(word))


def _check(tok) -> None:
    from tokenizers.models import BPE

    if not isinstance(tok.model, BPE):
        raise SubwordError(f"not a BPE model ({type(tok.model).__name__})")
    if tok.token_to_id(UNK) != 0:
        raise SubwordError(f"{UNK!r} is not id 0")
    if tok.model.continuing_subword_prefix or tok.token_to_id(WORD_START) is None:
        raise SubwordError(f"not a strae-graph BPE model (no {WORD_START!r} word-start piece)")


def load_run_subwords(run_dir: str | os.PathLike[str], vocab: Vocabulary) -> Subwords:
    """RUN/tokenizer.json, checked against the run's piece vocabulary."""
    path = Path(run_dir) / TOKENIZER_FILE
    if not path.is_file():
        raise SubwordError(f"{path}: missing (a --vocab bpe run keeps its tokenizer there)")
    sub = Subwords.from_file(path)
    if sub.vocabulary().itos != vocab.itos:
        raise SubwordError(
            f"{path}: its pieces differ from the run's vocabulary ({len(sub)} vs "
            f"{len(vocab)} entries): the tokenizer comes from another run"
        )
    return sub
