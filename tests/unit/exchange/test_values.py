"""values: tolerant readers (the fast paths must agree with core.money / core.clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from exchange.coinbase.values import dec, opt_bool, opt_dec, opt_int, opt_time


@pytest.mark.parametrize(("raw", "expected"), [
    ("2023-02-09T20:30:37.167359596Z", datetime(2023, 2, 9, 20, 30, 37, 167359, tzinfo=UTC)),
    ("2023-02-09T20:30:37.1Z", datetime(2023, 2, 9, 20, 30, 37, 100000, tzinfo=UTC)),
    ("2023-02-09T20:30:37Z", datetime(2023, 2, 9, 20, 30, 37, tzinfo=UTC)),
    ("2023-02-09T20:30:37.5+02:00", datetime(2023, 2, 9, 20, 30, 37, 500000, tzinfo=timezone(timedelta(hours=2)))),
    ("1712192400", datetime.fromtimestamp(1712192400, UTC)),
    (1712192400, datetime.fromtimestamp(1712192400, UTC)),
    ("0001-01-01T00:00:00Z", None), ("", None), (None, None),
])
def test_opt_time(raw: object, expected: datetime | None) -> None:
    assert opt_time(raw) == expected


def test_opt_time_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        opt_time("yesterday")
    with pytest.raises(ValueError):
        opt_time("2023-13-45T20:30:37.123Z")


@pytest.mark.parametrize(("raw", "expected"), [("1.50", Decimal("1.50")), (" 2 ", Decimal("2")), (7, Decimal(7)),
                                               (0.1, Decimal("0.1")), ("", None), ("  ", None), (None, None),
                                               (True, None)])
def test_opt_dec(raw: object, expected: Decimal | None) -> None:
    assert opt_dec(raw) == expected


def test_dec_default_and_errors() -> None:
    assert dec("", Decimal(0)) == 0
    with pytest.raises(ValueError):
        dec(None)
    with pytest.raises(ValueError):
        opt_dec("abc")


def test_opt_int_and_bool() -> None:
    assert opt_int("3049") == 3049 and opt_int(3049) == 3049 and opt_int("") is None
    assert opt_bool("false") is False and opt_bool("TRUE") is True and opt_bool(False) is False
    assert opt_bool(None) is None
    with pytest.raises(ValueError):
        opt_bool("maybe")
