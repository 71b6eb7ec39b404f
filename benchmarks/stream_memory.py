"""Peak memory and throughput of streamed training as the corpus grows (issue 17).

A slice of a corpus (``--lines``, 0: all of it) is written out repeated once
and ``10`` times (``--copies``); line ``i`` of copy ``k`` starts with the
token ``cK`` (``c0 ...``, ``c1 ...``), so the copies are distinct sentences
that no one mistakes for a corpus of that size, and each copy is in its own
shuffled order (copy 0, the 1x corpus, is the first copy of the others).
For each corpus, in fresh processes one after the other:

1. the Arrow cache is built (``strae_graph.data.stream_cache.corpus_cache``; its
   seconds and peak memory are reported apart from training);
2. ``python -m strae_graph train --stream`` runs until ``--steps`` steps are
   logged, then gets SIGINT (it saves and stops cleanly, as on Ctrl-C; the
   step count may overshoot by one or two).  Its summary gives the peak
   resident memory (the whole process: imports, vocabulary pass, dev set,
   model, training) and tokens/s of the steps.

Then one line per corpus and the ratios 10x / 1x.  Streamed memory is bounded
by the order's window (``--order-buffer`` batches), not by the corpus, so the
peak should stay within a few percent as the corpus grows.

Not a test, and slow on the whole corpus (the 10x corpus is 10 times the text
on disk, plus its Arrow cache under ``--out``).  A quick check that it works::

    python -m benchmarks.stream_memory --lines 300 --steps 6 --out /tmp/sm -- \\
        --batch-size 8 --min-count 1

The measurement (options after ``--`` go to ``strae train``)::

    python -m benchmarks.stream_memory --lines 0 --steps 300 --out /data/sm \\
        --json sm.json -- --batch-size 128
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from strae_graph.data.corpus import DEFAULT_CORPUS

ROOT = Path(__file__).resolve().parent.parent


def read_lines(corpus: Path, n: int) -> list[bytes]:
    """The first ``n`` lines of ``corpus`` (0: all), each ending in a newline."""
    opener = gzip.open if corpus.suffix == ".gz" else open
    lines: list[bytes] = []
    with opener(corpus, "rb") as f:
        for line in f:
            lines.append(line if line.endswith(b"\n") else line + b"\n")
            if len(lines) == n:
                break
    return lines


def write_copies(lines: list[bytes], copies: int, path: Path, seed: int = 0) -> None:
    """``copies`` shuffled copies of ``lines``, copy ``k``'s lines tagged ``cK``."""
    tmp = path.with_suffix(".partial")
    with open(tmp, "wb") as f:
        for k in range(copies):
            tag = b"c%d " % k
            for i in np.random.default_rng([seed, k]).permutation(len(lines)):
                f.write(tag + lines[i])
    tmp.replace(path)


def child_env(cache: Path, threads: int | None) -> dict[str, str]:
    env = {**os.environ, "STRAE_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def build_cache(corpus: Path, max_length: int, env: dict[str, str]) -> dict[str, Any]:
    """Convert ``corpus`` in a fresh process: its seconds, peak memory and rows."""
    code = (
        "import json, resource, sys, time\n"
        "from strae_graph.data.stream_cache import corpus_cache\n"
        "t = time.perf_counter()\n"
        "c = corpus_cache(sys.argv[1], int(sys.argv[2]))\n"
        "print(json.dumps({'seconds': round(time.perf_counter() - t, 1), 'rows': c.rows,\n"
        "  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(corpus), str(max_length)], env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def steps_logged(run: Path) -> int:
    path = run / "metrics.jsonl"
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if '"loss"' in line)


def train_steps(corpus: Path, run: Path, steps: int, extra: list[str], env: dict[str, str]):
    """``strae train --stream`` on ``corpus`` stopped by SIGINT after ``steps``
    logged steps (or at its own end); its JSON summary."""
    cmd = [sys.executable, "-m", "strae_graph", "train", "--stream", "--corpus", str(corpus),
           "--out", str(run), "--overwrite", "--max-sentences", "0", "--log-every", "1",
           "--no-progress", *extra]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    while proc.poll() is None and steps_logged(run) < steps:
        time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate()
    if proc.returncode not in (0, 130):
        raise RuntimeError(f"strae train failed ({proc.returncode}):\n{err[-3000:]}")
    lines = out.splitlines()
    start = max(i for i, line in enumerate(lines) if line == "{")
    return json.loads("\n".join(lines[start:])), [x for x in lines[:start] if x.startswith("data:")]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(prog="python -m benchmarks.stream_memory",
                                description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    p.add_argument("--lines", type=int, default=0, help="lines of the corpus to repeat (0: all)")
    p.add_argument("--copies", type=int, nargs="+", default=[1, 10])
    p.add_argument("--steps", type=int, default=300, help="training steps per corpus")
    p.add_argument("--max-length", type=int, default=200, help="as strae train's")
    p.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the runs")
    p.add_argument("--out", type=Path, required=True, help="corpora, caches and run directories")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    args = p.parse_args(own)
    args.out.mkdir(parents=True, exist_ok=True)
    env = child_env(args.out / "cache", args.threads)
    lines = read_lines(args.corpus, args.lines)
    print(f"stream_memory: {len(lines):,} lines of {args.corpus}, copies {args.copies}, "
          f"{args.steps} steps, strae train {' '.join(extra)}", flush=True)  # fmt: skip
    results = []
    for copies in args.copies:
        corpus = args.out / f"corpus-{copies}x.txt"
        if not corpus.exists():
            write_copies(lines, copies, corpus)
        cache = build_cache(corpus, args.max_length, env)
        load = os.getloadavg()[0]
        run = args.out / f"run-{copies}x"
        given = ["--max-length", str(args.max_length), *extra]
        summary, data_line = train_steps(corpus, run, args.steps, given, env)
        results.append({
            "copies": copies, "corpus": str(corpus), "corpus_bytes": corpus.stat().st_size,
            "train_sentences": summary["train_sentences"],
            "train_tokens": summary["train_tokens"], "steps": summary["steps"],
            "peak_rss_mb": round(summary["peak_rss_mb"], 1),
            "tokens_per_s": round(summary["tokens_per_s"], 1),
            "cache": cache, "load_before": round(load, 2),
            "load_after": round(os.getloadavg()[0], 2), "data": data_line,
        })  # fmt: skip
        r = results[-1]
        print(f"{copies:>3}x: {r['train_sentences']:>11,} sentences {r['train_tokens']:>13,} "
              f"tokens | {r['steps']} steps: peak RSS {r['peak_rss_mb']:,.0f} MB, "
              f"{r['tokens_per_s']:,.0f} tokens/s | cache built in {cache['seconds']} s "
              f"(peak {cache['peak_rss_mb']:,.0f} MB) | load {r['load_before']}"
              f"->{r['load_after']}", flush=True)  # fmt: skip
    base = results[0]
    for r in results[1:]:
        ratio = {k: r[k] / base[k] for k in ("train_tokens", "peak_rss_mb", "tokens_per_s")}
        print(f"{r['copies']}x / {base['copies']}x: tokens {ratio['train_tokens']:.2f}, "
              f"peak RSS {ratio['peak_rss_mb']:.3f}, "
              f"tokens/s {ratio['tokens_per_s']:.3f}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"argv": argv, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
