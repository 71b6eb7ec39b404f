#!/usr/bin/env bash
# Lever runs at equal steps: each line of QUEUE is "NAME SEED STEPS [strae train options...]";
# every run trains the default recipe plus the line's options on the whole corpus for STEPS
# steps at one torch thread (JOBS runs side by side, default 2: on 2 cores two one-thread runs
# do more steps per hour than one two-thread run, and a step budget makes the scores
# independent of load), then `strae eval` on its last checkpoint (TASKS, by default the
# development sets only: stsb-dev sick-trial). Resumable: a run with an eval is skipped, a run
# with a checkpoint resumes. A table of all runs: benchmarks/lever_table.py OUT.
#
#   benchmarks/lever_runs.sh QUEUE [JOBS]     # OUT (runs/levers), TASKS, PYTHON
set -euo pipefail
cd "$(dirname "$0")/.."
QUEUE=${1:?usage: benchmarks/lever_runs.sh QUEUE [JOBS]}
JOBS=${2:-2}
export PY=${PYTHON:-.venv/bin/python} OUT=${OUT:-runs/levers} TASKS=${TASKS:-stsb-dev sick-trial}
export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1
mkdir -p "$OUT"

one() {  # NAME SEED STEPS [options...]
  local name=$1 seed=$2 steps=$3 run
  shift 3
  run="$OUT/${name}_s$seed"
  [ -f "$run.eval.json" ] && { echo "$name s$seed: done before"; return 0; }
  local again=(--overwrite)
  [ -f "$run/last.pt" ] && again=(--resume)
  echo "$(date +%T) $name s$seed: $* ($(uptime | sed 's/.*load/load/'))" | tee -a "$OUT/runs.log"
  OMP_NUM_THREADS=1 "$PY" -m strae_graph train --max-sentences 0 --max-steps "$steps" \
    --seed "$seed" --threads 1 --checkpoint-every 500 --no-progress "${again[@]}" --out "$run" \
    "$@" >"$run.log" 2>&1 || { echo "$name s$seed: training failed, see $run.log"; return 1; }
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=1 "$PY" -m strae_graph eval "$run" --checkpoint last --tasks $TASKS \
    --no-progress --json "$run.eval.json.tmp" >"$run.eval.log" 2>&1 \
    && mv "$run.eval.json.tmp" "$run.eval.json"
  echo "$(date +%T) $name s$seed: done" | tee -a "$OUT/runs.log"
}
export -f one
grep -v '^\s*\(#\|$\)' "$QUEUE" | xargs -P "$JOBS" -L 1 bash -c 'one "$@"' one
