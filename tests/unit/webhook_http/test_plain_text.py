"""The plain-text grammar: `<action> <symbol> [<size> | $<usd>] [<fire time>]`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from webhook.alerts.plain_text import looks_like_text, parse_text
from webhook.alerts.reasons import Reason, Refusal
from webhook.alerts.schema import Alert

NOW = datetime(2026, 11, 21, 15, 0, 7, tzinfo=UTC)


@pytest.mark.parametrize(("text", "action", "ticker", "quantity", "notional"), [
    ("buy BTCUSD", "buy", "BTCUSD", None, None),
    ("buy BTC-USD 0.002", "buy", "BTC-USD", Decimal("0.002"), None),
    ("buy ETHUSD $50", "buy", "ETHUSD", None, Decimal("50")),
    ("sell SOLUSD 1.5", "sell", "SOLUSD", Decimal("1.5"), None),
    ("close DOGEUSD", "close", "DOGEUSD", None, None),
    ("  BUY  coinbase:btcusd  $25\n", "buy", "coinbase:btcusd", None, Decimal("25")),
    ("exit ETH/USD", "close", "ETH-USD", None, None),
])
def test_the_documented_forms(text: str, action: str, ticker: str, quantity: Decimal | None,
                              notional: Decimal | None) -> None:
    alert = parse_text(text.encode(), NOW)
    assert isinstance(alert, Alert), alert
    assert (alert.action, alert.ticker, alert.quantity, alert.notional) == (action, ticker, quantity, notional)
    assert alert.form == "text" and alert.time == NOW and alert.time_field == "received" and alert.problem is None


def test_a_trailing_timenow_is_the_fire_time() -> None:
    alert = parse_text(b"buy BTCUSD $25 2026-11-21T15:00:00Z", NOW)
    assert isinstance(alert, Alert) and alert.time == datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    assert alert.time_field == "time"


@pytest.mark.parametrize("text", ["hello", "buy", "buy BTCUSD 1 2 3", "hold BTCUSD", "buy BTC USD 1",
                                  "buy BTCUSD lots", "SIGNAL=BUY;SYMBOL=BTCUSD", "buy BTCUSD\nsell ETHUSD", ""])
def test_anything_else_is_refused_with_the_grammar(text: str) -> None:
    refusal = parse_text(text.encode(), NOW)
    assert isinstance(refusal, Refusal) and refusal.code is Reason.BAD_TEXT and refusal.http_status == 400
    assert "<action> <symbol>" in refusal.message


@pytest.mark.parametrize("text", ["buy BTCUSD 0", "buy BTCUSD -1", "buy BTCUSD $0", "buy BTCUSD 1e99",
                                  "sell BTCUSD $5"])
def test_bad_sizes_are_size_problems(text: str) -> None:
    alert = parse_text(text.encode(), NOW)
    assert isinstance(alert, Alert) and alert.problem is not None and alert.problem.code is Reason.BAD_SIZE


def test_short_is_refused_for_spot() -> None:
    refusal = parse_text(b"short BTCUSD", NOW)
    assert isinstance(refusal, Refusal) and refusal.code is Reason.UNSUPPORTED_ACTION


def test_json_looking_bodies_are_not_plain_text() -> None:
    assert looks_like_text(b"buy BTCUSD") and not looks_like_text(b' {"a":') and not looks_like_text(b"")
