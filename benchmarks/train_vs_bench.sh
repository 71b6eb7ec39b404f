#!/usr/bin/env bash
# Training's step rate against the benchmark's, on one machine: `strae bench` and
# `strae train --max-steps 300` for the default recipe (objective both) and for
# --objective contrastive, then steps/s, tokens/s and train / bench of each.
#
#   benchmarks/train_vs_bench.sh          # THREADS (default: nproc), STEPS (300), OUT
#   STEPS=3 SENTENCES=3000 VOCAB_SENTENCES=3000 benchmarks/train_vs_bench.sh   # a smoke test
#
# Run it on a quiet machine, in a checkout of the code before a change and in one after
# it (it detects the options an older checkout lacks).  Needs .venv (scripts/setup.sh)
# and the shipped corpus; about 12 minutes on a 2-core machine.
#
# Both sides use the full 25,000-word vocabulary, THREADS torch threads and batch 128.
# bench: 20 timed batches; its head sample (the corpus's first sentences, the only one an
# older checkout has) and, where it exists, --sample shuffled (drawn at random, as training
# draws its batches: head batches repeat words and entangle more).  train: the whole corpus,
# --log-every 1 so that timing.jsonl holds every step (step 1, the warm-up, is left out);
# where --prefetch exists, also with --prefetch 2 (batches built by a background thread, the
# older code's only way).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
THREADS=${THREADS:-$(nproc)}
STEPS=${STEPS:-300}
OUT=${OUT:-runs/train_vs_bench}
SENTENCES=${SENTENCES:-0}  # training sentences (0: the whole corpus)
VOCAB_SENTENCES=${VOCAB_SENTENCES:-390000}  # bench: the vocabulary's sentences (the whole corpus)
export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 OMP_NUM_THREADS=$THREADS
strae=("$PY" -m strae_graph)
has() { "${strae[@]}" "$1" -h 2>/dev/null | grep -q -- "$2"; }
mkdir -p "$OUT"
echo "train_vs_bench: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $THREADS threads," \
  "$(uptime)" | tee "$OUT/about.txt"

samples=head
has bench --sample && samples="head shuffled"
for s in $samples; do
  extra=()
  [ "$s" = shuffled ] && extra=(--sample shuffled)
  echo "bench ($s) ..."
  "${strae[@]}" bench --structures balanced --objectives both contrastive --batch-size 128 \
    --vocab-sentences "$VOCAB_SENTENCES" --steps 20 --no-plain --no-progress --threads "$THREADS" \
    "${extra[@]}" --json "$OUT/bench_$s.json" >"$OUT/bench_$s.log" 2>&1
done
tflags=()
has train --threads && tflags=(--threads "$THREADS")
variants=default
has train --prefetch && variants="default prefetch2"
for obj in both contrastive; do
  for v in $variants; do
    extra=()
    [ "$v" = prefetch2 ] && extra=(--prefetch 2)
    echo "train $obj ($v) ..."
    "${strae[@]}" train --max-sentences "$SENTENCES" --max-steps "$STEPS" --objective "$obj" --log-every 1 \
      --no-progress --overwrite "${tflags[@]}" "${extra[@]}" --out "$OUT/${obj}_$v" \
      >"$OUT/${obj}_$v.log" 2>&1
  done
done
echo "done: $(uptime)" | tee -a "$OUT/about.txt"

"$PY" - "$OUT" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
bench = {}
for f in sorted(out.glob("bench_*.json")):
    for r in json.loads(f.read_text())["results"]:
        bench[(f.stem[6:], r["objective"])] = (1 / r["step_s"], r["tokens_per_s"], r["data_s"])
print("\n| objective | run | steps/s | tokens/s | CPU s / step | train / bench (head) "
      "| train / bench (shuffled) |\n|---|---|---|---|---|---|---|")
for obj in ("both", "contrastive"):
    for sample in ("head", "shuffled"):
        if (sample, obj) in bench:
            sps, tps, data = bench[(sample, obj)]
            print(f"| {obj} | bench, {sample} (build {data * 1e3:.0f} ms/batch, not timed) "
                  f"| {sps:.2f} | {tps:,.0f} | | | |")
    for run in sorted(out.glob(f"{obj}_*/timing.jsonl")):
        steps = [json.loads(x) for x in run.open()][1:]  # step 1: warm-up
        secs = sum(s["seconds"] for s in steps)
        sps, tps = len(steps) / secs, sum(s["tokens"] for s in steps) / secs
        cpu = sum(s["cpu_seconds"] for s in steps) / len(steps)
        ratios = []
        for sample in ("head", "shuffled"):
            b = bench.get((sample, obj))
            ratios.append("-" if b is None else f"{sps / b[0]:.2f} steps, {tps / b[1]:.2f} tokens")
        print(f"| {obj} | train, {run.parent.name.split('_', 1)[1]} ({len(steps)} steps) "
              f"| {sps:.2f} | {tps:,.0f} | {cpu:.3f} | {ratios[0]} | {ratios[1]} |")
EOF
