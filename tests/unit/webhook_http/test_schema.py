"""Alert body parsing: JSON whatever the Content-Type, strict fields, Decimal amounts, dedup keys."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from webhook.alerts.schema import Alert, BodyError, dedup_key, parse_alert

SECRET = "k" * 40


def _ok(raw: bytes) -> Alert:
    result = parse_alert(raw)
    assert isinstance(result, Alert), result
    return result


def _err(raw: bytes) -> BodyError:
    result = parse_alert(raw)
    assert isinstance(result, BodyError), result
    return result


def test_tradingview_body_is_parsed_with_exact_decimals_and_a_normalised_action() -> None:
    alert = _ok(b'{"secret":"' + SECRET.encode() + b'","ticker":"BTCUSD","exchange":"COINBASE","action":" BUY ",'
                b'"quantity":"0.0015","price":64250.10,"time":"2026-11-21T15:00:00Z",'
                b'"strategy":{"order_id":"long","contracts":0.1}}')
    assert alert.action == "buy" and alert.source == "tradingview"
    assert alert.quantity == Decimal("0.0015") and alert.price == Decimal("64250.10")
    assert isinstance(alert.price, Decimal) and alert.strategy == {"order_id": "long", "contracts": Decimal("0.1")}
    assert alert.time == datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    assert alert.notional_estimate == Decimal("0.0015") * Decimal("64250.10")


def test_empty_placeholders_count_as_absent() -> None:
    alert = _ok(b'{"ticker":"BTC-USD","action":"sell","id":"","exchange":"","quantity":"","price":"",'
                b'"time":"2026-11-21T15:00:00.123+00:00","source":"SIGHOOK"}')
    assert (alert.id, alert.exchange, alert.quantity, alert.price) == (None, None, None, None)
    assert alert.source == "sighook" and alert.notional_estimate is None


def test_a_utf8_bom_is_tolerated() -> None:
    assert _ok(b'\xef\xbb\xbf{"ticker":"BTCUSD","action":"close","time":"2026-11-21T15:00:00Z"}').action == "close"


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[1, 2]", b'"text"', b'{"ticker": NaN}', b'{"a": Infinity}', b"{'single': 'quotes'}",
     b'{"ticker":"BTCUSD","action":"buy","price":{{close}}}', b"\xff\xfe{}", b'{"x": "\\u0000"}',
     b'{"x": "\\ud800"}', b'{"\\u0000": 1}', b"[" * 5000],
)
def test_bodies_that_are_not_a_json_object_are_refused(raw: bytes) -> None:
    assert _err(raw).kind == "json"


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ('"action":"hold"', "action"),
        ('"action":"buy","extra":1', "extra"),
        ('"action":"buy","quantity":"1","notional":"10"', "not both"),
        ('"action":"buy","quantity":"-1"', "quantity"),
        ('"action":"buy","quantity":"0"', "quantity"),
        ('"action":"buy","quantity":true', "quantity"),
        ('"action":"buy","quantity":"1_000"', "quantity"),
        ('"action":"buy","quantity":"1e16"', "too large"),
        ('"action":"buy","price":"0.0000000000000000000000000000001"', "decimal places"),
        ('"action":"buy","notional":"NaN"', "notional"),
        ('"action":"buy","id":"rej:abc"', "id"),
        ('"action":"buy","id":"' + "x" * 129 + '"', "id"),
        ('"action":"buy","source":"me"', "source"),
        ('"action":"buy","strategy":[1]', "strategy"),
        ('"action":1', "action"),
    ],
)
def test_schema_errors_name_the_field(fields: str, where: str) -> None:
    err = _err(('{"ticker":"BTCUSD","time":"2026-11-21T15:00:00Z",' + fields + "}").encode())
    assert err.kind == "schema" and where in err.message


@pytest.mark.parametrize("time", ["2026-11-21", "2026-11-21T15:00:00", "2026-11-21 15:00:00Z", "1763737200",
                                  "2026-13-01T00:00:00Z", "{{timenow}}", ""])
def test_time_must_be_rfc3339_with_a_zone(time: str) -> None:
    err = _err(('{"ticker":"BTCUSD","action":"buy","time":"' + time + '"}').encode())
    assert err.message.startswith("time:")


def test_missing_required_fields_are_named() -> None:
    err = _err(b'{"secret":"x"}')
    assert all(name in err.message for name in ("ticker", "action", "time"))


def test_error_messages_never_echo_input_values() -> None:
    long_secret = "S" * 600
    err = _err(('{"secret":"' + long_secret + '","ticker":"BTCUSD","action":"buy","time":"x"}').encode())
    assert "SSSS" not in err.message and "secret" in err.message


def test_dedup_key_is_the_client_id_or_a_hash_of_the_alert() -> None:
    a = _ok(b'{"ticker":"BTCUSD","action":"buy","time":"2026-11-21T15:00:00Z","price":"1"}')
    b = _ok(b'{"ticker":"BTCUSD","action":"buy","time":"2026-11-21T15:00:00.000Z","price":"2"}')
    c = _ok(b'{"ticker":"BTCUSD","action":"sell","time":"2026-11-21T15:00:00Z"}')
    d = _ok(b'{"ticker":"BTCUSD","action":"buy","time":"2026-11-21T15:00:00Z","source":"sighook"}')
    assert dedup_key(a, "BTC-USD") == dedup_key(b, "BTC-USD")  # same firing, whatever else differs
    assert len(dedup_key(a, "BTC-USD")) == 64
    assert len({dedup_key(a, "BTC-USD"), dedup_key(c, "BTC-USD"), dedup_key(d, "BTC-USD"),
                dedup_key(a, "BTC-USDC")}) == 4
    e = _ok(b'{"id":"sighook:BTC-USD:2026-11-21T15:00:00Z","ticker":"BTC-USD","action":"buy",'
            b'"time":"2026-11-21T15:00:00Z"}')
    assert dedup_key(e, "BTC-USD") == "sighook:BTC-USD:2026-11-21T15:00:00Z"
