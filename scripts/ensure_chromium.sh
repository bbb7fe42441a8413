#!/usr/bin/env bash
# The dashboard's browser test needs Debian's headless Chromium. Install it when missing and we can
# (root with apt-get, as on the project's machines and CI); otherwise say so — the test then fails
# with that message rather than being skipped.
set -uo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "[bootstrap] installing chromium for the dashboard browser test" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || echo "[bootstrap] could not install chromium (apt-get failed)" >&2
else
  echo "[bootstrap] chromium is missing; install Debian's 'chromium' package for the browser test" >&2
fi
exit 0
