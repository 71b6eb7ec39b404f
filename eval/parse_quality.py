"""Parse quality beside downstream scores: each study structure's unlabelled
bracket F1 on the held-out PTB sample (:mod:`parsers.evaluate`, as ``strae
parse-eval`` reports it).

* heuristics, spacy, benepar (default model or a model path): the F1 of the
  source itself (keyed on the parser's identity: for benepar the resolved
  model file's hash) (``random``: of the seed's trees);
* a ``strae parse`` dataset: the F1 of the source that wrote it, with its
  options; gold trees score 1.0 by definition;
* ``self``: the F1 of the trees each trained run induces (so one value per run;
  the study reports the mean over seeds).

Results are cached in ``OUT/parse_f1.json`` keyed by everything that decides
them (for ``self``, the checkpoint's SHA-256), so a resumed study does not
parse again.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from eval.metrics import mean_std
from eval.study_specs import StructureSpec
from parsers.evaluate import evaluate_sources
from parsers.structures import GOLD, get_structure
from parsers.tree_cache import parser_identity
from strae_graph.embed.load import resolve_checkpoint
from strae_graph.trees.source import SELF
from strae_graph.util.fileio import atomic_write_text, file_sha256

F1_FILE = "parse_f1.json"


def _checkpoint_sha(run_dir: Path) -> str:
    return file_sha256(resolve_checkpoint(run_dir, "best"))


def _key_and_job(spec: StructureSpec, seed: int, run_dir: Path) -> tuple[str, str | None, dict]:
    """(cache key, structure to score or None for gold, parser options)."""
    if spec.structure == GOLD:
        return "gold", None, {}
    opts = dict(spec.options)
    if spec.structure == SELF and "model" not in opts:  # the run's own induced trees
        opts = {"model": str(run_dir)}
        ident = {"checkpoint": _checkpoint_sha(run_dir)}
    else:
        ident = {k: str(v) for k, v in opts.items()}
        if get_structure(spec.structure).kind == "parser":  # the model file's hash, ...
            ident["parser"] = json.dumps(parser_identity(spec.structure, opts), sort_keys=True)
    key = {"structure": spec.structure, **ident}
    if spec.structure == "random":
        key["seed"] = seed
    return json.dumps(key, sort_keys=True), spec.structure, opts


def run_f1(
    spec: StructureSpec, seed: int, run_dir: Path, cache: dict[str, dict], log=print
) -> dict[str, Any]:
    """``{"f1": ..., "note": ...}`` for one run (from ``cache`` when there)."""
    key, structure, opts = _key_and_job(spec, seed, run_dir)
    if key in cache:
        return cache[key]
    if structure is None:
        row: dict[str, Any] = {"f1": 1.0, "note": "gold trees: 1 by definition"}
    else:
        what = f"run {run_dir.name}" if "model" in opts else structure
        log(f"bracket F1 of {spec.label} ({what})")
        try:
            (r,) = evaluate_sources([structure], {structure: opts}, seed=seed, labelled=False)
        except (ValueError, RuntimeError, OSError) as e:
            r = {"note": f"{type(e).__name__}: {e}"[:200]}
        row = (
            {"f1": float("nan"), "note": r["note"]}
            if "note" in r
            else {k: r[k] for k in ("precision", "recall", "f1", "sentence_f1", "sentences")}
        )
    cache[key] = row
    return row


def load_cache(out: Path) -> dict[str, dict]:
    path = out / F1_FILE
    if path.exists():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            return {}
    return {}


def save_cache(out: Path, cache: dict[str, dict]) -> None:
    atomic_write_text(out / F1_FILE, json.dumps(cache, indent=2))


def study_f1(
    runs: list[tuple[StructureSpec, str, int, Path]], out: Path, log=print
) -> dict[tuple[str, str], dict[str, Any]]:
    """(label, objective) -> ``{"f1", "f1_std", "seeds", "note"}`` (F1 in 0..1,
    mean and std over the seeds' runs) for every run ``(spec, objective, seed,
    run_dir)`` of a study; cached in ``out/parse_f1.json``."""
    cache = load_cache(out)
    per: dict[tuple[str, str], list[dict]] = {}
    for spec, objective, seed, run_dir in runs:
        per.setdefault((spec.label, objective), []).append(run_f1(spec, seed, run_dir, cache, log))
        save_cache(out, cache)
    result = {}
    for key, rows in per.items():
        vals = [r["f1"] for r in rows if not math.isnan(r["f1"])]
        mean, std = mean_std(vals)
        notes = sorted({r["note"] for r in rows if r.get("note")})
        result[key] = {"f1": mean, "f1_std": std, "seeds": len(vals), "note": "; ".join(notes)}
    return result
