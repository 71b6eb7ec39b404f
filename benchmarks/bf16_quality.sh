#!/usr/bin/env bash
# --precision bf16 against fp32: speed (`strae bench`, contrastive / ce / both) and quality at
# equal steps (the default recipe on the whole corpus for STEPS steps, seeds SEEDS, then the
# four similarity tasks on the last checkpoint), and one table of both.
#
#   benchmarks/bf16_quality.sh            # STEPS (2000), SEEDS ("0 1"), THREADS (nproc), OUT
#
# Run it on a machine whose CPU has bf16 matrix instructions (avx512_bf16 or amx_bf16 in
# /proc/cpuinfo) or on a GPU (DEVICE=cuda); elsewhere bf16 gives fp32's speed (the same
# numbers, made in float32 on rounded operands), and the script stops unless FORCE=1.
# 4 trainings of STEPS steps: about 40 minutes at 2000 steps on a quiet 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
STEPS=${STEPS:-2000}
SEEDS=${SEEDS:-0 1}
THREADS=${THREADS:-$(nproc)}
DEVICE=${DEVICE:-cpu}
OUT=${OUT:-runs/bf16_quality}
export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1
strae=("$PY" -m strae_graph)
note=$("$PY" -c 'import sys; from strae_graph.model.precision import support_note as s
print(s("bf16", sys.argv[1]) or "")' "$DEVICE")
if [ -n "$note" ] && [ "${FORCE:-0}" != 1 ]; then
  echo "bf16_quality: $note"
  echo "bf16_quality: stopped (FORCE=1 runs it anyway)"
  exit 2
fi
mkdir -p "$OUT"
echo "bf16_quality: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $DEVICE, $THREADS threads," \
  "$(uptime)" | tee "$OUT/about.txt"
for p in fp32 bf16; do
  echo "bench $p ..."
  "${strae[@]}" bench --precision "$p" --device "$DEVICE" --threads "$THREADS" \
    --structures balanced --objectives contrastive ce both --vocab-sentences 390000 --steps 10 \
    --no-plain --no-progress --json "$OUT/bench_$p.json" >"$OUT/bench_$p.log" 2>&1
done
for seed in $SEEDS; do
  for p in fp32 bf16; do
    run="$OUT/${p}_s$seed"
    echo "train + eval $p seed $seed ..."
    "${strae[@]}" train --max-sentences 0 --max-steps "$STEPS" --seed "$seed" --precision "$p" \
      --device "$DEVICE" --threads "$THREADS" --no-progress --overwrite --out "$run" >"$run.log" 2>&1
    "${strae[@]}" eval "$run" --checkpoint last --tasks simlex ws353 stsb sick-r \
      --no-mean-baseline --no-progress --json "$run.eval.json" >"$run.eval.log" 2>&1
  done
done
echo "done: $(uptime)" | tee -a "$OUT/about.txt"

"$PY" - "$OUT" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
tasks = ("simlex", "ws353", "stsb", "sick-r")
print("\n| objective | fp32 tokens/s | bf16 tokens/s | bf16 / fp32 | loss share fp32 / bf16 |")
print("|---|---|---|---|---|")
bench = {p: {r["objective"]: r for r in json.loads((out / f"bench_{p}.json").read_text())["results"]}
         for p in ("fp32", "bf16")}
for obj, a in bench["fp32"].items():
    b = bench["bf16"][obj]
    print(f"| {obj} | {a['tokens_per_s']:,.0f} | {b['tokens_per_s']:,.0f} "
          f"| {b['tokens_per_s'] / a['tokens_per_s']:.2f}x "
          f"| {a['share']['loss']:.0%} / {b['share']['loss']:.0%} |")
print(f"\n| precision | seed | train tokens/s | final loss | {' | '.join(tasks)} |")
print("|---|---|---|---|" + "---|" * len(tasks))
scores = {}
for ev in sorted(out.glob("*_s*.eval.json")):
    p, seed = ev.name.split(".")[0].split("_s")
    res = {r["task"]: r["score"] for r in json.loads(ev.read_text())["systems"]["strae"]}
    log = (out / f"{p}_s{seed}.log").read_text()
    summary = json.loads(log[log.rfind("\n{"):])
    last = [json.loads(x) for x in (out / f"{p}_s{seed}" / "metrics.jsonl").open()]
    loss = [x["loss"] for x in last if "loss" in x][-1]
    scores.setdefault(p, []).append([res[t] for t in tasks])
    print(f"| {p} | {seed} | {summary['tokens_per_s']:,.0f} | {loss:.4f} | "
          + " | ".join(f"{res[t]:.3f}" for t in tasks) + " |")
if len(scores) == 2:
    mean = {p: [sum(c) / len(c) for c in zip(*v)] for p, v in scores.items()}
    spread = {p: [max(c) - min(c) for c in zip(*v)] for p, v in scores.items()}
    print("| bf16 - fp32 (means) | | | | "
          + " | ".join(f"{b - a:+.3f}" for a, b in zip(mean["fp32"], mean["bf16"])) + " |")
    print("| seed spread fp32 / bf16 (max - min) | | | | "
          + " | ".join(f"{a:.3f} / {b:.3f}" for a, b in zip(spread["fp32"], spread["bf16"])) + " |")
EOF
