"""The contrasts of a ``strae compare`` study: paired differences A − B between
two structures' scores per task and objective, with bootstrap intervals over
the test items (or, where no per-item results exist, over the seeds)."""

from __future__ import annotations

import math
from pathlib import Path

from eval.runs import load_items
from eval.stats import accuracy_bootstrap, seed_bootstrap, similarity_bootstrap
from strae_graph.training.run_files import EVAL_ITEMS_FILE

#: the system whose structures are contrasted (mean-leaves shares its word scores)
CONTRAST_SYSTEM = "strae"


def _items_of(run_dir: str, cache: dict) -> dict:
    if run_dir not in cache:
        path = Path(run_dir) / EVAL_ITEMS_FILE
        cache[run_dir] = load_items(path) if path.exists() else {}
    return cache[run_dir]


def contrasts(rows: list[dict], pairs: list[tuple[str, str]], resamples: int = 1000,
              seed: int = 0) -> list[dict]:  # fmt: skip
    """Paired differences A − B of :data:`CONTRAST_SYSTEM` scores per task and
    objective, over the seeds both structures have (eval.stats)."""
    rows = [r for r in rows if r["system"] == CONTRAST_SYSTEM]
    index = {(r["structure"], r["objective"], r["task"], r["seed"]): r for r in rows}
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    objectives = list(dict.fromkeys(r["objective"] for r in rows))
    cache: dict = {}
    out = []
    for a, b in pairs:
        for obj in objectives:
            for task in tasks:
                seeds = sorted(
                    {s for (st, o, t, s) in index if (st, o, t) == (a, obj, task)}
                    & {s for (st, o, t, s) in index if (st, o, t) == (b, obj, task)}
                )
                if not seeds:
                    continue
                scored = [s for s in seeds if _scored(index[(a, obj, task, s)])
                          and _scored(index[(b, obj, task, s)])]  # fmt: skip
                if not scored:  # n/a (e.g. too few covered pairs) on every seed: no contrast
                    out.append({"task": task, "objective": obj, "a": a, "b": b,
                                "metric": index[(a, obj, task, seeds[0])]["metric"],
                                "mean": float("nan"), "lo": float("nan"), "hi": float("nan"),
                                "method": "n/a", "seed_lo": float("nan"),
                                "seed_hi": float("nan"), "n_seeds": 0, "n_items": None,
                                "resamples": resamples})  # fmt: skip
                    continue
                seeds = scored  # a seed where either score is n/a has no paired difference
                ra = [index[(a, obj, task, s)] for s in seeds]
                rb = [index[(b, obj, task, s)] for s in seeds]
                sb = seed_bootstrap([r["score"] for r in ra], [r["score"] for r in rb],
                                    resamples, seed)  # fmt: skip
                ia = [_items_of(r["run_dir"], cache).get((CONTRAST_SYSTEM, task)) for r in ra]
                ib = [_items_of(r["run_dir"], cache).get((CONTRAST_SYSTEM, task)) for r in rb]
                ib_ = _item_interval(ia, ib, resamples, seed)
                row = {"task": task, "objective": obj, "a": a, "b": b, "metric": ra[0]["metric"],
                       "mean": sb.mean, "lo": float("nan"), "hi": float("nan"),
                       "method": "seeds", "seed_lo": sb.lo, "seed_hi": sb.hi,
                       "n_seeds": sb.n_seeds, "n_items": None, "resamples": resamples}  # fmt: skip
                if ib_ is not None:
                    row.update(mean=ib_.mean, lo=ib_.lo, hi=ib_.hi, method="items",
                               n_items=ib_.n_items)  # fmt: skip
                out.append(row)
    return out


def _scored(row: dict) -> bool:
    score = row["score"]
    return score is not None and math.isfinite(score)


def _item_interval(ia: list, ib: list, resamples: int, seed: int):
    if any(x is None for x in ia + ib):
        return None
    if all("cos" in x for x in ia + ib):
        gold = ia[0]["gold"]
        if any(len(x["gold"]) != len(gold) for x in ia + ib):
            return None
        return similarity_bootstrap([x["cos"] for x in ia], [x["cos"] for x in ib], gold,
                                    resamples=resamples, seed=seed)  # fmt: skip
    if all("correct" in x for x in ia + ib):
        n = ia[0]["correct"].shape[-1]
        if any(x["correct"].shape[-1] != n for x in ia + ib):
            return None
        return accuracy_bootstrap([x["correct"] for x in ia], [x["correct"] for x in ib],
                                  resamples=resamples, seed=seed)  # fmt: skip
    return None
