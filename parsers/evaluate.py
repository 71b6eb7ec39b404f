"""Structure quality: unlabelled bracket F1 of every source against gold trees.

Gold: the n-ary constituents of the PTB sample's held-out trees (the last
``DEFAULT_HELD_OUT`` trees of the file, never used by ``strae benepar-train``),
``-NONE-`` traces removed, spans of one token and of the whole sentence left
out.  Predicted: every internal node of the binary tree the source builds over
the same tokens, lower-cased like :func:`strae_graph.data.corpus.tokenize` (the
leaves StrAE trains on).  As in EVALB's COLLINS.prm, punctuation tokens
(no letter or digit, e.g. ``. , : " --``) are deleted before spans are
compared: every span, gold and predicted, is mapped onto the remaining words
(a span reduced to at most one word or to the whole sentence is dropped).
Without this, a right-branching tree, whose spans all include the final
period, could never match a constituent.  Scores are corpus-level (micro)
precision, recall and F1 over all spans, plus the mean of per-sentence F1.  A
binary tree has ``n - 2`` non-trivial spans while the flatter gold trees have
fewer, so no binary source reaches 100 precision.

The ceiling of this metric (:func:`ceiling_rows`) is what the gold trees
themselves score once binarised (right, and left): recall 100, precision
well below it.  Every row also reports its F1 as a fraction of that ceiling.
benepar's binary trees are by default the best ones under its span scores
(``binarize=chart``, :mod:`parsers.chart_tree`), set against the right
ceiling.  benepar rows add the parser's own labelled bracket scores of its
n-ary trees against the n-ary gold under EVALB's COLLINS.prm conventions
(:mod:`parsers.evalb`), comparable with published parser results.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strae_graph.data.corpus import DATA_DIR

#: the PTB sample (3,914 trees, wsj_0001 .. wsj_0199)
PTB_SAMPLE = DATA_DIR / "trees" / "ptb_sample_combined.mrg.oneline.txt.gz"
#: the last trees of the PTB sample form the held-out test set
DEFAULT_HELD_OUT = 400


@dataclass
class GoldSet:
    """The held-out gold trees in the forms the scores need."""

    texts: list[str]  # bracket strings
    sentences: list[list[str]]  # leaves unescaped, lower-cased (the tokeniser's form)
    cased: list[list[str]]  # leaves unescaped, case kept
    spans: list[set[tuple[int, int]]]  # scored unlabelled spans (punctuation deleted)

    @classmethod
    def load(cls, trees_path: str | Path | None = None, held_out: int = DEFAULT_HELD_OUT):
        """The last ``held_out`` trees of ``trees_path`` (default: the PTB sample)."""
        from parsers.gold import constituent_spans, iter_bracket_strings, tree_location, unescape
        from strae_graph.data.corpus import DataError
        from strae_graph.trees.errors import TreeError

        if held_out < 1:
            raise ValueError(f"--held-out must be at least 1 (the last N trees), got {held_out}")
        path = trees_path or PTB_SAMPLE
        numbered = list(iter_bracket_strings(path))
        if held_out > len(numbered):
            raise DataError(f"{path}: --held-out {held_out} asks for more than its "
                            f"{len(numbered)} trees")  # fmt: skip
        numbered = numbered[-held_out:]
        texts = [t for _, t in numbered]
        gold = cls(texts, [], [], [])
        for number, text in numbered:
            try:
                leaves, s = constituent_spans(text)
            except TreeError as e:
                raise DataError(f"{tree_location(path, number)}: {e}") from None
            gold.cased.append([unescape(t) for t in leaves])
            gold.sentences.append([t.lower() for t in gold.cased[-1]])
            gold.spans.append(without_punctuation(s, gold.sentences[-1]))
        return gold


def load_gold(
    trees_path: str | Path | None = None, held_out: int = DEFAULT_HELD_OUT
) -> tuple[list[list[str]], list[set[tuple[int, int]]]]:
    """Token lists (unescaped, lower-cased) and gold span sets of the last
    ``held_out`` trees of ``trees_path`` (default: the PTB sample)."""
    gold = GoldSet.load(trees_path, held_out)
    return gold.sentences, gold.spans


_KEPT_SYMBOLS = {"$", "#", "%", "&"}


def is_punctuation(token: str) -> bool:
    """True for tokens EVALB-style scoring deletes (no letter or digit)."""
    return not any(ch.isalnum() for ch in token) and token not in _KEPT_SYMBOLS


def without_punctuation(spans: set[tuple[int, int]], tokens: Sequence[str]) -> set[tuple[int, int]]:
    """``spans`` mapped onto the non-punctuation words of ``tokens``; spans of at
    most one word and the whole sentence are dropped."""
    before = [0]
    for tok in tokens:
        before.append(before[-1] + (0 if is_punctuation(tok) else 1))
    n_words = before[-1]
    out = set()
    for start, end in spans:
        s, e = before[start], before[end]
        if e - s > 1 and (s, e) != (0, n_words):
            out.add((s, e))
    return out


def tree_spans(tree) -> set[tuple[int, int]]:
    """Scored spans of a binary tree: its internal nodes' spans, punctuation deleted."""
    return without_punctuation(set(tree.spans()[tree.n_leaves :]), tree.tokens)


