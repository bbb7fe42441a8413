"""Risk rules over values: entry checks and when circuit breakers trip. No I/O, no clock.

Breakers block NEW ENTRIES only; exits are always allowed (a breaker must never trap a position).
- daily_loss: realized P&L of the current UTC day ≤ −daily_loss_limit_usd. It clears by itself at
  the next UTC day (or by an explicit resume of that breaker).
- losing_streak: max_consecutive_losses losing exits in a row (P&L < 0; break-even is not a loss).
  It stays tripped until resumed; resuming starts a new streak count.
- kill_switch: manual `halt`; only `resume` clears it.
Per entry: position notional ≤ max_position_pct % of account value, and a quote at most
entry_data_max_age_s old.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from core.money import ZERO, fmt
from core.settings import RiskSettings

HUNDRED = Decimal(100)


class Breaker(StrEnum):
    DAILY_LOSS = "daily_loss"
    LOSING_STREAK = "losing_streak"
    KILL_SWITCH = "kill_switch"


# `resume` without naming breakers clears these; daily_loss clears at the UTC day change.
MANUAL_BREAKERS = (Breaker.KILL_SWITCH, Breaker.LOSING_STREAK)


@dataclass(frozen=True, slots=True)
class RiskLimits:
    daily_loss_limit_usd: Decimal
    max_position_pct: Decimal
    max_consecutive_losses: int
    entry_data_max_age_s: float

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> RiskLimits:
        return cls(daily_loss_limit_usd=settings.daily_loss_limit_usd, max_position_pct=settings.max_position_pct,
                   max_consecutive_losses=settings.max_consecutive_losses,
                   entry_data_max_age_s=settings.entry_data_max_age_s)


@dataclass(frozen=True, slots=True)
class RiskCounters:
    """What the breakers count: realized P&L of one UTC day and the current losing streak."""

    day: date
    realized_pnl_usd: Decimal = ZERO
    consecutive_losses: int = 0


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    breaker: Breaker
    tripped: bool
    reason: str | None = None
    tripped_at: datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Trip:
    breaker: Breaker
    reason: str
    details: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RiskVerdict:
    allowed: bool
    reasons: tuple[str, ...] = ()
    breakers: tuple[Breaker, ...] = ()  # tripped breakers that blocked the entry
    reason_code: str | None = None  # a gate's own cause (webhook/alerts/reasons.py), else derived

    def __bool__(self) -> bool:
        return self.allowed


def apply_exit(counters: RiskCounters, pnl_usd: Decimal, at: datetime) -> RiskCounters:
    """Counters after one realized exit at `at` (UTC); a new UTC day starts a new daily total."""
    day = utc_day(at)
    if day > counters.day:
        new_day, total = day, pnl_usd
    elif day == counters.day:
        new_day, total = day, counters.realized_pnl_usd + pnl_usd
    else:  # a late report of an earlier day never changes today's total
        new_day, total = counters.day, counters.realized_pnl_usd
    streak = counters.consecutive_losses + 1 if pnl_usd < 0 else 0
    return replace(counters, day=new_day, realized_pnl_usd=total, consecutive_losses=streak)


def roll_day(counters: RiskCounters, today: date) -> RiskCounters:
    """Counters as of `today`: the daily total restarts on a new day; the streak carries over."""
    return counters if today <= counters.day else replace(counters, day=today, realized_pnl_usd=ZERO)


def trips_after_exit(counters: RiskCounters, limits: RiskLimits) -> list[Trip]:
    """Breakers the counters call for (the caller ignores those already tripped)."""
    trips: list[Trip] = []
    if counters.realized_pnl_usd <= -limits.daily_loss_limit_usd:
        trips.append(Trip(Breaker.DAILY_LOSS,
                          f"realized P&L {fmt(counters.realized_pnl_usd)} USD on {counters.day.isoformat()} "
                          f"reached the daily loss limit of {fmt(limits.daily_loss_limit_usd)} USD",
                          {"day": counters.day.isoformat(), "tripped_day": counters.day.isoformat(),
                           "realized_pnl_usd": str(counters.realized_pnl_usd)}))
    if counters.consecutive_losses >= limits.max_consecutive_losses:
        trips.append(Trip(Breaker.LOSING_STREAK,
                          f"{counters.consecutive_losses} losing exits in a row "
                          f"(limit {limits.max_consecutive_losses})",
                          {"consecutive_losses": counters.consecutive_losses}))
    return trips


def daily_loss_expired(status: BreakerStatus, today: date) -> bool:
    """A daily-loss trip from an earlier UTC day no longer applies."""
    if status.breaker is not Breaker.DAILY_LOSS or not status.tripped:
        return False
    tripped_day = status.details.get("tripped_day")
    if isinstance(tripped_day, str):
        return date.fromisoformat(tripped_day) < today
    return status.tripped_at is not None and utc_day(status.tripped_at) < today


def check_entry(symbol: str, notional: Decimal, account_value: Decimal, quote_age_s: float | None,
                breakers: Mapping[Breaker, BreakerStatus], limits: RiskLimits) -> RiskVerdict:
    """May a new entry of `symbol` bring its position to `notional` USD? All failing rules are listed."""
    reasons: list[str] = []
    blocking = tuple(b for b, s in breakers.items() if s.tripped)
    for breaker in blocking:
        reasons.append(f"breaker {breaker.value} tripped: {breakers[breaker].reason or 'no reason given'}")
    if notional <= 0:
        reasons.append(f"{symbol}: entry notional must be positive, got {fmt(notional)}")
    if account_value <= 0:
        reasons.append(f"account value must be positive, got {fmt(account_value)}")
    elif notional > account_value * limits.max_position_pct / HUNDRED:
        reasons.append(f"{symbol}: position {fmt(notional)} USD exceeds {fmt(limits.max_position_pct)}% of "
                       f"account value {fmt(account_value)} USD")
    if quote_age_s is None:
        reasons.append(f"{symbol}: no quote (stale-data guard)")
    elif quote_age_s > limits.entry_data_max_age_s:
        reasons.append(f"{symbol}: quote is {quote_age_s:.1f}s old (limit {limits.entry_data_max_age_s}s)")
    return RiskVerdict(allowed=not reasons, reasons=tuple(reasons), breakers=blocking)


def utc_day(at: datetime) -> date:
    if at.tzinfo is None:
        raise ValueError("risk times must be timezone-aware (UTC)")
    return at.astimezone(UTC).date()
