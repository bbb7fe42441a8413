"""Exact Decimal arithmetic of the FIFO engine and the validation of fill values.

Every stored amount has one spelling: no positive exponents and no negative zero (the database
gives `50` back for `5E+1`, and the incremental and rebuild paths must produce identical rows).
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal

from fifo_engine.model import FillFact

# Explicit context: the engine gives the same digits in any thread or task.
ENGINE_CONTEXT = Context(prec=40, rounding=ROUND_HALF_EVEN)
MONEY_PLACES = 18
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)
_ONE = Decimal(1)
ZERO = Decimal(0)
# Keeps size×price below 10^20 so 18-decimal amounts fit in 40 significant digits.
_MAX_ADJUSTED = 9


def canon(value: Decimal) -> Decimal:
    """No positive exponents (`1E+2` → `100`) and no negative zero: one spelling per value.

    (Products and sums of canonical values stay canonical; only quotients and inputs need this.)"""
    if "E+" in str(value):  # str() is the cheapest exponent probe (as_tuple() costs 5×)
        value = value.quantize(_ONE, context=ENGINE_CONTEXT)
    return value if value or not value.is_signed() else value.copy_abs()


def money(value: Decimal) -> Decimal:
    """A non-final slice amount: exact if it has at most 18 decimal places, else rounded to 18."""
    rounded = value.quantize(_MONEY_QUANTUM, context=ENGINE_CONTEXT)
    return value if rounded == value else rounded


def _check_decimal(name: str, value: object, trade_id: str) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"fill {trade_id}: {name} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"fill {trade_id}: {name} is not finite ({value})")
    if value.adjusted() > _MAX_ADJUSTED:
        raise ValueError(f"fill {trade_id}: {name} {value} is too large for exact slices")
    return canon(value)


def validate(trade_id: str, order_id: str, symbol: str, side: str, price: object, size: object, fee: object,
              trade_time: datetime, sequence_timestamp: datetime | None) -> tuple[Decimal, Decimal, Decimal, bool]:
    """Clear errors for bad fills, raised before anything changes. Returns canonical price, size, fee, is_buy."""
    if not trade_id or not order_id or not symbol:
        raise ValueError(f"fill {trade_id!r}: trade_id, order_id and symbol are required")
    p = _check_decimal("price", price, trade_id)
    s = _check_decimal("size", size, trade_id)
    f = _check_decimal("commission", fee, trade_id)
    if s <= 0:
        raise ValueError(f"fill {trade_id}: size must be > 0, got {s}")
    if p < 0 or f < 0:
        raise ValueError(f"fill {trade_id}: price and commission must be ≥ 0 (got {p}, {f})")
    if side != "BUY" and side != "SELL":  # Side is a StrEnum: plain strings from the DB compare equal
        raise ValueError(f"fill {trade_id}: unknown side {side!r}")
    if trade_time.tzinfo is None or (sequence_timestamp is not None and sequence_timestamp.tzinfo is None):
        raise ValueError(f"fill {trade_id}: timestamps must be timezone-aware")
    return p, s, f, side == "BUY"


def validate_fill(fill: FillFact) -> tuple[Decimal, Decimal, Decimal, bool]:
    return validate(fill.trade_id, fill.order_id, fill.symbol, fill.side, fill.price, fill.size, fill.commission,
                     fill.trade_time, fill.sequence_timestamp)
