"""Structure quality: unlabelled bracket F1 of every source against gold trees.

Gold: the n-ary constituents of the PTB sample's held-out trees (the last
``DEFAULT_HELD_OUT`` trees of the file, never used by ``strae benepar-train``),
``-NONE-`` traces removed, spans of one token and of the whole sentence left
out.  Predicted: every internal node of the binary tree the source builds over
the same tokens, lower-cased like :func:`strae_graph.corpus.tokenize` (the
leaves StrAE trains on).  As in EVALB's COLLINS.prm, punctuation tokens
(no letter or digit, e.g. ``. , : " --``) are deleted before spans are
compared: every span, gold and predicted, is mapped onto the remaining words
(a span reduced to at most one word or to the whole sentence is dropped).
Without this, a right-branching tree, whose spans all include the final
period, could never match a constituent.  Scores are corpus-level (micro)
precision, recall and F1 over all spans, plus the mean of per-sentence F1.  A
binary tree has ``n - 2`` non-trivial spans while the flatter gold trees have
fewer, so no binary source reaches 100 precision.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from strae_graph.corpus import DATA_DIR

#: the PTB sample (3,914 trees, wsj_0001 .. wsj_0199)
PTB_SAMPLE = DATA_DIR / "trees" / "ptb_sample_combined.mrg.oneline.txt.gz"
#: the last trees of the PTB sample form the held-out test set
DEFAULT_HELD_OUT = 400


def load_gold(
    trees_path: str | Path | None = None, held_out: int = DEFAULT_HELD_OUT
) -> tuple[list[list[str]], list[set[tuple[int, int]]]]:
    """Token lists (unescaped, lower-cased) and gold span sets of the last
    ``held_out`` trees of ``trees_path`` (default: the PTB sample)."""
    from parsers.gold import constituent_spans, iter_bracket_strings, tree_location, unescape
    from strae_graph.corpus import DataError
    from strae_graph.tree import TreeError

    path = trees_path or PTB_SAMPLE
    texts = list(iter_bracket_strings(path))
    if held_out < 1:
        raise ValueError(f"--held-out must be at least 1 (the last N trees), got {held_out}")
    if held_out > len(texts):
        raise DataError(f"{path}: --held-out {held_out} asks for more than its "
                        f"{len(texts)} trees")  # fmt: skip
    sentences, spans = [], []
    for number, text in texts[-held_out:]:
        try:
            leaves, s = constituent_spans(text)
        except TreeError as e:
            raise DataError(f"{tree_location(path, number)}: {e}") from None
        tokens = [unescape(t).lower() for t in leaves]
        sentences.append(tokens)
        spans.append(without_punctuation(s, tokens))
    return sentences, spans


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


def evaluate_sources(
    structures: Sequence[str],
    options: dict[str, dict[str, Any]] | None = None,
    trees_path: str | Path | None = None,
    held_out: int = DEFAULT_HELD_OUT,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per structure: bracket scores, sentences, sentences/s (and a
    ``note`` instead of scores when the source cannot run here)."""
    from parsers import parse_sentences
    from parsers.errors import ParserError

    sentences, gold = load_gold(trees_path, held_out)
    rows: list[dict[str, Any]] = []
    for name in structures:
        opts = dict((options or {}).get(name, {}))
        t0 = time.perf_counter()
        try:
            trees = parse_sentences(sentences, name, seed=seed, **opts)
        except ParserError as e:
            rows.append({"structure": name, "options": opts, "note": str(e).split(". ")[0]})
            continue
        dt = time.perf_counter() - t0
        scores = bracket_scores([tree_spans(t) for t in trees], gold)
        rows.append(
            {
                "structure": name,
                "options": opts,
                **scores,
                "sentences": len(sentences),
                "sentences_per_s": len(sentences) / dt if dt else float("inf"),
            }
        )
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of :func:`evaluate_sources` rows (scores x 100)."""
    lines = [
        "| structure | options | P | R | F1 | sentence F1 | sentences/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        opts = ", ".join(f"{k}={v}" for k, v in r["options"].items()) or "-"
        if "note" in r:
            lines.append(f"| {r['structure']} | {opts} | - | - | - | - | {r['note']} |")
            continue
        lines.append(
            f"| {r['structure']} | {opts} | {100 * r['precision']:.1f} | "
            f"{100 * r['recall']:.1f} | {100 * r['f1']:.1f} | {100 * r['sentence_f1']:.1f} | "
            f"{r['sentences_per_s']:,.0f} |"
        )
    return "\n".join(lines)
