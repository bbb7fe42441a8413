"""Decimal helpers. Money is Decimal everywhere; floats never touch prices, sizes or fees."""

from __future__ import annotations

import decimal
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

# High precision for per-unit fees and FIFO slices; rounding to cents happens only in reports.
decimal.getcontext().prec = 40

ZERO = Decimal(0)
CENT = Decimal("0.01")


def to_decimal(value: Any) -> Decimal:
    """Exact conversion from exchange strings/ints; rejects floats so they cannot creep in."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, (bool, float)):
        raise TypeError(f"refusing to convert {type(value).__name__} to Decimal: {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise decimal.InvalidOperation("empty decimal string")
        return Decimal(text)
    raise TypeError(f"cannot convert {type(value).__name__} to Decimal")


def opt_decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return to_decimal(value)


def quantize_down(value: Decimal, increment: Decimal) -> Decimal:
    """Round down to a multiple of increment (sizes: never sell more than we have)."""
    if increment <= 0:
        return value
    return (value / increment).to_integral_value(rounding=ROUND_DOWN) * increment


def quantize_to(value: Decimal, increment: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    if increment <= 0:
        return value
    return (value / increment).to_integral_value(rounding=rounding) * increment


def pct_change(new: Decimal, base: Decimal) -> Decimal:
    """Percent change from base to new (e.g. 105 vs 100 → 5)."""
    if base == 0:
        return ZERO
    return (new - base) / base * 100


def fmt(value: Decimal) -> str:
    """Plain string without exponent, trailing zeros removed (for JSON/exchange payloads)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
