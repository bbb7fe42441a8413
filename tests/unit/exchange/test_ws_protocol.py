"""ws_protocol: captured-shape frames from the reference (§4) parse into typed events; quirks tolerated."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.enums import OrderStatus, Side
from exchange.coinbase.ws_protocol import (
    CandleUpdate,
    ErrorFrame,
    FrameError,
    Heartbeat,
    L2Update,
    SequenceTracker,
    Subscriptions,
    Ticker,
    Unknown,
    UserOrderUpdate,
    UserSnapshotBatch,
    UserUpdateDeduper,
    normalise_order_type,
    parse_frame,
)

HEARTBEAT = ('{"channel":"heartbeats","client_id":"","timestamp":"2023-06-23T20:31:26.122969572Z","sequence_num":0,'
             '"events":[{"current_time":"2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105",'
             '"heartbeat_counter":3049}]}')

TICKER = ('{"channel":"ticker","client_id":"","timestamp":"2023-02-09T20:30:37.167359596Z","sequence_num":0,'
          '"events":[{"type":"snapshot","tickers":[{"type":"ticker","product_id":"BTC-USD","price":"21932.98",'
          '"volume_24_h":"16038.28770938","low_24_h":"21835.29","high_24_h":"23011.18","low_52_w":"15460",'
          '"high_52_w":"48240","price_percent_chg_24_h":"-4.15775596190603","best_bid":"21931.98",'
          '"best_bid_quantity":"8000.21","best_ask":"21933.98","best_ask_quantity":"8038.07770938"}]}]}')

USER_ORDER = {
    "avg_price": "50000", "cancel_reason": "", "client_order_id": "XXX", "completion_percentage": "100.00",
    "contract_expiry_type": "UNKNOWN_CONTRACT_EXPIRY_TYPE", "cumulative_quantity": "0.01", "filled_value": "500",
    "leaves_quantity": "0", "limit_price": "50000", "number_of_fills": "1", "order_id": "YYY", "order_side": "BUY",
    "order_type": "Limit", "outstanding_hold_amount": "0", "post_only": "false", "product_id": "BTC-USD",
    "product_type": "SPOT", "reject_reason": "", "retail_portfolio_id": "ZZZ",
    "risk_managed_by": "UNKNOWN_RISK_MANAGEMENT_TYPE", "status": "FILLED", "stop_price": "",
    "time_in_force": "GOOD_UNTIL_CANCELLED", "total_fees": "2", "total_value_after_fees": "502",
    "trigger_status": "INVALID_ORDER_TYPE", "creation_time": "2024-06-21T18:29:13.909347Z",
    "end_time": "0001-01-01T00:00:00Z", "start_time": "0001-01-01T00:00:00Z",
}


def user_frame(kind: str, orders: list[dict[str, object]], seq: int = 1, client_id: bool = True) -> str:
    frame: dict[str, object] = {"channel": "user", "timestamp": "2024-06-21T18:29:14.1Z", "sequence_num": seq,
                                "events": [{"type": kind, "orders": orders}]}
    if client_id:
        frame["client_id"] = ""
    return json.dumps(frame)


def test_heartbeat_integer_counter_and_nanosecond_timestamp() -> None:
    frame = parse_frame(HEARTBEAT)
    assert frame.channel == "heartbeats"
    assert frame.sequence_num == 0
    assert frame.timestamp == datetime(2023, 6, 23, 20, 31, 26, 122969, tzinfo=UTC)
    assert frame.events == (Heartbeat(3049, "2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105"),)


def test_heartbeat_string_counter_and_missing_client_id() -> None:
    text = HEARTBEAT.replace('"heartbeat_counter":3049', '"heartbeat_counter":"3050"').replace('"client_id":"",', "")
    (event,) = parse_frame(text).events
    assert isinstance(event, Heartbeat) and event.counter == 3050


def test_ticker_snapshot() -> None:
    frame = parse_frame(TICKER)
    (t,) = frame.events
    assert isinstance(t, Ticker)
    assert t.product_id == "BTC-USD" and t.price == Decimal("21932.98")
    assert t.best_bid == Decimal("21931.98") and t.best_ask == Decimal("21933.98")
    assert t.best_ask_quantity == Decimal("8038.07770938")
    assert t.volume_24h == Decimal("16038.28770938")
    assert t.is_snapshot and not t.batch
    assert t.time == frame.timestamp


def test_ticker_batch_without_best_bid_ask() -> None:
    text = json.dumps({"channel": "ticker_batch", "client_id": "", "timestamp": "2024-01-01T00:00:00Z",
                       "sequence_num": 4, "events": [{"type": "update", "tickers": [
                           {"type": "ticker", "product_id": "ETH-USD", "price": "3000.5"}]}]})
    (t,) = parse_frame(text).events
    assert isinstance(t, Ticker) and t.batch and t.best_bid is None and t.best_ask is None
    assert t.price == Decimal("3000.5")


def test_subscriptions_ack() -> None:
    text = ('{"channel":"subscriptions","client_id":"","timestamp":"2024-01-01T00:00:00Z","sequence_num":0,'
            '"events":[{"subscriptions":{"heartbeats":["heartbeats"],"user":["BTC-USD"],"level2":["BTC-USD"]}}]}')
    (s,) = parse_frame(text).events
    assert s == Subscriptions({"heartbeats": ["heartbeats"], "user": ["BTC-USD"], "level2": ["BTC-USD"]})


def test_l2_data_update_sides() -> None:
    text = ('{"channel":"l2_data","client_id":"","timestamp":"2026-04-07T14:30:01Z","sequence_num":1,'
            '"events":[{"type":"update","product_id":"BTC-USD","updates":['
            '{"side":"bid","event_time":"2026-04-07T14:30:01.456789Z","price_level":"68900.00","new_quantity":"2.0"},'
            '{"side":"ask","event_time":"1970-01-01T00:00:00Z","price_level":"68901.00","new_quantity":"0"}]}]}')
    (u,) = parse_frame(text).events
    assert isinstance(u, L2Update) and not u.is_snapshot and u.product_id == "BTC-USD"
    assert [(lv.side, lv.price, lv.quantity) for lv in u.levels] == [
        ("bid", Decimal("68900.00"), Decimal("2.0")), ("offer", Decimal("68901.00"), Decimal("0"))]


def test_candles() -> None:
    text = ('{"channel":"candles","client_id":"","timestamp":"2023-07-10T14:10:00Z","sequence_num":3,'
            '"events":[{"type":"snapshot","candles":[{"start":"1688998200","high":"1867.72","low":"1865.63",'
            '"open":"1867.38","close":"1866.81","volume":"0.20269406","product_id":"ETH-USD"}]}]}')
    (c,) = parse_frame(text).events
    assert isinstance(c, CandleUpdate) and c.is_snapshot
    assert c.start == datetime.fromtimestamp(1688998200, UTC) and c.close == Decimal("1866.81")


def test_user_update_full_payload() -> None:
    (u,) = parse_frame(user_frame("update", [USER_ORDER])).events
    assert isinstance(u, UserOrderUpdate)
    assert u.order_id == "YYY" and u.client_order_id == "XXX" and u.side is Side.BUY
    assert u.status is OrderStatus.FILLED and u.order_type == "LIMIT"
    assert u.cumulative_quantity == Decimal("0.01") and u.leaves_quantity == Decimal("0")
    assert u.avg_price == Decimal("50000") and u.total_fees == Decimal("2") and u.filled_value == Decimal("500")
    assert u.number_of_fills == 1 and u.post_only is False and u.stop_price is None
    assert u.limit_price == Decimal("50000") and u.reject_reason is None and u.cancel_reason is None
    assert u.creation_time == datetime(2024, 6, 21, 18, 29, 13, 909347, tzinfo=UTC)
    assert not u.is_snapshot


def test_user_minimal_payload_with_reject_reason_typo() -> None:
    minimal = {"order_id": "A1", "client_order_id": "c1", "cumulative_quantity": "0", "leaves_quantity": "1",
               "avg_price": "0", "total_fees": "0", "status": "FAILED", "product_id": "BTC-USD",
               "creation_time": "2023-01-01T00:00:00Z", "order_side": "SELL", "order_type": "Stop Limit",
               "cancel_reason": "", "reject_Reason": "HOLD_FAILURE"}
    (u,) = parse_frame(user_frame("update", [minimal], client_id=False)).events
    assert isinstance(u, UserOrderUpdate)
    assert u.side is Side.SELL and u.order_type == "STOP_LIMIT" and u.reject_reason == "HOLD_FAILURE"
    assert u.filled_value is None and u.number_of_fills is None and u.limit_price is None and u.post_only is None


def test_user_missing_client_order_id_and_unknown_status() -> None:
    order = {k: v for k, v in USER_ORDER.items() if k != "client_order_id"} | {"status": "BRAND_NEW_STATUS"}
    (u,) = parse_frame(user_frame("update", [order])).events
    assert isinstance(u, UserOrderUpdate)
    assert u.client_order_id == "" and u.status is OrderStatus.UNKNOWN_ORDER_STATUS


def test_user_snapshot_batches() -> None:
    fifty = [USER_ORDER | {"order_id": f"o{i}", "status": "OPEN"} for i in range(50)]
    (full,) = parse_frame(user_frame("snapshot", fifty)).events
    assert isinstance(full, UserSnapshotBatch) and len(full.orders) == 50 and not full.complete
    assert all(o.is_snapshot for o in full.orders)
    (empty,) = parse_frame(user_frame("snapshot", [])).events
    assert isinstance(empty, UserSnapshotBatch) and empty.complete and empty.orders == ()


def test_user_bad_order_does_not_hide_others() -> None:
    events = parse_frame(user_frame("update", [{"status": "OPEN"}, USER_ORDER])).events
    assert any(isinstance(e, UserOrderUpdate) and e.order_id == "YYY" for e in events)
    assert any(isinstance(e, Unknown) for e in events)


def test_envelope_less_error_frame() -> None:
    frame = parse_frame('{"type":"error","message":"authentication failure"}')
    assert frame.events == (ErrorFrame("authentication failure"),) and frame.sequence_num is None


def test_unknown_channel_and_bad_events_are_unknown() -> None:
    frame = parse_frame('{"channel":"futures_balance_summary","client_id":"","timestamp":"2024-01-01T00:00:00Z",'
                        '"sequence_num":9,"events":[{}]}')
    assert frame.sequence_num == 9 and isinstance(frame.events[0], Unknown)
    bad_ticker = TICKER.replace('"price":"21932.98"', '"price":"abc"')
    assert isinstance(parse_frame(bad_ticker).events[0], Unknown)
    assert isinstance(parse_frame('{"channel":"ticker","events":null}').events[0], Unknown)


@pytest.mark.parametrize("text", ["not json", "[1,2]", "", "42"])
def test_non_object_frames_raise_frame_error(text: str) -> None:
    with pytest.raises(FrameError):
        parse_frame(text)


@pytest.mark.parametrize(("raw", "expected"), [("Limit", "LIMIT"), ("Market", "MARKET"), ("Stop Limit", "STOP_LIMIT"),
                                               ("StopLimit", "STOP_LIMIT"), ("Bracket", "BRACKET"),
                                               ("LIMIT", "LIMIT"), ("Take Profit", "TAKE_PROFIT")])
def test_order_type_normalisation(raw: str, expected: str) -> None:
    assert normalise_order_type(raw) == expected


def test_sequence_tracker_gap_replay_and_reset() -> None:
    tr = SequenceTracker()
    assert tr.observe(0).gap == 0
    assert tr.observe(1).gap == 0
    check = tr.observe(4)
    assert check.gap == 2 and not check.replayed
    assert tr.observe(3).replayed
    assert tr.observe(None).gap == 0
    assert tr.observe(5).gap == 0
    tr.reset()
    assert tr.observe(0).gap == 0  # a new connection restarts numbering


def test_sequence_tracker_heartbeat_counter_jump() -> None:
    tr = SequenceTracker()
    assert tr.observe_heartbeat(10) == 0
    assert tr.observe_heartbeat(11) == 0
    assert tr.observe_heartbeat(14) == 2
    assert tr.observe_heartbeat(12) == 0  # going backwards: not a loss
    assert tr.observe_heartbeat(None) == 0


def _upd(qty: str, status: OrderStatus, order_id: str = "o1") -> UserOrderUpdate:
    return UserOrderUpdate(order_id, "c", "BTC-USD", Side.BUY, status, "LIMIT", Decimal(qty), None, None, None,
                           None, None, False)


def test_deduper_drops_replays_and_decreases() -> None:
    d = UserUpdateDeduper()
    assert d.is_new(_upd("0", OrderStatus.PENDING))
    assert d.is_new(_upd("0", OrderStatus.OPEN))
    assert not d.is_new(_upd("0", OrderStatus.OPEN))  # replay
    assert not d.is_new(_upd("0.000", OrderStatus.PENDING))  # same state, different spelling of zero
    assert d.is_new(_upd("0.5", OrderStatus.OPEN))
    assert not d.is_new(_upd("0.2", OrderStatus.OPEN))  # decrease from a replayed snapshot
    assert d.is_new(_upd("1", OrderStatus.FILLED))
    assert not d.is_new(_upd("1", OrderStatus.OPEN))  # non-terminal after terminal
    assert not d.is_new(_upd("1", OrderStatus.FILLED))
    assert d.is_new(_upd("0", OrderStatus.OPEN, "o2"))


def test_deduper_is_bounded() -> None:
    d = UserUpdateDeduper(max_orders=3)
    for i in range(5):
        d.is_new(_upd("0", OrderStatus.OPEN, f"o{i}"))
    assert len(d) == 3
    assert d.is_new(_upd("0", OrderStatus.OPEN, "o0"))  # forgotten, so seen as new again
