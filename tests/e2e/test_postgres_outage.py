"""A few seconds without PostgreSQL: the daemon degrades (no new orders), keeps its memory, catches up.

The test runs its own PostgreSQL (pgserver) under a private data folder, so it can stop and start it.
"""

from __future__ import annotations

import asyncio
import tempfile
import warnings
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import select

from core.enums import OrderSource, Side
from shared_data import migrate
from shared_data.db import create_database
from shared_data.embedded import EmbeddedPostgres
from shared_data.models import Fill as FillRow
from simulator.app import RunningSimulator
from tests.e2e.harness import buy_alert, e2e_settings, eventually, running_daemon, start_test_simulator
from webhook.order_intent import IntentKind, OrderIntent

PRODUCTS = ["BTC-USD", "ETH-USD", "SOL-USD"]


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_test_simulator(Path(tmp_path_factory.mktemp("sim")), PRODUCTS)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
def own_postgres() -> AsyncIterator[EmbeddedPostgres]:
    pgdata = Path(tempfile.mkdtemp(prefix="bt-outage-pg-"))
    server = EmbeddedPostgres(pgdata)
    yield server
    server.stop()


def _start(server: EmbeddedPostgres) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return server.start()


@pytest.mark.slow
async def test_daemon_survives_a_postgres_outage(sim: RunningSimulator, own_postgres: EmbeddedPostgres) -> None:
    admin_url = _start(own_postgres)
    db_url = await create_database(admin_url, "bottrader")
    await migrate.upgrade(db_url)
    for p in PRODUCTS:
        sim.set_price(p, D("100"))
    settings = e2e_settings(fills_lag_retry_s=3.0, db_connect_timeout_s=2.0)
    async with running_daemon(db_url, sim, settings) as d:
        status, _ = await d.post_alert(buy_alert("BTC-USD"))
        assert status == 200
        await eventually(lambda: d.position_size("BTC-USD") > 0, what="BTC position")
        btc_size = d.position_size("BTC-USD")
        # A resting limit buy that will fill while the database is down.
        placed = await d.parts["orders"].place(OrderIntent("ETH-USD", Side.BUY, IntentKind.LIMIT, OrderSource.MANUAL,
                                                           "outage:eth", base_size=D("1"), limit_price=D("99")))
        assert placed.ok

        own_postgres.stop()  # ---- outage begins
        sim.set_price("ETH-USD", D("98.5"))  # the limit buy fills on the exchange now
        await eventually(lambda: any(f["product_id"] == "ETH-USD" for f in sim.all_fills()), what="exchange fill")
        status, _ = await d.post_alert(buy_alert("SOL-USD", id="during-outage"))
        assert status == 503  # not stored → TradingView resends; nothing was ordered
        orders_during = len(sim.engine.orders)
        await asyncio.sleep(3.0)
        assert len(sim.engine.orders) == orders_during  # no new orders while degraded
        assert d.position_size("BTC-USD") == btc_size  # memory kept
        assert sum(d.parts["supervisor"].restarts().values()) >= 0  # loops may restart, the process lives

        _start(own_postgres)  # ---- outage ends
        status, _ = await d.post_alert(buy_alert("SOL-USD", id="during-outage"))  # TradingView's resend
        assert status == 200
        await eventually(lambda: d.position_size("SOL-USD") > 0, timeout=30, what="ordering resumed")
        await eventually(lambda: d.position_size("ETH-USD") > 0, timeout=60, what="outage fill caught up")

        async with d.sessions() as session:
            recorded = set((await session.execute(select(FillRow.trade_id))).scalars())
        assert {f["trade_id"] for f in sim.all_fills()} == recorded  # nothing lost, nothing extra
