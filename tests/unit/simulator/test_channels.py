"""WebSocket payload shapes and REST rendering of engine objects."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from simulator.http.render import echo_configuration, order_json
from simulator.ws import channels as ch
from tests.unit.simulator.helpers import T0, D, limit, make_engine


def test_user_order_payload_full_and_minimal() -> None:
    e = make_engine()
    o = e.create_order("c", "BTC-USD", "BUY", limit("0.01", "50000.00", post_only=True), T0).order
    assert o is not None
    full = ch.user_order_json(o, "pf")
    assert full["order_type"] == "Limit" and full["post_only"] == "true" and full["status"] == "OPEN"
    assert full["leaves_quantity"] == "0.01" and full["cumulative_quantity"] == "0" and full["limit_price"] == "50000"
    assert full["end_time"] == full["start_time"] == "0001-01-01T00:00:00Z" and full["stop_price"] == ""
    assert full["creation_time"].endswith("Z") and full["time_in_force"] == "GOOD_UNTIL_CANCELLED"
    minimal = ch.user_order_json(o, "pf", minimal=True)
    assert "limit_price" not in minimal and "reject_Reason" in minimal and minimal["order_side"] == "BUY"


def test_rest_order_never_has_null_objects() -> None:
    e = make_engine()
    o = e.create_order("c", "BTC-USD", "BUY", {"market_market_ioc": {"quote_size": "10"}}, T0).order
    assert o is not None
    body = order_json(o, "u", "p")
    for key in ("order_configuration", "edit_history"):
        assert body[key] is not None
    assert body["order_configuration"] == {"market_market_ioc": {"quote_size": "10"}}
    assert body["number_of_fills"] == str(o.number_of_fills) and body["completion_percentage"] == "100"
    assert body["size_inclusive_of_fees"] is True and body["total_value_after_fees"] == "10"
    assert echo_configuration({"limit_limit_gtc": None}) is None and echo_configuration("x") is None


def test_l2_updates_are_absolute_and_zero_removes() -> None:
    before = {D("10"): D("1"), D("9"): D("2")}
    after = {D("10"): D("1.5"), D("8"): D("3")}
    ups = ch.l2_updates("bid", before, after, "t")
    assert ups == [
        {"side": "bid", "event_time": "t", "price_level": "10", "new_quantity": "1.5"},
        {"side": "bid", "event_time": "t", "price_level": "9", "new_quantity": "0"},
        {"side": "bid", "event_time": "t", "price_level": "8", "new_quantity": "3"},
    ]


def test_envelope_and_heartbeat_shapes() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    env = ch.envelope("ticker", 7, [], now)
    assert list(env) == ["channel", "client_id", "timestamp", "sequence_num", "events"]
    assert env["timestamp"] == "2026-01-02T03:04:05.123456000Z"
    assert "client_id" not in ch.envelope("ticker", 7, [], now, with_client_id=False)
    beat = ch.heartbeat_event(now, 12.5, 3, as_string=True)
    assert beat == {"current_time": "2026-01-02 03:04:05.123456000 +0000 UTC m=+12.500000000",
                    "heartbeat_counter": "3"}
    assert ch.subscriptions_event({"heartbeats": set(), "user": {"ETH-USD", "BTC-USD"}}) == {
        "subscriptions": {"heartbeats": ["heartbeats"], "user": ["BTC-USD", "ETH-USD"]}}
    assert isinstance(Decimal("1"), Decimal)
