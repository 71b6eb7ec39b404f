#!/usr/bin/env bash
# Set up (first time only) and run a short default training on the shipped corpus.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/strae train --max-sentences 20000 --dev-sentences 1000 --epochs 1 \
  --batch-size 128 --out runs/quickstart --overwrite "$@"
