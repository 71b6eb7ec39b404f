#!/usr/bin/env bash
# The recipe's hour, two seeds at once: NAME's runs (the default recipe plus the given
# `strae train` options) train for MINUTES minutes each on the whole corpus, one torch
# thread and bf16 products each, side by side (on 2 cores: the same steps an hour as one
# two-thread fp32 run), with a learning curve every 10 minutes; then the dev and test
# similarity tasks on the last checkpoint. Interrupted: run it again (it resumes each run on
# the same clock; a finished run is skipped). Needs the machine to itself (a time budget).
#
#   benchmarks/quality60.sh NAME [strae train options...]   # MINUTES (60), SEEDS ("0 1"), OUT
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:?usage: benchmarks/quality60.sh NAME [strae train options...]}
shift
PY=${PYTHON:-.venv/bin/python}
MINUTES=${MINUTES:-60}
SEEDS=${SEEDS:-0 1}
OUT=${OUT:-runs/quality60}
export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
mkdir -p "$OUT"
echo "$(date +%T) $NAME: $* (seeds $SEEDS, $MINUTES min; $(uptime))" | tee -a "$OUT/runs.log"
for seed in $SEEDS; do
  run="$OUT/${NAME}_s$seed"
  [ -f "$run.eval.json" ] && continue
  again=(--overwrite)
  [ -f "$run/last.pt" ] && again=(--resume)
  ( "$PY" -m strae_graph train --max-sentences 0 --minutes "$MINUTES" --eval-every-minutes 10 \
      --checkpoint-every 200 --threads 1 --precision bf16 --seed "$seed" --no-progress \
      "${again[@]}" --out "$run" "$@" >>"$run.log" 2>&1 \
    && "$PY" -m strae_graph eval "$run" --checkpoint last --no-progress \
      --tasks stsb-dev sick-trial simlex ws353 stsb sick-r --json "$run.eval.json.tmp" \
      >"$run.eval.log" 2>&1 && mv "$run.eval.json.tmp" "$run.eval.json" ) &
done
wait
echo "$(date +%T) $NAME: done ($(uptime))" | tee -a "$OUT/runs.log"
PYTHONPATH=. "$PY" benchmarks/lever_table.py "$OUT"
