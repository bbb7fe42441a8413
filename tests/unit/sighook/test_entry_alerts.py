"""Which buy rows become alerts (pure), and the alert body against webhook's own parser."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.settings import load_settings
from sighook.entry_alerts import (
    EntryBlockers,
    SentMemory,
    alert_body,
    alert_id,
    plan_entries,
    webhook_url,
)
from sighook.matrix import BuySellMatrix, MatrixRow
from sighook.rules import Decision
from webhook.alerts.schema import Alert, dedup_key, parse_alert

CANDLE = datetime(2026, 11, 21, 14, 59, tzinfo=UTC)
NOW = CANDLE + timedelta(minutes=1, seconds=3)
SECRET = "s" * 40


def row(pid: str, decision: Decision = Decision.BUY, candle: datetime = CANDLE) -> MatrixRow:
    return MatrixRow(product_id=pid, hodl=False, candle_time=candle, as_of=candle + timedelta(minutes=1),
                     candles=300, close=Decimal("64123.45"), atr=Decimal("41.5"), atr_pct=Decimal("0.064718"),
                     votes={"rsi": 1, "macd": 1, "bollinger": 1, "roc": 1, "ma_cross": 0, "volume": 0},
                     score=Decimal(4) / Decimal(6), decision=decision)


def matrix(*rows: MatrixRow) -> BuySellMatrix:
    return BuySellMatrix(computed_at=NOW, granularity="ONE_MINUTE", buy_threshold=Decimal("0.6"),
                         sell_threshold=Decimal("-0.6"), weights={}, rows={r.product_id: r for r in rows}, skipped={})


def test_only_unblocked_fresh_unsent_buys_are_planned() -> None:
    mx = matrix(row("A-USD"), row("B-USD"), row("C-USD"), row("D-USD"), row("E-USD", Decision.SELL),
                row("F-USD", candle=CANDLE - timedelta(minutes=10)), row("G-USD"))
    blockers = EntryBlockers(positions=frozenset({"B-USD"}), open_buys=frozenset({"C-USD"}))
    sent = {("D-USD", CANDLE)}
    plan = plan_entries(mx, blockers, sent, market_now=NOW, max_signal_age_s=120)
    assert [i.row.product_id for i in plan.intents] == ["A-USD", "G-USD"]
    assert plan.skipped == {"B-USD": "has_position", "C-USD": "open_buy", "D-USD": "already_sent",
                            "F-USD": "stale_candle"}


def test_a_tripped_breaker_blocks_every_entry() -> None:
    plan = plan_entries(matrix(row("A-USD"), row("B-USD")), EntryBlockers(tripped_breakers=("daily_loss",)), set(),
                        market_now=NOW, max_signal_age_s=120)
    assert plan.intents == []
    assert plan.skipped == {"A-USD": "breaker_tripped", "B-USD": "breaker_tripped"}


def test_a_new_candle_is_a_new_signal() -> None:
    memory = SentMemory()
    memory.add(("A-USD", CANDLE))
    later = replace(row("A-USD"), candle_time=CANDLE + timedelta(minutes=1), as_of=CANDLE + timedelta(minutes=2))
    plan = plan_entries(matrix(later), EntryBlockers(), memory, market_now=NOW + timedelta(minutes=1),
                        max_signal_age_s=120)
    assert [i.alert_id for i in plan.intents] == ["sighook:A-USD:2026-11-21T15:00:00Z"]
    memory.prune(CANDLE + timedelta(days=2))
    assert len(memory) == 0


def test_alert_body_is_a_valid_alert_for_webhook() -> None:
    intent = plan_entries(matrix(row("BTC-USD")), EntryBlockers(), set(), market_now=NOW,
                          max_signal_age_s=120).intents[0]
    body = alert_body(intent, SECRET, NOW)
    assert body["id"] == alert_id("BTC-USD", CANDLE) == "sighook:BTC-USD:2026-11-21T14:59:00Z"
    assert body["source"] == "sighook" and body["action"] == "buy" and body["ticker"] == "BTC-USD"
    assert body["time"] == "2026-11-21T15:00:03Z"
    assert body["strategy"]["score"] == "0.6667"
    raw = json.dumps(body).encode()
    assert len(raw) < 1024  # far under ALERT_MAX_BODY_BYTES
    parsed = parse_alert(raw)
    assert isinstance(parsed, Alert), parsed
    assert parsed.price == Decimal("64123.45") and parsed.source == "sighook"
    assert dedup_key(parsed, "BTC-USD") == body["id"]


def test_webhook_url_from_settings() -> None:
    assert webhook_url(load_settings(webhook_host="0.0.0.0", webhook_port=5003)) == "http://127.0.0.1:5003/webhook"
    assert webhook_url(load_settings(sighook_webhook_url="http://h:1/webhook")) == "http://h:1/webhook"
