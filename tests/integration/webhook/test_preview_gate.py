"""Market orders above PREVIEW_ABOVE_USD are previewed on the real simulator (real SDK) before sending:
too much slippage → not sent and recorded; a hard-stop exit is sent anyway, its preview recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import SystemClock
from core.enums import ExitReason, OrderSource, Side
from core.settings import load_settings
from exchange.coinbase.rest import CoinbaseRestAdapter
from exchange.models import OrderKind, OrderRequest
from simulator.app import RunningSimulator, start_simulator
from tests.integration.webhook.conftest import adapter_config, sim_config
from webhook.order_intent import IntentKind, OrderIntent
from webhook.order_manager import OrderManager

D = Decimal
PRODUCT = "ETH-USD"


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(sim_config(
        Path(tmp_path_factory.mktemp("sim")), initial_prices={PRODUCT: D("3000"), "BTC-USD": D("60000")},
        initial_balances={"USD": D("200000"), "ETH": D("30")}))
    try:
        yield running
    finally:
        await running.stop()


async def previews(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, str]]:
    async with sessions() as session:
        rows = (await session.execute(text(
            "SELECT client_order_id, decision, reason FROM order_previews ORDER BY id"))).all()
    return [(r.client_order_id, r.decision, r.reason) for r in rows]


async def test_preview_blocks_slippage_exempts_the_hard_stop(sim: RunningSimulator,
                                                           db_sessions: async_sessionmaker[AsyncSession]) -> None:
    adapter = CoinbaseRestAdapter(adapter_config(sim, sim.create_api_key()))
    # The typed preview: a 60k buy walks past the 25k top level of the simulator's book.
    big = OrderRequest("p1", PRODUCT, Side.BUY, OrderKind.MARKET, quote_size=D("60000"))
    preview = await adapter.preview_order(big)
    assert preview.ok and preview.slippage_pct > 0 and preview.best_ask is not None
    assert preview.order_total == D("60000") and preview.commission_total > 0

    settings = load_settings(preview_above_usd="1000", max_slippage_pct="0.001", max_order_notional_usd="1000000")
    orders = OrderManager(adapter, db_sessions, settings, SystemClock())
    before = len(sim.engine.orders)
    blocked = await orders.place(OrderIntent(PRODUCT, Side.BUY, IntentKind.MARKET, OrderSource.TRADINGVIEW,
                                             "pv-entry", quote_size=D("60000")))
    assert not blocked.ok and blocked.error == "PREVIEW_BLOCKED" and "slippage" in (blocked.detail or "")
    small = await orders.place(OrderIntent(PRODUCT, Side.BUY, IntentKind.MARKET, OrderSource.TRADINGVIEW,
                                           "pv-small", quote_size=D("500")))  # under the threshold: no preview
    assert small.ok
    signal_exit = await orders.place(OrderIntent(PRODUCT, Side.SELL, IntentKind.MARKET, OrderSource.WEBHOOK,
                                                 "pv-signal", base_size=D("25"), exit_reason=ExitReason.SIGNAL))
    assert not signal_exit.ok and signal_exit.error == "PREVIEW_BLOCKED"
    assert len(sim.engine.orders) == before + 1  # only the small buy reached the exchange
    hard = await orders.place(OrderIntent(PRODUCT, Side.SELL, IntentKind.MARKET, OrderSource.WEBHOOK,
                                          "pv-hard", base_size=D("25"), exit_reason=ExitReason.HARD_STOP))
    assert hard.ok and hard.order_id in sim.engine.orders  # it must exit: sent despite the slippage
    rows = await previews(db_sessions)
    assert [(decision, "slippage" in reason) for _c, decision, reason in rows] == [
        ("block", True), ("block", True), ("exempt", True)]
    assert rows[2][0] == hard.client_order_id
    async with db_sessions() as session:
        status = (await session.execute(text("SELECT status, reject_reason FROM trade_records "
                                             "WHERE client_order_id = :c"), {"c": blocked.client_order_id})).one()
    assert status.status == "REJECTED" and status.reject_reason.startswith("PREVIEW_BLOCKED")


async def test_a_failed_preview_is_not_sent(sim: RunningSimulator,
                                            db_sessions: async_sessionmaker[AsyncSession]) -> None:
    adapter = CoinbaseRestAdapter(replace(adapter_config(sim, sim.create_api_key()), rest_max_retries=0))
    settings = load_settings(preview_above_usd="1000", max_order_notional_usd="1000000")
    orders = OrderManager(adapter, db_sessions, settings, SystemClock())
    sim.faults.add("http_5xx", path="/orders/preview", status=503)
    try:
        result = await orders.place(OrderIntent("BTC-USD", Side.BUY, IntentKind.MARKET, OrderSource.TRADINGVIEW,
                                                "pv-fail", quote_size=D("2000")))
    finally:
        sim.faults.clear("http_5xx")
    assert not result.ok and result.error == "PREVIEW_BLOCKED" and "preview failed" in (result.detail or "")
    rows = await previews(db_sessions)
    assert rows[-1][1] == "block" and "ExchangeUnavailable" in rows[-1][2]
