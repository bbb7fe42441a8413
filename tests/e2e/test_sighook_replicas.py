"""Two sighook processes on one database split the products through advisory-lock leases; SIGKILL
one, and the other picks its products up: the published matrix keeps a row for every product."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simulator.app import RunningSimulator, SimulatorConfig, start_simulator
from tests.e2e.ha_support import query
from tests.e2e.harness import eventually
from tests.e2e.process_harness import ROOT, DaemonProcess, daemon_env

PRODUCTS = ["BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD", "LTC-USD", "ADA-USD"]


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(SimulatorConfig(state_dir=Path(tmp_path_factory.mktemp("sim")), products=PRODUCTS,
                                                    auto_tick=False, history_minutes=400, seed=5))
    try:
        yield running
    finally:
        await running.stop()


async def _start_sighook(env: dict[str, str], started: list[DaemonProcess]) -> DaemonProcess:
    d = DaemonProcess(env, "sighook")
    started.append(d)
    d.proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "main.py"), "sighook", env=env, cwd=str(ROOT),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, limit=2**22)
    d._reader = asyncio.create_task(d._read())
    await d.wait_event("sighook_ready", timeout=90)
    return d


def _held(d: DaemonProcess) -> int | None:
    found = d.find("sighook_leases")
    return int(found[-1]["held"]) if found else None


async def _rows(db_url: str) -> set[str]:
    found = await query(db_url, "SELECT data FROM shared_data WHERE data_type = 'market_data'")
    if not found:
        return set()
    data = found[0]["data"]
    data = json.loads(data) if isinstance(data, str) else data
    return set(data["buy_sell_matrix"]["rows"]) | set(data["buy_sell_matrix"]["skipped"])


@pytest.fixture
async def started() -> AsyncIterator[list[DaemonProcess]]:
    procs: list[DaemonProcess] = []
    yield procs
    for d in procs:
        if d.proc is not None and d.proc.returncode is None:
            await d.kill()


@pytest.mark.slow
async def test_replicas_split_and_pick_up_a_dead_ones_products(db_url: str, sim: RunningSimulator,
                                                                started: list[DaemonProcess]) -> None:
    env = daemon_env(db_url, sim, sim.create_api_key(), SIGHOOK_INTERVAL_S="3",
                     SIGHOOK_WEBHOOK_URL="http://127.0.0.1:9/webhook")  # entry alerts are not the subject here
    a = await _start_sighook(env, started)
    await eventually(lambda: _held(a) == len(PRODUCTS), timeout=60, what="first replica holds every product")
    await eventually(lambda: _rows(db_url), timeout=60, what="matrix published")
    assert await _rows(db_url) == set(PRODUCTS)

    b = await _start_sighook(env, started)
    await eventually(lambda: _held(a) == 3 and _held(b) == 3, timeout=90, what="products split 3 + 3")
    assert b.find("sighook_leases")[-1]["replicas"] == 2
    # Each replica computed only its own products, and the merged matrix still has them all.
    await asyncio.sleep(4)
    assert await _rows(db_url) == set(PRODUCTS)
    assert [e for e in a.find("sighook_cycle") if e.get("ok") is False] == []

    await a.kill()  # SIGKILL: its session ends, its leases with it
    await eventually(lambda: _held(b) == len(PRODUCTS), timeout=60, what="survivor took every product")
    assert b.find("sighook_leases")[-1]["replicas"] == 1
    cycles = len(b.find("sighook_cycle"))
    await eventually(lambda: len(b.find("sighook_cycle")) > cycles, timeout=30, what="a cycle by the survivor")
    assert await _rows(db_url) == set(PRODUCTS)
    assert b.find("sighook_cycle")[-1]["rows"] + b.find("sighook_cycle")[-1]["skipped"] == len(PRODUCTS)
    assert await b.terminate() == 0
