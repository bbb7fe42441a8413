#!/usr/bin/env bash
# Runs the daemon. Default: `both` in paper mode on the embedded Postgres with the in-process
# simulator. Any arguments are passed to main.py (e.g. ./run.sh webhook, ./run.sh migrate).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
[ $# -eq 0 ] && set -- both --migrate
exec .venv/bin/python main.py "$@"
