"""The docker-compose topology without Docker: a standalone simulator process and a webhook process
that finds the simulator's key and CA in the shared state folder (no COINBASE_API_KEY set)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from shared_data.db import to_plain_url
from tests.e2e.harness import SECRET, buy_alert, eventually
from tests.e2e.process_harness import ROOT, DaemonProcess
from tests.ports import free_port


@pytest.mark.slow
async def test_simulator_and_webhook_as_separate_processes(db_url: str, tmp_path: Path) -> None:
    rest_port, ws_port = free_port(), free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SIM_", "WEBHOOK_", "COINBASE_"))}
    common = base | {"SIM_STATE_DIR": str(tmp_path / "simstate"), "SIM_REST_PORT": str(rest_port),
                     "SIM_WS_PORT": str(ws_port), "LOG_FORMAT": "json", "PYTHONPATH": str(ROOT)}
    sim = await asyncio.create_subprocess_exec(sys.executable, str(ROOT / "main.py"), "simulator", env=common,
                                               cwd=str(ROOT), stdout=asyncio.subprocess.DEVNULL,
                                               stderr=asyncio.subprocess.PIPE)
    daemon: DaemonProcess | None = None
    try:
        assert sim.stderr is not None
        while b"simulator_ready" not in (line := await asyncio.wait_for(sim.stderr.readline(), 60)):
            assert line, "simulator exited"
        env = common | {"DATABASE_URL": db_url, "REST_BASE_URL": f"127.0.0.1:{rest_port}",
                        "WEBHOOK_PORT": "0", "WEBHOOK_SECRETS": SECRET, "MAX_POSITION_PCT": "100"}
        daemon = DaemonProcess(env, "webhook")
        await daemon.start()
        assert daemon.find("exchange_selected", kind="paper_simulator")
        async with aiohttp.ClientSession() as http, http.post(daemon.alert_url,
                                                              data=json.dumps(buy_alert("BTC-USD"))) as resp:
            assert resp.status == 200

        async def filled() -> bool:
            conn = await asyncpg.connect(to_plain_url(db_url))
            try:
                return bool(await conn.fetchval("SELECT count(*) FROM fills WHERE symbol = 'BTC-USD'"))
            finally:
                await conn.close()

        await eventually(filled, timeout=30, what="the alert's fill recorded")
        assert await daemon.terminate() == 0
    finally:
        if daemon is not None and daemon.proc is not None and daemon.proc.returncode is None:
            await daemon.kill()
        sim.terminate()
        await asyncio.wait_for(sim.wait(), 30)
