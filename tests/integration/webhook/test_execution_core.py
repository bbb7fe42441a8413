"""Orders go out once and every fill comes back exactly once, with FIFO P&L right to the cent."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

from sqlalchemy import func, select, text

from core.enums import IngestVia, OrderSource, OrderStatus, Side
from exchange.models import Fill, Order, OrderKind
from shared_data.models import FifoAllocation, TradeRecord
from shared_data.models import Fill as FillRow
from tests.integration.webhook.conftest import PRODUCT, Core
from webhook.order_intent import IntentKind, OrderIntent

ROOT = Path(__file__).resolve().parents[3]


async def _rows(core: Core, model: type, *where: object) -> list:
    async with core.sessions() as session:
        return list((await session.execute(select(model).where(*where))).scalars())


async def test_buy_in_three_partial_fills_sell_in_two_matches_hand_computed(core: Core) -> None:
    buy = await core.orders.place(OrderIntent(PRODUCT, Side.BUY, IntentKind.LIMIT, OrderSource.TRADINGVIEW,
                                              "test:buy-1", base_size=D("4"), limit_price=D("100"),
                                              trigger={"why": "test"}))
    assert buy.ok and buy.order_id, buy
    # Three moves through the limit: 150 USD of maker liquidity each → 1.5, 1.5, 1.0 ETH at 100.
    for price in ("99.5", "99.4", "99.3"):
        core.sim.set_price(PRODUCT, D(price))
        if price == "99.5":  # record the first partial fill on its own, then the rest
            assert await core.fills.process_order(buy.order_id) == 1
    assert await core.fills.process_order(buy.order_id) == 2
    assert await core.fills.process_order(buy.order_id) == 0  # a replayed update records nothing

    sell = await core.orders.place(OrderIntent(PRODUCT, Side.SELL, IntentKind.LIMIT, OrderSource.WEBHOOK,
                                               "test:sell-1", base_size=D("2.5"), limit_price=D("120")))
    assert sell.ok and sell.order_id, sell
    for price in ("120.5", "120.6"):  # 150 USD per move at 120 → 1.25 + 1.25
        core.sim.set_price(PRODUCT, D(price))
    assert await core.fills.process_order(sell.order_id) == 2

    buy_fills = await _rows(core, FillRow, FillRow.order_id == buy.order_id)
    assert sorted((f.size, f.price, f.commission, f.liquidity_indicator) for f in buy_fills) == [
        (D("1.0"), D("100"), D("0.6"), "MAKER"), (D("1.5"), D("100"), D("0.9"), "MAKER"),
        (D("1.5"), D("100"), D("0.9"), "MAKER")]
    sell_fills = await _rows(core, FillRow, FillRow.order_id == sell.order_id)
    assert sorted((f.size, f.price, f.commission) for f in sell_fills) == [(D("1.25"), D("120"), D("0.9"))] * 2

    allocations = sorted(await _rows(core, FifoAllocation, FifoAllocation.sell_order_id == sell.order_id),
                         key=lambda a: (a.sell_time, a.sell_trade_id, a.slice_index))
    got = [(a.allocated_size, a.cost_basis_usd, a.proceeds_usd, a.net_proceeds_usd, a.pnl_usd, a.holding_term)
           for a in allocations]
    # Buy fee per unit 0.6 (0.9/1.5); sell fee per unit 0.72 (0.9/1.25).
    assert got == [
        (D("1.25"), D("125.75"), D("150"), D("149.1"), D("23.35"), "short"),  # S1 ← B1
        (D("0.25"), D("25.15"), D("30"), D("29.82"), D("4.67"), "short"),  # S2 ← rest of B1
        (D("1.0"), D("100.6"), D("120"), D("119.28"), D("18.68"), "short"),  # S2 ← B2 (older than B3)
    ]
    [sell_row] = await _rows(core, TradeRecord, TradeRecord.order_id == sell.order_id)
    assert sell_row.status == OrderStatus.FILLED.value
    assert (sell_row.pnl_usd, sell_row.cost_basis_usd, sell_row.sale_proceeds_usd, sell_row.net_sale_proceeds_usd) \
        == (D("46.70"), D("251.50"), D("300"), D("298.20"))
    assert sell_row.parent_id == buy.order_id and sell_row.parent_ids == [buy.order_id]
    [buy_row] = await _rows(core, TradeRecord, TradeRecord.order_id == buy.order_id)
    assert buy_row.remaining_size == D("1.5")
    assert buy_row.trigger == {"why": "test"} and buy_row.source == OrderSource.TRADINGVIEW.value
    position = core.ledger.position(PRODUCT)
    assert position.size == D("1.5") and position.avg_entry_price == D("100")


async def test_tax_reference_tv2_through_the_fill_path(core: Core) -> None:
    """TV-2 of the tax reference, recorded through FillRecorder into fills and fifo_allocations."""
    symbol = "TV2-USD"
    trades = [("B1", Side.BUY, "100", "50", "10"), ("S1", Side.SELL, "50", "120", "10"),
              ("B2", Side.BUY, "50", "130", "10"), ("S2", Side.SELL, "40", "90", "10")]
    for i, (name, side, size, price, fee) in enumerate(trades):
        when = datetime(2026, 3, 1 + i, 12, tzinfo=UTC)
        order = Order(order_id=f"tv2-{name}", client_order_id=f"tv2-{name}", product_id=symbol, side=side,
                      status=OrderStatus.FILLED, kind=OrderKind.LIMIT_GTC, order_type="LIMIT", base_size=D(size),
                      quote_size=None, limit_price=D(price), stop_price=None, filled_size=D(size),
                      average_filled_price=D(price), filled_value=D(size) * D(price), total_fees=D(fee),
                      number_of_fills=1, created_time=when)
        fill = Fill(trade_id=f"tv2-t-{name}", order_id=order.order_id, product_id=symbol, side=side, price=D(price),
                    size=D(size), commission=D(fee), trade_time=when)
        assert await core.recorder.record(order, [fill], via=IngestVia.IMPORT, source=OrderSource.MANUAL) == 1
    rows = await _rows(core, FifoAllocation, FifoAllocation.symbol == symbol)
    got = sorted((a.sell_order_id, a.buy_order_id, a.allocated_size, a.buy_fees_per_unit, a.sell_fees_per_unit,
                  a.cost_basis_usd, a.proceeds_usd, a.net_proceeds_usd, a.pnl_usd) for a in rows)
    assert got == [
        ("tv2-S1", "tv2-B1", D("50"), D("0.1"), D("0.2"), D("2505.0"), D("6000"), D("5990.0"), D("3485.0")),
        ("tv2-S2", "tv2-B1", D("40"), D("0.1"), D("0.25"), D("2004.0"), D("3600"), D("3590.00"), D("1586.00")),
    ]


CHILD = textwrap.dedent("""
    import asyncio, os, signal, sys
    from decimal import Decimal
    from datetime import UTC, datetime
    from core.enums import OrderSource, Side
    from core.settings import TradingMode
    from exchange.coinbase.config import CoinbaseConfig
    from exchange.coinbase.rest import CoinbaseRestAdapter
    from exchange.models import OrderKind, OrderRequest
    from shared_data import order_store
    from shared_data.db import create_engine, session_factory, unit_of_work
    from webhook.order_intent import client_order_id

    async def main():
        rest_host, ca, key_name, db_url = sys.argv[1:5]
        pem = sys.stdin.read()
        adapter = CoinbaseRestAdapter(CoinbaseConfig(mode=TradingMode.PAPER, rest_host=rest_host,
            ws_market_url="ws://127.0.0.1:1/ws", ws_user_url="ws://127.0.0.1:1/ws/user", ca_file=ca,
            api_key=key_name, api_secret=pem))
        engine = create_engine(db_url)
        sessions = session_factory(engine)
        coid = client_order_id("crash-test:market-buy")
        # The order manager's own steps: record the intent, send it ... and die before recording the answer.
        async with unit_of_work(sessions) as s:
            await order_store.record_intent(s, client_order_id=coid, symbol="BTC-USD", side=Side.BUY,
                order_type="MARKET", price=None, size=None, quote_size=Decimal("600"), source=OrderSource.WEBHOOK,
                trigger={}, exit_reason=None, exit_target_price=None, exit_quote_price=None,
                order_time=datetime.now(UTC))
        result = await adapter.create_order(OrderRequest(client_order_id=coid, product_id="BTC-USD", side=Side.BUY,
            kind=OrderKind.MARKET, quote_size=Decimal("600")))
        print(result.order_id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
""")


async def test_crash_between_order_and_fills_is_repaired_exactly_once(core: Core, db_url: str) -> None:
    env = {k: v for k, v in os.environ.items()} | {"PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, core.sim.rest_host, str(core.sim.ca_file), core.key.name, db_url,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(ROOT))
    out, err = await asyncio.wait_for(proc.communicate(core.key.private_pem.encode()), timeout=60)
    assert proc.returncode == -9, err.decode()[-2000:]
    order_id = out.decode().strip().splitlines()[-1]  # (unconfigured structlog also prints to stdout)
    for _ in range(100):  # the exchange fills a market order a moment after accepting it
        sim_fills = [f for f in core.sim.all_fills() if f["order_id"] == order_id]
        if sim_fills:
            break
        await asyncio.sleep(0.05)
    assert sim_fills, f"the market order filled on the exchange: {out!r} {err.decode()[-1500:]}"
    async with core.sessions() as session:
        status = (await session.execute(text(
            "SELECT status FROM trade_records WHERE client_order_id LIKE 'bt-%' AND symbol='BTC-USD'"))).scalar_one()
        assert status == OrderStatus.NEW.value  # the answer was never recorded
    await asyncio.sleep(2.1)  # a restart takes at least this long; younger NEW rows may still be in flight
    # Restart: the reconciler re-sends the NEW intent with the same client_order_id (the exchange answers
    # with the existing order, nothing new is created) and records the fills.
    stats = await core.reconciler.run_once("test")
    assert stats["recovered"] == 1
    assert len([f for f in core.sim.all_fills() if f["order_id"] == order_id]) == len(sim_fills)
    await core.reconciler.run_once("test")
    async with core.sessions() as session:
        n = (await session.execute(select(func.count()).select_from(FillRow).where(FillRow.order_id == order_id)
                                   )).scalar_one()
        [row] = (await session.execute(select(TradeRecord).where(TradeRecord.order_id == order_id))).scalars().all()
    assert n == len(sim_fills)
    assert row.status == OrderStatus.FILLED.value
    assert {o["order_id"] for o in core.sim.all_fills() if o["product_id"] == "BTC-USD"} == {order_id}