def bracket_scores(
    predicted: Sequence[set[tuple[int, int]]], gold: Sequence[set[tuple[int, int]]]
) -> dict[str, float]:
    """Corpus-level precision / recall / F1 and mean sentence F1 (all in 0..1)."""
    tp = n_pred = n_gold = 0
    sent_f1 = []
    for p, g in zip(predicted, gold):
        hit = len(p & g)
        tp, n_pred, n_gold = tp + hit, n_pred + len(p), n_gold + len(g)
        if not p and not g:
            sent_f1.append(1.0)
        else:
            pr = hit / len(p) if p else 0.0
            rc = hit / len(g) if g else 0.0
            sent_f1.append(2 * pr * rc / (pr + rc) if pr + rc else 0.0)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "sentence_f1": sum(sent_f1) / len(sent_f1) if sent_f1 else 0.0,
    }


def ceiling_rows(gold: GoldSet) -> list[dict[str, Any]]:
    """The best any binary tree can score on this metric: the gold trees
    themselves, binarised right and left (traces removed, unary chains collapsed)."""
    from strae_graph.trees.tree import Tree

    rows = []
    for binarize in ("right", "left"):
        trees = [Tree(tuple(s), Tree.from_brackets(t, binarize=binarize).children)
                 for s, t in zip(gold.sentences, gold.texts)]  # fmt: skip
        scores = bracket_scores([tree_spans(t) for t in trees], gold.spans)
        rows.append({"structure": f"ceiling-{binarize}", "kind": "ceiling",
                     "options": {"binarize": binarize}, **scores,
                     "sentences": len(trees)})  # fmt: skip
    return rows


_BENEPAR_RUN = ("model", "parser_words", "batch_size", "precision")


def _parse(name: str, gold: GoldSet, opts: dict[str, Any], seed: int) -> tuple[list, list | None]:
    """The binary trees of ``name`` over the gold tokens and, for benepar, its
    n-ary parses too (one forward pass serves both scores: the chart trees and
    the n-ary parses are decoded from the same span scores)."""
    from parsers import parse_sentences

    if name != "benepar":
        return parse_sentences(gold.sentences, name, seed=seed, **opts), None
    from parsers.benepar_parser import benepar_trees_and_parses

    return benepar_trees_and_parses(gold.sentences, nary=True, **opts)


