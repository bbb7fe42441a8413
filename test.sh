#!/usr/bin/env bash
# Runs the whole test suite (unit, integration, e2e). Uses DATABASE_URL's server when set,
# else an embedded Postgres. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
scripts/ensure_chromium.sh
scripts/ensure_debian_tools.sh
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest exit 5 = no tests collected: that is a failure here, never a pass.
if [ "$rc" -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi
exit "$rc"
