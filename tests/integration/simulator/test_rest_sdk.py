"""The real coinbase-advanced-py RESTClient against the simulator: every endpoint parses into the SDK's types."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import requests
from coinbase.rest import RESTClient
from coinbase.rest.types.accounts_types import Account, GetAccountResponse, ListAccountsResponse
from coinbase.rest.types.data_api_types import GetAPIKeyPermissionsResponse
from coinbase.rest.types.fees_types import GetTransactionSummaryResponse
from coinbase.rest.types.orders_types import (
    CancelOrdersResponse,
    CreateOrderResponse,
    ListFillsResponse,
    ListOrdersResponse,
    Order,
)
from coinbase.rest.types.product_types import (
    GetBestBidAskResponse,
    GetMarketTradesResponse,
    GetProductBookResponse,
    GetProductCandlesResponse,
    GetProductResponse,
    ListProductsResponse,
    Product,
)
from coinbase.rest.types.public_types import GetServerTimeResponse

from simulator.app import RunningSimulator, start_simulator
from simulator.keys import KeyPermissions
from tests.integration.simulator.conftest import call, rest_client, sim_config

D = Decimal


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(sim_config(
        tmp_path_factory.mktemp("sim"), initial_balances={"USD": D("100000"), "ETH": D("5")}))
    try:
        yield running
    finally:
        await running.stop()


def cid() -> str:
    return uuid.uuid4().hex


async def test_accounts_paginate_and_parse(client: RESTClient, sim: RunningSimulator) -> None:
    first = await call(client.get_accounts, limit=2)
    assert isinstance(first, ListAccountsResponse)
    assert all(isinstance(a, Account) for a in first.accounts)
    assert first.has_next is True and first.cursor and first.size == 2
    seen = list(first.accounts)
    cursor = first.cursor
    while cursor:
        page = await call(client.get_accounts, limit=2, cursor=cursor)
        seen.extend(page.accounts)
        cursor = page.cursor if page.has_next else ""
    currencies = {a.currency for a in seen}
    assert {"USD", "BTC", "ETH"} <= currencies and len(seen) == len(currencies)
    usd = next(a for a in seen if a.currency == "USD")
    assert usd.type == "ACCOUNT_TYPE_FIAT" and usd.name == "USD Wallet"
    assert D(usd.available_balance["value"]) + D(usd.hold["value"]) == D("100000")
    one = await call(client.get_account, usd.uuid)
    assert isinstance(one, GetAccountResponse) and one.account.currency == "USD"
    assert first["rate_limit_limit"] == "30" and first["rate_limit_remaining"] is not None


async def test_products_and_public_mirrors(client: RESTClient) -> None:
    listing = await call(client.get_products)
    assert isinstance(listing, ListProductsResponse) and listing.num_products == 5
    assert all(isinstance(p, Product) for p in listing.products)
    btc = await call(client.get_product, "BTC-USD")
    assert isinstance(btc, GetProductResponse)
    assert btc.base_increment == "0.00000001" and btc.price_increment == "0.01" and btc.status == "online"
    assert D(btc.volume_24h) > 0 and btc.price_percentage_change_24h
    assert btc.trading_disabled is False and btc.quote_currency_id == "USD"
    some = await call(client.get_products, product_ids=["ETH-USD", "SOL-USD"])
    assert [p.product_id for p in some.products] == ["ETH-USD", "SOL-USD"]
    public = await call(client.get_public_product, "ETH-USD")
    assert public.product_id == "ETH-USD"
    public_list = await call(client.get_public_products)
    assert public_list.num_products == 5
    with pytest.raises(requests.HTTPError) as err:
        await call(client.get_product, "NOPE-USD")
    assert err.value.response.status_code == 404
    assert err.value.response.json()["error"] == "NOT_FOUND"


async def test_candles_newest_first_and_limit(client: RESTClient) -> None:
    now = int(time.time())
    resp = await call(client.get_candles, "BTC-USD", str(now - 300 * 60), str(now), "ONE_MINUTE")
    assert isinstance(resp, GetProductCandlesResponse)
    starts = [int(c.start) for c in resp.candles]
    assert len(starts) >= 290 and starts == sorted(starts, reverse=True)
    assert all(D(c.low) <= D(c.open) <= D(c.high) and D(c.low) <= D(c.close) <= D(c.high) for c in resp.candles)
    five = await call(client.get_public_candles, "BTC-USD", str(now - 3600), str(now), "FIVE_MINUTE")
    assert all(int(c.start) % 300 == 0 for c in five.candles) and len(five.candles) >= 11
    with pytest.raises(requests.HTTPError) as err:
        await call(client.get_candles, "BTC-USD", str(now - 400 * 60), str(now), "ONE_MINUTE")
    assert err.value.response.status_code == 400
    assert "less than 350" in err.value.response.json()["message"]


async def test_books_and_trades(client: RESTClient) -> None:
    bba = await call(client.get_best_bid_ask, ["BTC-USD", "ETH-USD"])
    assert isinstance(bba, GetBestBidAskResponse)
    assert [b.product_id for b in bba.pricebooks] == ["BTC-USD", "ETH-USD"]
    book = bba.pricebooks[0]
    assert D(book.bids[0].price) < D(book.asks[0].price)
    full = await call(client.get_product_book, "BTC-USD", limit=5)
    assert isinstance(full, GetProductBookResponse)
    assert len(full.pricebook.bids) == 5 and len(full.pricebook.asks) == 5
    assert D(full.spread_absolute) > 0 and D(full.mid_market) > 0
    public = await call(client.get_public_product_book, "ETH-USD", limit=3)
    assert len(public.pricebook.asks) == 3
    trades = await call(client.get_market_trades, "BTC-USD", limit=5)
    assert isinstance(trades, GetMarketTradesResponse) and trades.best_bid and trades.best_ask


async def test_market_buy_by_quote_is_inclusive_of_fees(client: RESTClient, sim: RunningSimulator) -> None:
    created = await call(client.market_order_buy, cid(), "BTC-USD", quote_size="50")
    assert isinstance(created, CreateOrderResponse) and created.success is True
    order = (await call(client.get_order, created.success_response["order_id"])).order
    assert isinstance(order, Order)
    assert order.status == "FILLED" and order.order_type == "MARKET" and order.time_in_force == "IMMEDIATE_OR_CANCEL"
    assert order.size_in_quote is True and order.size_inclusive_of_fees is True
    assert D(order.total_value_after_fees) == D("50")
    assert D(order.filled_value) + D(order.total_fees) == D("50")
    assert D(order.total_fees) == pytest.approx(D(order.filled_value) * D("0.012"), abs=D("0.0001"))
    assert order.order_configuration.market_market_ioc.quote_size == "50"
    fills = await call(client.get_fills, order_ids=[order.order_id])
    assert isinstance(fills, ListFillsResponse)
    assert sum(D(f.size) for f in fills.fills) == D(order.filled_size)
    assert all(f.liquidity_indicator == "TAKER" and f.trade_type == "FILL" for f in fills.fills)


async def test_market_sell_by_base(client: RESTClient) -> None:
    created = await call(client.market_order_sell, cid(), "ETH-USD", base_size="0.5")
    assert created.success
    order = (await call(client.get_order, created.success_response["order_id"])).order
    assert order.status == "FILLED" and D(order.filled_size) == D("0.5") and order.size_in_quote is False
    assert D(order.total_value_after_fees) == D(order.filled_value) - D(order.total_fees)


async def test_limit_hold_then_cancel_releases(client: RESTClient, sim: RunningSimulator) -> None:
    before = sim.balances()["USD"]
    created = await call(client.limit_order_gtc_buy, cid(), "BTC-USD", base_size="0.01", limit_price="50000.00")
    assert created.success
    oid = created.success_response["order_id"]
    expected_hold = D("0.01") * D("50000") * (1 + D("0.012"))
    available, hold = sim.balances()["USD"]
    assert hold - before[1] == expected_hold and before[0] - available == expected_hold
    order = (await call(client.get_order, oid)).order
    assert order.status == "OPEN" and D(order.outstanding_hold_amount) == expected_hold
    assert order.order_configuration.limit_limit_gtc.post_only is False
    open_orders = await call(client.list_orders, order_status=["OPEN"], product_ids=["BTC-USD"])
    assert oid in [o.order_id for o in open_orders.orders]
    cancelled = await call(client.cancel_orders, [oid, "no-such-order"])
    assert isinstance(cancelled, CancelOrdersResponse)
    assert [(r.success, r.failure_reason) for r in cancelled.results] == [
        (True, "UNKNOWN_CANCEL_FAILURE_REASON"), (False, "UNKNOWN_CANCEL_ORDER")]
    order = (await call(client.get_order, oid)).order
    assert order.status == "CANCELLED" and order.cancel_message == "User requested cancel"
    assert sim.balances()["USD"] == before
    again = await call(client.cancel_orders, [oid])
    assert again.results[0].failure_reason == "DUPLICATE_CANCEL_REQUEST"


async def test_post_only_crossing_is_rejected(client: RESTClient, sim: RunningSimulator) -> None:
    ask = sim.engine.markets["BTC-USD"].book.best_ask
    assert ask is not None
    resp = await call(client.limit_order_gtc_buy, cid(), "BTC-USD", base_size="0.001",
                      limit_price=str(ask.price + 100), post_only=True)
    assert resp.success is False
    assert resp.error_response["error"] == "INVALID_LIMIT_PRICE_POST_ONLY"
    assert resp.error_response["preview_failure_reason"] == "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY"
    assert resp.order_configuration.limit_limit_gtc.post_only is True


async def test_insufficient_funds(client: RESTClient) -> None:
    resp = await call(client.market_order_buy, cid(), "BTC-USD", quote_size="1000000")
    assert resp.success is False
    assert resp.error_response["error"] == "INSUFFICIENT_FUND"
    assert resp.error_response["new_order_failure_reason"] == "INSUFFICIENT_FUND"
    assert resp.error_response["preview_failure_reason"] == "PREVIEW_INSUFFICIENT_FUND"
    assert resp.error_response["message"] == "Insufficient balance in source account"


async def test_duplicate_client_order_id_returns_the_existing_order(client: RESTClient, sim: RunningSimulator) -> None:
    coid = cid()
    first = await call(client.limit_order_gtc_buy, coid, "ETH-USD", base_size="0.1", limit_price="1000.00")
    second = await call(client.limit_order_gtc_buy, coid, "ETH-USD", base_size="0.1", limit_price="1000.00")
    assert first.success and second.success
    assert second.success_response["order_id"] == first.success_response["order_id"]
    assert second.success_response["client_order_id"] == coid
    assert sum(1 for o in sim.engine.orders.values() if o.client_order_id == coid) == 1
    await call(client.cancel_orders, [first.success_response["order_id"]])


async def test_precision_size_and_product_rejections(client: RESTClient, sim: RunningSimulator) -> None:
    cases = [
        (dict(base_size="0.000000001", limit_price="1000.00"), "INVALID_SIZE_PRECISION"),
        (dict(base_size="0.001", limit_price="1000.001"), "INVALID_PRICE_PRECISION"),
    ]
    for kwargs, error in cases:
        resp = await call(client.limit_order_gtc_buy, cid(), "BTC-USD", **kwargs)
        assert resp.success is False and resp.error_response["error"] == error
    small = await call(client.limit_order_gtc_buy, cid(), "BTC-USD", base_size="0.00000001", limit_price="1000.00")
    assert small.error_response["preview_failure_reason"] == "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"
    big = await call(client.limit_order_gtc_buy, cid(), "BTC-USD", base_size="5000", limit_price="1.00")
    assert big.error_response["preview_failure_reason"] == "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE"
    sim.set_product_flags("SOL-USD", trading_disabled=True)
    try:
        off = await call(client.market_order_buy, cid(), "SOL-USD", quote_size="10")
        assert off.success is False and off.error_response["error"] == "ORDER_ENTRY_DISABLED"
        product = await call(client.get_product, "SOL-USD")
        assert product.trading_disabled is True
    finally:
        sim.set_product_flags("SOL-USD", trading_disabled=False)
    unknown = await call(client.market_order_buy, cid(), "NOPE-USD", quote_size="10")
    assert unknown.error_response["error"] == "INVALID_PRODUCT_ID"
    empty = await call(client.create_order, cid(), "BTC-USD", "BUY", {"market_market_ioc": {}})
    assert empty.success is False and "empty order sizes" in empty.error_response["message"]


async def test_get_order_unknown_is_404(client: RESTClient) -> None:
    with pytest.raises(requests.HTTPError) as err:
        await call(client.get_order, "00000000-0000-4000-8000-000000000000")
    assert err.value.response.status_code == 404
    assert err.value.response.json()["message"] == "order with this orderID was not found"


async def test_list_orders_rules_and_paging(client: RESTClient) -> None:
    ids = []
    for _ in range(3):
        r = await call(client.limit_order_gtc_sell, cid(), "ETH-USD", base_size="0.01", limit_price="9000.00")
        ids.append(r.success_response["order_id"])
    with pytest.raises(requests.HTTPError) as err:
        await call(client.list_orders, order_status=["OPEN", "PENDING"])
    assert err.value.response.status_code == 400
    first = await call(client.list_orders, order_ids=ids, limit=2)
    assert isinstance(first, ListOrdersResponse) and first.has_next and len(first.orders) == 2
    assert isinstance(first.sequence, str)
    second = await call(client.list_orders, order_ids=ids, limit=2, cursor=first.cursor)
    assert second.has_next is False and second.cursor == ""
    assert {o.order_id for o in first.orders + second.orders} == set(ids)
    sells = await call(client.list_orders, order_side="SELL", order_types=["LIMIT"], product_ids=["ETH-USD"],
                       order_status=["OPEN"])
    assert set(ids) <= {o.order_id for o in sells.orders}
    await call(client.cancel_orders, ids)


async def test_fills_paging(client: RESTClient) -> None:
    for _ in range(3):
        await call(client.market_order_buy, cid(), "LTC-USD", quote_size="20")
    first = await call(client.get_fills, product_ids=["LTC-USD"], limit=2)
    assert len(first.fills) == 2 and first.cursor
    rest = await call(client.get_fills, product_ids=["LTC-USD"], limit=2, cursor=first.cursor)
    assert len(rest.fills) >= 1 and rest.cursor == ""
    times = [f.trade_time for f in first.fills + rest.fills]
    assert times == sorted(times, reverse=True)


async def test_stop_limit_and_bracket(client: RESTClient, sim: RunningSimulator) -> None:
    price = sim.engine.markets["LTC-USD"].price
    stop = await call(client.stop_limit_order_gtc_buy, cid(), "LTC-USD", base_size="0.1",
                      limit_price=str(price + 5), stop_price=str(price + 2),
                      stop_direction="STOP_DIRECTION_STOP_UP")
    assert stop.success
    order = (await call(client.get_order, stop.success_response["order_id"])).order
    assert order.order_type == "STOP_LIMIT" and order.trigger_status == "STOP_PENDING" and order.status == "OPEN"
    sim.set_price("LTC-USD", price + 3)
    order = (await call(client.get_order, order.order_id)).order
    assert order.trigger_status == "STOP_TRIGGERED" and order.status == "FILLED"
    bracket = await call(client.trigger_bracket_order_gtc_sell, cid(), "LTC-USD", base_size="0.1",
                         limit_price=str(price + 20), stop_trigger_price=str(price - 10))
    assert bracket.success
    b = (await call(client.get_order, bracket.success_response["order_id"])).order
    assert b.order_type == "BRACKET" and b.order_configuration.trigger_bracket_gtc.stop_trigger_price
    sim.set_price("LTC-USD", price - 11)
    b = (await call(client.get_order, b.order_id)).order
    assert b.trigger_status == "STOP_TRIGGERED" and b.status == "FILLED"
    b_fills = (await call(client.get_fills, order_ids=[b.order_id])).fills
    assert all(D(f.price) >= (price - 10) * D("0.95") for f in b_fills)


async def test_sor_limit_ioc_unfilled_is_cancelled(client: RESTClient) -> None:
    resp = await call(client.limit_order_ioc_buy, cid(), "BTC-USD", base_size="0.001", limit_price="1000.00")
    assert resp.success
    order = (await call(client.get_order, resp.success_response["order_id"])).order
    assert order.status == "CANCELLED" and order.filled_size == "0" and order.time_in_force == "IMMEDIATE_OR_CANCEL"


async def test_gtd_limit_order(client: RESTClient) -> None:
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    resp = await call(client.limit_order_gtd_buy, cid(), "BTC-USD", base_size="0.001", limit_price="1000.00",
                      end_time=end)
    assert resp.success
    order = (await call(client.get_order, resp.success_response["order_id"])).order
    assert order.time_in_force == "GOOD_UNTIL_DATE_TIME" and order.status == "OPEN"
    await call(client.cancel_orders, [order.order_id])


async def test_batch_cancel_limit(client: RESTClient) -> None:
    with pytest.raises(requests.HTTPError) as err:
        await call(client.cancel_orders, [f"id-{i}" for i in range(101)])
    assert err.value.response.status_code == 400


async def test_summary_time_permissions(client: RESTClient) -> None:
    summary = await call(client.get_transaction_summary)
    assert isinstance(summary, GetTransactionSummaryResponse)
    assert summary.fee_tier["maker_fee_rate"] == "0.006" and summary.fee_tier["taker_fee_rate"] == "0.012"
    assert summary.fee_tier["pricing_tier"] == "Intro 1" and isinstance(summary.total_volume, float)
    server_time = await call(client.get_unix_time)
    assert isinstance(server_time, GetServerTimeResponse)
    assert abs(int(server_time.epoch_seconds) - time.time()) < 60
    perms = await call(client.get_api_key_permissions)
    assert isinstance(perms, GetAPIKeyPermissionsResponse)
    assert perms.can_trade is True and perms.can_transfer is False and perms.portfolio_type == "DEFAULT"


async def test_auth_failures_are_plain_401(sim: RunningSimulator, client: RESTClient) -> None:
    from simulator.keys import generate_key_pair

    stranger = rest_client(sim, generate_key_pair())
    with pytest.raises(requests.HTTPError) as err:
        await call(stranger.get_accounts)
    assert err.value.response.status_code == 401 and err.value.response.text == "Unauthorized\n"
    # A JWT signed for another host (uri claim mismatch) is refused as well.
    key = sim.create_api_key()
    other = RESTClient(api_key=key.name, api_secret=key.private_pem, base_url=sim.rest_host, timeout=10)
    other.session.trust_env = False
    other.session.verify = str(sim.ca_file)
    other.base_url = "localhost:1"  # the SDK signs uri with base_url...
    other_url = f"https://{sim.rest_host}/api/v3/brokerage/accounts"
    headers = other.set_headers("GET", "/api/v3/brokerage/accounts")
    resp = await call(other.session.get, other_url, headers=headers, timeout=10)
    assert resp.status_code == 401


async def test_ed25519_keys_and_read_only_keys(sim: RunningSimulator) -> None:
    ed = rest_client(sim, sim.create_api_key("ed25519"))
    assert (await call(ed.get_accounts)).accounts
    viewer = rest_client(sim, sim.create_api_key(permissions=KeyPermissions(can_trade=False)))
    perms = await call(viewer.get_api_key_permissions)
    assert perms.can_trade is False
    with pytest.raises(requests.HTTPError) as err:
        await call(viewer.market_order_buy, cid(), "BTC-USD", quote_size="10")
    assert err.value.response.status_code == 403 and "Missing Required Scopes" in str(err.value)


async def test_rate_limit_headers_are_lowercase(sim: RunningSimulator, client: RESTClient) -> None:
    url = f"https://{sim.rest_host}/api/v3/brokerage/accounts"
    resp = await call(client.session.get, url, headers=client.set_headers("GET", "/api/v3/brokerage/accounts"),
                      timeout=10)
    names = set(dict(resp.headers))
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= names
