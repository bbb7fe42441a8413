"""The normaliser: liberal names, strict values, reason codes naming the field; dedup keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from webhook.alerts.normalise import Fields, normalise_json, secret_in
from webhook.alerts.reasons import Reason, Refusal
from webhook.alerts.schema import Alert, BodyError, decode_body, dedup_key, parse_alert

SECRET = "k" * 40
T = "2026-11-21T15:00:00Z"
AT = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)


def _obj(body: dict[str, Any] | bytes) -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    obj = decode_body(raw)
    assert isinstance(obj, dict), obj
    return obj


def _ok(body: dict[str, Any] | bytes) -> Alert:
    result = normalise_json(_obj(body))
    assert isinstance(result, Alert), result
    return result


def _refused(body: dict[str, Any] | bytes) -> Refusal:
    result = normalise_json(_obj(body))
    assert isinstance(result, Refusal), result
    return result


def test_tradingview_body_is_read_with_exact_decimals_and_a_normalised_action() -> None:
    alert = _ok(b'{"secret":"' + SECRET.encode() + b'","ticker":"BTCUSD","exchange":"COINBASE","action":" BUY ",'
                b'"quantity":"0.0015","price":64250.10,"time":"2026-11-21T15:00:00Z",'
                b'"strategy":{"order_id":"long","contracts":0.1}}')
    assert alert.action == "buy" and alert.source == "tradingview" and alert.secret == SECRET
    assert alert.quantity == Decimal("0.0015") and alert.price == Decimal("64250.10")
    assert isinstance(alert.price, Decimal) and alert.time == AT


@pytest.mark.parametrize("key", ["time", "timenow", "timestamp", "TimeNow"])
def test_the_fire_time_is_read_under_every_alias(key: str) -> None:
    alert = _ok({"ticker": "BTCUSD", "action": "buy", key: T})
    assert alert.time == AT and alert.time_field == key


def test_time_beside_timenow_is_the_bar_time_and_not_the_fire_time() -> None:
    alert = _ok({"ticker": "BTCUSD", "action": "buy", "time": "2026-11-21T14:00:00Z", "timenow": T})
    assert alert.time == AT and alert.time_field == "timenow"
    assert alert.bar_time == datetime(2026, 11, 21, 14, 0, tzinfo=UTC)


def test_epoch_seconds_and_milliseconds_are_fire_times() -> None:
    stamp = int(AT.timestamp())
    assert _ok({"ticker": "BTCUSD", "action": "buy", "timenow": str(stamp)}).time == AT
    assert _ok({"ticker": "BTCUSD", "action": "buy", "timenow": stamp * 1000}).time == AT


@pytest.mark.parametrize(("key", "value"), [("secret", SECRET), ("passphrase", SECRET), ("token", SECRET),
                                            ("key", SECRET)])
def test_secret_aliases(key: str, value: str) -> None:
    assert secret_in(Fields(_obj({key: value, "ticker": "BTCUSD"}))) == (key, value)


@pytest.mark.parametrize(("body", "symbol"), [
    ({"ticker": "BTCUSD"}, "BTCUSD"), ({"symbol": "ETH-USD"}, "ETH-USD"), ({"Ticker": "COINBASE:SOLUSD"},
                                                                           "COINBASE:SOLUSD"),
    ({"pair": "BTC-USD", "exchange": "COINBASE"}, "BTC-USD")])
def test_symbol_aliases(body: dict[str, Any], symbol: str) -> None:
    assert _ok(body | {"action": "buy", "time": T}).ticker == symbol


@pytest.mark.parametrize(("body", "action"), [
    ({"action": "buy"}, "buy"), ({"side": "SELL"}, "sell"), ({"signal": "Long"}, "buy"),
    ({"action": "exit"}, "close"), ({"action": "flat"}, "close"), ({"action": "close"}, "close"),
    ({"action": "enter_long"}, "buy"), ({"action": "exit_long"}, "close"),
    ({"strategy": {"order": {"action": "buy"}}}, "buy"), ({"strategy.order.action": "sell"}, "sell"),
    ({"strategy": {"order": {"action": "sell"}, "market_position": "flat"}}, "close"),
    ({"action": "sell", "strategy.market_position": "long"}, "sell"),
])
def test_action_aliases_and_values(body: dict[str, Any], action: str) -> None:
    assert _ok(body | {"ticker": "BTCUSD", "time": T}).action == action


@pytest.mark.parametrize("body", [
    {"action": "short"}, {"action": "enter_short"},
    {"strategy": {"order": {"action": "sell"}, "market_position": "short"}},
    {"strategy": {"order": {"action": "buy"}, "market_position": "flat"}}])
def test_shorts_are_refused_with_a_clear_reason(body: dict[str, Any]) -> None:
    refusal = _refused(body | {"ticker": "BTCUSD", "time": T})
    assert refusal.code is Reason.UNSUPPORTED_ACTION and "spot" in refusal.message


@pytest.mark.parametrize(("body", "quantity", "notional"), [
    ({"quantity": "0.1"}, Decimal("0.1"), None), ({"qty": "2"}, Decimal("2"), None),
    ({"contracts": "3"}, Decimal("3"), None), ({"strategy": {"order": {"contracts": "0.5"}}}, Decimal("0.5"), None),
    ({"notional": "50"}, None, Decimal("50")), ({"quote_size": "25.5"}, None, Decimal("25.5")),
])
def test_size_aliases(body: dict[str, Any], quantity: Decimal | None, notional: Decimal | None) -> None:
    alert = _ok(body | {"ticker": "BTCUSD", "action": "buy", "time": T})
    assert (alert.quantity, alert.notional, alert.problem) == (quantity, notional, None)


@pytest.mark.parametrize(("body", "price"), [({"price": "10"}, "10"), ({"close": "11"}, "11"),
                                             ({"strategy": {"order": {"price": "12"}}}, "12")])
def test_price_aliases(body: dict[str, Any], price: str) -> None:
    assert _ok(body | {"ticker": "BTCUSD", "action": "buy", "time": T}).price == Decimal(price)


def test_unknown_keys_and_placeholders_in_unused_fields_are_ignored() -> None:
    alert = _ok({"ticker": "BTCUSD", "action": "buy", "timenow": T, "interval": "{{interval}}", "plot_0": "1.5",
                 "comment": "{{strategy.order.comment}}", "exchange": "{{exchange}}", "volume": 123})
    assert alert.action == "buy"


@pytest.mark.parametrize(("body", "field"), [
    ({"ticker": "{{ticker}}"}, "ticker"), ({"action": "{{strategy.order.action}}"}, "action"),
    ({"timenow": "{{timenow}}"}, "timenow"), ({"id": "{{strategy.order.id}}"}, "id")])
def test_an_unfilled_placeholder_in_a_used_field_is_refused_naming_it(body: dict[str, Any], field: str) -> None:
    base = {"ticker": "BTCUSD", "action": "buy", "timenow": T}
    refusal = _refused(base | body)
    assert refusal.code is Reason.UNFILLED_PLACEHOLDER and refusal.field == field and field in refusal.message


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"contracts": "-5"}, Reason.BAD_SIZE, "contracts"), ({"quantity": "0"}, Reason.BAD_SIZE, "quantity"),
    ({"qty": "abc"}, Reason.BAD_SIZE, "qty"), ({"quantity": "1e16"}, Reason.BAD_SIZE, "quantity"),
    ({"notional": "NaN"}, Reason.BAD_SIZE, "notional"), ({"price": "-1"}, Reason.BAD_PRICE, "price"),
    ({"quantity": "{{strategy.order.contracts}}"}, Reason.UNFILLED_PLACEHOLDER, "quantity"),
    ({"quantity": "1", "notional": "5"}, Reason.BAD_SIZE, "quantity"),
])
def test_bad_size_values_ride_on_the_alert_for_the_size_step(body: dict[str, Any], code: Reason, field: str) -> None:
    alert = _ok({"ticker": "BTCUSD", "action": "buy", "timenow": T} | body)
    assert alert.problem is not None and alert.problem.code is code and alert.problem.field == field


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"action": "buy", "timenow": T}, Reason.MISSING_FIELD, "ticker"),
    ({"ticker": "BTCUSD", "timenow": T}, Reason.MISSING_FIELD, "action"),
    ({"ticker": "BTCUSD", "action": "buy"}, Reason.MISSING_FIELD, "timenow"),
    ({"ticker": "BTCUSD", "action": "hold", "timenow": T}, Reason.BAD_VALUE, "action"),
    ({"ticker": "BTCUSD", "action": 1, "timenow": T}, Reason.BAD_VALUE, "action"),
    ({"ticker": "BTCUSD", "action": "buy", "timenow": "2026-11-21"}, Reason.BAD_VALUE, "timenow"),
    ({"ticker": "BTCUSD", "action": "buy", "time": "2026-13-01T00:00:00Z"}, Reason.BAD_VALUE, "time"),
    ({"ticker": "BTCUSD", "action": "buy", "timenow": T, "id": "rej:abc"}, Reason.BAD_VALUE, "id"),
    ({"ticker": "BTCUSD", "action": "buy", "timenow": T, "id": "x" * 129}, Reason.BAD_VALUE, "id"),
])
def test_parse_refusals_name_the_field(body: dict[str, Any], code: Reason, field: str) -> None:
    refusal = _refused(body)
    assert (refusal.code, refusal.field) == (code, field)


def test_refusals_never_echo_input_values() -> None:
    refusal = _refused({"secret": "S" * 600, "ticker": "BTCUSD", "action": "SSSSbuy", "timenow": T})
    assert "SSSS" not in refusal.message


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"text"', b'{"ticker": NaN}', b"\xff\xfe{}",
                                 b'{"ticker":"BTCUSD","action":"buy","price":{{close}}}', b'{"x": "\\u0000"}',
                                 b"[" * 5000])
def test_bodies_that_are_not_a_json_object_are_refused(raw: bytes) -> None:
    result = parse_alert(raw)
    assert isinstance(result, BodyError) and result.kind == "json"


def test_dedup_key_is_the_client_id_or_a_hash_of_the_firing() -> None:
    a = _ok({"ticker": "BTCUSD", "action": "buy", "time": T, "price": "1"})
    b = _ok({"ticker": "BTCUSD", "action": "buy", "time": "2026-11-21T15:00:00.000Z", "price": "2"})
    c = _ok({"ticker": "BTCUSD", "action": "sell", "time": T})
    d = _ok({"ticker": "BTCUSD", "action": "buy", "time": T, "source": "sighook"})
    assert dedup_key(a, "BTC-USD") == dedup_key(b, "BTC-USD") and len(dedup_key(a, "BTC-USD")) == 64
    assert len({dedup_key(a, "BTC-USD"), dedup_key(c, "BTC-USD"), dedup_key(d, "BTC-USD"),
                dedup_key(a, "BTC-USDC")}) == 4
    e = _ok({"id": "sighook:BTC-USD:2026-11-21T15:00:00Z", "ticker": "BTC-USD", "action": "buy", "time": T})
    assert dedup_key(e, "BTC-USD") == "sighook:BTC-USD:2026-11-21T15:00:00Z"


def test_a_strategy_order_id_is_combined_with_the_fire_time() -> None:
    first = _ok({"ticker": "BTCUSD", "strategy": {"order": {"id": "Long", "action": "buy"}}, "timenow": T})
    later = _ok({"ticker": "BTCUSD", "strategy": {"order": {"id": "Long", "action": "buy"}},
                 "timenow": "2026-11-21T16:00:00Z"})
    assert dedup_key(first, "BTC-USD").startswith("Long@2026-11-21T15:00:00")
    assert dedup_key(first, "BTC-USD") != dedup_key(later, "BTC-USD")


def test_exits_are_not_refused_for_fields_they_do_not_use() -> None:
    close = _ok({"ticker": "BTCUSD", "action": "close", "timenow": T, "close": "{{close}}", "quantity": "-1"})
    assert (close.action, close.quantity, close.price, close.problem) == ("close", None, None, None)
    sell = _ok({"ticker": "BTCUSD", "action": "sell", "timenow": T, "price": "oops", "quantity": "0.5"})
    assert (sell.quantity, sell.problem) == (Decimal("0.5"), None)
    bad = _ok({"ticker": "BTCUSD", "action": "sell", "timenow": T, "quantity": "-0.5"})
    assert bad.problem is not None and bad.problem.code is Reason.BAD_SIZE
