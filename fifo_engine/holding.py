"""Holding period by calendar date (tax reference §3): long-term = held more than one year.

The period starts the day after acquisition and includes the sale date, so a sale on the one-year
anniversary is still short-term and the first long-term day is the day after the anniversary. Dates
are calendar dates in the configured tax time zone; never a day count.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from core.enums import HoldingTerm


@lru_cache(maxsize=16)
def tax_zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def trade_date(moment: datetime, tz: str) -> date:
    """The calendar date of a (timezone-aware) instant in the tax time zone."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: fill times must carry a time zone")
    return moment.astimezone(tax_zone(tz)).date()


_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _month_end(year: int, month: int) -> int:
    if month == 2 and calendar.isleap(year):
        return 29
    return _DAYS[month - 1]


def anniversary(acquired: date, month_end_convention: bool) -> date:
    """The last short-term sale date: the one-year anniversary of the acquisition date.

    29 Feb → 28 Feb of the next year (that year has no 29 Feb). Under the month-end convention an
    acquisition on the last day of a month has its anniversary on the last day of that month a year
    later — this differs from plain date addition only for 28 Feb followed by a leap year (→ 29 Feb).
    """
    year = acquired.year + 1
    last_day = _month_end(year, acquired.month)
    if month_end_convention and acquired.day == _month_end(acquired.year, acquired.month):
        return date(year, acquired.month, last_day)
    return date(year, acquired.month, min(acquired.day, last_day))


def term_for_dates(acquired: date, sold: date, month_end_convention: bool) -> HoldingTerm:
    return HoldingTerm.LONG if sold > anniversary(acquired, month_end_convention) else HoldingTerm.SHORT


def holding_term(buy_time: datetime, sell_time: datetime, tz: str, month_end_convention: bool) -> HoldingTerm:
    """Short or long term for a lot bought at `buy_time` and sold at `sell_time` (aware datetimes)."""
    return term_for_dates(trade_date(buy_time, tz), trade_date(sell_time, tz), month_end_convention)