def _labelled(gold: GoldSet, opts: dict[str, Any], parses: list) -> dict[str, Any]:
    """EVALB-style scores (:mod:`parsers.evalb`) of benepar's n-ary ``parses`` of
    the row's tokens, and of a second parse of the original-case words."""
    from parsers.benepar_parser import benepar_parses
    from parsers.evalb import labelled_scores
    from strae_graph.trees.nary import nltk_to_generic, parse_brackets

    golds = [parse_brackets(t, labelled=True) for t in gold.texts]
    run = {k: opts[k] for k in _BENEPAR_RUN if k in opts}
    cased = benepar_parses(gold.sentences, **{**run, "parser_words": gold.cased})
    return {
        "labelled": labelled_scores([nltk_to_generic(p) for p in parses], golds),
        "labelled_cased": labelled_scores([nltk_to_generic(p) for p in cased], golds),
    }


def evaluate_sources(
    structures: Sequence[str],
    options: dict[str, dict[str, Any]] | None = None,
    trees_path: str | Path | None = None,
    held_out: int = DEFAULT_HELD_OUT,
    seed: int = 0,
    ceilings: bool = False,
    labelled: bool = True,
) -> list[dict[str, Any]]:
    """One row per structure: bracket scores, ``of_ceiling`` (F1 / the F1 of the
    gold trees binarised the same way, right unless ``binarize=left``; benepar's
    default ``binarize=chart``, shown in its row's options, against right),
    sentences, sentences/s (and a ``note`` instead of scores when the source
    cannot run here).  benepar rows also hold ``labelled`` and
    ``labelled_cased`` (EVALB-style scores of its n-ary parses of the
    lower-cased tokens and of the original-case words; not with
    ``labelled=False``).  ``ceilings``: the two ceiling rows come first."""
    from parsers.benepar_parser import DEFAULT_BINARIZE
    from parsers.errors import ParserError

    gold = GoldSet.load(trees_path, held_out)
    ceiling = ceiling_rows(gold)
    best = {r["options"]["binarize"]: r["f1"] for r in ceiling}
    rows: list[dict[str, Any]] = list(ceiling) if ceilings else []
    for name in structures:
        opts = dict((options or {}).get(name, {}))
        if name == "benepar":
            opts.setdefault("binarize", DEFAULT_BINARIZE)
        t0 = time.perf_counter()
        try:
            trees, parses = _parse(name, gold, opts, seed)
        except ParserError as e:
            rows.append({"structure": name, "options": opts, "note": str(e).split(". ")[0]})
            continue
        dt = time.perf_counter() - t0
        extra = _labelled(gold, opts, parses) if parses is not None and labelled else {}
        scores = bracket_scores([tree_spans(t) for t in trees], gold.spans)
        ceiling_f1 = best.get(opts.get("binarize", "right"), best["right"])
        rows.append({"structure": name, "options": opts, **scores,
                     "of_ceiling": scores["f1"] / ceiling_f1 if ceiling_f1 else 0.0,
                     "sentences": len(trees),
                     "sentences_per_s": len(trees) / dt if dt else float("inf"),
                     **extra})  # fmt: skip
    return rows


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of :func:`evaluate_sources` rows (scores x 100)."""
    lines = [
        "| structure | options | P | R | F1 | % of ceiling | sentence F1 | "
        "labelled F1 (lower / cased) | sentences/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        opts = ", ".join(f"{k}={v}" for k, v in r["options"].items()) or "-"
        if "note" in r:
            lines.append(f"| {r['structure']} | {opts} | - | - | - | - | - | - | {r['note']} |")
            continue
        lab = "-"
        if "labelled" in r:
            lab = f"{_pct(r['labelled']['f1'])} / {_pct(r['labelled_cased']['f1'])}"
        speed = f"{r['sentences_per_s']:,.0f}" if "sentences_per_s" in r else "-"
        lines.append(
            f"| {r['structure']} | {opts} | {_pct(r['precision'])} | {_pct(r['recall'])} | "
            f"{_pct(r['f1'])} | {_pct(r.get('of_ceiling'))} | {_pct(r['sentence_f1'])} | "
            f"{lab} | {speed} |"
        )
    return "\n".join(lines)
