#!/usr/bin/env bash
# Creates .venv with Python ≥ 3.12 and installs the project (with test extras) when
# pyproject.toml changed since the last install. Sourced by run.sh and test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

find_python() {
  local cand
  for cand in python3.12 python3.13 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      echo "$cand"; return 0
    fi
  done
  # pyenv installs that are not on PATH as a shim
  for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
    if [ -x "$cand" ]; then echo "$cand"; return 0; fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  # pyenv shims for python3.12 need the version selected explicitly
  if [ -z "${PYENV_VERSION:-}" ] && [ -d "${PYENV_ROOT:-$HOME/.pyenv}/versions" ]; then
    v=$(ls "${PYENV_ROOT:-$HOME/.pyenv}/versions" | grep -E '^3\.1[2-9]\.' | sort -V | head -n1 || true)
    [ -n "$v" ] && export PYENV_VERSION="$v"
  fi
  PY=$(find_python) || { echo "bottrader needs Python >= 3.12 (python3.12 not found)" >&2; exit 1; }
  echo "[bootstrap] creating .venv with $($PY --version)" >&2
  "$PY" -m venv "$VENV"
fi

STAMP="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  echo "[bootstrap] installing dependencies into .venv (first run takes a few minutes)" >&2
  LOG="$VENV/install.log"
  if ! { "$VENV/bin/python" -m pip install --upgrade pip && "$VENV/bin/python" -m pip install -e "$ROOT[test]"; } >"$LOG" 2>&1; then
    tail -n 40 "$LOG" >&2; echo "[bootstrap] install failed; full log: $LOG" >&2; exit 1
  fi
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
