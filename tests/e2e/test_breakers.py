"""Breakers in a scripted session through the whole daemon: a losing streak trips, the trip survives a
restart, entries are refused while exits still go through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import select

from shared_data.models import Alert, RiskState
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


async def _alert_status(d: Daemon, key: str) -> str | None:
    async with d.sessions() as session:
        status = (await session.execute(select(Alert.status).where(Alert.dedup_key == key))).scalar_one_or_none()
    return status if status not in (None, "accepted") else None


async def _tripped(d: Daemon) -> set[str]:
    async with d.sessions() as session:
        return set((await session.execute(select(RiskState.breaker).where(RiskState.tripped))).scalars())


@pytest.mark.slow
async def test_losing_streak_trips_persists_and_blocks_only_entries(db_url: str, sim: RunningSimulator) -> None:
    settings = e2e_settings(max_consecutive_losses=2, daily_loss_limit_usd="1000")
    for p in PRODUCTS:
        sim.set_price(p, D("100"))
    async with running_daemon(db_url, sim, settings) as d:
        for symbol in PRODUCTS[:3]:
            assert (await d.post_alert(buy_alert(symbol)))[0] == 200
        for symbol in PRODUCTS[:3]:
            await eventually(lambda s=symbol: d.position_size(s) > 0, what=f"{symbol} position")
        for symbol in PRODUCTS[:2]:  # two hard-stop losses in a row
            sim.set_price(symbol, D("93"))
            await eventually(lambda s=symbol: d.position_size(s) == 0, what=f"{symbol} stopped out")
        await eventually(lambda: _has(d, "losing_streak"), what="losing-streak breaker tripped")
        # Entries are refused …
        assert (await d.post_alert(buy_alert("LTC-USD", id="blocked-entry")))[0] == 200
        assert await eventually(lambda: _alert_status(d, "blocked-entry")) == "rejected_risk"
    # … and still after a restart.
    async with running_daemon(db_url, sim, settings) as d:
        assert "losing_streak" in await _tripped(d)
        assert (await d.post_alert(buy_alert("LTC-USD", id="blocked-after-restart")))[0] == 200
        assert await eventually(lambda: _alert_status(d, "blocked-after-restart")) == "rejected_risk"
        # Exits are always allowed: a close alert sells the remaining position.
        close = buy_alert("SOL-USD", id="close-while-tripped") | {"action": "close"}
        close.pop("notional")
        assert (await d.post_alert(close))[0] == 200
        assert await eventually(lambda: _alert_status(d, "close-while-tripped")) == "ordered"
        await eventually(lambda: d.position_size("SOL-USD") == 0, what="exit went through")


async def _has(d: Daemon, breaker: str) -> bool:
    return breaker in await _tripped(d)
