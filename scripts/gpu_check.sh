#!/usr/bin/env bash
# The GPU check: on a machine with a CUDA GPU, run the GPU tests (tests/test_gpu.py), the
# first 5 steps on the CPU and on the GPU (same batches, dropout 0), a default-recipe training
# of GPU_CHECK_MINUTES (2) minutes on the GPU, `strae bench --device cuda` at batch 128 and
# 512 (fp32 and bf16), and print one summary (tokens/s, peak GPU memory, the first losses of
# both devices side by side).  Without a CUDA GPU it says so and exits 0.  About 8 minutes.
#
#   scripts/gpu_check.sh                      # PYTHON=... to choose the interpreter
#
# Assumes (nothing is installed here): a Python (PYTHON, default .venv/bin/python, else
# python3) with a CUDA build of torch, a CUDA build of DGL 2.x and the project's other
# dependencies (pip install -c constraints.txt -e . with the torch and dgl lines left out).
# DGL's CUDA builds are not on PyPI (its dgl wheels there are CPU-only): they come from DGL's
# own wheel index, e.g. pip install dgl -f https://data.dgl.ai/wheels/torch-2.4/cu124/repo.html
# with torch 2.4.  A DGL without CUDA is reported and the check stops (exit 2).  The corpus is
# read from STRAE_DATA (default ../shared/data).  Results go to GPU_CHECK_OUT (runs/gpu_check).
# A dry run of every stage on the CPU, to check this script where there is no GPU:
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_MINUTES=0.2 GPU_CHECK_BATCHES=128 GPU_CHECK_BENCH_STEPS=1 \
#   GPU_CHECK_PRECISIONS=fp32 scripts/gpu_check.sh     (bf16: no faster on most CPUs)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
OUT=${GPU_CHECK_OUT:-runs/gpu_check}
MINUTES=${GPU_CHECK_MINUTES:-2}
DEV=${GPU_CHECK_DEVICE:-cuda}
BATCHES=${GPU_CHECK_BATCHES:-128 512}
STEPS=${GPU_CHECK_BENCH_STEPS:-10}
PRECISIONS=${GPU_CHECK_PRECISIONS:-fp32 bf16}
DATA=${STRAE_DATA:-../shared/data}
export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if ! gpu=$("$PY" -c 'import torch; print(int(torch.cuda.is_available()))' 2>&1); then
  echo "gpu_check: $PY cannot import torch: ${gpu##*$'\n'}"
  exit 2
fi
if [ "$gpu" != 1 ] && [ "$DEV" = cuda ]; then
  echo "gpu_check: no CUDA GPU here (torch.cuda.is_available() is False for $PY); nothing to check"
  exit 0
fi
if [ "$DEV" = cuda ] && ! problem=$("$PY" -c 'from tests.test_gpu import dgl_cuda_problem as p; print(p() or "")' 2>&1) \
  || [ "$DEV" = cuda ] && [ -n "$problem" ]; then
  echo "gpu_check: a GPU is here, but the GPU paths cannot run: ${problem##*$'\n'}"
  echo "gpu_check: install a CUDA build of DGL 2.x (see the comment at the top of $0)"
  exit 2
fi
mkdir -p "$OUT"
"$PY" -c 'import sys, torch; from strae_graph.util.dgl import dgl; print(f"gpu_check: {sys.argv[1]}, torch {torch.__version__}, \
dgl {dgl.__version__}", torch.cuda.get_device_name() if sys.argv[1] == "cuda" else "")' "$DEV"
failed=()
stage() {  # stage NAME SECONDS COMMAND...: run, log to $OUT/NAME.log, note a failure
  local name=$1 limit=$2
  shift 2
  echo "gpu_check: $name ..."
  if ! timeout "$limit" "$@" >"$OUT/$name.log" 2>&1; then
    failed+=("$name")
    echo "gpu_check: $name FAILED (last lines of $OUT/$name.log):"
    tail -n 5 "$OUT/$name.log"
  fi
}
strae=("$PY" -m strae_graph)
corpus=(--corpus "$DATA/corpus/wiki_en_10M_sentences.txt.gz")

stage tests 300 "$PY" -m pytest -q -m gpu -rs tests/test_gpu.py
for side in cpu gpu; do  # the gpu side runs on $DEV (the CPU on a dry run)
  dev=cpu
  [ "$side" = gpu ] && dev=$DEV
  stage "first5_$side" 180 "${strae[@]}" train "${corpus[@]}" --device "$dev" \
    --max-sentences 20000 --max-steps 5 --log-every 1 --dropout 0 --input-dropout 0 \
    --no-progress --overwrite --out "$OUT/first5_$side"
done
limit=$("$PY" -c "print(int(float('$MINUTES') * 60) + 240)")
stage train_cuda "$limit" "${strae[@]}" train "${corpus[@]}" --device "$DEV" \
  --minutes "$MINUTES" --no-progress --overwrite --out "$OUT/train_cuda"
for b in $BATCHES; do
  for p in $PRECISIONS; do
    stage "bench_${b}_$p" 240 "${strae[@]}" bench "${corpus[@]}" --device "$DEV" --precision "$p" \
      --structures balanced --objectives contrastive ce both --batch-size "$b" --steps "$STEPS" \
      --no-plain --no-progress --json "$OUT/bench_${b}_$p.json"
  done
done

"$PY" - "$OUT" "$DEV" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
print("\n## GPU check summary\n")
for f in sorted(out.glob("bench_*.json"), key=lambda p: (int(p.stem.split("_")[1]), p.stem)):
    for r in json.loads(f.read_text())["results"]:
        print(f"bench batch {r['batch_size']:>3} {r['precision']} {r['objective']:<11}: "
              f"{r['tokens_per_s']:>9,.0f} tokens/s, step {r['step_s']:.4f} s, "
              f"peak GPU {r['peak_gpu_mb'] or 0:,.0f} MB")
log = out / "train_cuda.log"
if log.exists():
    text = log.read_text()
    start = text.rfind("\n{")
    if start >= 0:
        res = json.loads(text[start:text.rfind("}") + 1])
        timing = [json.loads(x) for x in (out / "train_cuda" / "timing.jsonl").open()]
        peak = max((t.get("peak_gpu_mb", 0) for t in timing), default=0)
        print(f"train --device {sys.argv[2]}, {res['minutes_trained']:.1f} min: {res['steps']} steps, "
              f"{res['tokens_per_s']:,.0f} tokens/s, peak GPU {peak:,.0f} MB, "
              f"dev loss {res['last_dev_loss']}")
losses = {}
for side in ("cpu", "gpu"):
    m = out / f"first5_{side}" / "metrics.jsonl"
    if m.exists():
        losses[side] = [json.loads(x)["loss"] for x in m.open() if '"loss"' in x]
if len(losses) == 2:
    print("first steps (same batches, dropout 0): step, CPU loss, GPU loss, relative difference")
    for i, (a, b) in enumerate(zip(losses["cpu"], losses["gpu"]), start=1):
        print(f"  {i}  {a:.6f}  {b:.6f}  {abs(a - b) / abs(a):.1e}")
EOF
if [ ${#failed[@]} -gt 0 ]; then
  echo "gpu_check: failed stages: ${failed[*]} (logs in $OUT/)"
  exit 1
fi
echo "gpu_check: all stages passed (logs in $OUT/)"
