#!/usr/bin/env bash
# Create ./.venv if it is missing and install effseq into it (editable), with torch pinned by constraints.txt.
#   bash tools/setup.sh        runtime only (what `effseq reproduce` needs)
#   bash tools/setup.sh dev    plus tests, notebooks and the documentation tools
# Re-running is cheap: nothing is installed again unless setup.py, settings.ini or constraints.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -c 'import sys; assert sys.version_info >= (3, 10), "effseq needs Python >= 3.10"'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
extra=""; [ "${1:-}" = dev ] && extra="[dev]"
stamp=".venv/.effseq-installed${1:+-$1}"
want=$(cat setup.py settings.ini constraints.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing effseq$extra into .venv (first time: a few minutes)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".$extra"
  echo "$want" > "$stamp"
fi
