"""Open-position rows of the dashboard (pure): unrealized P&L and the distance to each exit threshold."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.enums import TrailingState
from core.money import pct_change
from reports.dashboard.data import PositionSnapshot
from reports.performance import HUNDRED, ExitThresholds


@dataclass(frozen=True)
class ExitLevel:
    name: str  # hard_stop | soft_stop | take_profit | trailing_activation | trailing_stop
    price: Decimal
    distance_pct: Decimal | None  # move from the last price needed to reach it (negative = a fall)


@dataclass(frozen=True)
class PositionRow:
    position: PositionSnapshot
    unrealized_pnl_usd: Decimal | None
    unrealized_pct: Decimal | None
    stale: bool  # the last quote is older than the sentinel's limit: it will not act on it
    exits: tuple[ExitLevel, ...]


def _level(name: str, price: Decimal, last: Decimal | None) -> ExitLevel:
    distance = pct_change(price, last) if last else None
    return ExitLevel(name, price, distance)


def exit_levels(p: PositionSnapshot, t: ExitThresholds) -> tuple[ExitLevel, ...]:
    """The price of every exit the sentinel watches for this position.

    Stops and target are percent moves from the entry price (DESIGN §4); the trailing stop shows its
    activation price until it is active and its current stop afterwards.
    """
    if p.hodl:
        return ()
    entry, last = p.entry_price, p.last_price
    levels = [
        _level("hard_stop", entry * (1 + t.stop_loss_hard_pct / HUNDRED), last),
        _level("soft_stop", entry * (1 + t.stop_loss_soft_pct / HUNDRED), last),
        _level("take_profit", entry * (1 + t.take_profit_pct / HUNDRED), last),
    ]
    trailing = p.trailing
    if trailing is not None and trailing.state == TrailingState.ACTIVE.value and trailing.current_stop is not None:
        levels.append(_level("trailing_stop", trailing.current_stop, last))
    else:
        levels.append(_level("trailing_activation", entry * (1 + t.trailing_activation_pct / HUNDRED), last))
    return tuple(levels)


def position_row(p: PositionSnapshot, t: ExitThresholds, quote_max_age_s: float) -> PositionRow:
    last = p.last_price
    if last is None:
        pnl, pct = None, None
    elif p.cost_basis_usd is not None:
        pnl = last * p.size - p.cost_basis_usd
        pct = pnl / p.cost_basis_usd * HUNDRED if p.cost_basis_usd else None
    else:
        pnl, pct = (last - p.entry_price) * p.size, pct_change(last, p.entry_price)
    stale = last is None or p.quote_age_s is None or p.quote_age_s > quote_max_age_s
    return PositionRow(p, pnl, pct, stale, exit_levels(p, t))
