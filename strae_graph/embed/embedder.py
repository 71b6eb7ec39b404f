"""Embeddings out of a trained run: words, sentences, and every node of a tree.

    emb = Embedder.from_run("runs/q")            # config.json, vocab.json, best.pt
    emb = Embedder.from_pretrained("strae-wiki10m")  # a model directory or a shipped model
    words = emb.embed_words(["dog", "cat"])       # (2, E); unknown words are NaN rows
    sents = emb.embed_sentences(["A dog barks."]) # (1, E) root up embeddings
    nodes = emb.embed_nodes("A dog barks.")       # spans, up and down of every node

Unknown-word policy (:meth:`Embedder.embed_words`): a word outside the
vocabulary gets a row of NaN, never a zero or ``<unk>`` vector presented as
real; :meth:`Embedder.known` (or ``return_mask=True``) gives the mask.  Words
are lower-cased first (the tokeniser's convention).  Inside sentences an
unknown token is embedded with the learned ``<unk>`` row, exactly as in
training.  A sentence with no tokens at all gets a NaN row.

BPE runs (``strae train --vocab bpe``, :mod:`strae_graph.data.subwords`): the
leaves are word pieces.  Sentences are parsed over words as always and every
word's pieces then get their own balanced subtree (:meth:`Embedder.parse`
returns these piece-level trees; trees handed to :meth:`embed_trees` /
:meth:`embed_nodes` are over the model's leaves).  A word's vector is the up
pass of its pieces' tree, so every word is embedded; only a word the tokeniser
would split, or one with a character outside the BPE alphabet (an ``<unk>``
piece), is a NaN row.  :meth:`word_vectors` / export give the pieces' leaf
embeddings.

Trees: the embedder is handed a ``parse`` (:mod:`strae_graph.trees.source`;
:func:`parsers.api.load_embedder` hands it the registry's).  Without one it
builds the trees the core knows itself: ``balanced`` (its own shape,
:func:`strae_graph.trees.shapes.balanced`, the registry's ``balanced`` too) and
``self``; any other structure then raises an error saying what to pass.

Everything runs in eval mode (no dropout) under ``torch.no_grad``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from strae_graph.data.corpus import tokenize
from strae_graph.data.subwords import Subwords
from strae_graph.data.vocab import Vocabulary
from strae_graph.embed.load import load_run
from strae_graph.embed.model_card import structure_options_of
from strae_graph.embed.model_dir import read_model_dir, save_embedder
from strae_graph.embed.nodes import NodeEmbeddings, node_embeddings
from strae_graph.embed.parse import parse_with_model
from strae_graph.embed.word2vec import write_word2vec
from strae_graph.graph.batch import Frontiers, batch_trees, roots
from strae_graph.model.strae import StrAE
from strae_graph.training.checkpoint import CheckpointError
from strae_graph.training.config import check_device
from strae_graph.trees.shapes import balanced
from strae_graph.trees.source import BALANCED, SELF, Parse, no_parse
from strae_graph.trees.tree import Tree
from strae_graph.util.progress import progress as show

#: a sentence is raw text (tokenised with strae_graph.data.corpus.tokenize) or a token list
Sentence = str | Sequence[str]


def as_tokens(sentence: Sentence) -> list[str]:
    """Tokens of a raw string (via :func:`tokenize`) or a token list (as given)."""
    if isinstance(sentence, str):
        return tokenize(sentence)
    return list(sentence)


class Embedder:
    """A trained StrAE with its vocabulary and structure, ready to embed text."""

    def __init__(
        self,
        model: StrAE,
        vocab: Vocabulary,
        structure: str = "balanced",
        seed: int = 0,
        device: str | torch.device = "cpu",
        run_dir: str | os.PathLike[str] | None = None,
        subwords: Subwords | None = None,
        parse: Parse | None = None,
        options: dict | None = None,
        record: dict | None = None,
    ):
        if model.config.vocab_size != len(vocab):
            raise ValueError(
                f"model has {model.config.vocab_size} embedding rows but the vocabulary "
                f"has {len(vocab)} entries"
            )
        self.device = check_device(device)  # ValueError for an unknown or absent device
        self.model = model.to(self.device).eval()
        self.vocab = vocab
        self.structure = structure
        self.seed = seed
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.subwords = subwords  # a --vocab bpe run's BPE model: the leaves are its pieces
        self.parse_fn = parse  # builds trees (strae_graph.trees.source); None: the core's own
        self.options = dict(options or {})  # the structure's parser options, as recorded
        #: a model directory's config.json (from_pretrained), else None
        self.record = record

    # -- loading ---------------------------------------------------------------
    @classmethod
    def from_run(
        cls,
        run_dir: str | os.PathLike[str],
        device: str | torch.device = "cpu",
        checkpoint: str = "best",
        parse: Parse | None = None,
    ) -> Embedder:
        """Load RUN_DIR (written by ``strae train``).

        checkpoint: ``"best"`` (best.pt, falling back to last.pt when a run has
        no best yet), ``"last"``, or a path to a ``.pt`` file of this run (checked
        against RUN_DIR's config.json and vocab.json: another run's is refused).  ``parse``: how
        sentences get their trees (:mod:`strae_graph.trees.source`);
        :func:`parsers.api.load_embedder` passes the registry's.
        """
        run = Path(run_dir)
        if not run.is_dir():
            raise CheckpointError(f"{run}: no such run directory")
        for name in ("config.json", "vocab.json"):
            if not (run / name).exists():
                raise CheckpointError(f"{run}: not a run directory (no {name})")
        named = checkpoint in ("best", "last")
        # a checkpoint given by path is checked against RUN_DIR's files: one of another
        # run is refused, never evaluated under this run's name
        loaded = load_run(run if named else checkpoint, checkpoint if named else "best",
                          run_dir=run)  # fmt: skip
        for note in loaded.notes:
            print(f"note: {note}", file=sys.stderr)
        train_cfg = loaded.train_config
        return cls(
            loaded.model,
            loaded.vocab,
            structure=train_cfg.get("structure", "balanced"),
            seed=int(train_cfg.get("seed", 0)),
            device=device,
            run_dir=run,
            subwords=loaded.subwords,
            parse=parse,
            options=structure_options_of(train_cfg),
        )

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str],
        device: str | torch.device = "cpu",
        parse: Parse | None = None,
    ) -> Embedder:
        """Load a model directory (``strae export RUN --format model``, see
        :mod:`strae_graph.embed.model_dir`) or a model shipped with the package by name
        (``"strae-wiki10m"``): JSON, safetensors and ``tokenizers`` only, no pickle.
        ``parse`` as for :meth:`from_run` (:func:`parsers.api.load_embedder`
        passes the registry's, with the structure options the directory records)."""
        loaded = read_model_dir(name_or_path)
        return cls(
            loaded.model,
            loaded.vocab,
            structure=loaded.structure,
            seed=loaded.seed,
            device=device,
            subwords=loaded.subwords,
            parse=parse,
            options=loaded.options,
            record=loaded.config,
        )

    def save_pretrained(self, out: str | os.PathLike[str], card: str | None = None) -> Path:
        """Write this embedder as a model directory into ``out`` (created if needed;
        :func:`strae_graph.embed.model_dir.save_embedder`); returns ``out``."""
        return save_embedder(self, out, card)

    @property
    def embedding_size(self) -> int:
        return self.model.config.embedding_size

    # -- words -------------------------------------------------------------------
    def known(self, words: Sequence[str]) -> np.ndarray:
        """(n,) bool: which words (lower-cased) are in the vocabulary (BPE runs:
        which are one token of the tokeniser with no ``<unk>`` piece)."""
        if self.subwords is None:
            return np.array([w.lower() in self.vocab for w in words], dtype=bool)
        lower = [w.lower() for w in words]
        single = [tokenize(w) == [w] for w in lower]
        pieces = self.subwords.split([w for w, ok in zip(lower, single) if ok])
        ok_pieces = iter([all(p in self.vocab for p in ps) for ps in pieces])
        return np.array([ok and next(ok_pieces) for ok in single], dtype=bool)

    def leaves(self, tokens: Sequence[str]) -> list[str]:
        """The model's leaves for a token list: the tokens, or their BPE pieces."""
        return list(tokens) if self.subwords is None else self.subwords.sentence_pieces(tokens)

    def count_unknown(self, sentences: Sequence[Sentence]) -> tuple[int, int]:
        """``(unknown, total)`` leaves of ``sentences``: those outside the
        vocabulary become ``<unk>`` (counted as training counts them)."""
        return self.vocab.count_unknown(self.leaves(as_tokens(s)) for s in sentences)

    def embed_leaves(self, leaves: Sequence[str]) -> np.ndarray:
        """Rows of the leaf embedding table (words, or pieces for a BPE run):
        (n, E) float32, NaN for a leaf outside the vocabulary (no composition)."""
        mask = np.array([t in self.vocab for t in leaves], dtype=bool)
        out = np.full((len(leaves), self.embedding_size), np.nan, dtype=np.float32)
        if mask.any():
            ids = torch.tensor([self.vocab.stoi[t] for t, k in zip(leaves, mask) if k])
            out[mask] = self.model.embedding.weight.detach()[ids.to(self.device)].cpu().numpy()
        return out

    def embed_words(
        self, words: Sequence[str], return_mask: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Leaf (Omega) embeddings: (n, E) float32; unknown words are NaN rows.
        BPE runs: the root up embedding of each word's tree over its pieces.

        With ``return_mask``, also the (n,) bool mask of known words.
        """
        if isinstance(words, str):
            raise TypeError("embed_words takes a list of words, not one string")
        mask = self.known(words)
        out = np.full((len(words), self.embedding_size), np.nan, dtype=np.float32)
        if mask.any() and self.subwords is not None:
            trees = [self.subwords.word_tree(w.lower()) for w, k in zip(words, mask) if k]
            out[mask] = self.embed_trees(trees, progress=False)
        elif mask.any():
            ids = torch.tensor(
                [self.vocab.stoi[w.lower()] for w, k in zip(words, mask) if k], dtype=torch.long
            )
            out[mask] = self.model.embedding.weight.detach()[ids.to(self.device)].cpu().numpy()
        return (out, mask) if return_mask else out

    def word_vectors(self) -> tuple[list[str], np.ndarray]:
        """Every vocabulary word except ``<unk>`` and its (V - 1, E) leaf embedding
        (BPE runs: every piece, word-initial ones written ``▁piece``)."""
        weight = self.model.embedding.weight.detach().cpu().numpy()
        return self.vocab.itos[1:], weight[1:].astype(np.float32)

    # -- trees and sentences ----------------------------------------------------
    def parse(
        self, sentences: Sequence[Sentence], structure: str | None = None
    ) -> list[Tree | None]:
        """Trees of the sentences under ``structure`` (default: the run's); None
        for a sentence with no tokens.  The trees come from the embedder's
        ``parse`` (the registry's parses through the tree cache).  BPE runs:
        the word trees expanded to pieces (:func:`strae_graph.data.subwords.expand_tree`);
        ``self``: the trees this model induces over its leaves."""
        tokens = [as_tokens(s) for s in sentences]
        nonempty = [i for i, t in enumerate(tokens) if t]
        structure = structure or self.structure
        if not nonempty:
            trees = []
        elif structure == SELF:  # the trees this model induces
            leaves = [self.leaves(tokens[i]) for i in nonempty]
            trees = parse_with_model(self.model, leaves, self.vocab)
        else:
            trees = self._word_trees([tokens[i] for i in nonempty], structure)
            if self.subwords is not None:
                trees = [self.subwords.expand(t) for t in trees]
        out: list[Tree | None] = [None] * len(tokens)
        for i, t in zip(nonempty, trees):
            out[i] = t
        return out

    def _word_trees(self, tokens: list[list[str]], structure: str) -> list[Tree]:
        """Trees over words from the embedder's parse, or the core's own balanced shape."""
        if self.parse_fn is not None:
            return self.parse_fn(tokens, structure, self.seed)
        if structure == BALANCED:
            return [balanced(t) for t in tokens]
        raise no_parse(structure)

    def root_embeddings(self, trees: Sequence[Tree]) -> torch.Tensor:
        """(n, E) root up embeddings of one batch of trees on the model's device, as a
        tensor (with gradients outside ``torch.no_grad``)."""
        g = batch_trees(trees, [self.vocab.encode(t.tokens) for t in trees], self.device)
        up = self.model.up(g, Frontiers.of(g)).reshape(g.num_nodes(), -1)
        return up[roots(g)]

    @torch.no_grad()
    def embed_trees(
        self, trees: Sequence[Tree | None], batch_size: int = 256, progress: bool | None = None
    ) -> np.ndarray:
        """Root up embeddings of given trees: (n, E) float32; None gives a NaN row.

        Trees are batched in order of size (results do not depend on batching).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        out = np.full((len(trees), self.embedding_size), np.nan, dtype=np.float32)
        todo = sorted((i for i, t in enumerate(trees) if t is not None),
                      key=lambda i: trees[i].n_leaves)  # fmt: skip
        if progress is None:
            progress = len(todo) > 5000
        bar = show(total=len(todo), disable=not progress, desc="embedding", unit="sent")
        for start in range(0, len(todo), batch_size):
            idx = todo[start : start + batch_size]
            out[idx] = self.root_embeddings([trees[i] for i in idx]).cpu().numpy()
            bar.update(len(idx))
        bar.close()
        return out

    def embed_sentences(
        self,
        sentences: Sequence[Sentence],
        structure: str | None = None,
        batch_size: int = 256,
        progress: bool | None = None,
    ) -> np.ndarray:
        """Root up embeddings: (n, E) float32, one row per sentence.

        Each sentence (raw text or tokens) is parsed with ``structure`` (default:
        the structure the run was trained on); empty sentences give NaN rows.
        """
        if isinstance(sentences, str):
            raise TypeError("embed_sentences takes a list of sentences, not one string")
        return self.embed_trees(self.parse(sentences, structure), batch_size, progress)

    @torch.no_grad()
    def embed_nodes(
        self, sentence: Sentence | Tree, structure: str | None = None
    ) -> NodeEmbeddings:
        """Up and down embeddings of every node of one sentence's tree (a given
        Tree is over the model's leaves: pieces for a BPE run, see :meth:`parse`;
        :func:`strae_graph.embed.nodes.node_embeddings`)."""
        tree = sentence if isinstance(sentence, Tree) else self.parse([sentence], structure)[0]
        if tree is None:
            raise ValueError(f"sentence {sentence!r} has no tokens")
        return node_embeddings(self.model, self.vocab, tree, self.device, self.subwords)

    # -- export --------------------------------------------------------------------
    def export_word2vec(self, path: str | os.PathLike[str]) -> int:
        """Write the leaf embeddings in word2vec text format
        (:mod:`strae_graph.embed.word2vec`; ``<unk>`` left out).  Returns the word count."""
        return write_word2vec(path, *self.word_vectors())
