#!/usr/bin/env bash
# Tools some tests run, from Debian's packages: promtool ('prometheus': `promtool check rules/config` on
# ops/) and docker-compose 1.29 (`docker-compose config` validates docker-compose.yml; no container engine
# runs here). Installs what is missing when it can (root with apt-get, as on the project's machines and
# CI); otherwise says so — those tests then fail with that message rather than being skipped. The
# prometheus package's own service is not started (no init system in containers).
set -uo pipefail
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "[bootstrap] installing ${need[*]} (Debian packages) for the monitoring and compose tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
     apt-get install -y -qq --no-install-recommends "${need[@]}") >/dev/null 2>&1 \
    || echo "[bootstrap] could not install ${need[*]} (apt-get failed)" >&2
else
  echo "[bootstrap] missing: ${need[*]}; install these Debian packages for the monitoring and compose tests" >&2
fi
exit 0
