"""Risk rules: counters, when breakers trip, and entry checks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from core.settings import RiskSettings
from risk.rules import (
    Breaker,
    BreakerStatus,
    RiskCounters,
    RiskLimits,
    apply_exit,
    check_entry,
    daily_loss_expired,
    roll_day,
    trips_after_exit,
)

D = Decimal
DAY = date(2026, 3, 2)
T = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
LIMITS = RiskLimits(daily_loss_limit_usd=D("200"), max_position_pct=D("25"), max_consecutive_losses=3,
                    entry_data_max_age_s=30.0)
CLEAR = {b: BreakerStatus(b, tripped=False) for b in Breaker}


def test_limits_from_settings() -> None:
    limits = RiskLimits.from_settings(RiskSettings())
    assert limits.daily_loss_limit_usd == D("200") and limits.max_consecutive_losses == 4


def test_exits_accumulate_per_utc_day_and_count_the_losing_streak() -> None:
    c = RiskCounters(day=DAY)
    c = apply_exit(c, D("-50"), T)
    c = apply_exit(c, D("-25.5"), T)
    assert (c.realized_pnl_usd, c.consecutive_losses) == (D("-75.5"), 2)
    c = apply_exit(c, D("0"), T)  # break-even is not a loss
    assert c.consecutive_losses == 0 and c.realized_pnl_usd == D("-75.5")
    late_evening_ny = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # still 2 March in New York, but UTC says 3 March
    c = apply_exit(c, D("-10"), late_evening_ny)
    assert (c.day, c.realized_pnl_usd, c.consecutive_losses) == (date(2026, 3, 3), D("-10"), 1)


def test_a_late_report_of_an_earlier_day_leaves_today_alone() -> None:
    c = apply_exit(RiskCounters(day=DAY, realized_pnl_usd=D("-20")), D("-500"), T - timedelta(days=1))
    assert c.day == DAY and c.realized_pnl_usd == D("-20") and c.consecutive_losses == 1


def test_roll_day() -> None:
    c = RiskCounters(day=DAY, realized_pnl_usd=D("-20"), consecutive_losses=2)
    assert roll_day(c, DAY) == c
    assert roll_day(c, DAY + timedelta(days=1)) == RiskCounters(DAY + timedelta(days=1), D(0), 2)


@pytest.mark.parametrize(("pnl", "streak", "tripped"), [
    ("-199.99", 2, []),
    ("-200", 2, [Breaker.DAILY_LOSS]),  # the limit is inclusive
    ("-10", 3, [Breaker.LOSING_STREAK]),
    ("-300", 5, [Breaker.DAILY_LOSS, Breaker.LOSING_STREAK]),
])
def test_trips(pnl: str, streak: int, tripped: list[Breaker]) -> None:
    trips = trips_after_exit(RiskCounters(DAY, D(pnl), streak), LIMITS)
    assert [t.breaker for t in trips] == tripped
    assert all(t.reason for t in trips)


def test_daily_loss_expires_on_the_next_utc_day() -> None:
    status = BreakerStatus(Breaker.DAILY_LOSS, True, "x", T, {"tripped_day": "2026-03-02"})
    assert not daily_loss_expired(status, DAY)
    assert daily_loss_expired(status, DAY + timedelta(days=1))
    assert not daily_loss_expired(BreakerStatus(Breaker.KILL_SWITCH, True, "x", T), DAY + timedelta(days=9))
    assert daily_loss_expired(BreakerStatus(Breaker.DAILY_LOSS, True, "x", T), DAY + timedelta(days=1))


def test_entry_allowed_when_all_rules_pass() -> None:
    verdict = check_entry("SOL-USD", D("250"), D("1000"), 1.0, CLEAR, LIMITS)
    assert verdict.allowed and bool(verdict) and verdict.reasons == ()


@pytest.mark.parametrize(("notional", "account", "age", "needle"), [
    ("250.01", "1000", 1.0, "exceeds 25% of account value"),
    ("100", "1000", 30.5, "quote is 30.5s old"),
    ("100", "1000", None, "no quote"),
    ("0", "1000", 1.0, "must be positive"),
    ("100", "0", 1.0, "account value must be positive"),
])
def test_entry_refused(notional: str, account: str, age: float | None, needle: str) -> None:
    verdict = check_entry("SOL-USD", D(notional), D(account), age, CLEAR, LIMITS)
    assert not verdict.allowed and any(needle in r for r in verdict.reasons)


def test_any_tripped_breaker_blocks_entries_with_its_reason() -> None:
    breakers = dict(CLEAR)
    breakers[Breaker.KILL_SWITCH] = BreakerStatus(Breaker.KILL_SWITCH, True, "maintenance", T)
    verdict = check_entry("SOL-USD", D("10"), D("1000"), 1.0, breakers, LIMITS)
    assert not verdict.allowed and verdict.breakers == (Breaker.KILL_SWITCH,)
    assert verdict.reasons == ("breaker kill_switch tripped: maintenance",)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        apply_exit(RiskCounters(DAY), D("-1"), datetime(2026, 3, 2, 12, 0))
