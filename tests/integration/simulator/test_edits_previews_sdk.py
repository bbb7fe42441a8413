"""The real SDK's preview_order / preview_market_order_buy / edit_order / preview_edit_order /
get_portfolios against the simulator: strict parsing and every failure reason the simulator produces."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from coinbase.rest import RESTClient
from coinbase.rest.types.orders_types import EditOrderPreviewResponse, EditOrderResponse, PreviewOrderResponse
from coinbase.rest.types.portfolios_types import GetPortfolioBreakdownResponse, ListPortfoliosResponse
from coinbase.websocket import WSUserClient

from simulator.app import RunningSimulator, start_simulator
from simulator.keys import TestKey
from tests.integration.simulator.conftest import Inbox, call, sim_config

D = Decimal
PREVIEW_KEYS = {"order_total", "commission_total", "errs", "warning", "quote_size", "base_size", "best_bid",
                "best_ask", "is_max", "slippage", "preview_id", "order_margin_total", "leverage", "long_leverage",
                "short_leverage"}


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(sim_config(
        tmp_path_factory.mktemp("sim"), initial_balances={"USD": D("200000"), "ETH": D("5"), "SOL": D("20")}))
    try:
        yield running
    finally:
        await running.stop()


def body_keys(resp: Any) -> set[str]:
    return {k for k in resp.to_dict() if not k.startswith("rate_limit_")}


def cid() -> str:
    return uuid.uuid4().hex


def price_of(sim: RunningSimulator, pid: str) -> Decimal:
    return sim.engine.markets[pid].price


def q(value: Decimal) -> str:
    return str(value.quantize(D("0.01")))


def edit_errors(resp: EditOrderResponse) -> list[tuple[str, str]]:
    assert isinstance(resp, EditOrderResponse) and resp.success is False
    return [(e.edit_failure_reason, e.preview_failure_reason) for e in resp.errors]


async def order(client: RESTClient, oid: str) -> dict[str, Any]:
    return (await call(client.get_order, oid)).order.to_dict()


# ---- portfolios ----------------------------------------------------------------------------------

async def test_portfolios_list_and_breakdown(client: RESTClient, sim: RunningSimulator) -> None:
    listing = await call(client.get_portfolios)
    assert isinstance(listing, ListPortfoliosResponse) and len(listing.portfolios) == 1
    default = listing.portfolios[0]
    assert (default.name, default.type, default.uuid) == ("Default", "DEFAULT", sim.engine.config.portfolio_id)
    assert default.to_dict()["deleted"] is False
    assert (await call(client.get_portfolios, portfolio_type="INTX")).portfolios == []
    breakdown = await call(client.get_portfolio_breakdown, default.uuid)
    assert isinstance(breakdown, GetPortfolioBreakdownResponse)
    assert breakdown.breakdown.portfolio.uuid == default.uuid
    by_asset = {p.asset: p for p in breakdown.breakdown.spot_positions}
    assert by_asset["USD"].is_cash is True and by_asset["ETH"].total_balance_crypto == 5.0
    total = D(breakdown.breakdown.portfolio_balances["total_balance"]["value"])
    assert total == sum((D(str(p.total_balance_fiat)) for p in by_asset.values()), D(0))
    with pytest.raises(requests.HTTPError) as err:
        await call(client.get_portfolio_breakdown, str(uuid.uuid4()))
    assert err.value.response.status_code == 404


# ---- previews -------------------------------------------------------------------------------------

async def test_preview_market_buy_matches_the_fill(client: RESTClient, sim: RunningSimulator) -> None:
    preview = await call(client.preview_market_order_buy, "ETH-USD", quote_size="60000")
    assert isinstance(preview, PreviewOrderResponse)
    assert body_keys(preview) == PREVIEW_KEYS and preview.errs == [] and preview.preview_id
    assert D(preview.order_total) == D("60000") and D(preview.commission_total) > 0
    assert D(preview.best_bid) < D(preview.best_ask)
    assert D(preview.slippage) > 0  # 60k walks past the top level (25k notional)
    placed = await call(client.market_order_buy, cid(), "ETH-USD", quote_size="60000")
    filled = await order(client, placed.success_response["order_id"])
    assert filled["status"] == "FILLED"
    assert D(filled["total_fees"]) == D(preview.commission_total)
    assert D(filled["filled_size"]) == D(preview.base_size)
    assert D(filled["filled_value"]) == D(preview.quote_size)
    assert D(filled["average_filled_price"]).quantize(D("1e-8")) == (
        D(preview.quote_size) / D(preview.base_size)).quantize(D("1e-8"))


async def test_preview_market_sell_matches_the_fill(client: RESTClient, sim: RunningSimulator) -> None:
    preview = await call(client.preview_market_order_sell, "ETH-USD", base_size="3")
    assert preview.errs == [] and D(preview.slippage) >= 0
    placed = await call(client.market_order_sell, cid(), "ETH-USD", base_size="3")
    filled = await order(client, placed.success_response["order_id"])
    assert filled["status"] == "FILLED" and D(filled["filled_size"]) == D(preview.base_size) == D("3")
    assert D(filled["total_fees"]) == D(preview.commission_total)
    assert D(filled["total_value_after_fees"]) == D(preview.order_total)


async def test_preview_limit_and_sell(client: RESTClient, sim: RunningSimulator) -> None:
    px = price_of(sim, "SOL-USD")
    resting = await call(client.preview_limit_order_gtc_buy, "SOL-USD", base_size="2", limit_price=q(px * D("0.9")))
    assert resting.errs == [] and D(resting.slippage) == 0
    assert D(resting.commission_total) == D("2") * D(q(px * D("0.9"))) * sim.engine.config.maker_fee_rate
    sell = await call(client.preview_market_order_sell, "SOL-USD", base_size="1")
    assert sell.errs == [] and D(sell.order_total) == D(sell.quote_size) - D(sell.commission_total)


@pytest.mark.parametrize(("product", "side", "config", "reason"), [
    ("NOPE-USD", "BUY", {"market_market_ioc": {"quote_size": "10"}}, "INVALID_PRODUCT_ID"),
    ("ETH-USD", "BUY", {"market_market_ioc": {}}, "INVALID_REQUEST"),
    ("ETH-USD", "BUY", {"limit_limit_gtc": {"base_size": "1"}}, "UNSUPPORTED_ORDER_CONFIGURATION"),
    ("ETH-USD", "BUY", {"market_market_ioc": {"quote_size": "10000000"}}, "PREVIEW_INSUFFICIENT_FUND"),
    ("ETH-USD", "BUY", {"market_market_ioc": {"base_size": "5000"}}, "PREVIEW_INVALID_NO_LIQUIDITY"),
    ("ETH-USD", "BUY", {"limit_limit_gtc": {"base_size": "0.000000001", "limit_price": "10"}},
     "PREVIEW_INVALID_SIZE_PRECISION"),
    ("ETH-USD", "BUY", {"limit_limit_gtc": {"base_size": "0.1", "limit_price": "10.001"}},
     "PREVIEW_INVALID_PRICE_PRECISION"),
    ("ETH-USD", "BUY", {"limit_limit_gtc": {"base_size": "0.01", "limit_price": "10"}},
     "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
    ("ETH-USD", "BUY", {"limit_limit_gtc": {"base_size": "0.1", "limit_price": "999999", "post_only": True}},
     "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY"),
    ("ETH-USD", "SELL", {"stop_limit_stop_limit_gtc": {"base_size": "0.1", "limit_price": "99999",
                                                       "stop_price": "99999",
                                                       "stop_direction": "STOP_DIRECTION_STOP_DOWN"}},
     "PREVIEW_INVALID_STOP_PRICE"),
    ("ETH-USD", "BUY", {"limit_limit_gtd": {"base_size": "0.1", "limit_price": "100",
                                            "end_time": "2001-01-01T00:00:00Z"}}, "PREVIEW_INVALID_END_TIME"),
    ("ETH-USD", "HOLD", {"market_market_ioc": {"quote_size": "10"}}, "INVALID_SIDE"),
    ("ETH-USD", "BUY", {"limit_limit_gtc": {"base_size": "50000", "limit_price": "10"}},
     "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE"),
    ("ETH-USD", "BUY", {"market_market_ioc": {"quote_size": "30000000"}}, "PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE"),
    ("ETH-USD", "SELL", {"trigger_bracket_gtc": {"base_size": "0.1", "limit_price": "100",
                                                 "stop_trigger_price": "200"}}, "INVALID_BRACKET_PRICES"),
    ("ETH-USD", "SELL", {"trigger_bracket_gtc": {"base_size": "0.1", "limit_price": "200",
                                                 "stop_trigger_price": "100"}}, "INVALID_BRACKET_LIMIT_PRICE"),
    ("ETH-USD", "SELL", {"trigger_bracket_gtc": {"base_size": "0.1", "limit_price": "999999",
                                                 "stop_trigger_price": "99999"}}, "INVALID_BRACKET_STOP_TRIGGER_PRICE"),
])
async def test_preview_failure_reasons(client: RESTClient, product: str, side: str, config: dict[str, Any],
                                       reason: str) -> None:
    preview = await call(client.preview_order, product, side, config)
    assert isinstance(preview, PreviewOrderResponse) and body_keys(preview) == PREVIEW_KEYS
    assert preview.errs == [reason]


async def test_preview_on_a_disabled_product(client: RESTClient, sim: RunningSimulator) -> None:
    sim.set_product_flags("SOL-USD", trading_disabled=True)
    try:
        preview = await call(client.preview_market_order_buy, "SOL-USD", quote_size="10")
        assert preview.errs == ["ORDER_ENTRY_DISABLED"]
        sim.set_product_flags("SOL-USD", trading_disabled=False, status="offline")
        assert (await call(client.preview_market_order_buy, "SOL-USD", quote_size="10")).errs == [
            "UNTRADABLE_PRODUCT"]
    finally:
        sim.set_product_flags("SOL-USD", trading_disabled=False, status="online")


# ---- edits ----------------------------------------------------------------------------------------

async def test_edit_gtc_limit_in_place_with_history_and_user_update(client: RESTClient, sim: RunningSimulator,
                                                                   key: TestKey) -> None:
    px = price_of(sim, "ETH-USD")
    placed = await call(client.limit_order_gtc_buy, cid(), "ETH-USD", base_size="0.5", limit_price=q(px * D("0.9")))
    oid = placed.success_response["order_id"]
    usd_before = sim.engine.ledger.wallets["USD"].hold
    new_price = q(px * D("0.8"))
    preview = await call(client.preview_edit_order, oid, size="0.7", price=new_price)
    assert isinstance(preview, EditOrderPreviewResponse) and preview.errors == []
    assert D(preview.base_size) == D("0.7") and D(preview.quote_size) == D("0.7") * D(new_price)
    assert D(preview.commission_total) == D(preview.quote_size) * sim.engine.config.maker_fee_rate
    inbox = Inbox()
    ws = WSUserClient(api_key=key.name, api_secret=key.private_pem, base_url=sim.ws_user_url, on_message=inbox,
                      retry=False)
    await call(ws.open)
    try:
        await call(ws.subscribe, [], ["user"])
        await inbox.wait_for(lambda ms: any(m.get("channel") == "user" for m in ms))
        edited = await call(client.edit_order, oid, size="0.7", price=new_price)
        assert isinstance(edited, EditOrderResponse) and edited.success is True
        assert edited.success_response["order_id"] == oid and edited.errors == []

        def updates(ms: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [o for m in ms if m["channel"] == "user" for e in m["events"] if e["type"] == "update"
                    for o in e["orders"] if o["order_id"] == oid]

        await inbox.wait_for(lambda ms: bool(updates(ms)))
        update = updates(inbox.messages())[-1]
        assert update["status"] == "OPEN" and D(update["limit_price"]) == D(new_price)
        assert D(update["leaves_quantity"]) == D("0.7")
    finally:
        await call(ws.close)
    after = await order(client, oid)
    assert after["order_id"] == oid and after["status"] == "OPEN"
    assert after["order_configuration"]["limit_limit_gtc"]["limit_price"] == new_price
    assert after["order_configuration"]["limit_limit_gtc"]["base_size"] == "0.7"
    assert [(D(h["price"]), D(h["size"])) for h in after["edit_history"]] == [(D(new_price), D("0.7"))]
    assert after["edit_history"][0]["replace_accept_timestamp"]
    fee = sim.engine.config.taker_fee_rate
    hold_delta = sim.engine.ledger.wallets["USD"].hold - usd_before
    assert hold_delta == D("0.7") * D(new_price) * (1 + fee) - D("0.5") * D(q(px * D("0.9"))) * (1 + fee)
    await call(client.cancel_orders, [oid])


async def test_stop_limit_moves_its_stop_five_times(client: RESTClient, sim: RunningSimulator) -> None:
    px = price_of(sim, "ETH-USD")
    stop = px * D("0.90")
    placed = await call(client.stop_limit_order_gtc_sell, cid(), "ETH-USD", base_size="1",
                        limit_price=q(stop * D("0.995")), stop_price=q(stop), stop_direction="STOP_DIRECTION_STOP_DOWN")
    oid = placed.success_response["order_id"]
    for i in range(1, 6):
        stop = px * (D("0.90") + D("0.01") * i)
        edited = await call(client.edit_order, oid, size="1", price=q(stop * D("0.995")), stop_price=q(stop))
        assert edited.success is True and edited.success_response["order_id"] == oid
    after = await order(client, oid)
    assert len(after["edit_history"]) == 5 and after["status"] == "OPEN"
    assert after["order_configuration"]["stop_limit_stop_limit_gtc"]["stop_price"] == q(stop)
    assert sim.engine.ledger.wallets["ETH"].hold == D("1")
    # The edited stop fires at its new price.
    sim.set_price("ETH-USD", D(q(stop)) - 1)
    assert (await order(client, oid))["status"] == "FILLED"
    resp = await call(client.edit_order, oid, size="1", price=q(stop), stop_price=q(stop * D("1.01")))
    assert edit_errors(resp) == [("ONLY_OPEN_ORDERS_CAN_BE_EDITED", "UNKNOWN_PREVIEW_FAILURE_REASON")]


async def test_bracket_edit_moves_take_profit_and_stop_trigger(client: RESTClient, sim: RunningSimulator) -> None:
    px = price_of(sim, "SOL-USD")
    placed = await call(client.trigger_bracket_order_gtc_sell, cid(), "SOL-USD", base_size="2",
                        limit_price=q(px * D("1.2")), stop_trigger_price=q(px * D("0.8")))
    oid = placed.success_response["order_id"]
    edited = await call(client.edit_order, oid, size="2", price=q(px * D("1.1")), stop_trigger_price=q(px * D("0.9")))
    assert edited.success is True
    after = await order(client, oid)
    cfg = after["order_configuration"]["trigger_bracket_gtc"]
    assert (cfg["limit_price"], cfg["stop_trigger_price"]) == (q(px * D("1.1")), q(px * D("0.9")))
    assert len(after["edit_history"]) == 1
    await call(client.cancel_orders, [oid])


async def test_edit_failure_reasons(client: RESTClient, sim: RunningSimulator) -> None:
    px = price_of(sim, "ETH-USD")
    limit = q(px * D("0.9"))
    oid = (await call(client.limit_order_gtc_buy, cid(), "ETH-USD", base_size="0.5", limit_price=limit,
                      post_only=True)).success_response["order_id"]
    cases: list[tuple[dict[str, Any], tuple[str, str]]] = [
        ({"order_id": str(uuid.uuid4()), "size": "1", "price": "10"},
         ("ORDER_NOT_FOUND", "UNKNOWN_PREVIEW_FAILURE_REASON")),
        ({"order_id": oid, "price": limit}, ("INVALID_EDITED_SIZE", "UNKNOWN_PREVIEW_FAILURE_REASON")),
        ({"order_id": oid, "size": "0.5"}, ("INVALID_EDITED_PRICE", "UNKNOWN_PREVIEW_FAILURE_REASON")),
        ({"order_id": oid, "size": "0.5", "price": limit},
         ("EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST", "UNKNOWN_PREVIEW_FAILURE_REASON")),
        ({"order_id": oid, "size": "0.5", "price": limit, "stop_price": "10"},
         ("FIELD_STOPPRICE_NOT_SUPPORTED", "UNKNOWN_PREVIEW_FAILURE_REASON")),
        ({"order_id": oid, "size": "0.5", "price": q(px * 2)},
         ("COMMANDER_REJECTED_EDIT_ORDER", "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY")),
        ({"order_id": oid, "size": "0.5", "price": "10.001"},
         ("COMMANDER_REJECTED_EDIT_ORDER", "PREVIEW_INVALID_PRICE_PRECISION")),
        ({"order_id": oid, "size": "0.000000001", "price": limit},
         ("COMMANDER_REJECTED_EDIT_ORDER", "PREVIEW_INVALID_SIZE_PRECISION")),
        ({"order_id": oid, "size": "1000", "price": limit},
         ("COMMANDER_REJECTED_EDIT_ORDER", "PREVIEW_INSUFFICIENT_FUND")),
    ]
    for body, expected in cases:
        args = dict(body)
        resp = await call(client.edit_order, args.pop("order_id"), **args)
        assert edit_errors(resp) == [expected], body
        preview = await call(client.preview_edit_order, body["order_id"],
                             **{k: v for k, v in body.items() if k != "order_id"})
        assert [(e.edit_failure_reason, e.preview_failure_reason) for e in preview.errors] == [expected]
    assert (await order(client, oid))["edit_history"] == []
    # A stop-limit's stop on the wrong side of the market.
    stop = await call(client.stop_limit_order_gtc_sell, cid(), "ETH-USD", base_size="0.1",
                      limit_price=q(px * D("0.8")), stop_price=q(px * D("0.8")),
                      stop_direction="STOP_DIRECTION_STOP_DOWN")
    sid = stop.success_response["order_id"]
    resp = await call(client.edit_order, sid, size="0.1", price=q(px * D("1.1")), stop_price=q(px * D("1.1")))
    assert edit_errors(resp) == [("COMMANDER_REJECTED_EDIT_ORDER", "PREVIEW_INVALID_STOP_PRICE")]
    resp = await call(client.edit_order, sid, size="0.1", price=q(px * D("0.8")), stop_price="-1")
    assert edit_errors(resp) == [("INVALID_EDITED_PRICE", "UNKNOWN_PREVIEW_FAILURE_REASON")]
    # GTD orders are not editable (GTC only).
    gtd = await call(client.limit_order_gtd_buy, cid(), "ETH-USD", base_size="0.1", limit_price=q(px * D("0.8")),
                     end_time="2099-01-01T00:00:00Z")
    resp = await call(client.edit_order, gtd.success_response["order_id"], size="0.2", price=q(px * D("0.8")))
    assert edit_errors(resp) == [("ONLY_LIMIT_ORDER_EDITS_SUPPORTED", "UNKNOWN_PREVIEW_FAILURE_REASON")]
    await call(client.cancel_orders, [gtd.success_response["order_id"]])
    # Not editable: market orders, cancelled orders.
    market = await call(client.market_order_buy, cid(), "ETH-USD", quote_size="10")
    resp = await call(client.edit_order, market.success_response["order_id"], size="1", price="10")
    assert edit_errors(resp) == [("ONLY_LIMIT_ORDER_EDITS_SUPPORTED", "UNKNOWN_PREVIEW_FAILURE_REASON")]
    await call(client.cancel_orders, [oid, sid])
    resp = await call(client.edit_order, oid, size="0.6", price=limit)
    assert edit_errors(resp) == [("ONLY_OPEN_ORDERS_CAN_BE_EDITED", "UNKNOWN_PREVIEW_FAILURE_REASON")]
    # Never below what is filled: a partly filled resting buy.
    px = price_of(sim, "ETH-USD")
    big = (await call(client.limit_order_gtc_buy, cid(), "ETH-USD", base_size="8", limit_price=q(px - 5)))
    bid = big.success_response["order_id"]
    sim.set_price("ETH-USD", px - 10)
    partial = await order(client, bid)
    filled = D(partial["filled_size"])
    assert partial["status"] == "OPEN" and 0 < filled < 8
    resp = await call(client.edit_order, bid, size=str(filled / 2), price=q(px - 5))
    assert edit_errors(resp) == [("CANNOT_EDIT_TO_BELOW_FILLED_SIZE", "UNKNOWN_PREVIEW_FAILURE_REASON")]
    ok = await call(client.edit_order, bid, size=str(filled + D(1)), price=q(px - 20))
    assert ok.success is True
    await call(client.cancel_orders, [bid])


async def test_edit_refused_by_fault(client: RESTClient, sim: RunningSimulator) -> None:
    px = price_of(sim, "ETH-USD")
    oid = (await call(client.limit_order_gtc_buy, cid(), "ETH-USD", base_size="0.1",
                      limit_price=q(px * D("0.9")))).success_response["order_id"]
    sim.faults.add("edit_reject", count=1, edit_failure_reason="ORDER_IS_ALREADY_BEING_REPLACED")
    resp = await call(client.edit_order, oid, size="0.1", price=q(px * D("0.85")))
    assert edit_errors(resp) == [("ORDER_IS_ALREADY_BEING_REPLACED", "UNKNOWN_PREVIEW_FAILURE_REASON")]
    assert (await call(client.edit_order, oid, size="0.1", price=q(px * D("0.85")))).success is True
    await call(client.cancel_orders, [oid])
