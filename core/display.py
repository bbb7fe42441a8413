"""Rounding for people, at the display edge only: USD to cents, sizes and prices to an increment.

Stored values and the JSON APIs keep exact Decimals; these helpers only make text.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from core.money import CENT, quantize_down, quantize_to


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None


def usd_text(value: Any) -> str:
    """`$1,234.57`, `−$3.10` (half-even to the cent); `–` when absent."""
    d = _dec(value)
    if d is None:
        return "–"
    cents = d.quantize(CENT, rounding=ROUND_HALF_EVEN)
    sign = "−" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"


def size_text(value: Any, increment: Decimal | None) -> str:
    """A base size to the product's increment (rounded down: never shows more than is held)."""
    d = _dec(value)
    if d is None:
        return "–"
    if increment is None or increment <= 0:
        return format(d.normalize(), "f")
    return format(quantize_down(d, increment).quantize(increment), "f")


def price_text(value: Any, increment: Decimal | None) -> str:
    """A price to the product's quote increment (nearest)."""
    d = _dec(value)
    if d is None:
        return "–"
    if increment is None or increment <= 0:
        return format(d.quantize(CENT), "f")
    return format(quantize_to(d, increment).quantize(increment), "f")
