"""Every injected REST fault of the simulator, against every port method: no crash, bounded retries,
the right error type, and never a duplicate order (counted in the simulator's own order book)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from core.enums import OrderStatus, Side
from exchange.coinbase.rest import CoinbaseRestAdapter
from exchange.models import OrderKind, OrderRequest
from exchange.port import ExchangeAuthError, ExchangeUnavailable
from simulator.app import RunningSimulator
from tests.integration.exchange.conftest import REST_TIMEOUT_S
from tests.integration.exchange.helpers import metric

Call = Callable[[CoinbaseRestAdapter, dict[str, str]], Awaitable[Any]]


def cid() -> str:
    return f"fault-{uuid.uuid4().hex}"


def buy(usd: str = "10") -> OrderRequest:
    return OrderRequest(cid(), "BTC-USD", Side.BUY, OrderKind.MARKET, quote_size=Decimal(usd))


def resting(price: str = "45000") -> OrderRequest:
    return OrderRequest(cid(), "BTC-USD", Side.BUY, OrderKind.LIMIT_GTC, base_size=Decimal("0.001"),
                        limit_price=Decimal(price), post_only=True)


@pytest.fixture(scope="module")
async def known(adapter: CoinbaseRestAdapter) -> dict[str, str]:
    """An existing filled order and a resting one, for the methods that need ids."""
    filled = await adapter.create_order(buy("25"))
    rest = await adapter.create_order(resting("44000"))
    assert filled.order_id and rest.order_id
    return {"filled": filled.order_id, "resting": rest.order_id}


NOW = datetime.now(UTC)
# One entry per ExchangePort method (each makes exactly the requests a daemon would).
PORT_CALLS: dict[str, Call] = {
    "get_products": lambda a, k: a.get_products(),
    "get_product": lambda a, k: a.get_product("BTC-USD"),
    "get_balances": lambda a, k: a.get_balances(),
    "get_best_bid_ask": lambda a, k: a.get_best_bid_ask(["BTC-USD"]),
    "get_candles": lambda a, k: a.get_candles("BTC-USD", NOW - timedelta(hours=1), NOW, "ONE_MINUTE"),
    "create_order": lambda a, k: a.create_order(resting("43000")),
    "cancel_orders": lambda a, k: a.cancel_orders([k["filled"]]),
    "get_order": lambda a, k: a.get_order(k["filled"]),
    "list_orders": lambda a, k: a.list_orders(statuses=["OPEN"]),
    "list_fills": lambda a, k: a.list_fills(order_ids=[k["filled"]]),
    "get_fee_tier": lambda a, k: a.get_fee_tier(),
    "get_key_permissions": lambda a, k: a.get_key_permissions(),
    "get_server_time": lambda a, k: a.get_server_time(),
}

# fault kind + params → the retry cause it must show up as
TRANSIENT_FAULTS: dict[str, tuple[str, dict[str, Any], str]] = {
    "429_json": ("http_429", {"body": "json"}, "429"),
    "429_html": ("http_429", {"body": "html"}, "429"),
    "500_json": ("http_5xx", {"status": 500}, "5xx"),
    "503_html": ("http_5xx", {"status": 503, "body": "html"}, "5xx"),
    "401_once": ("http_401", {}, "401"),
}


@pytest.mark.parametrize("fault", sorted(TRANSIENT_FAULTS))
@pytest.mark.parametrize("method", sorted(PORT_CALLS))
async def test_every_method_survives_a_transient_fault(method: str, fault: str, adapter: CoinbaseRestAdapter,
                                                       sim: RunningSimulator, known: dict[str, str]) -> None:
    kind, params, cause = TRANSIENT_FAULTS[fault]
    orders_before = len(sim.engine.orders)
    retries_before = metric("bt_rest_retries_total", cause=cause)
    rule = sim.faults.add(kind, count=1, **params)
    result = await PORT_CALLS[method](adapter, known)
    assert rule.fired == 1
    assert metric("bt_rest_retries_total", cause=cause) == retries_before + 1
    assert result is not None
    if method == "create_order":
        assert result.success
        assert len(sim.engine.orders) == orders_before + 1  # retried with the same client_order_id: one order
        await adapter.cancel_orders([result.order_id])
    else:
        assert len(sim.engine.orders) == orders_before


@pytest.mark.parametrize("method", ["create_order", "get_order", "list_fills", "get_best_bid_ask"])
@pytest.mark.parametrize("fault", ["slow", "reset"])
@pytest.mark.parametrize("processed", [True, False], ids=["processed", "not_processed"])
async def test_timeouts_and_resets_are_retried_without_duplicates(
        method: str, fault: str, processed: bool, adapter: CoinbaseRestAdapter, sim: RunningSimulator,
        known: dict[str, str]) -> None:
    orders_before = len(sim.engine.orders)
    params: dict[str, Any] = {"process": processed}
    if fault == "slow":
        params["delay_s"] = REST_TIMEOUT_S + 0.5  # past the client timeout
    rule = sim.faults.add(fault, count=1, **params)
    result = await PORT_CALLS[method](adapter, known)
    assert rule.fired == 1
    if method == "create_order":
        # Processed: the first attempt created the order and the retry got it back by client_order_id.
        # Not processed: the first attempt never reached the engine and the retry created it. One order either way.
        assert result.success and len(sim.engine.orders) == orders_before + 1
        assert sim.engine.order_by_client_id(result.client_order_id) is not None
        await adapter.cancel_orders([result.order_id])
    else:
        assert len(sim.engine.orders) == orders_before


async def test_market_order_with_a_lost_response_is_not_doubled(adapter: CoinbaseRestAdapter,
                                                                sim: RunningSimulator) -> None:
    """The worst case for money: a market buy executes but the response is lost."""
    usd_before = sim.balances()["USD"][0]
    orders_before = len(sim.engine.orders)
    sim.faults.add("reset", count=1, path="/orders", method="POST", process=True)
    sim.faults.add("http_5xx", count=1, path="/orders", method="POST", status=502)
    request = buy("30")
    result = await adapter.create_order(request)
    assert result.success and len(sim.engine.orders) == orders_before + 1
    assert usd_before - sim.balances()["USD"][0] == Decimal("30")  # charged once


async def test_retry_budget_exhausted_raises_unavailable(adapter: CoinbaseRestAdapter,
                                                         sim: RunningSimulator) -> None:
    failures_before = metric("bt_rest_failures_total", cause="5xx")
    orders_before = len(sim.engine.orders)
    rule = sim.faults.add("http_5xx", status=503)  # every request until cleared
    with pytest.raises(ExchangeUnavailable):
        await adapter.create_order(buy())
    with pytest.raises(ExchangeUnavailable):
        await adapter.get_balances()
    assert rule.fired == 2 * (adapter.config.rest_max_retries + 1)  # bounded: 1 try + max_retries, per call
    assert metric("bt_rest_failures_total", cause="5xx") == failures_before + 2
    assert len(sim.engine.orders) == orders_before
    sim.faults.clear()
    assert (await adapter.get_balances())["USD"].available > 0  # and it recovers at once


async def test_persistent_429_gives_up_with_unavailable(adapter: CoinbaseRestAdapter, sim: RunningSimulator) -> None:
    sim.faults.add("http_429", body="html")
    with pytest.raises(ExchangeUnavailable, match="429"):
        await adapter.get_product("BTC-USD")


async def test_401_twice_is_an_auth_error_after_one_fresh_token(adapter: CoinbaseRestAdapter,
                                                                sim: RunningSimulator) -> None:
    rule = sim.faults.add("http_401", count=5)
    with pytest.raises(ExchangeAuthError):
        await adapter.get_balances()
    assert rule.fired == 2  # the first try and exactly one retry


async def test_403_missing_scopes_is_not_retried(adapter: CoinbaseRestAdapter, sim: RunningSimulator) -> None:
    rule = sim.faults.add("http_403", count=5)
    with pytest.raises(ExchangeAuthError):
        await adapter.get_key_permissions()
    assert rule.fired == 1


async def test_forced_business_rejections(adapter: CoinbaseRestAdapter, sim: RunningSimulator) -> None:
    sim.faults.add("create_reject", count=1, error="UNKNOWN_FAILURE_REASON",
                   preview_failure_reason="PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY")
    post_only = await adapter.create_order(resting())
    assert not post_only.success and post_only.is_post_only_rejection
    sim.faults.add("create_reject", count=1, error="ORDER_ENTRY_DISABLED",
                   preview_failure_reason="UNKNOWN_PREVIEW_FAILURE_REASON", message="disabled")
    disabled = await adapter.create_order(resting())
    assert not disabled.success and disabled.error == "ORDER_ENTRY_DISABLED" and disabled.message == "disabled"


async def test_order_failed_after_acceptance(adapter: CoinbaseRestAdapter, sim: RunningSimulator) -> None:
    sim.faults.add("create_fail", count=1)
    result = await adapter.create_order(resting())
    assert result.success and result.order_id
    order = await adapter.get_order(result.order_id)
    for _ in range(50):
        if order.status is OrderStatus.FAILED:
            break
        await sim.step(1)
        order = await adapter.get_order(result.order_id)
    assert order.status is OrderStatus.FAILED and order.reject_reason


async def test_stuck_pending_order_is_found_by_a_separate_pending_query(adapter: CoinbaseRestAdapter,
                                                                       sim: RunningSimulator) -> None:
    sim.faults.add("create_stuck_pending", count=1)
    result = await adapter.create_order(resting("42000"))
    assert result.success and result.order_id
    open_ids = {o.order_id for o in (await adapter.list_orders(statuses=["OPEN"])).items}
    pending_ids = {o.order_id for o in (await adapter.list_orders(statuses=["PENDING"])).items}
    assert result.order_id in pending_ids and result.order_id not in open_ids
    await adapter.cancel_orders([result.order_id])


async def test_late_fills_appear_on_a_later_poll(adapter: CoinbaseRestAdapter, sim: RunningSimulator) -> None:
    # The lag runs on the simulator's clock, which the test moves with step(): 30 simulated seconds.
    sim.faults.add("fills_lag", count=1, lag_s=30.0)
    result = await adapter.create_order(buy("40"))
    assert result.success and result.order_id
    order = await adapter.get_order(result.order_id)
    assert order.status is OrderStatus.FILLED and order.filled_size > 0
    first = await adapter.fetch_all_fills(order_ids=[result.order_id])
    assert first == []  # FILLED on the order, nothing on /fills yet
    polls = 0
    fills = first
    while sum(f.size for f in fills) != order.filled_size and polls < 20:  # the fill processor's pattern
        await sim.step(5)
        fills = await adapter.fetch_all_fills(order_ids=[result.order_id])
        polls += 1
    assert sum(f.size for f in fills) == order.filled_size and polls > 1
