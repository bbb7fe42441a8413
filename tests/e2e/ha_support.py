"""Two webhook processes on one database and one simulator account (issue #24 tests and bench)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import aiohttp
import asyncpg

from shared_data.db import to_plain_url
from simulator.app import RunningSimulator
from tests.e2e.harness import eventually
from tests.e2e.process_harness import DaemonProcess


async def query(db_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(to_plain_url(db_url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def post(url: str, body: dict[str, Any]) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, data=json.dumps(body),
                                                          timeout=aiohttp.ClientTimeout(total=15)) as resp:
        return resp.status


async def health(daemon: DaemonProcess) -> dict[str, Any]:
    url = daemon.alert_url.rsplit("/", 1)[0] + "/health"
    async with aiohttp.ClientSession() as http, http.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
        return dict(await resp.json())


def role_of(body: dict[str, Any]) -> str:
    return str(body["details"]["leadership"]["role"])


async def start_pair(env: dict[str, str], started: list[DaemonProcess],
                     standby_env: dict[str, str] | None = None) -> tuple[DaemonProcess, DaemonProcess]:
    """The first process leads; the second, started once the first is ready, is the standby."""
    leader = DaemonProcess(env)
    started.append(leader)
    await leader.start()
    assert leader.find("webhook_ready")[-1]["role"] == "leader", leader.tail()
    standby = DaemonProcess(standby_env or env)
    started.append(standby)
    await standby.start()
    assert standby.find("webhook_ready")[-1]["role"] == "standby", standby.tail()
    return leader, standby


async def kill_and_time_takeover(leader: DaemonProcess, standby: DaemonProcess, *,
                                 timeout: float = 60.0) -> tuple[float, dict[str, Any]]:
    """SIGKILL the leader; seconds from the kill to the standby's first sentinel sweep as leader.

    Both sides read the same host's wall clock (the daemon logs `at_unix`); printed, not asserted.
    """
    before = len(standby.find("leader_first_sweep"))
    killed_at = time.time()
    await leader.kill()
    while len(standby.find("leader_first_sweep")) <= before:
        await standby.wait_event("leader_first_sweep", timeout=timeout)
        if len(standby.find("leader_first_sweep")) <= before:
            await asyncio.sleep(0.05)
    event = standby.find("leader_first_sweep")[-1]
    return float(event["at_unix"]) - killed_at, event


def sim_orders(sim: RunningSimulator) -> list[Any]:
    return list(sim.engine.orders.values())


def order_counts(sim: RunningSimulator) -> Counter[tuple[str, str]]:
    return Counter((o.product_id, o.side) for o in sim_orders(sim))


async def fills_recorded_exactly_once(db_url: str, sim: RunningSimulator, timeout: float = 60.0) -> None:
    """Every fill in the simulator's ledger is in `fills` exactly once, and nothing else is."""
    async def same() -> bool:
        rows = await query(db_url, "SELECT trade_id, count(*) AS n FROM fills GROUP BY trade_id")
        recorded = {r["trade_id"]: r["n"] for r in rows}
        return set(recorded) == {f["trade_id"] for f in sim.all_fills()} and all(n == 1 for n in recorded.values())

    await eventually(same, timeout=timeout, interval=0.5, what="every simulator fill recorded exactly once")


async def no_duplicated_order(db_url: str, sim: RunningSimulator) -> None:
    """Each simulator order has its own client_order_id and exactly one order row in our records."""
    orders = sim_orders(sim)
    coids = [o.client_order_id for o in orders]
    assert len(coids) == len(set(coids)), coids
    rows = await query(db_url, "SELECT client_order_id, count(*) AS n FROM trade_records "
                               "WHERE client_order_id = ANY($1::text[]) GROUP BY client_order_id", coids)
    assert {r["client_order_id"]: r["n"] for r in rows} == dict.fromkeys(coids, 1)
