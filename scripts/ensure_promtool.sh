#!/usr/bin/env bash
# The monitoring test runs `promtool check rules` and `promtool check config` on ops/. promtool ships in
# Debian's 'prometheus' package: install it when missing and we can (root with apt-get, as on the
# project's machines and CI); otherwise say so — the test then fails with that message rather than
# being skipped. The package's own service is not started (no init system in containers; policy-rc.d).
set -uo pipefail
if command -v promtool >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "[bootstrap] installing promtool (Debian package 'prometheus') for the monitoring test" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
     apt-get install -y -qq --no-install-recommends prometheus) >/dev/null 2>&1 \
    || echo "[bootstrap] could not install promtool (apt-get failed)" >&2
else
  echo "[bootstrap] promtool is missing; install Debian's 'prometheus' package for the monitoring test" >&2
fi
exit 0
