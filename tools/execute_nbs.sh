#!/usr/bin/env bash
# Re-run notebooks top to bottom and save their outputs (figures, tables, printed numbers) in place, then clean them.
# The documentation site shows these saved outputs. Usage: bash tools/execute_nbs.sh [nbs/01_ssm.ipynb ...]
# (default: every chapter). `#| gpu` cells guard themselves with torch.cuda.is_available(), so a CPU run skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh dev
[ $# -gt 0 ] || set -- $(ls nbs/*.ipynb nbs/exercises/*.ipynb | grep -v '/_')
for nb in "$@"; do
  echo "executing $nb"
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} .venv/bin/jupyter nbconvert --to notebook --execute --inplace \
    --ExecutePreprocessor.timeout=1200 "$nb"
done
.venv/bin/nbdev_clean
