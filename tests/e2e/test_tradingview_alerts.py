"""TradingView alerts through the real webhook daemon to real orders on the simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shared_data.models import Alert, TradeRecord
from simulator.app import RunningSimulator
from tests.e2e.harness import Daemon, buy_alert, e2e_settings, eventually, running_daemon, start_test_simulator

PRODUCTS = ["BTC-USD", "ETH-USD", "SOL-USD", "LTC-USD"]


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_test_simulator(Path(tmp_path_factory.mktemp("sim")), PRODUCTS)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="module")
async def daemon(db_url: str, sim: RunningSimulator) -> AsyncIterator[Daemon]:
    for p in PRODUCTS:
        sim.set_price(p, D("100"))
    async with running_daemon(db_url, sim, e2e_settings()) as d:
        yield d


def sim_orders(sim: RunningSimulator, symbol: str) -> list[object]:
    return [o for o in sim.engine.orders.values() if o.product_id == symbol]


async def count(d: Daemon, model: type, *where: object) -> int:
    async with d.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one())


async def test_json_and_text_plain_bodies_each_place_one_order(daemon: Daemon, sim: RunningSimulator) -> None:
    status, body = await daemon.post_alert(buy_alert("BTC-USD", notional="150"))
    assert status == 200, body
    # TradingView sends text/plain when its own check thinks the message is not JSON.
    text_body = json.dumps(buy_alert("ETH-USD", notional="150"))
    status, body = await daemon.post_alert(text_body, content_type="text/plain; charset=utf-8")
    assert status == 200, body
    for symbol in ("BTC-USD", "ETH-USD"):
        await eventually(lambda s=symbol: len(sim_orders(sim, s)) == 1, what=f"{symbol} order on the exchange")
        await eventually(lambda s=symbol: daemon.position_size(s) > 0, what=f"{symbol} fill recorded")
    await asyncio.sleep(1.0)  # nothing else arrives later
    assert len(sim_orders(sim, "BTC-USD")) == 1 and len(sim_orders(sim, "ETH-USD")) == 1
    assert await count(daemon, TradeRecord, TradeRecord.source == "tradingview") == 2


async def test_ten_resends_place_one_order(daemon: Daemon, sim: RunningSimulator) -> None:
    body = buy_alert("SOL-USD", notional="120")
    results = await asyncio.gather(*(daemon.post_alert(body) for _ in range(10)))
    assert all(status == 200 for status, _ in results), results
    assert sum(1 for _, b in results if isinstance(b, dict) and b.get("result") == "duplicate") == 9
    await eventually(lambda: len(sim_orders(sim, "SOL-USD")) == 1, what="one SOL order")
    await asyncio.sleep(1.5)
    assert len(sim_orders(sim, "SOL-USD")) == 1


async def test_wrong_secret_is_401_and_orders_nothing(daemon: Daemon, sim: RunningSimulator) -> None:
    before = len(sim_orders(sim, "LTC-USD"))
    status, _ = await daemon.post_alert(buy_alert("LTC-USD") | {"secret": "not-the-secret-" + "y" * 30})
    assert status == 401
    await asyncio.sleep(1.0)
    assert len(sim_orders(sim, "LTC-USD")) == before
    assert await count(daemon, Alert, Alert.symbol == "LTC-USD", Alert.status == "accepted") == 0


async def test_stale_timenow_places_nothing(daemon: Daemon, sim: RunningSimulator) -> None:
    old = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, _ = await daemon.post_alert(buy_alert("LTC-USD", time=old))
    assert 400 <= status < 500
    await asyncio.sleep(1.0)
    assert sim_orders(sim, "LTC-USD") == []
    assert await count(daemon, Alert, Alert.symbol == "LTC-USD", Alert.status == "stale") == 1


async def test_oversized_body_is_413(daemon: Daemon, sim: RunningSimulator) -> None:
    status, _ = await daemon.post_alert(buy_alert("LTC-USD", strategy={"pad": "x" * 10_000}))
    assert status == 413
    assert sim_orders(sim, "LTC-USD") == []


async def test_dashboard_is_for_operators_only(daemon: Daemon) -> None:
    import aiohttp

    base = daemon.parts["alert_url"].rsplit("/webhook", 1)[0]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/dashboard/positions") as resp:  # direct loopback: the operator
            assert resp.status == 200
            symbols = {p["symbol"] for p in await resp.json()}
            assert {"BTC-USD", "ETH-USD"} <= symbols
        # The same request relayed from outside (through a proxy) is refused without the admin token.
        async with http.get(f"{base}/", headers={"X-Forwarded-For": "203.0.113.9"}) as resp:
            assert resp.status == 401
