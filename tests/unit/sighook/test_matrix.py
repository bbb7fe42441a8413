"""buy_sell_matrix rows and their schema-versioned, Decimal-safe JSON form."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from exchange.models import Candle
from sighook import matrix as m
from sighook.candle_store import CandleSeries
from sighook.rules import Decision

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
COMPUTED = datetime(2026, 11, 21, 15, 0, 7, tzinfo=UTC)


def product_candles(pid: str, closes: list[Decimal], *, hodl: bool = False, volumes: list[Decimal] | None = None
                    ) -> m.ProductCandles:
    series = CandleSeries(capacity=1000)
    out = []
    prev = 2 * closes[0] - closes[1]  # the first candle moves like the others
    for k, close in enumerate(closes):
        hi, lo = max(prev, close) + Decimal("0.5"), min(prev, close) - Decimal("0.5")
        vol = volumes[k] if volumes else Decimal(10)
        out.append(Candle(T0 + timedelta(minutes=k), prev, hi, lo, close, vol))
        prev = close
    series.merge(out)
    return m.ProductCandles(pid, hodl, series.arrays(), series.last)


def ramp(n: int, step: Decimal = Decimal(1)) -> list[Decimal]:
    return [Decimal(100) + step * k for k in range(n)]


def build(products: list[m.ProductCandles], buy: str = "0.6", sell: str = "-0.6") -> m.BuySellMatrix:
    return m.build_matrix(products, computed_at=COMPUTED, granularity="ONE_MINUTE", buy_threshold=Decimal(buy),
                          sell_threshold=Decimal(sell))


def test_rows_hold_votes_score_decision_atr_close_and_candle_time() -> None:
    built = build([product_candles("UP-USD", ramp(120), hodl=True),
                   product_candles("DOWN-USD", ramp(120, Decimal("-0.5")))])
    up, down = built.rows["UP-USD"], built.rows["DOWN-USD"]
    assert up.hodl and not down.hodl
    assert up.candle_time == T0 + timedelta(minutes=119) and up.as_of == T0 + timedelta(minutes=120)
    assert up.candles == 120
    assert up.close == Decimal(219) and down.close == Decimal("40.5")
    # Every true range is 2 (open→close 1, plus 0.5 wicks on each side): ATR 2, ATR% = 2/219.
    assert up.atr == Decimal(2)
    assert up.atr_pct == (Decimal(2) / Decimal(219) * 100).quantize(Decimal("0.000001"))
    assert up.votes == {"rsi": -1, "macd": 0, "bollinger": 0, "roc": 1, "ma_cross": 1, "volume": 0}
    assert up.score == Decimal(1) / Decimal(6) and up.decision is Decision.HOLD
    assert down.votes == {"rsi": 1, "macd": 0, "bollinger": 0, "roc": -1, "ma_cross": -1, "volume": 0}
    assert down.decision is Decision.HOLD
    assert down.atr == Decimal("1.5")
    assert built.decisions() == {Decision.BUY: 0, Decision.SELL: 0, Decision.HOLD: 2}
    assert up.indicators["rsi"] == Decimal(100)


def test_thresholds_decide() -> None:
    items = [product_candles("UP-USD", ramp(120)), product_candles("DOWN-USD", ramp(120, Decimal("-0.5")))]
    forced = build(items, buy="-1")
    assert {r.decision for r in forced.rows.values()} == {Decision.BUY}
    strict = build(items, buy="0.1", sell="-0.1")
    assert strict.rows["UP-USD"].decision is Decision.BUY
    assert strict.rows["DOWN-USD"].decision is Decision.SELL


def test_products_with_bad_or_short_data_are_skipped_with_a_reason() -> None:
    good = product_candles("GOOD-USD", ramp(100))
    short = product_candles("SHORT-USD", ramp(20))
    empty = m.ProductCandles("EMPTY-USD", False, np.empty((0, 5)), None)
    arr = good.ohlcv.copy()
    arr[50, 3] = np.nan
    broken = m.ProductCandles("NAN-USD", False, arr, good.last)
    built = build([good, short, empty, broken])
    assert list(built.rows) == ["GOOD-USD"]
    assert built.skipped == {"SHORT-USD": "insufficient_history", "EMPTY-USD": "no_candles", "NAN-USD": "non_finite"}


def test_payload_is_json_with_decimal_strings_and_round_trips() -> None:
    built = build([product_candles("UP-USD", ramp(120, Decimal("0.01")))])
    payload = m.to_payload(built)
    text = json.dumps(payload)  # no Decimal or datetime left
    assert payload["schema"] == m.MATRIX_SCHEMA and payload["schema_version"] == m.MATRIX_SCHEMA_VERSION
    row = payload["rows"]["UP-USD"]
    assert row["close"] == "101.19" and row["candle_time"] == "2026-11-21T11:59:00Z"
    assert isinstance(row["atr"], str) and isinstance(row["score"], str)
    assert payload["computed_at"] == "2026-11-21T15:00:07Z"
    back = m.from_payload(json.loads(text))
    assert back.rows["UP-USD"].close == Decimal("101.19")
    assert back.rows["UP-USD"].atr == built.rows["UP-USD"].atr
    assert back.rows["UP-USD"].decision is built.rows["UP-USD"].decision
    assert back.computed_at == COMPUTED and back.buy_threshold == Decimal("0.6")


def test_from_payload_refuses_other_schemas() -> None:
    with pytest.raises(ValueError, match="schema_version"):
        m.from_payload({"schema": m.MATRIX_SCHEMA, "schema_version": 99})
    with pytest.raises(ValueError, match="not a buy_sell_matrix"):
        m.from_payload({"schema": "other"})
    with pytest.raises(ValueError, match="malformed"):
        m.from_payload({"schema": m.MATRIX_SCHEMA, "schema_version": 1, "rows": {"X": {}}})


def test_float_to_decimal() -> None:
    assert m.float_to_decimal(float("nan")) is None
    assert m.float_to_decimal(2.0) == Decimal(2)
    assert m.float_to_decimal(1.23456789e-7, 4) == Decimal("1.235E-7")
