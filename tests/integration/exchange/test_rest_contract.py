"""Contract tests: every ExchangePort method through CoinbaseRestAdapter → real SDK → simulator (HTTPS)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.enums import OrderStatus, Side
from core.settings import load_settings
from exchange.coinbase.clients import build_rest_adapter
from exchange.coinbase.config import CoinbaseConfig
from exchange.coinbase.rest import CoinbaseRestAdapter
from exchange.models import OrderKind, OrderRequest
from exchange.port import ExchangeBadRequest, ExchangeNotFound, ExchangePort
from simulator.app import RunningSimulator, TestKey


def cid() -> str:
    return f"test-{uuid.uuid4().hex}"


def market_buy(usd: str = "50", product: str = "BTC-USD") -> OrderRequest:
    return OrderRequest(cid(), product, Side.BUY, OrderKind.MARKET, quote_size=Decimal(usd))


def resting_buy(price: str = "50000", size: str = "0.001", post_only: bool = True) -> OrderRequest:
    return OrderRequest(cid(), "BTC-USD", Side.BUY, OrderKind.LIMIT_GTC, base_size=Decimal(size),
                        limit_price=Decimal(price), post_only=post_only)


def test_adapter_satisfies_the_port(adapter: CoinbaseRestAdapter) -> None:
    port: ExchangePort = adapter  # mypy checks the structural match; this checks it at run time too
    for name in ExchangePort.__dict__:
        if not name.startswith("_"):
            assert callable(getattr(port, name)), name


async def test_server_time(adapter: CoinbaseRestAdapter) -> None:
    t = await adapter.get_server_time()
    assert t.tzinfo is not None


async def test_products_and_product(adapter: CoinbaseRestAdapter) -> None:
    products = {p.product_id: p for p in await adapter.get_products()}
    assert {"BTC-USD", "ETH-USD"} <= set(products)
    btc = await adapter.get_product("BTC-USD")
    assert btc == products["BTC-USD"]
    assert btc.base_currency == "BTC" and btc.quote_currency == "USD" and btc.tradable
    assert isinstance(btc.price, Decimal) and btc.price_increment > 0 and btc.base_increment > 0


async def test_unknown_product_is_not_found(adapter: CoinbaseRestAdapter) -> None:
    with pytest.raises(ExchangeNotFound):
        await adapter.get_product("NOPE-USD")


async def test_balances_match_the_simulator(adapter: CoinbaseRestAdapter, sim: RunningSimulator) -> None:
    balances = await adapter.get_balances()
    for currency, (available, hold) in sim.balances().items():
        assert balances[currency].available == available and balances[currency].hold == hold


async def test_best_bid_ask(adapter: CoinbaseRestAdapter) -> None:
    quotes = await adapter.get_best_bid_ask(["BTC-USD", "ETH-USD"])
    assert {q.product_id for q in quotes} == {"BTC-USD", "ETH-USD"}
    assert all(q.bid < q.ask and q.time.tzinfo is not None for q in quotes)
    assert {q.product_id for q in await adapter.get_best_bid_ask([])} >= {"BTC-USD", "ETH-USD"}


async def test_candles_span_several_requests(adapter: CoinbaseRestAdapter) -> None:
    end = datetime.now(UTC)
    candles = await adapter.get_candles("BTC-USD", end - timedelta(hours=12), end, "ONE_MINUTE")
    starts = [c.start for c in candles]
    assert len(candles) > 350  # more than one request's worth, merged
    assert starts == sorted(set(starts))  # oldest first, no duplicates across windows
    assert all(c.low <= min(c.open, c.close) and c.high >= max(c.open, c.close) for c in candles)


async def test_bad_granularity_is_refused_before_sending(adapter: CoinbaseRestAdapter) -> None:
    with pytest.raises(ExchangeBadRequest, match="granularity"):
        await adapter.get_candles("BTC-USD", datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC), "TEN_MIN")


async def test_market_buy_fills_and_fills_carry_fee_and_liquidity(adapter: CoinbaseRestAdapter,
                                                                  sim: RunningSimulator) -> None:
    result = await adapter.create_order(market_buy("100"))
    assert result.success and result.order_id
    order = await adapter.get_order(result.order_id)
    assert order.status is OrderStatus.FILLED and order.kind is OrderKind.MARKET and order.side is Side.BUY
    assert order.client_order_id == result.client_order_id and order.quote_size == Decimal("100")
    fills = await adapter.fetch_all_fills(order_ids=[result.order_id])
    assert fills and sum(f.size for f in fills) == order.filled_size
    assert all(f.liquidity_indicator == "TAKER" and f.commission > 0 and f.trade_type == "FILL" for f in fills)
    assert all(f.sequence_timestamp is not None and f.entry_id for f in fills)
    sim_fills = [f for f in sim.all_fills() if f["order_id"] == result.order_id]
    assert {f.trade_id for f in fills} == {f["trade_id"] for f in sim_fills}


async def test_resting_limit_lists_cancels_and_reports(adapter: CoinbaseRestAdapter) -> None:
    result = await adapter.create_order(resting_buy("50000"))
    assert result.success and result.order_id
    order = await adapter.get_order(result.order_id)
    assert order.kind is OrderKind.LIMIT_GTC and order.post_only and order.limit_price == Decimal("50000")
    assert order.status in (OrderStatus.OPEN, OrderStatus.PENDING)
    open_ids = {o.order_id for o in (await adapter.list_orders(product_id="BTC-USD", statuses=["OPEN"])).items}
    assert result.order_id in open_ids
    (cancel,) = await adapter.cancel_orders([result.order_id])
    assert cancel.success and cancel.order_id == result.order_id and cancel.failure_reason is None
    final = await adapter.get_order(result.order_id)
    assert final.status in (OrderStatus.CANCELLED, OrderStatus.CANCEL_QUEUED)


async def test_resting_limit_fills_as_maker_when_the_market_trades_through(adapter: CoinbaseRestAdapter,
                                                                           sim: RunningSimulator) -> None:
    result = await adapter.create_order(resting_buy("59000", "0.002"))
    assert result.success and result.order_id
    sim.set_price("BTC-USD", Decimal("58000"))
    try:
        order = await adapter.get_order(result.order_id)
        for _ in range(20):
            if order.status is OrderStatus.FILLED:
                break
            await sim.step(1)
            order = await adapter.get_order(result.order_id)
        assert order.status is OrderStatus.FILLED and order.filled_size == Decimal("0.002")
        fills = await adapter.fetch_all_fills(order_ids=[result.order_id])
        assert sum(f.size for f in fills) == Decimal("0.002")
        assert {f.liquidity_indicator for f in fills} == {"MAKER"}
    finally:
        sim.set_price("BTC-USD", Decimal("60000"))


async def test_cancel_unknown_and_filled_orders_are_values_not_errors(adapter: CoinbaseRestAdapter) -> None:
    filled = await adapter.create_order(market_buy("20"))
    assert filled.order_id
    results = {r.order_id: r for r in await adapter.cancel_orders(["no-such-order", filled.order_id])}
    assert not results["no-such-order"].success and results["no-such-order"].failure_reason
    assert not results[filled.order_id].success
    assert results[filled.order_id].failure_reason == "ORDER_IS_FULLY_FILLED"
    assert await adapter.cancel_orders([]) == []


async def test_get_unknown_order_is_not_found(adapter: CoinbaseRestAdapter) -> None:
    with pytest.raises(ExchangeNotFound):
        await adapter.get_order("00000000-0000-0000-0000-000000000000")


async def test_stop_limit_and_bracket_orders(adapter: CoinbaseRestAdapter) -> None:
    stop = await adapter.create_order(OrderRequest(cid(), "BTC-USD", Side.SELL, OrderKind.STOP_LIMIT_GTC,
                                                   base_size=Decimal("0.001"), limit_price=Decimal("55000"),
                                                   stop_price=Decimal("55500")))
    bracket = await adapter.create_order(OrderRequest(cid(), "BTC-USD", Side.SELL, OrderKind.BRACKET_GTC,
                                                      base_size=Decimal("0.001"), limit_price=Decimal("65000"),
                                                      stop_price=Decimal("55000")))
    assert stop.success and bracket.success and stop.order_id and bracket.order_id
    s = await adapter.get_order(stop.order_id)
    b = await adapter.get_order(bracket.order_id)
    assert s.kind is OrderKind.STOP_LIMIT_GTC and s.stop_price == Decimal("55500")
    assert b.kind is OrderKind.BRACKET_GTC and b.stop_price == Decimal("55000")
    await adapter.cancel_orders([stop.order_id, bracket.order_id])


async def test_duplicate_client_order_id_returns_the_existing_order(adapter: CoinbaseRestAdapter,
                                                                   sim: RunningSimulator) -> None:
    request = resting_buy("51000")
    first = await adapter.create_order(request)
    count = len(sim.engine.orders)
    second = await adapter.create_order(request)
    assert second.success and second.order_id == first.order_id
    assert len(sim.engine.orders) == count
    assert first.order_id
    await adapter.cancel_orders([first.order_id])


async def test_post_only_crossing_is_a_rejection_value(adapter: CoinbaseRestAdapter, sim: RunningSimulator) -> None:
    count = len(sim.engine.orders)
    result = await adapter.create_order(resting_buy("70000", post_only=True))
    assert not result.success and result.order_id is None and result.is_post_only_rejection
    assert len(sim.engine.orders) == count


async def test_insufficient_funds_is_a_rejection_value(adapter: CoinbaseRestAdapter) -> None:
    result = await adapter.create_order(market_buy("5000000"))
    assert not result.success
    assert result.error in ("INSUFFICIENT_FUND", "INSUFFICIENT_FUNDS")
    assert result.failure_reason and "INSUFFICIENT_FUND" in result.failure_reason
    assert not result.is_post_only_rejection


async def test_precision_and_disabled_product_rejections(adapter: CoinbaseRestAdapter, sim: RunningSimulator) -> None:
    bad_size = await adapter.create_order(resting_buy("50000", size="0.0000000001"))
    assert not bad_size.success and bad_size.error
    sim.set_product_flags("ETH-USD", trading_disabled=True)
    try:
        disabled = await adapter.create_order(market_buy("20", product="ETH-USD"))
        assert not disabled.success and disabled.error
        assert not (await adapter.get_product("ETH-USD")).tradable
    finally:
        sim.set_product_flags("ETH-USD", trading_disabled=False)


async def test_incomplete_request_is_refused_without_sending(adapter: CoinbaseRestAdapter,
                                                             sim: RunningSimulator) -> None:
    count = len(sim.engine.orders)
    with pytest.raises(ExchangeBadRequest):
        await adapter.create_order(OrderRequest(cid(), "BTC-USD", Side.BUY, OrderKind.LIMIT_GTC,
                                                base_size=Decimal("1")))
    with pytest.raises(ExchangeBadRequest, match="client_order_id"):
        await adapter.create_order(OrderRequest("", "BTC-USD", Side.BUY, OrderKind.MARKET, quote_size=Decimal("5")))
    assert len(sim.engine.orders) == count


async def test_list_orders_pages_with_cursor(adapter: CoinbaseRestAdapter) -> None:
    ids = []
    for price in ("40000", "40001", "40002"):
        r = await adapter.create_order(resting_buy(price))
        assert r.order_id
        ids.append(r.order_id)
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        page = await adapter.list_orders(product_id="BTC-USD", statuses=["OPEN"], cursor=cursor, limit=1)
        assert len(page.items) <= 1
        seen += [o.order_id for o in page.items]
        if not page.has_next:
            break
        cursor = page.cursor
    assert set(ids) <= set(seen) and len(seen) == len(set(seen))
    await adapter.cancel_orders(ids)


async def test_list_orders_never_combines_open_with_other_statuses(adapter: CoinbaseRestAdapter) -> None:
    with pytest.raises(ExchangeBadRequest, match="OPEN"):
        await adapter.list_orders(statuses=["OPEN", "PENDING"])
    pending = await adapter.list_orders(statuses=["PENDING", "QUEUED"])
    assert all(o.status in (OrderStatus.PENDING, OrderStatus.QUEUED) for o in pending.items)


async def test_list_fills_pages_and_filters(adapter: CoinbaseRestAdapter) -> None:
    order_ids = []
    for _ in range(3):
        r = await adapter.create_order(market_buy("15"))
        assert r.order_id
        order_ids.append(r.order_id)
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        page = await adapter.list_fills(order_ids=order_ids, cursor=cursor, limit=1)
        seen += [f.trade_id for f in page.items]
        assert all(f.order_id in order_ids for f in page.items)
        if not page.has_next:
            break
        cursor = page.cursor
    assert len(seen) >= 3 and len(seen) == len(set(seen))
    since = datetime.now(UTC) - timedelta(minutes=5)
    by_product = await adapter.fetch_all_fills(product_id="BTC-USD", start=since)
    assert set(seen) <= {f.trade_id for f in by_product}


async def test_fee_tier_and_key_permissions(adapter: CoinbaseRestAdapter) -> None:
    tier = await adapter.get_fee_tier()
    assert tier.maker_rate == Decimal("0.006") and tier.taker_rate == Decimal("0.012") and tier.tier_name
    perms = await adapter.get_key_permissions()
    assert perms.can_view and perms.can_trade and not perms.can_transfer


async def test_fill_corrections_are_listed_with_their_trade_type(adapter: CoinbaseRestAdapter,
                                                                 sim: RunningSimulator) -> None:
    result = await adapter.create_order(market_buy("12"))
    assert result.order_id
    (original,) = await adapter.fetch_all_fills(order_ids=[result.order_id])
    sim.engine.add_fill_correction(original.trade_id, "REVERSAL", sim.ctx.now())
    sim.ctx.pump()
    fills = await adapter.fetch_all_fills(order_ids=[result.order_id])
    assert sorted(f.trade_type for f in fills) == ["FILL", "REVERSAL"]
    reversal = next(f for f in fills if f.trade_type == "REVERSAL")
    assert reversal.trade_id != original.trade_id and reversal.size == original.size


async def test_factories_from_settings_reach_the_simulator(sim: RunningSimulator, sim_key: TestKey) -> None:
    settings = load_settings(trading_mode="paper")
    config = CoinbaseConfig.from_settings(settings, rest_host=sim.rest_host, ws_market_url=sim.ws_market_url,
                                          ws_user_url=sim.ws_user_url, ca_file=sim.ca_file, api_key=sim_key.name,
                                          api_secret=sim_key.private_pem)
    adapter = build_rest_adapter(config)
    assert (await adapter.get_key_permissions()).can_trade
    assert config.rest_timeout_s == settings.rest_timeout_s  # everything else comes from settings
