"""Labelled bracket scores of n-ary parses under EVALB's conventions (COLLINS.prm).

What is implemented, rule by rule (EVALB's parameter in brackets):

* A bracket is ``(label, start, end)`` of every constituent above the
  part-of-speech level; preterminals (a tag over one word) are not brackets.
  Traces (``-NONE-``) and constituents left empty by their removal go first
  (:func:`strae_graph.trees.nary.strip_empty`; ``DELETE_LABEL -NONE-``).
* Punctuation is deleted (``DELETE_LABEL , : `` '' .``): the words whose
  **gold** tag is one of those five are removed from both trees and every
  bracket is mapped onto the remaining words.  EVALB deletes by each tree's
  own tags and skips a sentence whose lengths then differ; taking the gold
  tags for both trees keeps every sentence and never lets a tagging error move
  a bracket (the parser's tags are not scored here).
* A bracket reduced to no word at all is dropped (EVALB's "zero element");
  brackets of one word are kept and counted, as EVALB counts them.
* Labels are cut at the first ``-`` or ``=`` (``NP-SBJ-1`` -> ``NP``), and
  ``PRT`` counts as ``ADVP`` (``EQ_LABEL ADVP PRT``).
* The root is not a bracket: the outermost node when it is the treebank's
  unlabelled wrapper ``( (S ...) )``, ``TOP`` (benepar's root) or ``ROOT``,
  and any ``TOP`` bracket (``DELETE_LABEL TOP``); the sentence's own ``S``
  below it is a bracket like any other.
* Unary chains count once per node: ``(S (VP ...))`` over one span is two
  brackets; brackets are matched as multisets (each gold bracket with at most
  one predicted bracket of the same label and span).
* Scores are corpus-level (micro) precision, recall and F1 over all
  sentences (EVALB's "All" line; its ``CUTOFF_LEN 40`` second summary is not
  computed).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from strae_graph.trees.errors import TreeError
from strae_graph.trees.nary import Generic, strip_empty

#: gold tags of the words COLLINS.prm deletes before brackets are compared
PUNCTUATION_TAGS = frozenset({",", ":", "``", "''", "."})
#: labels that count as the same label (EQ_LABEL)
EQUIVALENT_LABELS = {"PRT": "ADVP"}
#: labels of a root node that is not a bracket
ROOT_LABELS = frozenset({"", "TOP", "ROOT"})

Bracket = tuple[str, int, int]


def canonical_label(label: str) -> str:
    """``label`` cut at its first ``-`` or ``=`` (kept whole when that leaves
    nothing), with ``PRT`` read as ``ADVP``."""
    base = re.split(r"[-=]", label, maxsplit=1)[0] or label
    return EQUIVALENT_LABELS.get(base, base)


def tags_and_brackets(tree: Generic) -> tuple[list[str], list[Bracket]]:
    """The tag of every word (``""`` for a word without one) and the raw
    ``(label, start, end)`` of every constituent above the preterminals, in
    post-order (the root last), of a generic n-ary tree after trace removal."""
    node = strip_empty(tree)
    if node is None or isinstance(node, str):
        raise TreeError("the tree has no constituents")
    tags: list[str] = []
    brackets: list[Bracket] = []

    def walk(n: Generic) -> None:  # recursion depth = tree depth (< 100 in treebanks)
        if isinstance(n, str):
            tags.append("")
            return
        label, kids = n
        if len(kids) == 1 and isinstance(kids[0], str):  # a preterminal
            tags.append(label)
            return
        start = len(tags)
        for k in kids:
            walk(k)
        brackets.append((label, start, len(tags)))

    walk(node)
    return tags, brackets


def labelled_brackets(tree: Generic, gold_tags: Sequence[str]) -> Counter[Bracket]:
    """The scored brackets of ``tree`` (see the module docstring), punctuation
    decided by ``gold_tags`` (one per word of the tree)."""
    tags, brackets = tags_and_brackets(tree)
    if len(tags) != len(gold_tags):
        raise TreeError(f"the tree has {len(tags)} words, the gold tree {len(gold_tags)}")
    before = [0]
    for tag in gold_tags:
        before.append(before[-1] + (0 if tag in PUNCTUATION_TAGS else 1))
    out: Counter[Bracket] = Counter()
    for k, (label, start, end) in enumerate(brackets):
        if k == len(brackets) - 1 and label in ROOT_LABELS:  # the root (post-order: last)
            continue
        lab = canonical_label(label)
        s, e = before[start], before[end]
        if s == e or lab == "TOP":
            continue
        out[(lab, s, e)] += 1
    return out


def labelled_scores(predicted: Sequence[Generic], gold: Sequence[Generic]) -> dict[str, float]:
    """Corpus-level labelled precision / recall / F1 (0..1) of ``predicted``
    n-ary trees against ``gold`` ones over the same words, with the bracket counts."""
    match = n_pred = n_gold = 0
    for i, (p, g) in enumerate(zip(predicted, gold, strict=True)):
        gold_tags, _ = tags_and_brackets(g)
        try:
            pb = labelled_brackets(p, gold_tags)
        except TreeError as e:
            raise TreeError(f"sentence {i}: {e}") from None
        gb = labelled_brackets(g, gold_tags)
        match += sum((pb & gb).values())
        n_pred += sum(pb.values())
        n_gold += sum(gb.values())
    precision = match / n_pred if n_pred else 0.0
    recall = match / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "brackets_matched": match, "brackets_predicted": n_pred,
            "brackets_gold": n_gold}  # fmt: skip
