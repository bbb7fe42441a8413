"""Holding period at the one-year boundary (tax reference §3): calendar dates, never a day count."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core.enums import HoldingTerm
from fifo_engine.engine import FifoBook, holding_term
from fifo_engine.holding import anniversary, term_for_dates
from fifo_engine.model import EngineConfig
from tests.unit.fifo.factories import fill

NY = "America/New_York"
SHORT, LONG = HoldingTerm.SHORT, HoldingTerm.LONG


def _noon(d: date) -> datetime:
    """Noon in New York (16:00 or 17:00 UTC) — the same calendar date in both zones."""
    return datetime(d.year, d.month, d.day, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    ("bought", "sold", "month_end", "expected"),
    [
        # The anniversary itself is still short; the day after is the first long day.
        (date(2024, 3, 15), date(2025, 3, 14), True, SHORT),
        (date(2024, 3, 15), date(2025, 3, 15), True, SHORT),
        (date(2024, 3, 15), date(2025, 3, 16), True, LONG),
        # A year containing 29 Feb is longer: 365 days later (29 Feb) and 366 days later (the anniversary)
        # are both still short — a day count would call them long.
        (date(2023, 3, 1), date(2024, 2, 29), True, SHORT),
        (date(2023, 3, 1), date(2024, 3, 1), True, SHORT),
        (date(2023, 3, 1), date(2024, 3, 2), True, LONG),
        (date(2024, 1, 10), date(2025, 1, 10), True, SHORT),
        # Acquired on 29 Feb: anniversary is 28 Feb, long from 1 March (both conventions).
        (date(2024, 2, 29), date(2025, 2, 28), True, SHORT),
        (date(2024, 2, 29), date(2025, 3, 1), True, LONG),
        (date(2024, 2, 29), date(2025, 2, 28), False, SHORT),
        (date(2024, 2, 29), date(2025, 3, 1), False, LONG),
        # 28 Feb before a leap year: month-end convention → anniversary 29 Feb; plain addition → 28 Feb.
        (date(2023, 2, 28), date(2024, 2, 28), True, SHORT),
        (date(2023, 2, 28), date(2024, 2, 29), True, SHORT),
        (date(2023, 2, 28), date(2024, 3, 1), True, LONG),
        (date(2023, 2, 28), date(2024, 2, 29), False, LONG),
        (date(2023, 2, 28), date(2024, 2, 28), False, SHORT),
        # 28 Feb of a leap year is not a month end: anniversary 28 Feb either way.
        (date(2024, 2, 28), date(2025, 2, 28), True, SHORT),
        (date(2024, 2, 28), date(2025, 3, 1), True, LONG),
        # Other month ends agree with plain addition.
        (date(2024, 1, 31), date(2025, 1, 31), True, SHORT),
        (date(2024, 1, 31), date(2025, 2, 1), True, LONG),
        (date(2024, 4, 30), date(2025, 4, 30), True, SHORT),
        (date(2024, 4, 30), date(2025, 5, 1), True, LONG),
        (date(2024, 12, 31), date(2025, 12, 31), True, SHORT),
        (date(2024, 12, 31), date(2026, 1, 1), True, LONG),
        # Same day / earlier sale dates are short.
        (date(2024, 6, 1), date(2024, 6, 1), True, SHORT),
    ],
)
def test_boundary(bought: date, sold: date, month_end: bool, expected: HoldingTerm) -> None:
    assert term_for_dates(bought, sold, month_end) is expected
    assert holding_term(_noon(bought), _noon(sold), NY, month_end) is expected


def test_anniversary_values() -> None:
    assert anniversary(date(2024, 2, 29), True) == date(2025, 2, 28)
    assert anniversary(date(2023, 2, 28), True) == date(2024, 2, 29)
    assert anniversary(date(2023, 2, 28), False) == date(2024, 2, 28)
    assert anniversary(date(2024, 7, 4), True) == date(2025, 7, 4)


def test_dates_are_taken_in_the_tax_time_zone() -> None:
    # 02:00 UTC is still the previous evening in New York.
    bought = datetime(2024, 3, 16, 2, 0, tzinfo=UTC)  # NY: 2024-03-15
    sold = datetime(2025, 3, 16, 12, 0, tzinfo=UTC)  # NY: 2025-03-16, the day after the anniversary
    assert holding_term(bought, sold, NY, True) is LONG
    assert holding_term(bought, sold, "UTC", True) is SHORT  # in UTC the sale is on the anniversary


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        holding_term(datetime(2024, 1, 1), datetime(2025, 1, 1, tzinfo=UTC), NY, True)


def test_one_sell_can_make_short_and_long_rows() -> None:
    book = FifoBook(EngineConfig(tax_timezone=NY))
    book.apply(fill("B-old", "BUY", "1", "100", "0", _noon(date(2024, 3, 15))))
    book.apply(fill("B-new", "BUY", "1", "100", "0", _noon(date(2024, 9, 1))))
    out = book.apply(fill("S", "SELL", "2", "150", "0", _noon(date(2025, 3, 16))))
    assert [(a.buy_trade_id, a.holding_term) for a in out] == [("B-old", LONG), ("B-new", SHORT)]


def test_engine_uses_the_configured_convention() -> None:
    bought, sold = _noon(date(2023, 2, 28)), _noon(date(2024, 2, 29))
    for month_end, expected in ((True, SHORT), (False, LONG)):
        book = FifoBook(EngineConfig(tax_timezone=NY, month_end_convention=month_end))
        book.apply(fill("B", "BUY", "1", "10", "0", bought))
        assert book.apply(fill("S", "SELL", "1", "12", "0", sold))[0].holding_term is expected
