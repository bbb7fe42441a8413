"""`python main.py simulator` as a process: certificates, keys from `simulator-keygen`, faults.json, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from coinbase.rest import RESTClient

from tests.integration.simulator.conftest import call
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[3]


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"simulator exited early: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("simulator did not open its port")


@pytest.mark.slow
async def test_standalone_simulator_with_keygen(tmp_path: Path) -> None:
    rest_port, ws_port = free_port(), free_port()
    (tmp_path / "faults.json").write_text(json.dumps([{"kind": "http_5xx", "count": 1, "params": {"status": 502}}]))
    env = {**os.environ, "SIM_STATE_DIR": str(tmp_path), "SIM_REST_PORT": str(rest_port),
           "SIM_WS_PORT": str(ws_port), "LOG_FORMAT": "json"}
    proc = await call(subprocess.Popen, [sys.executable, "main.py", "simulator"], cwd=ROOT, env=env,
                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        await call(_wait_for_port, rest_port, proc)
        keygen = await call(subprocess.run, [sys.executable, "main.py", "simulator-keygen", "--json"], cwd=ROOT,
                            env=env, capture_output=True, check=True, timeout=60)
        key = json.loads(keygen.stdout)
        assert key["privateKey"].startswith("-----BEGIN EC PRIVATE KEY-----")
        assert (tmp_path / "ca.pem").exists() and (tmp_path / "default-key.json").exists()
        for key_file in (None, tmp_path / "default-key.json"):
            client = (RESTClient(api_key=key["name"], api_secret=key["privateKey"], base_url=f"127.0.0.1:{rest_port}",
                                 timeout=10) if key_file is None else
                      RESTClient(key_file=str(key_file), base_url=f"127.0.0.1:{rest_port}", timeout=10))
            client.session.trust_env = False
            client.session.verify = str(tmp_path / "ca.pem")
            if key_file is None:
                with pytest.raises(requests.HTTPError) as err:  # the fault from faults.json, once
                    await call(client.get_accounts)
                assert err.value.response.status_code == 502
            accounts = await call(client.get_accounts)
            assert "USD" in {a.currency for a in accounts.accounts}
    finally:
        proc.send_signal(signal.SIGTERM)
        stderr = (await call(proc.communicate, timeout=20))[1].decode()
    assert proc.returncode == 0, stderr[-2000:]
    ready = [json.loads(line) for line in stderr.splitlines() if '"simulator_ready"' in line]
    assert ready and ready[0]["rest_base_url"] == f"127.0.0.1:{rest_port}"
    assert "PRIVATE KEY" not in stderr
