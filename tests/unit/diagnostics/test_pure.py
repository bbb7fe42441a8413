"""diagnose's pure parts: durations, the watch over samples, the activity summary, the checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest

from core.enums import OrderStatus, Side, TrailingState
from diagnostics import checks as c
from diagnostics.activity import summarize
from diagnostics.duration import parse_duration
from diagnostics.report import EXIT_FAILED, EXIT_INCOMPLETE, EXIT_OK, DiagnoseReport, render_text
from diagnostics.watch import Watch
from exchange.models import Balance, Order, Product
from market_data.trailing_stop import TrailingStop

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "seconds"), [("15m", 900), ("60s", 60), ("1h30m", 5400), ("90", 90), ("2.5s", 2.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "-5s", "15x", "m", "1m5", "25h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def trailing_body(stops: list[dict[str, Any]], stale: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"staleness_limit_s": 10.0, "stops": stops, "stale": stale or []}


def test_watch_counts_updates_and_the_largest_gap() -> None:
    w = Watch()
    w.add(0.0, {"BTC-USD": 5}, trailing_body([{"symbol": "BTC-USD", "last_price_age_s": 0.2}]))
    w.add(1.0, {"BTC-USD": 8}, trailing_body([{"symbol": "BTC-USD", "last_price_age_s": 0.1}]))
    w.add(2.0, {"BTC-USD": 8}, trailing_body([{"symbol": "BTC-USD", "last_price_age_s": 1.1}]))
    w.add(5.0, {"BTC-USD": 8}, trailing_body([{"symbol": "BTC-USD", "last_price_age_s": 4.1}]))
    w.add(6.0, {"BTC-USD": 9}, trailing_body([{"symbol": "BTC-USD", "last_price_age_s": 0.0}]))
    w.finish(6.5)
    feed = w.feeds["BTC-USD"]
    assert feed.updates == 4 and feed.largest_gap_s == pytest.approx(4.1) and feed.stale_worst_age_s is None
    assert c.check_price_feed(w).passed


def test_a_stale_stop_fails_the_feed_check_by_name() -> None:
    w = Watch()
    w.add(0.0, {}, trailing_body([], stale=[{"symbol": "ETH-USD", "last_price_age_s": 12.5}]))
    w.add(1.0, {}, trailing_body([], stale=[{"symbol": "ETH-USD", "last_price_age_s": 13.5}]))
    result = c.check_price_feed(w)
    assert not result.passed
    assert result.problems == ["ETH-USD: no price update for 13.5s (staleness limit 10.0s) while its trailing stop "
                               "was open"]


def test_activity_moves_decided_vs_acknowledged_and_exit_latency() -> None:
    tr = [("BTC-USD", "created", T0, None), ("BTC-USD", "activated", T0, None),
          ("BTC-USD", "exchange_stop_placed", T0, None), ("BTC-USD", "stop_moved", T0, None),
          ("BTC-USD", "stop_moved", T0, None), ("BTC-USD", "exchange_stop_replaced", T0, None),
          ("BTC-USD", "warning", T0, "cancelled but not replaced"),
          ("BTC-USD", "exchange_stop_failed", T0, "exchange stop cancelled outside the daemon; placing it again")]
    ex = [("BTC-USD", "decided", T0), ("BTC-USD", "order_sent", T0), ("BTC-USD", "decided", T0 + timedelta(seconds=1)),
          ("BTC-USD", "filled", T0 + timedelta(seconds=2.5))]
    a = summarize(tr, ex)["BTC-USD"]
    assert (a.activations, a.stop_moves_decided, a.stop_moves_acknowledged) == (1, 3, 2)
    assert a.exits_filled == 1 and a.exit_latencies_s == [2.5] and a.warnings == ["cancelled but not replaced"]
    result = c.check_exchange_stop_failures({"BTC-USD": a})
    assert result.problems == ["BTC-USD: 2026-03-02T12:00:00+00:00 exchange stop cancelled outside the daemon; "
                               "placing it again"]


def stop(symbol: str, state: TrailingState = TrailingState.ACTIVE, current: str = "101",
         order_id: str | None = "ps-1", order_price: str | None = "101") -> TrailingStop:
    return TrailingStop(symbol=symbol, state=state, entry_price=D("100"), highest_price=D("103"), lowest_price=D("99"),
                        current_stop=D(current), atr=None, activated_at=T0, opened_at=T0, last_update_time=T0,
                        stop_order_id=order_id, stop_order_price=None if order_price is None else D(order_price))


def order(order_id: str, symbol: str = "BTC-USD", stop_price: str = "101", coid: str = "bt-ps-x") -> Order:
    return Order(order_id=order_id, client_order_id=coid, product_id=symbol, side=Side.SELL, status=OrderStatus.OPEN,
                 kind=None, order_type="STOP_LIMIT", base_size=D("1"), quote_size=None, limit_price=D("100"),
                 stop_price=D(stop_price), filled_size=D(0), average_filled_price=None, filled_value=D(0),
                 total_fees=D(0), number_of_fills=0, created_time=T0)


def product(symbol: str) -> Product:
    base, quote = symbol.split("-")
    return Product(product_id=symbol, base_currency=base, quote_currency=quote, price=D("100"),
                   base_increment=D("0.00000001"), quote_increment=D("0.01"), price_increment=D("0.01"),
                   base_min_size=D("0.0001"), base_max_size=D("1000"), quote_min_size=D("1"), quote_max_size=D("1e6"),
                   volume_24h=D(0), price_change_24h_pct=D(0), status="online")


def test_exchange_stop_checks() -> None:
    rows = {"BTC-USD": stop("BTC-USD")}
    assert c.check_exchange_stops(rows, [order("ps-1")]).passed
    assert c.check_orphans(rows, [order("ps-1"), order("manual", coid="mine")]).passed  # not ours: not an orphan
    missing = c.check_exchange_stops(rows, [])
    assert not missing.passed and "BTC-USD" in missing.problems[0] and "ps-1 at 101" in missing.problems[0]
    two = c.check_exchange_stops(rows, [order("ps-1"), order("ps-9")])
    assert "2 exchange stop orders" in two.problems[0]
    wrong = c.check_exchange_stops(rows, [order("ps-1", stop_price="102")])
    assert any("above the trailing stop" in p for p in wrong.problems)
    assert any("row says 101" in p for p in wrong.problems)
    orphan = c.check_orphans(rows, [order("ps-1"), order("ps-old", symbol="ETH-USD")])
    assert orphan.problems == ["ETH-USD: exchange stop ps-old at 101 belongs to no trailing stop"]
    inactive = {"BTC-USD": stop("BTC-USD", TrailingState.INACTIVE, order_id=None, order_price=None)}
    assert c.check_exchange_stops(inactive, []).passed


def test_positions_rows_and_balances() -> None:
    products = {s: product(s) for s in ("BTC-USD", "ETH-USD", "DOGE-USD")}
    positions = [c.HeldSize("BTC-USD", D("1.5")), c.HeldSize("ETH-USD", D("0.00001")),  # ETH: dust
                 c.HeldSize("DOGE-USD", D("10"))]
    rows = {"BTC-USD": stop("BTC-USD")}
    result = c.check_trailing_rows(positions, rows, products, hodl=["DOGE"])
    assert result.passed  # dust and HODL assets are not guarded by the sentinel
    result = c.check_trailing_rows([c.HeldSize("ETH-USD", D("2"))], rows, products, hodl=[])
    assert result.problems == ["ETH-USD: open position of 2 has no trailing-stop row",
                               "BTC-USD: trailing-stop row without an open position"]
    balances = {"BTC": Balance("BTC", D("0.5"), D("1.0")), "USD": Balance("USD", D("10"), D("0"))}
    assert c.check_balances([c.HeldSize("BTC-USD", D("1.5"))], balances, products).passed
    bad = c.check_balances([c.HeldSize("BTC-USD", D("1.4"))], balances, products)
    assert bad.problems == ["BTC: database position 1.4 but exchange balance 1.5"]


def test_exit_code_and_text() -> None:
    ok = c.CheckResult("a", True)
    failed = c.CheckResult("b", False, ["BTC-USD: broken"])
    skipped = c.skipped("c", "exchange in the daemon's process")
    w = Watch()
    assert DiagnoseReport(1, w, {}, [ok], True).exit_code == EXIT_OK
    assert DiagnoseReport(1, w, {}, [ok, skipped], True).exit_code == EXIT_INCOMPLETE
    report = DiagnoseReport(1, w, {}, [ok, failed, skipped], True)
    assert report.exit_code == EXIT_FAILED and report.as_dict()["failed_checks"] == ["b", "c"]
    text = render_text(report)
    assert "[FAIL] b" in text and "BTC-USD: broken" in text and "[SKIP] c" in text and "result: FAILED" in text
