#!/usr/bin/env bash
# Training on a shared machine: tokens/s of `strae train --max-steps STEPS` alone and beside
# one niced job (nice 19): a one-thread busy loop, and a stream of small commands (a new
# short process after another, as in the issue that asked for this), each with the thread
# count fixed at the cores (the old behaviour) and, where the option exists, --threads auto.
#
#   benchmarks/shared_machine.sh          # STEPS (300), SENTENCES (100000), OUT
#
# Run it on an otherwise quiet machine, in a checkout before and one after a change (an
# older checkout has no --threads: it runs the fixed rows, with OMP_NUM_THREADS).
# 6 trainings: about 10 minutes on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
STEPS=${STEPS:-300}
SENTENCES=${SENTENCES:-100000}
CORES=$(nproc)
OUT=${OUT:-runs/shared_machine}
export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1
strae=("$PY" -m strae_graph)
modes=fixed
"${strae[@]}" train -h 2>/dev/null | grep -q -- --threads && modes="fixed auto"
mkdir -p "$OUT"
echo "shared_machine: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $CORES cores," \
  "$(uptime)" | tee "$OUT/about.txt"

neighbour=""
start_neighbour() {  # start_neighbour none|busy|stream: in its own process group
  case $1 in
    none) neighbour="" ;;
    busy) setsid nice -n 19 "$PY" -c 'while True: pass' & neighbour=$! ;;
    stream) setsid nice -n 19 bash -c 'while :; do python3 -c "sum(range(200000))"; done' &
      neighbour=$! ;;
  esac
}
stop_neighbour() {
  if [ -n "$neighbour" ]; then
    kill -- "-$neighbour" 2>/dev/null || true
    wait "$neighbour" 2>/dev/null || true
  fi
  neighbour=""
}
trap stop_neighbour EXIT

for mode in $modes; do
  for job in none busy stream; do
    run="$OUT/${mode}_$job"
    flags=(--threads "$CORES")
    [ "$mode" = auto ] && flags=(--threads auto)
    [ "$modes" = fixed ] && flags=()  # an older checkout: OMP_NUM_THREADS below
    echo "train, threads $mode, beside: $job ..."
    start_neighbour "$job"
    OMP_NUM_THREADS=$CORES "${strae[@]}" train --max-sentences "$SENTENCES" --max-steps "$STEPS" \
      --log-every 1 --no-progress --overwrite "${flags[@]}" --out "$run" >"$run.log" 2>&1
    stop_neighbour
  done
done
echo "done: $(uptime)" | tee -a "$OUT/about.txt"

"$PY" - "$OUT" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
alone = {}
print("\n| threads | beside | tokens/s | steps/s | torch threads (first -> last) | vs alone |")
print("|---|---|---|---|---|---|")
for mode in ("fixed", "auto"):
    for job in ("none", "busy", "stream"):
        t = out / f"{mode}_{job}" / "timing.jsonl"
        if not t.exists():
            continue
        steps = [json.loads(x) for x in t.open()][1:]  # step 1: warm-up
        secs = sum(s["seconds"] for s in steps)
        tps = sum(s["tokens"] for s in steps) / secs
        alone.setdefault(mode, tps)
        print(f"| {mode} | {job} | {tps:,.0f} | {len(steps) / secs:.2f} "
              f"| {steps[0]['torch_threads']} -> {steps[-1]['torch_threads']} "
              f"| {tps / alone[mode]:.2f} |")
EOF
