"""Realized P&L by trade date (pure), the numbers behind the `realized_pnl_daily` view and the chart."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from core.money import ZERO
from reports.tax import AllocationRow, local_date


@dataclass(frozen=True)
class DailyPnl:
    day: date  # trade date in the tax time zone
    sells: int  # distinct sell orders
    pnl_usd: Decimal
    net_proceeds_usd: Decimal
    cost_basis_usd: Decimal
    cumulative_pnl_usd: Decimal


def pnl_by_day(rows: Iterable[AllocationRow], timezone: str) -> list[DailyPnl]:
    tz = ZoneInfo(timezone)
    pnl: dict[date, Decimal] = {}
    proceeds: dict[date, Decimal] = {}
    basis: dict[date, Decimal] = {}
    sells: dict[date, set[str]] = {}
    for row in rows:
        day = local_date(row.sell_time, tz)
        pnl[day] = pnl.get(day, ZERO) + row.pnl_usd
        proceeds[day] = proceeds.get(day, ZERO) + row.net_proceeds_usd
        basis[day] = basis.get(day, ZERO) + row.cost_basis_usd
        sells.setdefault(day, set()).add(row.sell_order_id)
    out = []
    cumulative = ZERO
    for day in sorted(pnl):
        cumulative += pnl[day]
        out.append(DailyPnl(day, len(sells[day]), pnl[day], proceeds[day], basis[day], cumulative))
    return out
