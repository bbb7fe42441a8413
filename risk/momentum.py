"""The original's 24-hour momentum filter, as a pure entry rule with its own reason code.

With ALLOW_BUYS_ON_RED_DAY=false an entry is refused while the product's 24 h price change is
negative. Unknown change (no 24 h data) never refuses: the filter only acts on what it can see.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class EntryRefusalCode(StrEnum):
    RED_DAY = "RED_DAY"


@dataclass(frozen=True, slots=True)
class EntryRefusal:
    code: EntryRefusalCode
    detail: str


def red_day_refusal(symbol: str, change_24h_pct: Decimal | None, allow_buys_on_red_day: bool) -> EntryRefusal | None:
    if allow_buys_on_red_day or change_24h_pct is None or change_24h_pct >= 0:
        return None
    return EntryRefusal(EntryRefusalCode.RED_DAY,
                        f"{symbol}: 24 h change {change_24h_pct:.2f}% < 0 and ALLOW_BUYS_ON_RED_DAY=false")
