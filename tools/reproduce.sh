#!/usr/bin/env bash
# Set up .venv (runtime only) and run the course's experiments: figures, metrics.json, report.md and index.html in results/.
# Extra args go to `effseq reproduce` (see `effseq reproduce --help`; e.g. --full, --device cuda, --only scan).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export MPLBACKEND=Agg OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}   # the CPU configs are small: one thread is fastest
.venv/bin/effseq reproduce "$@"
