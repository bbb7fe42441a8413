"""Enumerations shared across packages; stored in Postgres as their string values."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class ExitReason(StrEnum):
    """Why a position was exited: a closed set, never free text."""

    HARD_STOP = "hard_stop"
    SOFT_STOP = "soft_stop"
    TAKE_PROFIT = "take_profit"
    SIGNAL = "signal"
    TRAILING_STOP = "trailing_stop"
    PROTECTIVE_STOP = "protective_stop"  # the exchange-side stop-limit mirror fired
    ALERT = "alert"  # a TradingView/sighook sell or close alert
    MANUAL = "manual"
    BRACKET_TAKE_PROFIT = "bracket_take_profit"  # a passive fill's exchange-side bracket: its take-profit leg
    BRACKET_STOP = "bracket_stop"  # … its stop leg


class OrderSource(StrEnum):
    SIGHOOK = "sighook"
    TRADINGVIEW = "tradingview"
    WEBHOOK = "webhook"
    RECONCILED = "reconciled"
    MANUAL = "manual"


class IngestVia(StrEnum):
    WEBSOCKET = "websocket"
    REST = "rest"
    IMPORT = "import"


class OrderStatus(StrEnum):
    """Coinbase order statuses plus our own pre-send state."""

    NEW = "NEW"  # recorded locally, not yet acknowledged by the exchange
    PENDING = "PENDING"
    OPEN = "OPEN"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"  # the exchange answered success:false
    UNKNOWN_ORDER_STATUS = "UNKNOWN_ORDER_STATUS"
    QUEUED = "QUEUED"
    CANCEL_QUEUED = "CANCEL_QUEUED"
    EDIT_QUEUED = "EDIT_QUEUED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.FAILED, OrderStatus.REJECTED}
)


class HoldingTerm(StrEnum):
    SHORT = "short"
    LONG = "long"


class AlertStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    STALE = "stale"
    UNAUTHORIZED = "unauthorized"
    INVALID = "invalid"
    RATE_LIMITED = "rate_limited"
    REJECTED_RISK = "rejected_risk"
    ORDERED = "ordered"
    FAILED = "failed"


class TrailingState(StrEnum):
    INACTIVE = "inactive"
    ACTIVE = "active"
    TRIGGERED = "triggered"


def sql_in(enum: type[StrEnum]) -> str:
    """`'a', 'b'` for CHECK constraints over an enum's values."""
    return ", ".join(f"'{m.value}'" for m in enum)
