"""A port another program holds is named as such: the daemon's bind failure is an OSError, which the command
line used to report as "cannot use the database" (exit 4). Now: exit 6 and a line naming the port's setting."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_a_taken_port_is_reported_as_one(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        env = {**os.environ, "SIM_STATE_DIR": str(tmp_path), "SIM_REST_PORT": str(taken),
               "SIM_WS_PORT": str(free_port()), "LOG_FORMAT": "json"}
        done = subprocess.run([sys.executable, "main.py", "simulator"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
    assert done.returncode == 6, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("bottrader: cannot listen: ") and str(taken) in last and "address already in use" in last
    assert "database" not in last and "SIM_REST_PORT" in last
