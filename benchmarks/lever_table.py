"""The table of benchmarks/lever_runs.sh: one row per run (tokens/s, last dev loss,
the root embeddings' scores and the mean-of-leaves' scores on the dev sets), then
the mean of each lever over its seeds.  Tasks a run was not evaluated on are blank.

    python benchmarks/lever_table.py [OUT]      # OUT: runs/levers
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

TASKS = ("stsb-dev", "sick-trial", "simlex", "ws353", "stsb", "sick-r")
MEAN_TASKS = ("stsb-dev", "sick-trial")


def cell(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


def main(out: Path) -> None:
    rows: dict[str, list[list[float | None]]] = defaultdict(list)
    head = [*TASKS, *(f"{t} mean of leaves" for t in MEAN_TASKS)]
    print("| run | seed | tokens/s | dev loss | " + " | ".join(head) + " |")
    print("|---|---|---|---|" + "---|" * len(head))
    for ev in sorted(out.glob("*.eval.json")):
        name, seed = ev.name.split(".")[0].rsplit("_s", 1)
        systems = json.loads(ev.read_text())["systems"]
        roots = {r["task"]: r["score"] for r in systems["strae"]}
        leaves = {r["task"]: r["score"] for r in systems.get("mean-leaves", [])}
        log = (out / f"{name}_s{seed}.log").read_text()
        summary = json.loads(log[log.rfind("\n{") :])
        vals = [roots.get(t) for t in TASKS] + [leaves.get(t) for t in MEAN_TASKS]
        rows[name].append(vals)
        speed, loss = summary["tokens_per_s"], summary["last_dev_loss"]
        scores = " | ".join(map(cell, vals))
        print(f"| {name} | {seed} | {speed:,.0f} | {loss:.4f} | {scores} |")
    print("\n| lever (seeds) | " + " | ".join(head) + " |")
    print("|---|" + "---|" * len(head))
    for name, vs in rows.items():
        cols = list(zip(*vs))
        mean = [None if None in c else sum(c) / len(c) for c in cols]
        print(f"| {name} ({len(vs)}) | " + " | ".join(map(cell, mean)) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/levers"))
