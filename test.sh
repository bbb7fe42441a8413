#!/usr/bin/env bash
# Runs the whole test suite (unit, integration, e2e). Uses DATABASE_URL's server when set,
# else an embedded Postgres. Extra arguments go to pytest (one pytest run, as given).
#
# With no arguments the suite runs as two pytest processes at once: the end-to-end tests (mostly
# waiting on daemons, sockets and timers) and the unit + integration tests (mostly CPU). Every test
# makes its own databases and binds free ports, so the two never meet; on 2 cores the whole run then
# takes about as long as the e2e half. The e2e output is printed when both have finished.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
scripts/ensure_chromium.sh
scripts/ensure_debian_tools.sh

# pytest exit 5 = no tests collected: that is a failure here, never a pass.
verdict() {
  if [ "$1" -eq 5 ]; then echo "no tests were collected${2:+ ($2)}" >&2; return 1; fi
  return "$1"
}

set +e
if [ "$#" -gt 0 ]; then
  .venv/bin/python -m pytest "$@"
  verdict $?
  exit $?
fi

e2e_log=$(mktemp)
.venv/bin/python -m pytest tests/e2e >"$e2e_log" 2>&1 &
e2e_pid=$!
trap 'kill "$e2e_pid" 2>/dev/null; rm -f "$e2e_log"' EXIT
.venv/bin/python -m pytest tests/unit tests/integration
rest_rc=$?
wait "$e2e_pid"
e2e_rc=$?
echo
echo "==================== tests/e2e (ran alongside the above) ===================="
cat "$e2e_log"
verdict "$rest_rc" "tests/unit tests/integration"; rest_rc=$?
verdict "$e2e_rc" "tests/e2e"; e2e_rc=$?
if [ "$rest_rc" -ne 0 ]; then exit "$rest_rc"; fi
exit "$e2e_rc"
