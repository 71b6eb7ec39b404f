"""``strae verify RUN_DIR|FILE.pt``: check that a run's checkpoints are whole and
consistent (integrity trailer, model configuration, vocabulary, config.json,
vocab.json), and say what each holds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from strae_graph.embed.load import load_run
from strae_graph.training.checkpoint import CheckpointError, has_integrity_trailer
from strae_graph.training.run_dir import RESUME_KEYS


def add_subcommand(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="check a run's checkpoints (integrity, configuration, vocabulary)",
        description="Check every checkpoint of a run directory (best.pt, last.pt) or one "
        ".pt file: not truncated or corrupted, weights fit the stored configuration, "
        "vocabulary, model and training settings agree with vocab.json and config.json, the "
        "SHA-256 of config.json, vocab.json and tokenizer.json are those recorded, and last.pt "
        "holds what --resume needs: what --resume and loading check. Exit status 2 if any fails.",
    )
    p.add_argument("source", help="run directory or .pt checkpoint file")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    source = Path(args.source)
    if source.is_dir():
        paths = [source / n for n in ("best.pt", "last.pt") if (source / n).exists()]
        if not paths:
            raise CheckpointError(f"{source}: no best.pt or last.pt (not a run directory?)")
    elif source.exists():
        paths = [source]
    else:
        raise CheckpointError(f"{source}: no such run directory or checkpoint file")
    report = []
    for path in paths:
        try:
            run = load_run(path)
            missing = [k for k in RESUME_KEYS if k not in run.state]
            if path.name == "last.pt" and missing:
                raise CheckpointError(f"{path}: not resumable (no {', '.join(missing)})")
        except CheckpointError as e:
            report.append({"checkpoint": str(path), "ok": False, "error": str(e)})
            continue
        st = run.state
        report.append({
            "checkpoint": str(path),
            "ok": True,
            "sha256_verified": has_integrity_trailer(path),
            "epoch": st.get("epoch"),
            "next_batch": st.get("next_batch"),
            "step": st.get("step"),
            "best_dev": st.get("best_dev"),
            "vocab_size": len(run.vocab),
            "objective": run.model_config.objective,
            "structure": run.train_config.get("structure"),
            "embedding_size": run.model_config.embedding_size,
            "notes": run.notes,
        })  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for r in report:
            if r["ok"]:
                integrity = "SHA-256 verified" if r["sha256_verified"] else "no SHA-256 trailer"
                print(f"{r['checkpoint']}: OK ({integrity}); step {r['step']}, epoch "
                      f"{r['epoch']}, {r['structure']} / {r['objective']}, vocabulary "
                      f"{r['vocab_size']}, E = {r['embedding_size']}")  # fmt: skip
                for note in r["notes"]:
                    print(f"  note: {note}")
            else:
                print(f"{r['checkpoint']}: FAILED: {r['error']}")
    return 0 if all(r["ok"] for r in report) else 2
