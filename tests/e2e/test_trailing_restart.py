"""Kill the daemon with an active, twice-raised trailing stop; the restarted daemon carries on exactly."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import aiohttp
import asyncpg
import pytest

from shared_data.db import to_plain_url
from simulator.app import RunningSimulator
from tests.e2e.harness import SECRET, buy_alert, eventually, module_simulator
from tests.e2e.process_harness import DaemonProcess, daemon_env, secret_leaks

SYMBOL = "BTC-USD"


sim = module_simulator(SYMBOL)


async def _row(db_url: str, query: str, *args: Any) -> asyncpg.Record | None:
    conn = await asyncpg.connect(to_plain_url(db_url))
    try:
        return await conn.fetchrow(query, *args)
    finally:
        await conn.close()


async def _trailing(db_url: str) -> asyncpg.Record | None:
    return await _row(db_url, "SELECT * FROM trailing_stop_state WHERE symbol = $1", SYMBOL)


async def _post(url: str, body: dict[str, Any]) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, data=json.dumps(body)) as resp:
        return resp.status


@pytest.fixture
async def daemons() -> AsyncIterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for d in started:  # never leave a daemon running after a failed test
        if d.proc is not None and d.proc.returncode is None:
            await d.kill()


@pytest.mark.slow
async def test_trailing_stop_survives_sigkill(db_url: str, sim: RunningSimulator,
                                              daemons: list[DaemonProcess]) -> None:
    key = sim.create_api_key()
    env = daemon_env(db_url, sim, key)
    first = DaemonProcess(env)
    daemons.append(first)
    await first.start()
    sim.set_price(SYMBOL, D("100"))
    assert await _post(first.alert_url, buy_alert(SYMBOL)) == 200
    entry_row = await eventually(lambda: _row(db_url, """SELECT SUM(size) s, SUM(size*price)/SUM(size) p FROM fills
                                                      WHERE symbol=$1 AND side='BUY' HAVING COUNT(*) > 0""", SYMBOL),
                                 what="entry filled")
    entry = entry_row["p"]
    await eventually(lambda: _trailing(db_url), what="trailing stop created")

    sim.set_price(SYMBOL, entry * D("1.04"))  # activation at +3.5 %
    await eventually(lambda: _is(db_url, "active"), what="activation persisted")
    activated = await _trailing(db_url)
    for step in ("1.045", "1.05"):  # raise the high twice
        before = await _trailing(db_url)
        sim.set_price(SYMBOL, entry * D(step))
        await eventually(lambda b=before: _raised(db_url, b), what=f"high raised at {step}")
    before_kill = await _trailing(db_url)
    assert before_kill["highest_price"] > activated["highest_price"]
    assert before_kill["update_count"] >= activated["update_count"] + 2

    await first.kill()

    second = DaemonProcess(env)
    daemons.append(second)
    await second.start()
    restored = second.find("trailing_stops_restored")
    assert restored and restored[-1]["count"] == 1, second.tail()
    after_restart = await _trailing(db_url)
    for column in ("state", "activated_at", "highest_price", "current_stop", "update_count", "entry_price"):
        assert after_restart[column] == before_kill[column], column
    # The stop keeps moving from the restored high, not from scratch.
    sim.set_price(SYMBOL, entry * D("1.058"))
    await eventually(lambda: _raised(db_url, after_restart), what="high raised after restart")
    moved = await _trailing(db_url)
    assert moved["current_stop"] >= after_restart["current_stop"]
    assert moved["update_count"] > after_restart["update_count"]
    assert moved["activated_at"] == before_kill["activated_at"]

    # And it still fires: fall through the stop → a trailing_stop exit.
    sim.set_price(SYMBOL, moved["current_stop"] * D("0.995"))
    exit_row = await eventually(lambda: _row(db_url, """SELECT * FROM trade_records WHERE symbol=$1 AND side='SELL'
                                                     AND status='FILLED'""", SYMBOL), what="trailing exit filled")
    assert exit_row["exit_reason"] == "trailing_stop"
    assert await second.terminate() == 0
    assert secret_leaks(first.lines + second.lines, [SECRET, key.private_pem.splitlines()[1]]) == []


async def _is(db_url: str, state: str) -> bool:
    row = await _trailing(db_url)
    return row is not None and row["state"] == state


async def _raised(db_url: str, before: asyncpg.Record) -> bool:
    row = await _trailing(db_url)
    return row is not None and row["highest_price"] > before["highest_price"]
