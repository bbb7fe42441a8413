"""The run command's daemon: starts `both` on Postgres, logs redacted config, exits 0 on SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(proc: subprocess.Popen[str], event: str, lines: list[str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line)
        if f'"event": "{event}"' in line:
            return
    pytest.fail(f"{event} not seen; output:\n{''.join(lines)}")


@pytest.mark.slow
def test_both_starts_logs_redacted_config_and_stops_cleanly(tmp_path: Path, db_url: str) -> None:
    secret = "w" * 40
    env = {k: v for k, v in os.environ.items()} | {
        "DATABASE_URL": db_url, "WEBHOOK_SECRETS": secret, "LOG_FORMAT": "json", "SIM_REST_PORT": "0",
        "SIM_WS_PORT": "0", "WEBHOOK_PORT": "0", "SIM_STATE_DIR": str(tmp_path / "sim"),
    }
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "both"], cwd=tmp_path, env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        _wait_for(proc, "starting", lines)
        start = json.loads(lines[-1])
        assert start["mode"] == "both"
        assert start["trading_mode"] == "paper" and "config" not in start  # the whole config: `config show`
        _wait_for(proc, "webhook_ready", lines)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        lines.append(err)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines)
    assert proc.returncode == 0, text
    assert secret not in text
    assert '"event": "stopped"' in text
