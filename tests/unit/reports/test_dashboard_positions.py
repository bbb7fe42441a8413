"""Dashboard position rows: unrealized P&L and the distance to each exit threshold (pure)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from reports.dashboard.data import PositionSnapshot, TrailingSnapshot
from reports.dashboard.positions import PositionRow, position_row
from reports.dashboard.queries import DayPnl
from reports.dashboard.routes import fill_days
from reports.performance import ExitThresholds

D = Decimal
T = ExitThresholds(D(-5), D("-2.5"), D("6.25"), D("3.5"), D(1), D(2))  # the settings' defaults


def levels(row: PositionRow) -> dict[str, tuple[Decimal, Decimal | None]]:
    return {e.name: (e.price, e.distance_pct) for e in row.exits}


def test_inactive_trailing_shows_every_threshold_from_the_entry() -> None:
    p = PositionSnapshot("BTC-USD", D(2), D(100), last_price=D(102), quote_age_s=1.0,
                         trailing=TrailingSnapshot(state="inactive"))
    row = position_row(p, T, quote_max_age_s=10.0)
    assert (row.unrealized_pnl_usd, row.unrealized_pct, row.stale) == (D(4), D(2), False)
    got = levels(row)
    assert got["hard_stop"] == (D(95), (D(95) - D(102)) / D(102) * 100)
    assert got["soft_stop"][0] == D("97.5")
    assert got["take_profit"] == (D("106.25"), (D("106.25") - D(102)) / D(102) * 100)
    assert got["trailing_activation"][0] == D("103.5")
    assert "trailing_stop" not in got


def test_active_trailing_shows_the_current_stop_and_basis_includes_fees() -> None:
    p = PositionSnapshot("ETH-USD", D(2), D(100), last_price=D(102), quote_age_s=30.0, cost_basis_usd=D(201),
                         trailing=TrailingSnapshot(state="active", current_stop=D(101), highest_price=D(104)))
    row = position_row(p, T, quote_max_age_s=10.0)
    assert row.unrealized_pnl_usd == D(3) and row.stale  # 204 − 201; the quote is older than the limit
    assert row.unrealized_pct == D(3) / D(201) * 100
    got = levels(row)
    assert got["trailing_stop"] == (D(101), (D(101) - D(102)) / D(102) * 100)
    assert "trailing_activation" not in got


def test_hodl_and_missing_quote() -> None:
    hodl = position_row(PositionSnapshot("BTC-USD", D(1), D(100), last_price=D(90), quote_age_s=0.5, hodl=True),
                        T, 10.0)
    assert hodl.exits == () and hodl.unrealized_pnl_usd == D(-10)
    blind = position_row(PositionSnapshot("SOL-USD", D(1), D(100)), T, 10.0)
    assert blind.stale and blind.unrealized_pnl_usd is None
    assert all(e.distance_pct is None for e in blind.exits)


def test_daily_points_fill_every_day_of_the_window() -> None:
    days = fill_days([DayPnl(date(2026, 3, 2), 1, D(5)), DayPnl(date(2026, 3, 4), 2, D(-2))],
                     date(2026, 3, 1), date(2026, 3, 5))
    assert [(d["day"].day, d["pnl_usd"], d["cumulative_pnl_usd"]) for d in days] == [
        (1, 0, 0), (2, 5, 5), (3, 0, 5), (4, -2, 3), (5, 0, 3)
    ]
