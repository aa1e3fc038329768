#!/usr/bin/env bash
# Set up .venv with the dev tools and run every notebook's tests on the CPU (extra args go to nbdev_test,
# e.g. `--path nbs/03_scan.ipynb`, or `--flags gpu` on a machine with a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh dev
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MPLBACKEND=Agg
n=$(ls nbs/*.ipynb nbs/exercises/*.ipynb | grep -v '/_' | wc -l)   # nbdev_test also runs nbs/exercises/ (recursive = True)
start=$(date +%s)
if .venv/bin/nbdev_test --n_workers "${EFFSEQ_TEST_WORKERS:-2}" "$@"; then
  echo "nbdev_test took $(( $(date +%s) - start )) s"
  [ $# -eq 0 ] && echo "notebooks: $n passed, 0 failed"
else
  echo "nbdev_test failed after $(( $(date +%s) - start )) s"; exit 1
fi
