"""The learning-curve evaluator of ``strae train --eval-every-minutes``.

:class:`CurveEvaluator` is the ``on_eval`` callback of
:func:`strae_graph.training.train.train` (see :mod:`strae_graph.training.budget`): it scores the
live model, in memory, on word similarity (Spearman of cosine of leaf
embeddings) and sentence similarity (Spearman of cosine of root up
embeddings), exactly as ``strae eval`` does for the ``strae`` system, without
writing or reading a checkpoint.  The evaluation sets are read, tokenised and
parsed (with the run's structure and seed) once; for a structure that does not
depend on the model, the batched graphs are kept too, so a later call only
runs the up pass.  ``self`` trees are induced by the current model at every call.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from eval.data import SentencePairs, WordPairs, load_named_sts, load_named_wordsim
from eval.evaluate import STS_TASKS, WORDSIM_TASKS, wordsim_score
from eval.metrics import similarity_score
from parsers.tree_cache import parse_cached
from strae_graph.data.vocab import Vocabulary
from strae_graph.embed.embedder import Embedder, as_tokens
from strae_graph.embed.parse import parse_with_model
from strae_graph.graph.batch import Frontiers, batch_trees, roots
from strae_graph.model.strae import StrAE
from strae_graph.trees.tree import Tree

#: tasks a learning curve can follow (the probes are too slow to repeat)
CURVE_TASKS: tuple[str, ...] = (*WORDSIM_TASKS, *STS_TASKS)
DEFAULT_CURVE_TASKS: tuple[str, ...] = ("simlex", "ws353", "stsb", "sick-r")

#: one batch of trees: (positions in the sentence list, graph, frontiers)
Batch = tuple[list[int], object, Frontiers]


class CurveEvaluator:
    """``on_eval(model, vocab, step, minutes) -> {task: Spearman}``."""

    def __init__(
        self,
        tasks: Sequence[str] = DEFAULT_CURVE_TASKS,
        structure: str = "balanced",
        seed: int = 0,
        data_dir: str | None = None,
        batch_size: int = 256,
    ):
        unknown = [t for t in tasks if t not in CURVE_TASKS]
        if unknown or not tasks:
            raise ValueError(
                f"learning-curve tasks must be some of {', '.join(CURVE_TASKS)}, got {list(tasks)}"
            )
        self.tasks = tuple(tasks)
        self.structure = structure
        self.seed = seed
        self.data_dir = data_dir
        self.batch_size = batch_size
        self._wordsim: dict[str, WordPairs] = {}
        self._sts: dict[str, tuple[SentencePairs, list[list[str]], list[list[str]]]] = {}
        self._trees: dict[tuple[str, int], list[Tree | None]] = {}
        self._batches: dict[tuple[str, int, int, str], list[Batch]] = {}

    def load(self) -> CurveEvaluator:
        """Read every task's data now (a missing file fails before training, not
        at the first evaluation); parsing waits for the first call."""
        for task in self.tasks:
            if task in WORDSIM_TASKS:
                self._word_pairs(task)
            else:
                self._sts_pairs(task)
        return self

    def __call__(
        self, model: StrAE, vocab: Vocabulary, step: int = 0, minutes: float = 0.0
    ) -> dict[str, float]:
        device = model.embedding.weight.device
        emb = Embedder(model, vocab, structure=self.structure, seed=self.seed, device=device,
                       parse=parse_cached)  # fmt: skip
        scores: dict[str, float] = {}
        with torch.no_grad():
            for task in self.tasks:
                if task in WORDSIM_TASKS:
                    scores[task] = wordsim_score(emb, self._word_pairs(task)).spearman
                else:
                    pairs = self._sts_pairs(task)
                    a, b = self._roots(emb, task, 0), self._roots(emb, task, 1)
                    scores[task] = similarity_score(a, b, pairs.scores).spearman
        return scores

    def _word_pairs(self, task: str) -> WordPairs:
        if task not in self._wordsim:
            self._wordsim[task] = load_named_wordsim(task, self.data_dir)
        return self._wordsim[task]

    # -- sentence tasks ------------------------------------------------------------
    def _sts_pairs(self, task: str) -> SentencePairs:
        if task not in self._sts:
            pairs = load_named_sts(task, self.data_dir)
            tok = [[as_tokens(s) for s in side] for side in (pairs.sentence1, pairs.sentence2)]
            self._sts[task] = (pairs, tok[0], tok[1])
        return self._sts[task][0]

    def _tree_list(self, emb: Embedder, task: str, side: int) -> list[Tree | None]:
        tokens = self._sts[task][1 + side]
        if self.structure == "self":  # induced by the current model: never cached
            nonempty = [i for i, t in enumerate(tokens) if t]
            out: list[Tree | None] = [None] * len(tokens)
            trees = parse_with_model(emb.model, [tokens[i] for i in nonempty], emb.vocab)
            for i, t in zip(nonempty, trees):
                out[i] = t
            return out
        if (task, side) not in self._trees:
            self._trees[task, side] = emb.parse(tokens)
        return self._trees[task, side]

    def _roots(self, emb: Embedder, task: str, side: int) -> np.ndarray:
        """(n, E) root up embeddings of one side of ``task`` (NaN rows for empty
        sentences), as :meth:`Embedder.embed_trees` computes them."""
        key = (task, side, id(emb.vocab), str(emb.device))
        batches = self._batches.get(key)
        if batches is None:
            batches = self._make_batches(self._tree_list(emb, task, side), emb)
            if self.structure != "self":
                self._batches[key] = batches
        n = len(self._sts[task][1 + side])
        out = np.full((n, emb.embedding_size), np.nan, dtype=np.float32)
        for idx, g, fr in batches:
            up = emb.model.up(g, fr).reshape(g.num_nodes(), -1)
            out[idx] = up[roots(g)].cpu().numpy()
        return out

    def _make_batches(self, trees: Sequence[Tree | None], emb: Embedder) -> list[Batch]:
        todo = sorted((i for i, t in enumerate(trees) if t is not None),
                      key=lambda i: trees[i].n_leaves)  # fmt: skip
        batches = []
        for start in range(0, len(todo), self.batch_size):
            idx = todo[start : start + self.batch_size]
            chunk = [trees[i] for i in idx]
            g = batch_trees(chunk, [emb.vocab.encode(t.tokens) for t in chunk], emb.device)
            batches.append((idx, g, Frontiers.of(g)))
        return batches
