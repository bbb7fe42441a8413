"""Symbol map and the pure admission rules (staleness, notional cap)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.enums import AlertStatus
from webhook.alerts.admission import AdmissionPolicy, admit
from webhook.alerts.normalise import normalise_json
from webhook.alerts.reasons import Reason
from webhook.alerts.schema import Alert
from webhook.alerts.symbols import SymbolMap

NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
POLICY = AdmissionPolicy(max_lag_s=60, future_skew_s=5, max_notional_usd=Decimal("1000"))


def test_tradingview_tickers_map_only_through_known_products() -> None:
    symbols = SymbolMap.from_products(["BTC-USD", "BTC-USDC", "ETH-BTC", "SOL-USD", "bogus", "A-B-C"])
    assert symbols.resolve("BTCUSD") == "BTC-USD"
    assert symbols.resolve("btcusdc") == "BTC-USDC"
    assert symbols.resolve("BTC-USD") == "BTC-USD"
    assert symbols.resolve(" sol-usd ") == "SOL-USD"
    assert symbols.resolve("COINBASE:SOLUSD") == "SOL-USD"
    assert symbols.resolve("ETH-BTC") == "ETH-BTC"
    assert symbols.resolve("ETHBTC") is None  # only USD/USDC quotes get the compact form
    assert symbols.resolve("DOGEUSD") is None and symbols.resolve("DOGE-USD") is None
    assert symbols.resolve("BOGUS") is None and symbols.products == {"BTC-USD", "BTC-USDC", "ETH-BTC", "SOL-USD"}


def test_lookalike_products_keep_distinct_tickers() -> None:
    symbols = SymbolMap.from_products(["XUSD-C", "X-USDC", "XUSD-USD", "XC-USD"])
    assert symbols.resolve("XUSDC") == "X-USDC" and symbols.resolve("XUSDUSD") == "XUSD-USD"
    assert symbols.resolve("XCUSD") == "XC-USD" and symbols.resolve("XUSD-C") == "XUSD-C"


def _alert(**fields: object) -> Alert:
    base: dict[str, object] = {"ticker": "BTCUSD", "action": "buy", "time": "2026-11-21T15:00:00Z"}
    base.update(fields)
    alert = normalise_json(base)
    assert isinstance(alert, Alert), alert
    return alert


def test_staleness_window_and_future_skew() -> None:
    assert admit(_alert(), NOW + timedelta(seconds=60), POLICY) is None
    late = admit(_alert(), NOW + timedelta(seconds=61), POLICY)
    assert late is not None and late.code is Reason.STALE and "61 s old" in late.message
    assert "{{timenow}}" in late.message  # the fire time came from `time`: hint at the bar-time mix-up
    assert admit(_alert(), NOW - timedelta(seconds=5), POLICY) is None
    early = admit(_alert(), NOW - timedelta(seconds=6), POLICY)
    assert early is not None and early.code is Reason.FUTURE and early.status is AlertStatus.STALE


def test_staleness_is_reported_before_a_bad_size() -> None:
    refusal = admit(_alert(quantity="-5"), NOW + timedelta(seconds=600), POLICY)
    assert refusal is not None and refusal.code is Reason.STALE
    refusal = admit(_alert(quantity="-5"), NOW, POLICY)
    assert refusal is not None and refusal.code is Reason.BAD_SIZE and refusal.http_status == 422


def test_notional_cap_uses_notional_or_quantity_times_price() -> None:
    assert admit(_alert(notional="1000"), NOW, POLICY) is None
    over = admit(_alert(notional="1000.01"), NOW, POLICY)
    assert over is not None and over.code is Reason.OVER_ORDER_CAP and over.status is AlertStatus.REJECTED_RISK
    assert "1000.01 USD" in over.message
    assert admit(_alert(quantity="0.02", price="50000"), NOW, POLICY) is None
    assert admit(_alert(quantity="0.02", price="50001"), NOW, POLICY) is not None
    # Without a price the endpoint cannot know; the sizing on the live quote decides.
    assert admit(_alert(quantity="100"), NOW, POLICY) is None
    assert admit(_alert(action="sell", quantity="100", price="50000"), NOW, POLICY) is None  # exits are not capped
