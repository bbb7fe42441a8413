"""The one definition of a position: a size the exchange would let us sell.

A holding is a *position* when, cut down to the product's base increment, it is at least the
product's minimum order size (and at least one increment). Anything less is *dust*: it cannot be
sold on its own, so it is not guarded by the sentinel, does not block sighook's next entry, and is
not counted as held by the risk checks or shown as a position; it is tracked and shown as dust and
sold with the next sell of the product that can carry it.

The same rule is the SQL function `bt_is_position(symbol, size)` (migration 0007) over the
`product_rules` table, used by the `open_positions` view and sighook's entry check;
tests/unit/test_position_rule.py holds both to the same cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.money import quantize_down

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class SizeRule:
    base_increment: Decimal
    base_min_size: Decimal


def is_position(size: Decimal, rule: SizeRule | None) -> bool:
    """Without a known rule any positive size counts (never hide a holding we cannot judge)."""
    if rule is None:
        return size > 0
    if rule.base_increment <= 0:
        return size > 0 and size >= rule.base_min_size
    return quantize_down(size, rule.base_increment) >= max(rule.base_min_size, rule.base_increment)


def split_dust(size: Decimal, rule: SizeRule | None) -> tuple[Decimal, Decimal]:
    """(sellable position size, dust): a position is sold on the increment; the remainder is dust."""
    if size <= 0:
        return ZERO, ZERO
    if not is_position(size, rule):
        return ZERO, size
    if rule is None or rule.base_increment <= 0:
        return size, ZERO
    sellable = quantize_down(size, rule.base_increment)
    return sellable, size - sellable
