#!/usr/bin/env bash
# Set up (first time only), train the default recipe for a few minutes on the shipped
# corpus, and evaluate it against word2vec trained on the same corpus.
#   MINUTES=10 ./run.sh            a longer run
#   ./run.sh --preset paper        extra flags go to `strae train`
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1
.venv/bin/strae train --max-sentences 0 --minutes "${MINUTES:-3}" --out runs/quickstart \
  --overwrite "$@"
exec .venv/bin/strae eval runs/quickstart --tasks simlex ws353 stsb sick-r --word2vec --no-progress
