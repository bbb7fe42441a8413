"""The red-day entry rule (pure)."""

from __future__ import annotations

from decimal import Decimal as D

from risk.momentum import EntryRefusalCode, red_day_refusal


def test_red_day_refuses_only_when_disallowed_and_the_24h_change_is_negative() -> None:
    refusal = red_day_refusal("ETH-USD", D("-0.01"), allow_buys_on_red_day=False)
    assert refusal is not None and refusal.code is EntryRefusalCode.RED_DAY and "-0.01%" in refusal.detail
    assert red_day_refusal("ETH-USD", D("-5"), allow_buys_on_red_day=True) is None
    assert red_day_refusal("ETH-USD", D("0"), allow_buys_on_red_day=False) is None
    assert red_day_refusal("ETH-USD", None, allow_buys_on_red_day=False) is None
